#include "stackmgr/supervisor/supervisor.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "modules/atomic_file.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/base/host_failure.hpp"
#include "stackmgr/base/signals.hpp"
#include "stackmgr/config/placeholders.hpp"
#include "stackmgr/os/file_trust.hpp"

namespace stackmgr::supervisor {
namespace {

using nlohmann::json;
using std::chrono::duration_cast;

constexpr std::size_t kMaxLogLine = 4096;
constexpr std::size_t kMaxOutputPerWakeup = std::size_t{64} * 1024;

void log_at(base::LogLevel level, const std::string& message) {
  switch (level) {
    case base::LogLevel::debug: spdlog::debug("{}", message); break;
    case base::LogLevel::info: spdlog::info("{}", message); break;
    case base::LogLevel::warn: spdlog::warn("{}", message); break;
    case base::LogLevel::error: spdlog::error("{}", message); break;
  }
}

double seconds_between(base::SteadyTime from, base::SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

// The status exit code a running supervisor reports (LSB style).
int status_exit_for(Phase phase) {
  return phase == Phase::running ? code(base::StatusExit::running) : code(base::StatusExit::unknown);
}

}  // namespace

SupervisionPolicy supervision_policy(const config::Config& config, detect::Stack stack,
                                     std::chrono::microseconds watchdog_interval) {
  SupervisionPolicy policy;
  const auto& daemon = config.daemon;
  auto argv = daemon.argv.find(stack);
  policy.has_daemon = argv != daemon.argv.end() && !argv->second.empty() && !argv->second[0].empty();
  if (policy.has_daemon) {
    policy.daemon_name = std::filesystem::path(argv->second[0]).filename().string();
    if (policy.daemon_name.empty()) policy.daemon_name = "daemon";
  }
  policy.readiness = daemon.expect_notify ? Readiness::notify : Readiness::settle;
  policy.ready_timeout = daemon.ready_timeout;
  policy.settle_time = std::min<base::Millis>(base::Millis{1000}, daemon.ready_timeout);
  policy.stop_timeout = daemon.stop_timeout;
  policy.restart_initial = daemon.restart_initial;
  policy.restart_max = daemon.restart_max;
  policy.crash_loop_limit = daemon.crash_loop_limit;
  policy.crash_loop_window = daemon.crash_loop_window;
  policy.no_restart_exit_codes = daemon.no_restart_exit_codes;
  policy.watchdog_interval = watchdog_interval;
  return policy;
}

detect::Result<std::unique_ptr<Supervisor>> Supervisor::create(SupervisorSetup setup, SupervisorHost host,
                                                               std::chrono::microseconds watchdog_interval) {
  auto loop = os::EventLoop::create();
  if (!loop) return loop.error();
  // SIGPIPE: a control client that vanishes must not kill the supervisor.
  static_cast<void>(signal(SIGPIPE, SIG_IGN));  // cannot fail for a valid signal number
  auto signals = os::SignalSource::create({SIGCHLD, SIGTERM, SIGINT, SIGHUP});
  if (!signals) return signals.error();
  auto worker = ModuleWorker::create();  // after the signals are blocked: the thread inherits the mask
  if (!worker) return worker.error();
  SupervisionPolicy policy = supervision_policy(setup.config, setup.stack, watchdog_interval);
  std::unique_ptr<Supervisor> supervisor(new Supervisor(std::move(setup), std::move(host), std::move(policy),
                                                        std::move(loop).value(), std::move(signals).value()));
  supervisor->worker_ = std::move(worker).value();
  if (auto opened = supervisor->open_sockets(); !opened) return opened.error();
  return supervisor;
}

Supervisor::Supervisor(SupervisorSetup setup, SupervisorHost host, SupervisionPolicy policy,
                       os::EventLoop loop, os::SignalSource signals)
    : setup_(std::move(setup)),
      host_(std::move(host)),
      policy_(std::move(policy)),
      loop_(std::move(loop)),
      signals_(std::move(signals)) {}

Supervisor::~Supervisor() {
  if (worker_) loop_.unwatch(worker_->fd());
  if (watch_) loop_.unwatch(watch_->fd());
  for (auto& [fd, owned] : outputs_) loop_.unwatch(fd);
  if (notify_) loop_.unwatch(notify_->fd());
  loop_.unwatch(signals_.fd());
}

detect::Status Supervisor::open_sockets() {
  const auto& paths = setup_.config.paths;
  auto notify = NotifyListener::bind(paths.notify_socket());
  if (!notify) return notify.error();
  notify_.emplace(std::move(notify).value());
  if (auto watched = loop_.watch(notify_->fd(), EPOLLIN, [this](std::uint32_t) { on_notify(); }); !watched) {
    return watched.error();
  }
  if (auto watched = loop_.watch(signals_.fd(), EPOLLIN, [this](std::uint32_t) { on_signals(); }); !watched) {
    return watched.error();
  }
  if (auto watched = loop_.watch(worker_->fd(), EPOLLIN, [this](std::uint32_t) { on_worker(); }); !watched) {
    return watched.error();
  }
  auto control = control::ControlServer::listen(
      paths.control_socket(), loop_,
      [this](control::ControlServer::ConnectionId id, const control::ControlRequest& request) {
        on_request(id, request);
      });
  if (!control) return control.error();
  control_ = std::move(control).value();
  loop_.set_deadline([this] { return deadline(); }, [this] { on_deadline(); });
  return {};
}

int Supervisor::run() {
  feed(Begin{setup_.stack});
  if (!finished_) {
    if (auto ran = loop_.run(); !ran) {
      spdlog::critical("the event loop failed: {}", ran.error().describe());
      finished_ = code(base::Exit::internal);
    }
  }
  int exit_code = finished_.value_or(code(base::Exit::internal));
  if (working()) {  // a watch reload still runs: it stops at its next step, rolled back
    worker_->stop_submitted();
    loop_.unwatch(worker_->fd());
    worker_.reset();
    work_.clear();
  }
  if (watch_stopped_ && exit_code == 0) exit_code = watch_exit_;
  json final_status = status_document();
  final_status["supervisor"]["running"] = false;
  final_status["supervisor"]["exit"] = exit_code;
  final_status["supervisor"]["ended_at"] =
      duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (auto written = write_last_run(setup_.config.paths, final_status); !written) {
    spdlog::warn("could not record how this run ended: {}", written.error().describe());
  }
  if (notify_) {  // nothing more to hear from a daemon: the socket file goes now
    loop_.unwatch(notify_->fd());
    notify_.reset();
  }
  std::string summary = state_.phase == Phase::failed ? "failed: " + state_.failure : "stopped";
  if (watch_stopped_) summary = "stopped by the module watch: " + *watch_stopped_;
  finish_requests(exit_code != 0 ? exit_code : cleanup_exit_, summary);
  control_->shutdown(std::chrono::milliseconds(1000));
  return exit_code;
}

void Supervisor::feed(const Event& event) {
  pending_.push_back(event);
  if (feeding_) return;  // the outer feed() drains the queue
  feeding_ = true;
  while (!pending_.empty()) {
    const Event next = pending_.front();
    pending_.erase(pending_.begin());
    Transition transition = on_event(policy_, state_, next, std::chrono::steady_clock::now());
    state_ = std::move(transition.state);
    for (const Action& action : transition.actions) perform(action);
  }
  feeding_ = false;
  if (watch_) watch_after_feed();
}

void Supervisor::perform(const Action& action) {
  if (const auto* prepare = std::get_if<PrepareStack>(&action)) {
    if (prepare->stack != setup_.stack) {  // a switch (or its rollback) moves the daemon
      setup_.stack = prepare->stack;
      setup_.stack_source = config::ChoiceSource::state_file;
      setup_.stack_explanation = "chosen by 'stackmgr switch'";
      policy_ = supervision_policy(setup_.config, prepare->stack, policy_.watchdog_interval);
    }
    const detect::Stack stack = prepare->stack;
    submit_work(Work{WorkKind::prepare, stack,
                     "making the " + std::string(detect::to_string(stack)) + " stack ready"},
                [this, stack](const ModuleWorker::Report& work_report, const std::function<bool()>& stop) {
                  return host_.prepare(stack, work_report, stop);
                });
  } else if (std::holds_alternative<CancelModuleWork>(action)) {
    worker_->stop_submitted();
  } else if (std::holds_alternative<FlushKernel>(action)) {
    if (auto flushed = host_.flush(); !flushed) {
      progress(base::LogLevel::warn, "could not flush the native SAD/SPD: " + flushed.error().describe());
      if (state_.phase == Phase::stopped || state_.phase == Phase::failed)
        cleanup_exit_ = code(base::Exit::internal);
    } else {
      progress(base::LogLevel::info, "flushed the native SAD and SPD (XFRM netlink)");
    }
  } else if (const auto* spawn = std::get_if<SpawnDaemon>(&action)) {
    spawn_daemon(spawn->stack);
  } else if (const auto* signal_action = std::get_if<SignalDaemon>(&action)) {
    if (auto sent = host_.spawner.signal(signal_action->pid, signal_action->signo, signal_action->scope);
        !sent) {
      progress(base::LogLevel::warn, sent.error().describe());
    }
  } else if (const auto* notify = std::get_if<NotifySystem>(&action)) {
    switch (notify->kind) {
      case NotifyKind::ready: host_.notifier.ready(notify->status); break;
      case NotifyKind::status: host_.notifier.status(notify->status); break;
      case NotifyKind::stopping: host_.notifier.stopping(); break;
      case NotifyKind::watchdog: host_.notifier.watchdog(); break;
    }
  } else if (std::holds_alternative<UnloadOwnModules>(action)) {
    submit_work(Work{WorkKind::unload, setup_.stack, "unloading the modules stackmgr loaded"},
                [this](const ModuleWorker::Report& work_report, const std::function<bool()>& stop) {
                  return host_.unload_own(work_report, stop);
                });
  } else if (std::holds_alternative<CheckStack>(action)) {
    if (working()) {
      check_deferred_ = true;  // detection shares libkmod with the work: look once it is done
    } else if (watch_ && state_.active_stack) {
      react(watch_->check(*state_.active_stack, std::chrono::steady_clock::now()));
    }
  } else if (const auto* message = std::get_if<Report>(&action)) {
    progress(message->level, message->message);
  } else if (const auto* switching = std::get_if<SwitchProgress>(&action)) {
    std::vector<std::string> warnings;
    const auto clients = switch_.clients();
    const auto final_line = switch_.on_progress(*switching, warnings);
    for (const auto& warning : warnings) progress(base::LogLevel::warn, warning);
    for (control::ControlServer::ConnectionId id : clients) {
      if (final_line) control_->finish(id, *final_line);
    }
  } else if (const auto* finish = std::get_if<Finish>(&action)) {
    finished_ = finish->exit_code;
    loop_.stop();
  }
}

void Supervisor::spawn_daemon(detect::Stack stack) {
  const config::Config& config = setup_.config;
  const config::PlaceholderValues values = config::placeholder_values(config, stack);
  auto argv = config::expand_argv(config.daemon.argv.at(stack), values);
  if (!argv) {
    feed(SpawnFailed{argv.error().describe(), true});
    return;
  }
  std::map<std::string, std::string> environment;
  for (const auto& [name, value] : config.daemon.environment) {
    auto expanded = config::expand_placeholders(value, values);
    if (!expanded) {
      feed(SpawnFailed{"daemon.environment." + name + ": " + expanded.error().describe(), true});
      return;
    }
    environment[name] = std::move(expanded).value();
  }
  // NOTIFY_SOCKET goes to every daemon: in settle mode an early READY=1 is still welcome.
  auto env = os::build_environment(environment, config.paths.notify_socket().string());
  if (!env) {
    feed(SpawnFailed{env.error().describe(), true});
    return;
  }
  std::string command_line;
  for (const auto& argument : *argv) command_line += (command_line.empty() ? "" : " ") + argument;
  spdlog::info("starting {}", command_line);
  os::SpawnSpec spec{std::move(argv).value(), std::move(env).value(), "/"};
  spec.drop_capabilities = config.daemon.drop_capabilities;
  auto spawned = host_.spawner.spawn(spec);
  if (!spawned) {
    feed(SpawnFailed{spawned.error().describe(), os::is_permanent_spawn_error(spawned.error())});
    return;
  }
  const pid_t pid = spawned->pid;
  base::UniqueFd output = std::move(spawned.value().output);
  if (output) {
    const int fd = output.get();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (auto watched = loop_.watch(fd, EPOLLIN, [this, fd](std::uint32_t) { on_daemon_output(fd); });
        watched) {
      outputs_[fd] = std::move(output);
      partial_lines_[fd].clear();
    }
  }
  daemon_status_text_.clear();
  feed(DaemonSpawned{pid});
}

void Supervisor::on_daemon_output(int fd) {
  std::size_t total = 0;
  for (;;) {
    char buffer[4096];
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (got <= 0) {
      close_output(fd);
      return;
    }
    std::string& partial = partial_lines_[fd];
    partial.append(buffer, static_cast<std::size_t>(got));
    std::size_t start = 0;
    for (;;) {
      const std::size_t newline = partial.find('\n', start);
      if (newline == std::string::npos) break;
      spdlog::info("{}: {}", policy_.daemon_name, partial.substr(start, newline - start));
      start = newline + 1;
    }
    partial.erase(0, start);
    while (partial.size() > kMaxLogLine) {  // a line without end: log it in pieces
      spdlog::info("{}: {}", policy_.daemon_name, partial.substr(0, kMaxLogLine));
      partial.erase(0, kMaxLogLine);
    }
    total += static_cast<std::size_t>(got);
    if (total >= kMaxOutputPerWakeup) return;  // let other fds have their turn
  }
}

void Supervisor::drain_output(int fd) {
  if (outputs_.count(fd) != 0) on_daemon_output(fd);
}

void Supervisor::close_output(int fd) {
  auto found = partial_lines_.find(fd);
  if (found != partial_lines_.end() && !found->second.empty()) {
    spdlog::info("{}: {}", policy_.daemon_name, found->second);
  }
  partial_lines_.erase(fd);
  loop_.unwatch(fd);
  outputs_.erase(fd);
}

void Supervisor::on_signals() {
  for (int signo : signals_.read_pending()) {
    if (signo == SIGCHLD) {
      const auto reaped = os::reap_children();
      if (!reaped.empty()) {
        // Log what the daemon wrote before it died ahead of the news of its death.
        std::vector<int> fds;
        for (const auto& [fd, owned] : outputs_) fds.push_back(fd);
        for (int fd : fds) drain_output(fd);
      }
      for (const auto& child : reaped) feed(ProcessExited{child.pid, child.how});
    } else {
      feed(SignalReceived{signo});
    }
  }
}

void Supervisor::on_notify() {
  for (const NotifyMessage& message : notify_->receive()) {
    if (message.pid != state_.daemon.pid || message.pid == 0) {
      spdlog::debug("ignoring a notify message from pid {} (the daemon is pid {})", message.pid,
                    state_.daemon.pid);
      continue;
    }
    if (auto text = message.get("STATUS")) daemon_status_text_ = *text;
    if (message.get("STOPPING") == "1") spdlog::info("{} says it is stopping", policy_.daemon_name);
    if (message.ready()) feed(DaemonReady{message.pid});
  }
}

void Supervisor::on_request(control::ControlServer::ConnectionId id, const control::ControlRequest& request) {
  switch (request.command) {
    case control::ControlCommand::status: {
      const std::string summary = status_line(policy_, state_);
      control_->finish(id, control::result_reply(status_exit_for(state_.phase), summary, status_document()));
      return;
    }
    case control::ControlCommand::stop:
      spdlog::info("stop requested over the control socket{}", request.unload ? " (--unload)" : "");
      stop_requests_.push_back(id);
      feed(StopRequested{request.unload});
      return;
    case control::ControlCommand::switch_stack: {
      if (!request.stack) {
        control_->finish(id, SupervisorSwitch::reply(code(base::Exit::usage), "switch needs a stack"));
        return;
      }
      if (switch_.in_flight() || request.dry_run) {
        control_->finish(
            id, SupervisorSwitch::reply(request.dry_run ? code(base::Exit::usage) : code(base::Exit::busy),
                                        request.dry_run ? "'stackmgr switch --dry-run' plans locally"
                                                        : "another switch is in progress; try again "
                                                          "when it has finished"));
        return;
      }
      if (auto begun = switch_.begin(id, state_.active_stack, *request.stack, policy_.daemon_name); !begun) {
        const int error = begun.error().code;
        control_->finish(id, SupervisorSwitch::reply(code(base::exit_for_error(error)),
                                                     begun.error().describe() +
                                                         (base::is_filesystem_failure(error)
                                                              ? " " + base::filesystem_advice(error)
                                                              : std::string()) +
                                                         "; nothing was changed"));
        return;
      }
      spdlog::info("switch to the {} stack requested over the control socket",
                   detect::to_string(*request.stack));
      feed(SwitchRequested{*request.stack});
      return;
    }
  }
}

void Supervisor::progress(base::LogLevel level, const std::string& message) {
  log_at(level, message);
  if (level == base::LogLevel::debug) return;
  for (control::ControlServer::ConnectionId id : stop_requests_)
    control_->send(id, control::progress_reply(base::to_string(level), message));
  for (control::ControlServer::ConnectionId id : switch_.clients())
    control_->send(id, control::progress_reply(base::to_string(level), message));
}

void Supervisor::finish_requests(int exit_code, const std::string& message) {
  for (control::ControlServer::ConnectionId id : stop_requests_) {
    control_->finish(id, control::result_reply(exit_code, message, json{{"pid", getpid()}}));
  }
  stop_requests_.clear();
}

std::optional<base::SteadyTime> Supervisor::deadline() const {
  std::optional<base::SteadyTime> core = next_deadline(state_);
  std::optional<base::SteadyTime> clients = control_ ? control_->next_deadline() : std::nullopt;
  if (!core) return clients;
  if (!clients) return core;
  return std::min(*core, *clients);
}

void Supervisor::on_deadline() {
  const base::SteadyTime now = std::chrono::steady_clock::now();
  if (control_) control_->expire(now);
  if (auto core = next_deadline(state_); core && now >= *core) feed(TimerFired{});
}

detect::Status Supervisor::watch_kernel(std::unique_ptr<watch::ModuleMonitor> monitor,
                                        std::function<detect::Snapshot()> detect) {
  auto watch = std::make_unique<watch::KernelWatch>(setup_.config, std::move(monitor), std::move(detect));
  if (auto watched = loop_.watch(watch->fd(), EPOLLIN, [this](std::uint32_t) { on_module_events(); });
      !watched) {
    return watched.error();
  }
  watch_ = std::move(watch);
  return {};
}

void Supervisor::on_module_events() {
  if (auto event = watch_->receive(watch_phase())) {
    feed(ModuleEvent{event->name, event->action == watch::WatchAction::add});  // the core answers CheckStack
    return;
  }
  watch_after_feed();
}

// One re-detection once stackmgr's own module change is over (docs/supervisor.md).
void Supervisor::watch_after_feed() {
  if (!state_.active_stack || finished_ || state_.phase == Phase::failed || state_.phase == Phase::stopped)
    return;
  if (working()) return;  // on_worker() comes back here once the work is done
  if (watch::is_own_change_phase(to_string(state_.phase)) || !watch_->reconcile_due(*state_.active_stack))
    return;
  react(watch_->reconcile(*state_.active_stack, "stackmgr's own module change",
                          std::chrono::steady_clock::now()));
}

void Supervisor::react(watch::Reaction reaction, int round) {
  switch (reaction.severity) {
    case watch::Severity::critical: spdlog::critical("{}", reaction.message); break;
    case watch::Severity::error: spdlog::error("{}", reaction.message); break;
    case watch::Severity::info: spdlog::debug("{}", reaction.message); break;
  }
  switch (reaction.kind) {
    case watch::ReactionKind::none:
    case watch::ReactionKind::report: return;
    case watch::ReactionKind::stop_daemon:
      if (watch_stopped_) return;
      watch_stopped_ = reaction.message;
      watch_exit_ = reaction.conflict ? code(base::Exit::conflict) : code(base::Exit::daemon_failed);
      host_.notifier.status("stopping: " + reaction.message);
      feed(StopRequested{});
      return;
    case watch::ReactionKind::reload: {
      const detect::Stack stack = *state_.active_stack;
      Work work{WorkKind::reload, stack, "reloading the " + std::string(detect::to_string(stack)) + " stack"};
      work.reaction = reaction;
      work.round = round;
      submit_work(std::move(work),
                  [this, stack](const ModuleWorker::Report& report, const std::function<bool()>& stop) {
                    return host_.prepare(stack, report, stop);
                  });
      return;
    }
  }
}

void Supervisor::submit_work(Work work, ModuleWorker::Job job) {
  work.started = std::chrono::steady_clock::now();
  const ModuleWorker::JobId id = worker_->submit(std::move(job));
  work_.emplace(id, std::move(work));
}

void Supervisor::on_worker() {
  for (ModuleWorker::Message& message : worker_->receive()) {
    if (auto* step = std::get_if<ModuleWorker::Progress>(&message)) {
      if (auto found = work_.find(step->job); found != work_.end()) found->second.step = step->message;
      progress(step->level, step->message);
      continue;
    }
    auto& finished = std::get<ModuleWorker::Finished>(message);
    auto found = work_.find(finished.job);
    if (found == work_.end()) continue;
    const Work work = std::move(found->second);
    work_.erase(found);
    work_finished(work, finished.outcome);
  }
  if (working() || finished_) return;
  if (check_deferred_) {
    check_deferred_ = false;
    perform(CheckStack{});
  }
  if (watch_) watch_after_feed();
}

void Supervisor::work_finished(const Work& work, const switching::StackOutcome& outcome) {
  switch (work.kind) {
    case WorkKind::prepare:
      if (watch_) watch_->mark_own_change();
      feed(StackPrepared{outcome.ok(), outcome.exit_code, outcome.message});
      return;
    case WorkKind::unload:
      progress(outcome.ok() ? base::LogLevel::info : base::LogLevel::error, outcome.message);
      for (const auto& warning : outcome.warnings) progress(base::LogLevel::warn, warning);
      if (!outcome.ok() && cleanup_exit_ == 0) cleanup_exit_ = outcome.exit_code;
      feed(ModulesUnloaded{outcome.ok(), outcome.exit_code, outcome.message});
      return;
    case WorkKind::reload:
      if (outcome.ok()) {
        spdlog::info("reload: {}", outcome.message);
      } else {
        spdlog::error("reload failed: {}", outcome.message);
      }
      if (!watch_ || finished_ || state_.phase == Phase::failed || state_.phase == Phase::stopped) return;
      watch_->performed(work.reaction, outcome.ok(), outcome.message);
      {
        watch::Reaction next = watch_->reconcile(work.stack, "the reload", std::chrono::steady_clock::now());
        if (work.round == 0) react(std::move(next), 1);  // a reload, then at most one more
      }
      return;
  }
}

// The phase the module watch judges events by: a reload of its own is stackmgr's change too.
std::string Supervisor::watch_phase() const {
  for (const auto& [id, work] : work_) {
    if (work.kind == WorkKind::reload) return "reloading";
  }
  return std::string(to_string(state_.phase));
}

json Supervisor::status_document() const {
  const base::SteadyTime now = std::chrono::steady_clock::now();
  json document;
  document["schema"] = "stackmgr.status/1";
  document["supervisor"] = {
      {"running", true},
      {"pid", getpid()},
      {"phase", std::string(to_string(state_.phase))},
      {"uptime_s", seconds_between(started_, now)},
      {"started_at", duration_cast<std::chrono::seconds>(started_wall_.time_since_epoch()).count()},
      {"module_mode", std::string(to_string(setup_.config.module_mode))},
      {"config", setup_.config.source.string()},
      {"status", status_line(policy_, state_)},
  };
  if (state_.phase == Phase::failed) document["supervisor"]["failure"] = state_.failure;
  if (watch_) {
    document["watch"] = watch_->status();
    if (!watch_->degraded().empty()) {
      document["supervisor"]["degraded"] = watch_->degraded();
      document["supervisor"]["status"] =
          status_line(policy_, state_) + " (degraded: " + watch_->degraded() + ")";
    }
  }
  if (watch_stopped_) {
    document["supervisor"]["failure"] = *watch_stopped_;
    document["supervisor"]["status"] = "stopped by the module watch: " + *watch_stopped_;
  }
  json stack = {{"chosen", std::string(detect::to_string(setup_.stack))},
                {"source", std::string(to_string(setup_.stack_source))},
                {"explanation", setup_.stack_explanation},
                {"ready", state_.active_stack.has_value()}};
  json daemon = nullptr;
  if (policy_.has_daemon) {
    const DaemonState& d = state_.daemon;
    daemon = {
        {"name", policy_.daemon_name},
        {"state", std::string(to_string(state_.phase))},
        {"pid", d.pid != 0 ? json(d.pid) : json(nullptr)},
        {"ready", d.ready_at.has_value()},
        {"uptime_s", d.pid != 0 && d.spawned_at ? json(seconds_between(*d.spawned_at, now)) : json(nullptr)},
        {"restarts", d.restarts},
        {"status_text", daemon_status_text_}};
    if (d.last_exit) {
      json last = {{"description", d.last_exit->describe()},
                   {"code", d.last_exit->signal == 0 ? json(d.last_exit->exit_code) : json(nullptr)},
                   {"signal",
                    d.last_exit->signal != 0 ? json(base::signal_name(d.last_exit->signal)) : json(nullptr)}};
      if (d.last_exit_at) last["ago_s"] = seconds_between(*d.last_exit_at, now);
      daemon["last_exit"] = last;
    } else {
      daemon["last_exit"] = nullptr;
    }
    if (state_.phase == Phase::backoff && state_.deadline) {
      daemon["restart_in_s"] = std::max(0.0, seconds_between(now, *state_.deadline));
    }
    if (state_.phase == Phase::failed) daemon["failure"] = state_.failure;
  }
  document["stack"] = stack;
  document["daemon"] = daemon;
  if (working()) {  // the kernel is changing, and the work owns libkmod: say what it does instead
    const Work& current = work_.begin()->second;
    document["module_work"] = {
        {"doing", current.title}, {"step", current.step}, {"for_s", seconds_between(current.started, now)}};
    document["stack"]["active"] =
        state_.active_stack ? json(std::string(detect::to_string(*state_.active_stack))) : json(nullptr);
    document["overall"] = "changing";
    document["kernel"] = {{"error", "not read while the supervisor changes modules"}};
  } else if (host_.kernel_status) {
    json kernel = host_.kernel_status();
    for (auto& [key, value] : kernel.items()) document[key] = value;
    if (kernel.contains("active")) document["stack"]["active"] = kernel["active"];
  }
  return document;
}

detect::Status write_last_run(const config::PathsConfig& paths, const nlohmann::json& document) {
  return modules::write_file_atomically(paths.run_dir / "last-run.json",
                                        document.dump(2, ' ', false, json::error_handler_t::replace) + "\n",
                                        0600);
}

std::optional<nlohmann::json> read_last_run(const config::PathsConfig& paths) {
  auto text = os::read_trusted_file(paths.run_dir / "last-run.json", os::kRootUid, 1 << 20);
  if (!text) return std::nullopt;
  json parsed = json::parse(*text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

}  // namespace stackmgr::supervisor
