// `stackmgr stop [--unload]`: asks the running supervisor to stop the daemon (SIGTERM, then
// SIGKILL after daemon.stop_timeout), flush the native SAD/SPD and exit; shows its steps live.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/control/client.hpp"
#include "stackmgr/os/pid_file.hpp"
#include "stackmgr/supervisor/real_supervisor_host.hpp"
#include "stackmgr/switch/stack_ready.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kStopHelp =
    R"(With no supervisor running, stop says so and succeeds (LSB), still honouring --unload.
Exit codes: 0 stopped (or not running); 2 --unload with --root (modules are unloaded from the
running kernel only); 3 --unload refused (a module is in use); 4, 5 unloading failed (rolled
back / not); 6 busy; 7 configuration error; 9 not root; 15 a file system refused the lock.)";

struct StopOptions {
  bool unload = false;
};

// True while `pid` exists and is not a zombie waiting for its parent.
bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return false;
  const std::size_t close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && content[close + 2] != 'Z';
}

// Waits (bounded) until the supervisor process is gone, so "stopped" means stopped.
void wait_until_gone(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (process_alive(pid) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (process_alive(pid)) spdlog::warn("the supervisor (pid {}) answered but has not exited yet", pid);
}

int print_outcome(const switching::StackOutcome& outcome) {
  for (const auto& warning : outcome.warnings) spdlog::warn("{}", warning);
  if (outcome.ok()) {
    std::cout << outcome.message << '\n';
  } else {
    spdlog::error("{}", outcome.message);
  }
  return outcome.exit_code;
}

int stop_without_supervisor(const GlobalOptions& global, const config::Config& config,
                            const StopOptions& options) {
  // A failed run leaves its pid file (status: "dead"); a stop settles that too.
  if (auto probe = os::probe_pid_file(config.paths.pid_file());
      probe && probe->state == os::PidFileState::stale) {
    auto acquired = os::PidFile::acquire(config.paths.pid_file());
    if (auto* stale = std::get_if<os::PidFile>(&acquired)) stale->remove();
  }
  std::cout << "stackmgr is not running\n";
  if (!options.unload) return code(base::Exit::ok);
  if (geteuid() != 0) {
    spdlog::error("stop --unload needs root: it unloads kernel modules");
    return code(base::Exit::permission);
  }
  supervisor::RealStackHost host(detect::HostRoot(global.root), config);
  return print_outcome(
      switching::unload_own_modules(host.context([](base::LogLevel level, const std::string& message) {
        std::cout << "  " << message << '\n';
        (void)level;
      })));
}

int run_stop(const GlobalOptions& global, const StopOptions& options) {
  if (options.unload) {
    if (auto refused = refuse_module_changes_under_other_root(global, "stop --unload")) return *refused;
  }
  auto config = load_config_or_log(global);
  if (!config) return code(base::Exit::config);
  const auto& daemon = config->daemon;
  // Progress lines keep the wait alive; this bounds a silent supervisor.
  const auto idle = daemon.stop_timeout + std::chrono::milliseconds(30000) + config->lock_timeout;
  auto outcome = control::call_supervisor(
      config->paths.control_socket(),
      control::ControlRequest{control::ControlCommand::stop, options.unload, std::nullopt, false},
      [](const control::ControlReply& line) { std::cout << "  " << line.message << std::endl; }, idle);
  if (auto* failure = std::get_if<control::ControlClientError>(&outcome)) {
    switch (failure->failure) {
      case control::ControlFailure::not_running: return stop_without_supervisor(global, *config, options);
      case control::ControlFailure::permission:
        spdlog::error("{}: only root may stop stackmgr", failure->error.describe());
        return code(base::Exit::permission);
      case control::ControlFailure::protocol:
      case control::ControlFailure::dropped:
        spdlog::error("stopping the supervisor failed: {}", failure->error.describe());
        return code(base::Exit::internal);
    }
  }
  const control::ControlReply& reply = std::get<control::ControlReply>(outcome);
  if (reply.data.contains("pid") && reply.data["pid"].is_number_integer()) {
    wait_until_gone(reply.data["pid"].get<pid_t>(), std::chrono::milliseconds(10000));
  }
  if (reply.ok) {
    std::cout << reply.message << '\n';
  } else {
    spdlog::error("{}", reply.message);
  }
  return reply.exit_code;
}

}  // namespace

void add_stop_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<StopOptions>();
  CLI::App* command =
      app.add_subcommand("stop", "Stop the keying daemon and the supervisor; flush the native SAD/SPD");
  command->add_flag("--unload", options->unload,
                    "Also unload the modules stackmgr itself loaded, in the safe order");
  command->footer(kStopHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_stop(global, *options); }; });
}

}  // namespace stackmgr::cli
