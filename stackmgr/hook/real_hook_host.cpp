#include "stackmgr/hook/real_hook_host.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "modules/kmod_backend.hpp"
#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/config/loader.hpp"
#include "stackmgr/config/stack_choice.hpp"
#include "stackmgr/os/pid_file.hpp"
#include "stackmgr/os/process.hpp"
#include "stackmgr/os/real_kernel.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace stackmgr::hook {

RealHookHost::RealHookHost(detect::HostRoot root, std::filesystem::path config_file,
                           std::filesystem::path invoke_rc_d)
    : root_(std::move(root)), config_file_(std::move(config_file)), invoke_rc_d_(std::move(invoke_rc_d)) {}

config::ConfigResult RealHookHost::load_config() { return config::load_command_config(root_, config_file_); }

SupervisorState RealHookHost::supervisor_state(const config::Config& config) {
  const auto probe = os::probe_pid_file(config.paths.pid_file());
  if (!probe) return SupervisorState::unknown;
  return probe->state == os::PidFileState::locked ? SupervisorState::running : SupervisorState::stopped;
}

StartChoice RealHookHost::start_choice(const config::Config& config, const detect::Snapshot& now) {
  // What `stackmgr start` reads, minus the command line (a restart passes no stack).
  config::ChoiceInputs inputs = config::choice_inputs(config, now);
  const auto chosen = config::read_chosen_stack(config.paths.chosen_stack_file());
  if (!chosen) return StartChoice{std::nullopt, chosen.error().describe()};
  inputs.state_file = chosen->stack;
  const auto protostack = config::read_protostack(config.paths.ipsec_conf);
  if (!protostack) return StartChoice{std::nullopt, protostack.error().describe()};
  inputs.protostack = *protostack;
  const config::StackChoice choice = config::choose_stack(inputs);
  return StartChoice{choice.stack, choice.explanation};
}

detect::Snapshot RealHookHost::detect_running_kernel(const config::Config& config) {
  return os::detect_real_host(root_, config.catalog);
}

KernelIndex RealHookHost::kernel_index(const std::string& release) {
  auto backend = std::make_unique<modules::KmodBackend>(root_, release);
  KernelIndex index;
  index.modules_dir = backend->modules_dir();
  index.problem = backend->index_problem();
  index.modules = std::move(backend);
  return index;
}

int RealHookHost::invoke_rc(std::string_view action) {
  const auto status = os::run_and_wait({invoke_rc_d_.string(), "stackmgr", std::string(action)});
  if (!status) return 127;
  return *status;
}

}  // namespace stackmgr::hook
