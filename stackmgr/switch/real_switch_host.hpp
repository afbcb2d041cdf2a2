#pragma once
// The real boundaries of a plan or a switch for the host under `root`: the real-kernel bundle
// (os/real_kernel.hpp) plus the config's paths taken under `root`. `stackmgr plan`,
// `stackmgr switch` and `stackmgr start` build one of these.

#include <filesystem>
#include <optional>

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "detect/snapshot.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/os/real_kernel.hpp"
#include "stackmgr/switch/switch_direct.hpp"

namespace stackmgr::switching {

class RealSwitchHost {
 public:
  // `paths` are the config's; they are taken relative to `root` (so --root keeps them inside).
  RealSwitchHost(detect::HostRoot root, detect::Catalog catalog, const config::PathsConfig& paths);

  // Reads the host now.
  [[nodiscard]] detect::Snapshot detect() const { return kernel_.detect(); }
  // The environment switch_direct runs through (with the journal and the chosen-stack file);
  // valid while this object lives.
  [[nodiscard]] SwitchEnvironment environment();

  [[nodiscard]] const std::filesystem::path& lock_file() const { return lock_file_; }
  [[nodiscard]] const std::filesystem::path& module_record() const { return module_record_; }

 private:
  os::RealKernel kernel_;
  std::filesystem::path lock_file_;
  std::filesystem::path module_record_;
  std::filesystem::path journal_;
  std::filesystem::path chosen_stack_file_;
};

// `start` and the next switch: completes or rolls back a switch that was interrupted on the
// host under `root` (recovery.hpp), logging which. Returns the Exit code to stop with when the
// recovery failed (the kernel may be between stacks), else nullopt.
std::optional<int> recover_on_host(const detect::HostRoot& root, const config::Config& config);

}  // namespace stackmgr::switching
