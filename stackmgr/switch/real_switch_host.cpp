#include "stackmgr/switch/real_switch_host.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/switch/recovery.hpp"

namespace stackmgr::switching {
namespace {

std::filesystem::path under(const detect::HostRoot& root, const std::filesystem::path& path) {
  return root.path(path.relative_path().string());
}

}  // namespace

RealSwitchHost::RealSwitchHost(detect::HostRoot root, detect::Catalog catalog,
                               const config::PathsConfig& paths)
    : kernel_(std::move(root), std::move(catalog)),
      lock_file_(under(kernel_.root(), paths.lock_file())),
      module_record_(under(kernel_.root(), paths.module_record())),
      journal_(under(kernel_.root(), paths.journal())),
      chosen_stack_file_(under(kernel_.root(), paths.chosen_stack_file())) {}

SwitchEnvironment RealSwitchHost::environment() {
  SwitchEnvironment environment{kernel_.backend(), kernel_.guard(), kernel_.clock(),
                                [this] { return detect(); }};
  environment.recheck = [this] { return kernel_.recheck(); };
  environment.holders = &kernel_.holders();
  environment.lock_file = lock_file_;
  environment.module_record = module_record_;
  environment.journal = journal_;
  environment.chosen_stack_file = chosen_stack_file_;
  return environment;
}

std::optional<int> recover_on_host(const detect::HostRoot& root, const config::Config& config) {
  RealSwitchHost host(root, config.catalog, config.paths);
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
  return code(base::Exit::rollback_failed);
}

}  // namespace stackmgr::switching
