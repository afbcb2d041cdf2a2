#pragma once
// `stackmgr hook`: what the Debian maintainer scripts and the kernel postinst hook do, decided
// here so it is tested. The shell scripts in packaging/ only pass their arguments on.
//   postinst ACTION [VERSION]  configure: validate the config; restart the supervisor only if
//                              it runs, and never when that would switch the IPsec stack.
//   prerm ACTION [VERSION]     remove: stop the supervisor, leave the modules, say so.
//   kernel-installed RELEASE   warn loudly when that kernel lacks the chosen stack's modules.

#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "detect/module_index.hpp"
#include "detect/snapshot.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/loader.hpp"

namespace stackmgr::hook {

enum class SupervisorState { running, stopped, unknown };

// The stack a (re)start of the supervisor would take, and why.
struct StartChoice {
  std::optional<detect::Stack> stack;  // nullopt: start would refuse to choose (see `source`)
  std::string source;                  // "klips (from the stackmgr config /etc/...)", or why not
};

// The module index of one installed kernel (/lib/modules/<release>).
struct KernelIndex {
  std::unique_ptr<detect::ModuleIndex> modules;
  std::string modules_dir;
  std::string problem;  // why lookups cannot be trusted ("" when they can)
};

// Exit status of `invoke-rc.d` when the local policy (policy-rc.d) forbids the action.
inline constexpr int kInvokeRcdForbidden = 101;

// Everything the hooks read or do outside this file. The real one is hook_host.hpp; unit
// tests use a fake.
class HookHost {
 public:
  virtual ~HookHost() = default;
  // The config stackmgr would use (the --config file or the default path).
  virtual config::ConfigResult load_config() = 0;
  // Whether a supervisor runs for `config` (pid file and control socket).
  virtual SupervisorState supervisor_state(const config::Config& config) = 0;
  // The running kernel's IPsec state.
  virtual detect::Snapshot detect_running_kernel(const config::Config& config) = 0;
  // What `stackmgr start` would choose on this host right now.
  virtual StartChoice start_choice(const config::Config& config, const detect::Snapshot& now) = 0;
  // The module index of an installed kernel release (validated by the caller).
  virtual KernelIndex kernel_index(const std::string& release) = 0;
  // Runs `invoke-rc.d stackmgr ACTION` (it honours policy-rc.d and hands over to systemctl
  // under systemd); returns its exit status, kInvokeRcdForbidden when policy says no.
  virtual int invoke_rc(std::string_view action) = 0;
};

// Whether the maintainer script may touch running services. dpkg sets DPKG_ROOT when it
// installs into another root; then, as debhelper's own snippets do, nothing is started or
// stopped.
enum class ServiceActions { allowed, skipped_for_dpkg_root };

struct HookRun {
  HookHost& host;
  std::ostream& out;  // the admin reads this in apt's output
  ServiceActions services = ServiceActions::allowed;
};

// postinst with dpkg's arguments. configure: validate the config, then restart a running
// supervisor unless that would switch stacks; a fresh install is not started.
// abort-remove: start again what prerm remove stopped. Returns an exit code (exit_codes.hpp):
// ok, or daemon_failed when a restart the hook attempted failed.
int run_postinst_hook(const HookRun& run, const std::vector<std::string>& args);

// prerm with dpkg's arguments. remove/deconfigure: stop a running supervisor through
// invoke-rc.d, remember that for abort-remove, and report the modules left loaded.
// upgrade/failed-upgrade: nothing (the supervisor keeps running; postinst decides).
int run_prerm_hook(const HookRun& run, const std::vector<std::string>& args);

// The kernel postinst hook: checks that `release` has the chosen stack's core modules
// (modules.dep/modules.builtin) and warns loudly when not. Always returns ok.
int run_kernel_installed_hook(const HookRun& run, std::string_view release);

// True for a plausible kernel release ("6.1.0-28-amd64"): 1..64 of [A-Za-z0-9._+~-], not
// starting with '.' or '-'. It becomes a path component, so nothing else passes.
bool is_valid_kernel_release(std::string_view release);

// The file prerm remove leaves when it stopped a running supervisor (in paths.run_dir).
std::filesystem::path package_stopped_marker(const config::PathsConfig& paths);

}  // namespace stackmgr::hook
