#include "stackmgr/supervisor/real_supervisor_host.hpp"

#include <spdlog/spdlog.h>

#include "detect/snapshot_json.hpp"
#include "stackmgr/os/file_trust.hpp"
#include "stackmgr/os/private_directory.hpp"
#include "stackmgr/os/xfrm_netlink.hpp"

namespace stackmgr::supervisor {

detect::Status prepare_run_dir(const config::PathsConfig& paths) {
  if (auto own = os::prepare_private_directory(paths.run_dir, "paths.run_dir"); !own) return own;
  return os::check_trusted(paths.run_dir, os::TrustedKind::directory);
}

RealStackHost::RealStackHost(const detect::HostRoot& root, const config::Config& config)
    : config_(config), kernel_(root, config.catalog) {}

switching::StackReadyContext RealStackHost::context(
    std::function<void(base::LogLevel, const std::string&)> report, std::function<bool()> stop_requested) {
  switching::StackReadyContext context{config_};
  context.detect = [this] { return detect(); };
  context.recheck = [this] { return kernel_.recheck(); };
  context.backend = &kernel_.backend();
  context.guard = &kernel_.guard();
  context.clock = &kernel_.clock();
  context.holders = &kernel_.holders();
  context.report = std::move(report);
  context.stop_requested = std::move(stop_requested);
  return context;
}

nlohmann::json kernel_status_json(const detect::Snapshot& snapshot) {
  nlohmann::json status;
  const auto active = snapshot.active_stack();
  status["active"] =
      active ? nlohmann::json(std::string(detect::to_string(*active))) : nlohmann::json(nullptr);
  status["overall"] = std::string(detect::to_string(snapshot.overall));
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& module : snapshot.modules) {
    modules.push_back({{"name", module.spec.name},
                       {"stack", std::string(detect::to_string(module.spec.stack))},
                       {"role", std::string(detect::to_string(module.spec.role))},
                       {"state", std::string(detect::to_string(module.state))}});
  }
  status["modules"] = modules;
  if (os::xfrm_netlink_would_load_module(snapshot)) {
    status["kernel"] = {
        {"error", "not counted: xfrm_user is not loaded, and opening XFRM netlink would load it"}};
  } else if (auto counts = os::count_xfrm(); counts) {
    status["kernel"] = {{"sas", counts->sas},
                        {"policies", counts->main_policies + counts->sub_policies},
                        {"main_policies", counts->main_policies},
                        {"sub_policies", counts->sub_policies},
                        {"socket_policies", counts->socket_policies}};
  } else {
    status["kernel"] = {{"error", counts.error().describe()}};
  }
  status["detect"] = detect::snapshot_to_json(snapshot);
  return status;
}

}  // namespace stackmgr::supervisor
