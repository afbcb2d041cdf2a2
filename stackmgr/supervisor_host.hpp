#pragma once
// The real host behind `start`, `stop` and `status`: the config as the command line names it,
// the run directory, and the production boundaries (libkmod, the guard file, XFRM netlink,
// detection) that stack_ready and the supervisor act through.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "detect/host.hpp"
#include "stackmgr/cli.hpp"
#include "stackmgr/config_loader.hpp"
#include "stackmgr/stack_ready.hpp"

namespace stackmgr {

// --config FILE (must exist) or the default path (may be missing: defaults). Exit::config on
// an error, which is logged with file, line and key.
std::optional<Config> load_cli_config(const GlobalOptions& global);

// Creates run_dir (0700, parents 0755) when missing, then refuses it unless root owns it and
// nobody else can write to it. Its mode is set to 0700.
detect::Status prepare_run_dir(const PathsConfig& paths);

// The production StackReadyContext's boundaries: KmodBackend for the root's kernel, the guard
// file, the steady clock, /proc holder lookup, and detection of the real host.
class RealStackHost {
 public:
  RealStackHost(const GlobalOptions& global, const Config& config);
  ~RealStackHost();
  // A context whose progress goes to `report`.
  [[nodiscard]] StackReadyContext context(std::function<void(Level, const std::string&)> report) const;
  [[nodiscard]] detect::Snapshot detect() const;

 private:
  struct Parts;
  const Config& config_;
  detect::HostRoot root_;
  std::unique_ptr<Parts> parts_;
};

// {"active": stack|null, "overall": ..., "modules": [{name, stack, role, state}...] of the
// catalog, "kernel": {"sas", "policies", "main_policies", "sub_policies"} or {"error": ...},
// "detect": the stackmgr.detect/1 object}: the kernel half of the status document.
nlohmann::json kernel_status_json(const detect::Snapshot& snapshot);

}  // namespace stackmgr
