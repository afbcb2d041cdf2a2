#include "stackmgr/switch_host.hpp"

#include <spdlog/spdlog.h>

#include "detect/detector.hpp"
#include "detect/subsystem.hpp"
#include "stackmgr/exit_codes.hpp"
#include "stackmgr/switch_recovery.hpp"

namespace stackmgr {
namespace {

std::filesystem::path under(const detect::HostRoot& root, const std::filesystem::path& path) {
  return root.path(path.relative_path().string());
}

}  // namespace

RealSwitchHost::RealSwitchHost(detect::HostRoot root, detect::Catalog catalog, const PathsConfig& paths)
    : root_(std::move(root)),
      catalog_(std::move(catalog)),
      backend_(std::make_unique<modules::KmodBackend>(root_, detect::read_kernel_release(root_).release)),
      guard_(modules::GuardFile::for_catalog(root_, catalog_)),
      holders_(root_),
      lock_file_(under(root_, paths.lock_file())),
      module_record_(under(root_, paths.module_record())),
      journal_(under(root_, paths.journal())),
      chosen_stack_file_(under(root_, paths.chosen_stack_file())) {
  if (root_.is_real_root()) {
    net_ = std::make_unique<detect::UdevNetDevices>();
  } else {
    net_ = std::make_unique<detect::SysfsNetDevices>(root_);
  }
}

RealSwitchHost::~RealSwitchHost() = default;

detect::Snapshot RealSwitchHost::detect() const {
  return detect::detect_host(detect::DetectInputs{root_, *backend_, *net_, catalog_});
}

SwitchEnvironment RealSwitchHost::environment() {
  SwitchEnvironment environment{*backend_, guard_, clock_, [this] { return detect(); }};
  environment.holders = &holders_;
  environment.lock_file = lock_file_;
  environment.module_record = module_record_;
  environment.journal = journal_;
  environment.chosen_stack_file = chosen_stack_file_;
  return environment;
}

std::optional<int> recover_on_host(const GlobalOptions& global, const Config& config) {
  RealSwitchHost host(detect::HostRoot(global.root), config.catalog, config.paths);
  SwitchEnvironment environment = host.environment();
  SwitchRequest request;
  request.policy = policy_from(config, false);
  request.lock_timeout = config.lock_timeout;
  request.module_mode = config.module_mode;
  const RecoveryResult recovered = recover_interrupted_switch(request, environment);
  switch (recovered.outcome) {
    case RecoveryOutcome::nothing: return std::nullopt;
    case RecoveryOutcome::completed:
    case RecoveryOutcome::rolled_back:
    case RecoveryOutcome::unusable_journal: spdlog::warn("{}", recovered.message); return std::nullopt;
    case RecoveryOutcome::failed: break;
  }
  spdlog::error("{}", recovered.message);
  return code(Exit::rollback_failed);
}

ConfigResult load_command_config(const GlobalOptions& global) {
  if (global.config_file.empty()) return load_config(kDefaultConfigFile, ConfigOrigin::default_path);
  return load_config(global.config_file, ConfigOrigin::named);
}

std::string unknown_stack_message(const std::string& name) {
  return "unknown stack '" + name + "': use klips, native, netkey or xfrm (netkey and xfrm mean native)";
}

modules::Policy policy_from(const Config& config, bool allow_ipcomp_flag) {
  modules::Policy policy;
  policy.allow_ipcomp = config.allow_ipcomp || allow_ipcomp_flag;
  policy.load_helpers = config.load_helpers;
  policy.use_guard = config.use_guard;
  return policy;
}

}  // namespace stackmgr
