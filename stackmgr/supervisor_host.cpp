#include "stackmgr/supervisor_host.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>

#include "detect/snapshot_json.hpp"
#include "detect/subsystem.hpp"
#include "modules/clock.hpp"
#include "modules/guard_file.hpp"
#include "modules/holder_lookup.hpp"
#include "modules/kmod_backend.hpp"
#include "stackmgr/file_trust.hpp"
#include "stackmgr/real_host.hpp"
#include "stackmgr/xfrm_netlink.hpp"

namespace stackmgr {

std::optional<Config> load_cli_config(const GlobalOptions& global) {
  const bool named = !global.config_file.empty();
  const std::filesystem::path path = named ? std::filesystem::path(global.config_file) : kDefaultConfigFile;
  ConfigResult loaded = load_config(path, named ? ConfigOrigin::named : ConfigOrigin::default_path);
  if (!loaded) {
    spdlog::error("{}; stackmgr refuses to start with a config it cannot trust or read",
                  loaded.error().describe());
    return std::nullopt;
  }
  return std::move(loaded).value();
}

detect::Status prepare_run_dir(const PathsConfig& paths) {
  const auto& dir = paths.run_dir;
  std::error_code error;
  if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), error);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return detect::error_from_errno(errno, "creating the run directory " + dir.string());
  }
  if (auto trusted = check_trusted(dir, TrustedKind::directory); !trusted) return trusted;
  if (chmod(dir.c_str(), 0700) != 0) return detect::error_from_errno(errno, "chmod 0700 " + dir.string());
  return {};
}

struct RealStackHost::Parts {
  explicit Parts(const detect::HostRoot& root, const Config& config)
      : backend(root, detect::read_kernel_release(root).release),
        guard(modules::GuardFile::for_catalog(root, config.catalog)),
        holders(root) {}
  mutable modules::KmodBackend backend;
  mutable modules::GuardFile guard;
  mutable modules::SystemClock clock;
  modules::ProcHolderLookup holders;
};

RealStackHost::RealStackHost(const GlobalOptions& global, const Config& config)
    : config_(config), root_(global.root), parts_(std::make_unique<Parts>(root_, config)) {}

RealStackHost::~RealStackHost() = default;

detect::Snapshot RealStackHost::detect() const { return detect_real_host(root_, config_.catalog); }

StackReadyContext RealStackHost::context(std::function<void(Level, const std::string&)> report) const {
  StackReadyContext context{config_};
  context.detect = [this] { return detect(); };
  context.backend = &parts_->backend;
  context.guard = &parts_->guard;
  context.clock = &parts_->clock;
  context.holders = &parts_->holders;
  context.report = std::move(report);
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
  if (xfrm_netlink_would_load_module(snapshot)) {
    status["kernel"] = {
        {"error", "not counted: xfrm_user is not loaded, and opening XFRM netlink would load it"}};
  } else if (auto counts = count_xfrm(); counts) {
    status["kernel"] = {{"sas", counts->sas},
                        {"policies", counts->main_policies + counts->sub_policies},
                        {"main_policies", counts->main_policies},
                        {"sub_policies", counts->sub_policies}};
  } else {
    status["kernel"] = {{"error", counts.error().describe()}};
  }
  status["detect"] = detect::snapshot_to_json(snapshot);
  return status;
}

}  // namespace stackmgr
