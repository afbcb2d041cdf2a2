#pragma once
// The real host behind `start`, `stop` and `status`: the run directory, and the production
// boundaries (the real-kernel bundle, XFRM netlink) that stack_ready and the supervisor act through.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "detect/host.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/os/real_kernel.hpp"
#include "stackmgr/switch/stack_ready.hpp"

namespace stackmgr::supervisor {

// Creates run_dir (0700, parents 0755) when missing; refuses one that exists but that stackmgr
// would not have made (os::prepare_private_directory: a shared directory such as /run is never
// chmod'ed), and one on a path that others could change (os::check_trusted). Code 0: refused.
detect::Status prepare_run_dir(const config::PathsConfig& paths);

// The production StackReadyContext: the real-kernel bundle for the host under `root`.
class RealStackHost {
 public:
  RealStackHost(const detect::HostRoot& root, const config::Config& config);
  // A context whose progress goes to `report` and whose work stops at the next step once
  // `stop_requested` says so; valid while this object lives.
  [[nodiscard]] switching::StackReadyContext context(
      std::function<void(base::LogLevel, const std::string&)> report,
      std::function<bool()> stop_requested = {});
  [[nodiscard]] detect::Snapshot detect() const { return kernel_.detect(); }

 private:
  const config::Config& config_;
  os::RealKernel kernel_;
};

// {"active": stack|null, "overall": ..., "modules": [{name, stack, role, state}...] of the
// catalog, "kernel": {"sas", "policies", "main_policies", "sub_policies"} or {"error": ...},
// "detect": the stackmgr.detect/1 object}: the kernel half of the status document.
nlohmann::json kernel_status_json(const detect::Snapshot& snapshot);

}  // namespace stackmgr::supervisor
