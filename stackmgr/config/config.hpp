#pragma once
// stackmgr's configuration: every key has a default, so no file is needed to start.
// File: /etc/stackmgr/stackmgr.toml (TOML). Format and keys: docs/config.md.

#include <linux/capability.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/catalog.hpp"
#include "detect/error.hpp"
#include "detect/stack.hpp"

namespace stackmgr::config {

inline constexpr const char* kDefaultConfigFile = "/etc/stackmgr/stackmgr.toml";

// How stackmgr treats kernel modules.
enum class ModuleMode {
  manage,    // plan, load, unload and verify modules (the default)
  external,  // modules are managed elsewhere (containers, built-in stacks): only verify
};

// Where the stack choice came from (precedence: command line > state file of the last
// switch > stackmgr config > ipsec.conf protostack= > auto).
enum class ChoiceSource { command_line, state_file, config, ipsec_conf, automatic };

struct DaemonConfig {
  // argv template, no shell. Placeholders: {stack} (native|klips), {protostack}
  // (netkey|klips), {rundir}, {notify_socket}, {ipsec_conf}. Per stack; an empty argv (or no
  // entry) means "no daemon". argv[0] is an absolute path. Expand with expand_argv().
  std::map<detect::Stack, std::vector<std::string>> argv;
  // Passed as the daemon's whole environment, as written (no placeholders). stackmgr adds
  // NOTIFY_SOCKET itself, so the config may not set it.
  std::map<std::string, std::string> environment;
  std::chrono::milliseconds ready_timeout{10000};       // fall back to "ready" if no READY=1 by then
  bool expect_notify = true;                            // the daemon speaks sd_notify (pluto does)
  std::chrono::milliseconds stop_timeout{10000};        // SIGTERM, then SIGKILL after this
  std::chrono::milliseconds restart_initial{1000};      // first backoff
  std::chrono::milliseconds restart_max{60000};         // backoff cap
  int crash_loop_limit = 5;                             // restarts within the window...
  std::chrono::milliseconds crash_loop_window{300000};  // ...before stackmgr gives up
  std::vector<int> no_restart_exit_codes{};             // e.g. configuration errors
  // Capabilities the daemon must never have (numbers, os/capabilities.hpp), dropped from its
  // bounding, inheritable and ambient sets before exec: only stackmgr loads kernel code.
  std::vector<int> drop_capabilities{CAP_SYS_MODULE};
};

struct PathsConfig {
  std::filesystem::path run_dir = "/run/stackmgr";
  std::filesystem::path state_dir = "/var/lib/stackmgr";
  std::filesystem::path ipsec_conf = "/etc/ipsec.conf";
  // Derived from run_dir unless set: lock, pid file, control socket, notify socket, record.
  [[nodiscard]] std::filesystem::path lock_file() const { return run_dir / "lock"; }
  [[nodiscard]] std::filesystem::path pid_file() const { return run_dir / "stackmgr.pid"; }
  [[nodiscard]] std::filesystem::path control_socket() const { return run_dir / "control.sock"; }
  [[nodiscard]] std::filesystem::path notify_socket() const { return run_dir / "notify.sock"; }
  [[nodiscard]] std::filesystem::path module_record() const { return run_dir / "loaded-modules"; }
  [[nodiscard]] std::filesystem::path journal() const { return state_dir / "journal"; }
  [[nodiscard]] std::filesystem::path chosen_stack_file() const { return state_dir / "stack"; }
};

// [watch]: how the supervisor reacts to module changes it did not make.
enum class MissingReaction {
  reload,       // load it again through the safe executor; the daemon keeps running
  stop_daemon,  // stop the keying daemon
  report,       // log it and mark status degraded
};
enum class ConflictReaction { stop_daemon, report };  // never "load something to fix it"

struct WatchConfig {
  MissingReaction on_missing = MissingReaction::reload;          // a module of the chosen stack went away
  ConflictReaction on_conflict = ConflictReaction::stop_daemon;  // a module of the other stack appeared
  int reload_limit = 3;                                          // reloads within reload_window...
  std::chrono::milliseconds reload_window{60000};                // ...before stackmgr only reports
};

struct Config {
  std::filesystem::path source;                         // the file read, empty when defaults only
  std::optional<detect::Stack> stack;                   // nullopt = auto
  detect::Stack default_stack = detect::Stack::native;  // auto with nothing active
  ModuleMode module_mode = ModuleMode::manage;
  bool allow_ipcomp = false;
  bool load_helpers = true;
  bool use_guard = true;
  std::chrono::milliseconds lock_timeout{30000};
  detect::Catalog catalog = detect::Catalog::defaults();  // plus [modules] extra entries
  DaemonConfig daemon;
  PathsConfig paths;
  WatchConfig watch;
};

// A config problem with where it is: "/etc/stackmgr/stackmgr.toml:12: key daemon.stop_timeout: ..."
struct ConfigError {
  std::filesystem::path file;
  int line = 0;     // 0 when not about one line
  std::string key;  // dotted key, empty when not about one key
  std::string message;
  [[nodiscard]] std::string describe() const;
};

// "manage" or "external"; "command line", "last switch", "stackmgr config", "ipsec.conf", "auto".
std::string_view to_string(ModuleMode mode);
std::string_view to_string(ChoiceSource source);

// The daemon argv when the config names none: Debian's libreswan pluto in the foreground,
// logging to stderr and reading `ipsec_conf`. The same for both stacks.
std::vector<std::string> default_daemon_argv(const std::filesystem::path& ipsec_conf);

// What load_config returns without a file: Config{} plus default_daemon_argv for both stacks
// and PATH as the daemon's environment. (A bare Config{} has no daemon argv.)
Config default_config();

}  // namespace stackmgr::config
