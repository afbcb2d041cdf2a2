#pragma once
// The real HookHost: the config loader, the supervisor's pid file, detection through libkmod,
// the module index of another kernel, and invoke-rc.d run without a shell.

#include <filesystem>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/host.hpp"
#include "stackmgr/hook.hpp"

namespace stackmgr {

class RealHookHost final : public HookHost {
 public:
  // `config_file` empty: the default path, where a missing file means the defaults.
  // `invoke_rc_d`: the program that runs init-script actions (tests point it elsewhere).
  RealHookHost(detect::HostRoot root, std::filesystem::path config_file,
               std::filesystem::path invoke_rc_d = "/usr/sbin/invoke-rc.d");

  ConfigResult load_config() override;
  SupervisorState supervisor_state(const Config& config) override;
  detect::Snapshot detect_running_kernel(const Config& config) override;
  StartChoice start_choice(const Config& config, const detect::Snapshot& now) override;
  KernelIndex kernel_index(const std::string& release) override;
  int invoke_rc(std::string_view action) override;

 private:
  detect::HostRoot root_;
  std::filesystem::path config_file_;
  std::filesystem::path invoke_rc_d_;
};

// Runs argv[0] (an absolute path, no PATH search, no shell) with this process's environment,
// stdin from /dev/null and stdout/stderr shared, and waits for it. Returns its exit status,
// 128+N when killed by signal N, or the Error that kept it from starting.
detect::Result<int> run_and_wait(const std::vector<std::string>& argv);

}  // namespace stackmgr
