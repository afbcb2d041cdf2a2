#pragma once
// The real HookHost: the config loader, the supervisor's pid file, detection through libkmod,
// the module index of another kernel, and invoke-rc.d run without a shell.

#include <filesystem>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/host.hpp"
#include "stackmgr/hook/hook.hpp"

namespace stackmgr::hook {

class RealHookHost final : public HookHost {
 public:
  // `config_file` empty: the default path, where a missing file means the defaults.
  // `invoke_rc_d`: the program that runs init-script actions (tests point it elsewhere).
  RealHookHost(detect::HostRoot root, std::filesystem::path config_file,
               std::filesystem::path invoke_rc_d = "/usr/sbin/invoke-rc.d");

  config::ConfigResult load_config() override;
  SupervisorState supervisor_state(const config::Config& config) override;
  detect::Snapshot detect_running_kernel(const config::Config& config) override;
  StartChoice start_choice(const config::Config& config, const detect::Snapshot& now) override;
  KernelIndex kernel_index(const std::string& release) override;
  int invoke_rc(std::string_view action) override;

 private:
  detect::HostRoot root_;
  std::filesystem::path config_file_;
  std::filesystem::path invoke_rc_d_;
};

}  // namespace stackmgr::hook
