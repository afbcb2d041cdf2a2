#include "stackmgr/supervisor/core.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <string>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/base/signals.hpp"

namespace stackmgr::supervisor {
namespace {

using std::chrono::duration_cast;

std::string seconds_text(base::Millis duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

// Builds one transition step by step; keeps the handlers short.
class Step {
 public:
  Step(const SupervisionPolicy& policy, State state, base::SteadyTime now)
      : policy_(policy), state_(std::move(state)), now_(now) {}

  Transition done() && { return {std::move(state_), std::move(actions_)}; }

  void handle(const Begin& event);
  void handle(const StackPrepared& event);
  void handle(const DaemonSpawned& event);
  void handle(const SpawnFailed& event);
  void handle(const DaemonReady& event);
  void handle(const ProcessExited& event);
  void handle(const TimerFired& event);
  void handle(const StopRequested& event);
  void handle(const SignalReceived& event);
  void handle(const SwitchRequested& event);
  void handle(const ModulesUnloaded& event);
  void handle(const ModuleEvent& event);

 private:
  void report(base::LogLevel level, std::string message) {
    actions_.emplace_back(Report{level, std::move(message)});
  }
  void notify(NotifyKind kind, std::string status = {}) {
    actions_.emplace_back(NotifySystem{kind, std::move(status)});
  }
  [[nodiscard]] std::string daemon_label() const {
    return policy_.daemon_name + " (pid " + std::to_string(state_.daemon.pid) + ")";
  }
  [[nodiscard]] bool finished() const {
    return state_.phase == Phase::failed || state_.phase == Phase::stopped;
  }
  void flush_if_native() {
    if (state_.active_stack == detect::Stack::native) actions_.emplace_back(FlushKernel{});
  }

  void start_daemon();
  void become_ready(std::string how);
  void daemon_died(const os::ProcessExit& how);
  void begin_stop();
  void after_daemon_stopped();
  void stop_after_module_work(const StackPrepared& event);
  [[nodiscard]] bool changing_modules() const {
    return state_.phase == Phase::preparing_stack || state_.phase == Phase::switching;
  }
  void fail(int exit_code, const std::string& why);
  void switch_progress(SwitchStage stage, int exit_code = 0, std::string message = {});
  void switch_step_failed(int exit_code, const std::string& message);
  bool switch_daemon_failed(const std::string& what);
  void fire_watchdog();
  void fire_phase_timer();

  const SupervisionPolicy& policy_;
  State state_;
  base::SteadyTime now_;
  std::vector<Action> actions_;
};

constexpr int kExitDaemonFailed = code(base::Exit::daemon_failed);

void Step::handle(const Begin& event) {
  if (state_.phase != Phase::idle) return;
  state_.stack = event.stack;
  state_.phase = Phase::preparing_stack;
  if (policy_.watchdog_interval.count() > 0) {
    state_.watchdog_due = now_ + duration_cast<base::SteadyTime::duration>(policy_.watchdog_interval / 2);
  }
  report(base::LogLevel::info, "making the " + std::string(detect::to_string(event.stack)) + " stack ready");
  actions_.emplace_back(PrepareStack{event.stack});
}

void Step::handle(const StackPrepared& event) {
  if (!changing_modules()) return;
  if (state_.stop_pending) {
    stop_after_module_work(event);
    return;
  }
  if (!event.ok) {
    if (state_.phase == Phase::switching && state_.switching) {
      switch_step_failed(event.exit_code, event.message);
      return;
    }
    fail(event.exit_code, event.message);
    return;
  }
  state_.active_stack = state_.stack;
  state_.switch_target.reset();
  if (!event.message.empty()) report(base::LogLevel::info, event.message);
  if (state_.switching && policy_.has_daemon) switch_progress(SwitchStage::starting_daemon);
  if (!policy_.has_daemon) {
    state_.phase = Phase::running;
    report(base::LogLevel::info, "no keying daemon is configured for the " +
                                     std::string(detect::to_string(state_.stack)) +
                                     " stack; supervising the stack only");
    become_ready("");
    return;
  }
  start_daemon();
}

void Step::start_daemon() {
  state_.phase = Phase::starting;
  state_.deadline.reset();
  state_.daemon.pid = 0;
  state_.daemon.ready_at.reset();
  state_.daemon.kill_sent = false;
  flush_if_native();  // a restarted daemon must not find its predecessor's SAs and policies
  actions_.emplace_back(SpawnDaemon{state_.stack});
}

void Step::handle(const DaemonSpawned& event) {
  if (state_.phase != Phase::starting || state_.daemon.pid != 0) return;
  state_.daemon.pid = event.pid;
  state_.daemon.spawned_at = now_;
  const base::Millis wait =
      policy_.readiness == Readiness::notify ? policy_.ready_timeout : policy_.settle_time;
  state_.deadline = now_ + wait;
  report(base::LogLevel::info,
         "started " + daemon_label() + "; waiting " +
             (policy_.readiness == Readiness::notify ? "for READY=1" : "for it to stay up") + " (up to " +
             seconds_text(wait) + ")");
}

void Step::handle(const SpawnFailed& event) {
  if (state_.phase != Phase::starting || state_.daemon.pid != 0) return;
  if (switch_daemon_failed("cannot start " + policy_.daemon_name + ": " + event.message)) return;
  if (event.permanent) {
    fail(kExitDaemonFailed, "cannot start " + policy_.daemon_name + ": " + event.message +
                                "; fix daemon.argv in the config, then run 'stackmgr start' again");
    return;
  }
  report(base::LogLevel::error, "cannot start " + policy_.daemon_name + ": " + event.message);
  daemon_died(os::ProcessExit{});
}

void Step::become_ready(std::string how) {
  state_.phase = Phase::running;
  state_.deadline.reset();
  if (state_.daemon.pid != 0) state_.daemon.ready_at = now_;
  if (!how.empty()) report(base::LogLevel::info, std::move(how));
  if (state_.switching) {
    const SwitchInFlight& ending = *state_.switching;
    if (ending.rolling_back) {
      switch_progress(SwitchStage::rolled_back, ending.failure_exit,
                      "the switch to " + std::string(detect::to_string(ending.to)) +
                          " failed: " + ending.failure + "; rolled back: the " +
                          std::string(detect::to_string(state_.stack)) + " stack is live again" +
                          (policy_.has_daemon ? " and " + daemon_label() + " is ready" : ""));
    } else {
      switch_progress(SwitchStage::done, 0,
                      "switched to the " + std::string(detect::to_string(state_.stack)) + " stack" +
                          (policy_.has_daemon ? "; " + daemon_label() + " is ready" : ""));
    }
    state_.switching.reset();
  }
  if (!state_.announced_ready) {
    state_.announced_ready = true;
    notify(NotifyKind::ready, status_line(policy_, state_));
  } else {
    notify(NotifyKind::status, status_line(policy_, state_));
  }
}

void Step::handle(const DaemonReady& event) {
  if (state_.phase != Phase::starting || event.pid != state_.daemon.pid || event.pid == 0) return;
  const auto took = duration_cast<base::Millis>(now_ - *state_.daemon.spawned_at);
  become_ready(daemon_label() + " is ready (READY=1 after " + std::to_string(took.count()) + " ms)");
}

void Step::handle(const ProcessExited& event) {
  if (event.pid == 0 || event.pid != state_.daemon.pid) return;  // a straggler of an old daemon
  state_.daemon.last_exit = event.how;
  state_.daemon.last_exit_at = now_;
  // Whatever the daemon left behind in its session goes with it.
  actions_.emplace_back(SignalDaemon{event.pid, SIGKILL, os::SignalScope::group});
  if (state_.phase == Phase::stopping) {
    report(base::LogLevel::info, daemon_label() + " " + event.how.describe());
    state_.daemon.pid = 0;
    after_daemon_stopped();
    return;
  }
  if (state_.phase != Phase::starting && state_.phase != Phase::running) return;
  if (state_.phase == Phase::starting && state_.switching) {  // on the switch's stack: roll back
    const std::string what = daemon_label() + " " + event.how.describe() + " before it was ready";
    state_.daemon.pid = 0;
    if (switch_daemon_failed(what)) return;
    state_.daemon.pid = event.pid;
  }
  daemon_died(event.how);
}

void Step::daemon_died(const os::ProcessExit& how) {
  const std::string who = state_.daemon.pid != 0 ? daemon_label() : policy_.daemon_name;
  const bool was_ready = state_.daemon.ready_at.has_value();
  const auto ready_at = state_.daemon.ready_at;
  state_.daemon.pid = 0;
  state_.daemon.ready_at.reset();
  state_.deadline.reset();

  if (how.signal == 0 && how.exit_code >= 0 &&
      std::find(policy_.no_restart_exit_codes.begin(), policy_.no_restart_exit_codes.end(), how.exit_code) !=
          policy_.no_restart_exit_codes.end()) {
    fail(kExitDaemonFailed, who + " " + how.describe() + (was_ready ? "" : " before it was ready") +
                                ", a code listed in daemon.no_restart_exit_codes: not restarting it; "
                                "fix its configuration, then run 'stackmgr start' again");
    return;
  }
  // A daemon that ran longer than the longest backoff starts the backoff afresh.
  if (ready_at && now_ - *ready_at >= policy_.restart_max) state_.daemon.consecutive_crashes = 0;
  auto& crashes = state_.daemon.crashes;
  while (!crashes.empty() && now_ - crashes.front() >= policy_.crash_loop_window) crashes.pop_front();
  if (static_cast<int>(crashes.size()) >= policy_.crash_loop_limit) {
    fail(kExitDaemonFailed, who + " " + how.describe() + ": it died " + std::to_string(crashes.size() + 1) +
                                " times within " + seconds_text(policy_.crash_loop_window) +
                                " (daemon.crash_loop_limit = " + std::to_string(policy_.crash_loop_limit) +
                                "); giving up. Read its log lines above, fix the cause, then run "
                                "'stackmgr start' again");
    return;
  }
  crashes.push_back(now_);
  state_.daemon.consecutive_crashes += 1;
  const base::Millis delay = backoff_delay(policy_, state_.daemon.consecutive_crashes);
  state_.phase = Phase::backoff;
  state_.deadline = now_ + delay;
  report(base::LogLevel::warn, who + " " + how.describe() + (was_ready ? "" : " before it was ready") +
                                   "; restarting in " + seconds_text(delay) + " (restart " +
                                   std::to_string(state_.daemon.restarts + 1) + ")");
  notify(NotifyKind::status, status_line(policy_, state_));
}

void Step::handle(const TimerFired&) {
  if (state_.watchdog_due && now_ >= *state_.watchdog_due) fire_watchdog();
  if (state_.deadline && now_ >= *state_.deadline) fire_phase_timer();
}

void Step::fire_watchdog() {
  notify(NotifyKind::watchdog);
  state_.watchdog_due = now_ + duration_cast<base::SteadyTime::duration>(policy_.watchdog_interval / 2);
}

void Step::fire_phase_timer() {
  state_.deadline.reset();
  switch (state_.phase) {
    case Phase::starting:
      if (state_.daemon.pid == 0) return;
      if (policy_.readiness == Readiness::notify) {
        report(base::LogLevel::warn,
               daemon_label() + " sent no READY=1 within " + seconds_text(policy_.ready_timeout) +
                   "; assuming it is ready (set daemon.expect_notify = false for a daemon "
                   "that does not speak sd_notify)");
        become_ready("");
      } else {
        become_ready(daemon_label() + " stayed up for " + seconds_text(policy_.settle_time) +
                     "; treating it as ready (daemon.expect_notify = false)");
      }
      return;
    case Phase::backoff:
      state_.daemon.restarts += 1;
      report(base::LogLevel::info, "restarting " + policy_.daemon_name + " (restart " +
                                       std::to_string(state_.daemon.restarts) + ")");
      start_daemon();
      return;
    case Phase::stopping:
      if (!state_.daemon.kill_sent) {
        state_.daemon.kill_sent = true;
        state_.deadline = now_ + policy_.kill_timeout;
        report(base::LogLevel::warn, daemon_label() + " did not exit within " +
                                         seconds_text(policy_.stop_timeout) + " of SIGTERM; sending SIGKILL");
        actions_.emplace_back(SignalDaemon{state_.daemon.pid, SIGKILL, os::SignalScope::group});
        return;
      }
      fail(kExitDaemonFailed, daemon_label() + " did not exit even " + seconds_text(policy_.kill_timeout) +
                                  " after SIGKILL (stuck in the kernel?); it may still be running");
      return;
    default: return;
  }
}

void Step::begin_stop() {
  if (state_.daemon.pid == 0) {
    state_.deadline.reset();
    after_daemon_stopped();
    return;
  }
  state_.phase = Phase::stopping;
  state_.daemon.kill_sent = false;
  state_.deadline = now_ + policy_.stop_timeout;
  report(base::LogLevel::info,
         "stopping " + daemon_label() + ": SIGTERM, SIGKILL after " + seconds_text(policy_.stop_timeout));
  actions_.emplace_back(SignalDaemon{state_.daemon.pid, SIGTERM, os::SignalScope::process});
}

void Step::after_daemon_stopped() {
  state_.deadline.reset();
  state_.daemon.ready_at.reset();
  if (state_.switch_target) {
    flush_if_native();
    state_.stack = *state_.switch_target;
    state_.phase = state_.switching ? Phase::switching : Phase::preparing_stack;
    report(base::LogLevel::info,
           "switching to the " + std::string(detect::to_string(state_.stack)) + " stack");
    if (state_.switching) switch_progress(SwitchStage::changing_modules);
    actions_.emplace_back(PrepareStack{state_.stack});
    return;
  }
  flush_if_native();
  if (state_.unload_on_stop) {
    state_.phase = Phase::unloading;
    actions_.emplace_back(UnloadOwnModules{});
    return;
  }
  state_.phase = Phase::stopped;
  state_.exit_code = 0;
  report(base::LogLevel::info, "stopped");
  actions_.emplace_back(Finish{0});
}

// The module work that a stop interrupted is over (finished, or stopped at a step and rolled
// back): say where the kernel is, end the switch it belonged to, then stop.
void Step::stop_after_module_work(const StackPrepared& event) {
  state_.stop_pending = false;
  const std::string name(detect::to_string(state_.stack));
  if (event.ok) {
    state_.active_stack = state_.stack;
    report(base::LogLevel::info, "the module work finished before the stop took effect: " + event.message);
  } else {
    report(base::LogLevel::warn, "the module work stopped: " + event.message);
  }
  if (state_.switching) {
    const std::string to(detect::to_string(state_.switching->to));
    switch_progress(SwitchStage::interrupted, event.ok ? code(base::Exit::ok) : event.exit_code,
                    "a stop request interrupted the switch to " + to + ": " +
                        (event.ok ? "the " + name + " stack is live, but no daemon was started on it"
                                  : event.message + "; the next 'stackmgr start' recovers from the journal"));
    state_.switching.reset();
  }
  begin_stop();
}

void Step::handle(const ModulesUnloaded& event) {
  if (state_.phase != Phase::unloading) return;
  state_.phase = Phase::stopped;
  state_.exit_code = 0;
  report(event.ok ? base::LogLevel::info : base::LogLevel::error,
         "stopped" + (event.ok ? "" : ": " + event.message));
  actions_.emplace_back(Finish{0});
}

void Step::switch_progress(SwitchStage stage, int exit_code, std::string message) {
  if (!state_.switching) return;
  actions_.emplace_back(
      SwitchProgress{stage, state_.switching->from, state_.switching->to, exit_code, std::move(message)});
}

// A step of the switch failed: go back to where it started, or give up when that failed too.
void Step::switch_step_failed(int exit_code, const std::string& message) {
  if (!state_.switching) return;
  SwitchInFlight& running = *state_.switching;
  if (!running.rolling_back && running.from) {
    running.rolling_back = true;
    running.failure = message;
    running.failure_exit =
        exit_code == code(base::Exit::refused) ? code(base::Exit::refused) : code(base::Exit::rolled_back);
    const std::string back = std::string(detect::to_string(*running.from));
    report(base::LogLevel::error, "the switch to " + std::string(detect::to_string(running.to)) +
                                      " failed: " + message + "; rolling back to the " + back + " stack");
    switch_progress(SwitchStage::rolling_back, 0, message);
    flush_if_native();
    state_.stack = *running.from;
    state_.phase = Phase::switching;
    actions_.emplace_back(PrepareStack{state_.stack});
    return;
  }
  const std::string why = running.rolling_back
                              ? "the switch to " + std::string(detect::to_string(running.to)) +
                                    " failed: " + running.failure + "; the rollback failed too: " + message
                              : message;
  fail(running.rolling_back ? code(base::Exit::rollback_failed) : exit_code, why);
}

// The daemon failed on the switch's stack before it was ready: roll back (true), or let the
// usual restart logic handle it (false).
bool Step::switch_daemon_failed(const std::string& what) {
  if (!state_.switching) return false;
  const SwitchInFlight running = *state_.switching;
  if (!running.rolling_back) {
    switch_step_failed(code(base::Exit::daemon_failed), what);
    return true;
  }
  switch_progress(SwitchStage::rollback_failed, code(base::Exit::rollback_failed),
                  "the switch to " + std::string(detect::to_string(running.to)) + " failed: " +
                      running.failure + "; back on the " + std::string(detect::to_string(state_.stack)) +
                      " stack, but " + what + " (stackmgr keeps restarting it)");
  state_.switching.reset();
  return false;
}

void Step::fail(int exit_code, const std::string& why) {
  if (state_.switching) {
    switch_progress(state_.switching->rolling_back ? SwitchStage::rollback_failed : SwitchStage::interrupted,
                    exit_code, why);
    state_.switching.reset();
  }
  state_.phase = Phase::failed;
  state_.deadline.reset();
  state_.failure = why;
  state_.exit_code = exit_code;
  report(base::LogLevel::error, why);
  notify(NotifyKind::status, status_line(policy_, state_));
  flush_if_native();  // a dead daemon's SAs and policies must not stay behind
  actions_.emplace_back(Finish{exit_code});
}

void Step::handle(const StopRequested& event) {
  if (finished() || state_.phase == Phase::unloading) return;
  if (changing_modules()) {  // modules are changing off the loop: stop at their next step
    state_.unload_on_stop = state_.unload_on_stop || event.unload;
    if (state_.stop_pending) {
      report(base::LogLevel::info, "already stopping: waiting for the module step under way to end");
      return;
    }
    state_.stop_pending = true;
    state_.switch_target.reset();
    notify(NotifyKind::stopping);
    report(base::LogLevel::info,
           "stopping once the module step under way has ended; what this change did is rolled back");
    actions_.emplace_back(CancelModuleWork{});
    return;
  }
  state_.unload_on_stop = state_.unload_on_stop || event.unload;
  state_.switch_target.reset();
  if (state_.switching) {
    switch_progress(
        SwitchStage::interrupted, code(base::Exit::interrupted),
        "a stop request interrupted the switch; the next 'stackmgr start' recovers from its journal");
    state_.switching.reset();
  }
  if (state_.phase == Phase::stopping) return;
  notify(NotifyKind::stopping);
  begin_stop();
}

void Step::handle(const SignalReceived& event) {
  if (event.signo == SIGHUP) {
    report(base::LogLevel::info,
           "SIGHUP: stackmgr has no reload; ignoring it (use 'stackmgr stop' and 'stackmgr start')");
    return;
  }
  if (event.signo != SIGTERM && event.signo != SIGINT) return;
  if (finished() || state_.phase == Phase::unloading) return;
  if (state_.phase == Phase::stopping && !state_.daemon.kill_sent && state_.daemon.pid != 0) {
    state_.daemon.kill_sent = true;
    state_.deadline = now_ + policy_.kill_timeout;
    report(base::LogLevel::warn,
           base::signal_name(event.signo) + " again while stopping: sending SIGKILL to " + daemon_label());
    actions_.emplace_back(SignalDaemon{state_.daemon.pid, SIGKILL, os::SignalScope::group});
    return;
  }
  report(base::LogLevel::info, base::signal_name(event.signo) + " received: stopping");
  handle(StopRequested{});
}

void Step::handle(const SwitchRequested& event) {
  const auto reject = [this, &event](int exit_code, std::string why) {
    actions_.emplace_back(
        SwitchProgress{SwitchStage::rejected, state_.active_stack, event.target, exit_code, std::move(why)});
  };
  if (state_.switching) {
    reject(code(base::Exit::busy), "another switch (to " +
                                       std::string(detect::to_string(state_.switching->to)) +
                                       ") is in progress; try again when it has finished");
    return;
  }
  if (state_.phase != Phase::running && state_.phase != Phase::starting && state_.phase != Phase::backoff) {
    const std::string why = "cannot switch now: the supervisor is " + std::string(to_string(state_.phase));
    report(base::LogLevel::warn, why);
    reject(code(base::Exit::busy), why);
    return;
  }
  if (state_.active_stack == event.target && state_.phase == Phase::running) {
    const std::string already = "already on the " + std::string(detect::to_string(event.target)) + " stack";
    report(base::LogLevel::info, already);
    reject(code(base::Exit::ok), already);
    return;
  }
  state_.switching = SwitchInFlight{state_.active_stack, event.target, false, {}, 0};
  state_.switch_target = event.target;
  switch_progress(SwitchStage::stopping_daemon);
  begin_stop();
}

void Step::handle(const ModuleEvent& event) {
  if (finished() || state_.phase == Phase::preparing_stack || state_.phase == Phase::switching) return;
  report(base::LogLevel::debug, "module " + event.module + (event.added ? " appeared" : " went away"));
  actions_.emplace_back(CheckStack{});
}

}  // namespace

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::idle: return "idle";
    case Phase::preparing_stack: return "preparing-stack";
    case Phase::switching: return "switching";
    case Phase::starting: return "starting";
    case Phase::running: return "running";
    case Phase::backoff: return "backoff";
    case Phase::stopping: return "stopping";
    case Phase::unloading: return "unloading";
    case Phase::failed: return "failed";
    case Phase::stopped: return "stopped";
  }
  return "unknown";
}

std::string_view to_string(SwitchStage stage) {
  switch (stage) {
    case SwitchStage::stopping_daemon: return "stopping-daemon";
    case SwitchStage::changing_modules: return "changing-modules";
    case SwitchStage::starting_daemon: return "starting-daemon";
    case SwitchStage::rolling_back: return "rolling-back";
    case SwitchStage::done: return "done";
    case SwitchStage::rolled_back: return "rolled-back";
    case SwitchStage::rollback_failed: return "rollback-failed";
    case SwitchStage::rejected: return "rejected";
    case SwitchStage::interrupted: return "interrupted";
  }
  return "unknown";
}

Transition on_event(const SupervisionPolicy& policy, State state, const Event& event, base::SteadyTime now) {
  Step step(policy, std::move(state), now);
  std::visit([&step](const auto& concrete) { step.handle(concrete); }, event);
  return std::move(step).done();
}

std::optional<base::SteadyTime> next_deadline(const State& state) {
  if (state.phase == Phase::failed || state.phase == Phase::stopped) return std::nullopt;
  if (!state.deadline) return state.watchdog_due;
  if (!state.watchdog_due) return state.deadline;
  return std::min(*state.deadline, *state.watchdog_due);
}

base::Millis backoff_delay(const SupervisionPolicy& policy, int consecutive) {
  base::Millis delay = policy.restart_initial;
  for (int i = 1; i < consecutive && delay < policy.restart_max; ++i) delay *= 2;
  return std::min(delay, policy.restart_max);
}

std::string status_line(const SupervisionPolicy& policy, const State& state) {
  std::string stack = "stack " + std::string(detect::to_string(state.active_stack.value_or(state.stack)));
  switch (state.phase) {
    case Phase::idle:
    case Phase::preparing_stack: return "preparing " + stack;
    case Phase::switching: return "switching: preparing " + stack;
    case Phase::starting: return stack + ", starting " + policy.daemon_name;
    case Phase::running:
      if (!policy.has_daemon) return stack + ", no keying daemon";
      return stack + ", " + policy.daemon_name + " pid " + std::to_string(state.daemon.pid) +
             (state.daemon.restarts > 0 ? " (restarts: " + std::to_string(state.daemon.restarts) + ")" : "");
    case Phase::backoff: return stack + ", " + policy.daemon_name + " died; restarting";
    case Phase::stopping: return stack + ", stopping " + policy.daemon_name;
    case Phase::unloading: return stack + ", unloading the modules stackmgr loaded";
    case Phase::failed: return "failed: " + state.failure;
    case Phase::stopped: return "stopped";
  }
  return stack;
}

}  // namespace stackmgr::supervisor
