#pragma once
// The real OS boundaries of a plan or a switch, for a host under `root`: libkmod
// (modules::KmodBackend), the guard file, the system clock, PF_KEY holders from /proc, and
// detection. `stackmgr plan`, `stackmgr switch` and the supervisor build one of these.

#include <filesystem>
#include <memory>

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "detect/snapshot.hpp"
#include "modules/guard_file.hpp"
#include "modules/holder_lookup.hpp"
#include "modules/kmod_backend.hpp"
#include "stackmgr/cli.hpp"
#include "stackmgr/config.hpp"
#include "stackmgr/config_loader.hpp"
#include "stackmgr/switch_direct.hpp"

namespace stackmgr {

class RealSwitchHost {
 public:
  // `paths` are the config's; they are taken relative to `root` (so --root keeps them inside).
  RealSwitchHost(detect::HostRoot root, detect::Catalog catalog, const PathsConfig& paths);
  RealSwitchHost(const RealSwitchHost&) = delete;
  RealSwitchHost& operator=(const RealSwitchHost&) = delete;
  ~RealSwitchHost();

  // Reads the host now (detect::detect_host with this host's backend).
  [[nodiscard]] detect::Snapshot detect() const;
  // The environment switch_direct runs through (with the journal and the chosen-stack file);
  // valid while this object lives.
  [[nodiscard]] SwitchEnvironment environment();

  [[nodiscard]] const std::filesystem::path& lock_file() const { return lock_file_; }
  [[nodiscard]] const std::filesystem::path& module_record() const { return module_record_; }

 private:
  detect::HostRoot root_;
  detect::Catalog catalog_;
  std::unique_ptr<modules::KmodBackend> backend_;
  std::unique_ptr<detect::NetDeviceSource> net_;
  modules::GuardFile guard_;
  modules::SystemClock clock_;
  modules::ProcHolderLookup holders_;
  std::filesystem::path lock_file_;
  std::filesystem::path module_record_;
  std::filesystem::path journal_;
  std::filesystem::path chosen_stack_file_;
};

// `start` and the next switch: completes or rolls back a switch that was interrupted on this
// host (switch_recovery.hpp), logging which. Returns the Exit code to stop with when the
// recovery failed (the kernel may be between stacks), else nullopt.
std::optional<int> recover_on_host(const GlobalOptions& global, const Config& config);

// The module policy from the config, with --allow-ipcomp on top.
modules::Policy policy_from(const Config& config, bool allow_ipcomp_flag);

// The config as every command reads it: --config (must exist), else the default path (a
// missing default file means the defaults).
ConfigResult load_command_config(const GlobalOptions& global);

// "unknown stack 'foo': use klips, native, netkey or xfrm (netkey and xfrm mean native)"
std::string unknown_stack_message(const std::string& name);

}  // namespace stackmgr
