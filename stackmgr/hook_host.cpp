#include "stackmgr/hook_host.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "modules/kmod_backend.hpp"
#include "stackmgr/chosen_stack_file.hpp"
#include "stackmgr/config_loader.hpp"
#include "stackmgr/pid_file.hpp"
#include "stackmgr/real_host.hpp"
#include "stackmgr/stack_choice.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace stackmgr {

RealHookHost::RealHookHost(detect::HostRoot root, std::filesystem::path config_file,
                           std::filesystem::path invoke_rc_d)
    : root_(std::move(root)), config_file_(std::move(config_file)), invoke_rc_d_(std::move(invoke_rc_d)) {}

ConfigResult RealHookHost::load_config() {
  if (config_file_.empty()) return stackmgr::load_config(kDefaultConfigFile, ConfigOrigin::default_path);
  return stackmgr::load_config(config_file_, ConfigOrigin::named);
}

SupervisorState RealHookHost::supervisor_state(const Config& config) {
  const auto probe = probe_pid_file(config.paths.pid_file());
  if (!probe) return SupervisorState::unknown;
  return probe->state == PidFileState::locked ? SupervisorState::running : SupervisorState::stopped;
}

StartChoice RealHookHost::start_choice(const Config& config, const detect::Snapshot& now) {
  // What `stackmgr start` reads, minus the command line (a restart passes no stack).
  ChoiceInputs inputs = choice_inputs(config, now);
  const auto chosen = read_chosen_stack(config.paths.chosen_stack_file());
  if (!chosen) return StartChoice{std::nullopt, chosen.error().describe()};
  inputs.state_file = chosen->stack;
  const auto protostack = read_protostack(config.paths.ipsec_conf);
  if (!protostack) return StartChoice{std::nullopt, protostack.error().describe()};
  inputs.protostack = *protostack;
  const StackChoice choice = choose_stack(inputs);
  return StartChoice{choice.stack, choice.explanation};
}

detect::Snapshot RealHookHost::detect_running_kernel(const Config& config) {
  return detect_real_host(root_, config.catalog);
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
  const auto status = run_and_wait({invoke_rc_d_.string(), "stackmgr", std::string(action)});
  if (!status) return 127;
  return *status;
}

detect::Result<int> run_and_wait(const std::vector<std::string>& argv) {
  if (argv.empty() || argv.front().empty() || argv.front().front() != '/') {
    return detect::Error{EINVAL, "running a command: argv[0] must be an absolute path"};
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));  // NOLINT: execve's signature
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args.front(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return detect::error_from_errno(spawned, "running " + argv.front());

  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return detect::error_from_errno(errno, "waiting for " + argv.front());
  }
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

}  // namespace stackmgr
