// `stackmgr start [--stack S] [--daemon]`: the boot path. Make the chosen stack ready, start
// the keying daemon on it, report ready only when the daemon is, and supervise it.
#include <fcntl.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <iostream>
#include <memory>
#include <optional>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/base/host_failure.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/os/pid_file.hpp"
#include "stackmgr/os/process.hpp"
#include "stackmgr/os/xfrm_netlink.hpp"
#include "stackmgr/supervisor/real_supervisor_host.hpp"
#include "stackmgr/supervisor/supervisor.hpp"
#include "stackmgr/supervisor/system_notifier.hpp"
#include "stackmgr/switch/real_switch_host.hpp"
#include "stackmgr/switch/stack_ready.hpp"
#include "stackmgr/watch/module_monitor.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kStartHelp =
    R"(Runs in the foreground (systemd Type=notify: READY=1 once the stack is live and the
daemon reported ready; WATCHDOG=1 when WatchdogSec= is set). --daemon is for LSB init
scripts: it returns 0 only once stackmgr is ready, else the exit code below.
Exit codes:
  0  stopped cleanly (foreground) / ready (--daemon)
  2  --root in manage mode (modules are loaded into the running kernel only)
  3  the stack is refused or not usable;  4, 5  loading it failed (rolled back / not)
  6  busy: stackmgr is already running
  7  configuration error, or a run_dir that stackmgr did not make (a shared directory)
  8  the keying daemon could not be started or kept running (crash loop, missing binary,
     an exit code listed in daemon.no_restart_exit_codes, a capability it may not keep)
  9  not root
 10  both stacks came into the kernel: the module watch stopped the daemon
 15  a file system refused run_dir or the state files (read-only, full, no permission)
Details: docs/supervisor.md)";

struct StartOptions {
  std::string stack;
  bool daemon = false;
};

// `--daemon`: tells the waiting parent, then lets go of the terminal or pipe the init script
// gave us (a caller reading our output until EOF must not wait for the supervisor's death);
// the log continues in syslog.
class DaemonModeNotifier final : public supervisor::Notifier {
 public:
  explicit DaemonModeNotifier(base::UniqueFd pipe) : parent_(std::move(pipe)) {}
  void ready(const std::string& status) override {
    parent_.ready(status);
    if (const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC); null_fd >= 0) {
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
      close(null_fd);
    }
  }
  void status(const std::string&) override {}
  void stopping() override {}
  void watchdog() override {}

 private:
  supervisor::ReadinessPipeNotifier parent_;
};

// `--daemon`: forks into the background (the parent exits once the child is ready, or with its
// code); the child owns the pid file and logs to syslog too. Returns the readiness pipe.
std::optional<base::UniqueFd> daemonize(os::PidFile& pid_file) {
  auto pipe = os::fork_to_background(code(base::Exit::internal));
  if (!pipe) {
    spdlog::error("--daemon: {}", pipe.error().describe());
    return std::nullopt;
  }
  if (auto written = pid_file.write_pid(getpid()); !written) spdlog::warn("{}", written.error().describe());
  try {
    spdlog::default_logger()->sinks().push_back(
        std::make_shared<spdlog::sinks::syslog_sink_mt>("stackmgr", LOG_PID, LOG_DAEMON, true));
  } catch (const spdlog::spdlog_ex& error) {
    spdlog::warn("--daemon: no syslog: {}", error.what());
  }
  return std::move(pipe).value();
}

// Logs why stackmgr could not get going and returns the exit code for it: config for a refused
// (untrusted or shared) directory, filesystem for what the host's file systems refused.
int fail_to_start(const detect::Error& error, const std::string& context = "") {
  const base::Exit exit = base::exit_for_error(error.code);
  spdlog::error("{}{}{}", context, error.describe(),
                exit == base::Exit::filesystem ? " " + base::filesystem_advice(error.code) : std::string());
  return code(exit);
}

int run_start(const GlobalOptions& global, const StartOptions& options) {
  if (geteuid() != 0) {
    spdlog::error("stackmgr start needs root: it loads kernel modules and runs the keying daemon");
    return code(base::Exit::permission);
  }
  std::optional<detect::Stack> cli_stack;
  if (!options.stack.empty()) cli_stack = detect::parse_stack(options.stack);
  auto config = load_config_or_log(global);
  if (!config) return code(base::Exit::config);
  if (config->module_mode == config::ModuleMode::manage) {
    if (auto refused = refuse_module_changes_under_other_root(global, "start in manage mode"))
      return *refused;
  }
  if (std::find(config->daemon.drop_capabilities.begin(), config->daemon.drop_capabilities.end(),
                CAP_SYS_MODULE) == config->daemon.drop_capabilities.end()) {
    spdlog::warn(
        "daemon.drop_capabilities does not name CAP_SYS_MODULE: the keying daemon can load kernel modules");
  }
  if (auto prepared = supervisor::prepare_run_dir(config->paths); !prepared)
    return fail_to_start(prepared.error());
  auto acquired = os::PidFile::acquire(config->paths.pid_file());
  if (auto* running = std::get_if<os::AlreadyRunning>(&acquired)) {
    spdlog::error("stackmgr is already running{} ({}); 'stackmgr status' shows it, 'stackmgr stop' stops it",
                  running->pid ? " as pid " + std::to_string(*running->pid) : std::string(),
                  config->paths.pid_file().string());
    return code(base::Exit::busy);
  }
  if (auto* error = std::get_if<detect::Error>(&acquired)) return fail_to_start(*error);
  os::PidFile& pid_file = std::get<os::PidFile>(acquired);

  auto notifiers = std::make_unique<supervisor::NotifierList>();
  notifiers->add(std::make_unique<supervisor::SystemdNotifier>());
  if (options.daemon) {
    auto pipe = daemonize(pid_file);
    if (!pipe) {
      pid_file.remove();
      return code(base::Exit::internal);
    }
    notifiers->add(std::make_unique<DaemonModeNotifier>(std::move(*pipe)));
  }
  const std::chrono::microseconds watchdog = supervisor::systemd_watchdog_interval();
  std::optional<supervisor::WatchdogKeepalive> keepalive;  // until the supervisor's loop pings
  if (watchdog.count() > 0) keepalive.emplace(*notifiers, watchdog / 2);

  if (auto unrecovered =
          switching::recover_on_host(detect::HostRoot(global.root), *config)) {  // an interrupted switch
    pid_file.release();
    return *unrecovered;
  }
  supervisor::RealStackHost stack_host(detect::HostRoot(global.root), *config);
  const switching::ResolvedStack resolved = switching::resolve_stack(*config, cli_stack, stack_host.detect());
  for (const auto& warning : resolved.warnings) spdlog::warn("{}", warning);
  if (!resolved.stack) {
    spdlog::error("{}", resolved.message);
    pid_file.release();
    return resolved.exit_code;
  }
  spdlog::info("stack: {}", resolved.explanation);

  os::ForkExecSpawner spawner;
  supervisor::SupervisorHost host{
      spawner,
      *notifiers,
      [&stack_host](detect::Stack stack, const supervisor::SupervisorHost::Report& report,
                    const supervisor::SupervisorHost::StopRequested& stop_requested) {
        return switching::make_stack_ready(stack, stack_host.context(report, stop_requested));
      },
      [] { return os::flush_xfrm(); },
      [&stack_host](const supervisor::SupervisorHost::Report& report,
                    const supervisor::SupervisorHost::StopRequested& stop_requested) {
        return switching::unload_own_modules(stack_host.context(report, stop_requested));
      },
      [&stack_host] { return supervisor::kernel_status_json(stack_host.detect()); },
  };
  supervisor::SupervisorSetup setup{*config, *resolved.stack, resolved.explanation, resolved.source};
  auto created = supervisor::Supervisor::create(std::move(setup), std::move(host), watchdog);
  if (!created) {
    pid_file.remove();
    return fail_to_start(created.error(), "cannot start the supervisor: ");
  }
  std::unique_ptr<supervisor::Supervisor> supervisor = std::move(created).value();
  if (auto monitor = watch::open_udev_module_monitor(); !monitor) {
    spdlog::warn("{}; module changes made behind stackmgr's back will go unnoticed",
                 monitor.error().describe());
  } else if (auto watching = supervisor->watch_kernel(std::move(monitor).value(),
                                                      [&stack_host] { return stack_host.detect(); });
             !watching) {
    spdlog::warn("cannot watch kernel modules: {}", watching.error().describe());
  }
  keepalive.reset();  // the loop pings from here on, the first time within half the interval
  const int exit_code = supervisor->run();
  supervisor.reset();
  // A clean stop leaves no pid file; a failed run keeps it, so `status` reports "dead".
  if (exit_code == code(base::Exit::ok)) {
    pid_file.remove();
  } else {
    pid_file.release();
  }
  return exit_code;
}

}  // namespace

void add_start_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<StartOptions>();
  CLI::App* command =
      app.add_subcommand("start", "Make the chosen stack ready, then start and supervise the keying daemon");
  command
      ->add_option("--stack", options->stack,
                   "native (or netkey, xfrm) or klips; overrides the state file and config")
      ->check([](const std::string& value) {
        return detect::parse_stack(value) ? std::string() : "unknown stack '" + value + "' (native, klips)";
      });
  command->add_flag("--daemon", options->daemon,
                    "Fork into the background; exit 0 only once ready (for LSB init scripts)");
  command->footer(kStartHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_start(global, *options); }; });
}

}  // namespace stackmgr::cli
