// The pure supervisor core, driven like the event loop drives it: a fake clock (a time value
// we advance), a fake spawner that hands out pids, and the actions performed as data.

#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <vector>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/supervisor/core.hpp"

namespace stackmgr::supervisor {
namespace {

using namespace std::chrono_literals;
using detect::Stack;

// Hands out pids like fork() would, or fails like exec() can.
struct FakeSpawner {
  pid_t next_pid = 100;
  std::vector<Stack> spawned;
  std::optional<SpawnFailed> failure;
  Event spawn(Stack stack) {
    spawned.push_back(stack);
    if (failure) return *failure;
    return DaemonSpawned{next_pid++};
  }
};

class CoreHarness {
 public:
  explicit CoreHarness(SupervisionPolicy policy = default_policy()) : policy_(std::move(policy)) {}

  static SupervisionPolicy default_policy() {
    SupervisionPolicy policy;
    policy.daemon_name = "pluto";
    policy.ready_timeout = 10s;
    policy.stop_timeout = 10s;
    policy.kill_timeout = 5s;
    policy.restart_initial = 1s;
    policy.restart_max = 8s;
    policy.crash_loop_limit = 5;
    policy.crash_loop_window = 300s;
    return policy;
  }

  // Sends `event`, then performs the actions the way the event loop does: PrepareStack is
  // answered with `prepare_result` (unless answer_prepare_ is false: module work still under
  // way), UnloadOwnModules with `unload_result`, SpawnDaemon by the fake spawner. Every action
  // is recorded.
  void send(const Event& event) {
    Transition transition = on_event(policy_, state_, event, now_);
    state_ = std::move(transition.state);
    for (const Action& action : transition.actions) {
      actions_.push_back(action);
      if (std::holds_alternative<PrepareStack>(action) && answer_prepare_) {
        send(prepare_result);
      } else if (std::holds_alternative<UnloadOwnModules>(action)) {
        send(unload_result);
      } else if (const auto* spawn = std::get_if<SpawnDaemon>(&action)) {
        send(spawner.spawn(spawn->stack));
      }
    }
  }

  void advance(base::Millis by) { now_ += by; }
  // Moves the clock to the core's deadline and fires it, as epoll_wait's timeout would.
  void fire_deadline() {
    auto deadline = next_deadline(state_);
    ASSERT_TRUE(deadline.has_value()) << "no timer is armed in phase " << to_string(state_.phase);
    now_ = std::max(now_, *deadline);
    send(TimerFired{});
  }
  // Starts the stack and the daemon and makes it ready; returns the daemon's pid.
  pid_t start_ready(Stack stack = Stack::native) {
    send(Begin{stack});
    const pid_t pid = state_.daemon.pid;
    send(DaemonReady{pid});
    return pid;
  }
  void crash(int exit_code = 1) { send(ProcessExited{state_.daemon.pid, os::ProcessExit{exit_code, 0}}); }

  template <typename T>
  std::vector<T> taken() const {
    std::vector<T> found;
    for (const auto& action : actions_) {
      if (const auto* concrete = std::get_if<T>(&action)) found.push_back(*concrete);
    }
    return found;
  }
  template <typename T>
  int count() const {
    return static_cast<int>(taken<T>().size());
  }
  std::optional<int> finished_with() const {
    auto finishes = taken<Finish>();
    if (finishes.empty()) return std::nullopt;
    return finishes.back().exit_code;
  }
  std::string reports() const {
    std::string all;
    for (const auto& report : taken<Report>()) all += report.message + "\n";
    return all;
  }
  std::vector<NotifySystem> notifications(NotifyKind kind) const {
    std::vector<NotifySystem> found;
    for (const auto& notify : taken<NotifySystem>()) {
      if (notify.kind == kind) found.push_back(notify);
    }
    return found;
  }
  void clear_actions() { actions_.clear(); }
  const std::vector<Action>& all() const { return actions_; }

  const State& state() const { return state_; }
  base::SteadyTime now() const { return now_; }
  SupervisionPolicy& policy() { return policy_; }

  StackPrepared prepare_result{};
  ModulesUnloaded unload_result{};
  bool answer_prepare_ = true;
  FakeSpawner spawner;

 private:
  SupervisionPolicy policy_;
  State state_;
  base::SteadyTime now_ = base::SteadyTime{} + 1000s;
  std::vector<Action> actions_;
};

TEST(SupervisorCore, StartPreparesTheStackFlushesThenSpawns) {
  CoreHarness core;
  core.send(Begin{Stack::native});
  ASSERT_EQ(core.count<PrepareStack>(), 1);
  EXPECT_EQ(core.taken<PrepareStack>()[0].stack, Stack::native);
  EXPECT_EQ(core.count<FlushKernel>(), 1) << "native: the SAD/SPD is flushed before the daemon starts";
  ASSERT_EQ(core.spawner.spawned.size(), 1u);
  EXPECT_EQ(core.state().phase, Phase::starting);
  EXPECT_EQ(core.state().daemon.pid, 100);
  EXPECT_TRUE(core.notifications(NotifyKind::ready).empty()) << "not ready before READY=1";
}

TEST(SupervisorCore, ReadyOnlyAfterTheDaemonsOwnReady) {
  CoreHarness core;
  core.send(Begin{Stack::native});
  core.send(DaemonReady{4242});  // somebody else on the socket
  EXPECT_EQ(core.state().phase, Phase::starting);
  EXPECT_TRUE(core.notifications(NotifyKind::ready).empty());

  core.advance(20ms);
  core.send(DaemonReady{100});
  EXPECT_EQ(core.state().phase, Phase::running);
  auto ready = core.notifications(NotifyKind::ready);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].status, "stack native, pluto pid 100");
  EXPECT_NE(core.reports().find("READY=1 after 20 ms"), std::string::npos) << core.reports();
  EXPECT_FALSE(next_deadline(core.state()).has_value()) << "running with no watchdog: no timer at all";
}

TEST(SupervisorCore, KlipsIsNeverFlushedThroughXfrm) {
  CoreHarness core;
  core.start_ready(Stack::klips);
  EXPECT_EQ(core.count<FlushKernel>(), 0);
  EXPECT_EQ(core.notifications(NotifyKind::ready).at(0).status, "stack klips, pluto pid 100");
}

TEST(SupervisorCore, NoReadyWithinTheTimeoutFallsBackToReadyWithAWarning) {
  CoreHarness core;
  core.send(Begin{Stack::native});
  ASSERT_EQ(next_deadline(core.state()), core.now() + 10s);
  core.fire_deadline();
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_EQ(core.notifications(NotifyKind::ready).size(), 1u);
  EXPECT_NE(core.reports().find("sent no READY=1 within 10 s"), std::string::npos) << core.reports();
}

TEST(SupervisorCore, SettleModeIsReadyAfterStayingUp) {
  CoreHarness core;
  core.policy().readiness = Readiness::settle;
  core.policy().settle_time = 1s;
  core.send(Begin{Stack::native});
  EXPECT_EQ(next_deadline(core.state()), core.now() + 1s);
  core.fire_deadline();
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_NE(core.reports().find("stayed up for 1 s"), std::string::npos);
}

TEST(SupervisorCore, ExitBeforeSettleIsACrashNotReady) {
  CoreHarness core;
  core.policy().readiness = Readiness::settle;
  core.send(Begin{Stack::native});
  core.advance(100ms);
  core.crash(1);
  EXPECT_EQ(core.state().phase, Phase::backoff);
  EXPECT_TRUE(core.notifications(NotifyKind::ready).empty());
  EXPECT_NE(core.reports().find("exited with code 1 before it was ready"), std::string::npos);
}

TEST(SupervisorCore, CrashRestartsAfterBackoffWithANewPidAndCountsRestarts) {
  CoreHarness core;
  core.start_ready();
  core.advance(30s);
  core.send(ProcessExited{100, os::ProcessExit{-1, SIGKILL}});
  EXPECT_EQ(core.state().phase, Phase::backoff);
  EXPECT_EQ(core.state().daemon.last_exit, (os::ProcessExit{-1, SIGKILL}));
  EXPECT_EQ(next_deadline(core.state()), core.now() + 1s);
  // Leftovers of the dead daemon's session are killed.
  auto signals = core.taken<SignalDaemon>();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].scope, os::SignalScope::group);
  EXPECT_EQ(signals[0].signo, SIGKILL);

  core.fire_deadline();
  EXPECT_EQ(core.state().phase, Phase::starting);
  EXPECT_EQ(core.state().daemon.pid, 101);
  EXPECT_EQ(core.state().daemon.restarts, 1);
  EXPECT_EQ(core.count<FlushKernel>(), 2) << "the SPD is reset before every (re)start";
  core.send(DaemonReady{101});
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_EQ(core.notifications(NotifyKind::ready).size(), 1u) << "READY=1 goes to systemd once";
  EXPECT_EQ(core.notifications(NotifyKind::status).back().status,
            "stack native, pluto pid 101 (restarts: 1)");
}

TEST(SupervisorCore, BackoffDoublesUpToTheCap) {
  CoreHarness core;
  core.policy().crash_loop_limit = 100;
  core.start_ready();
  std::vector<base::Millis> delays;
  for (int i = 0; i < 6; ++i) {
    core.crash(1);
    ASSERT_EQ(core.state().phase, Phase::backoff);
    delays.push_back(std::chrono::duration_cast<base::Millis>(*next_deadline(core.state()) - core.now()));
    core.fire_deadline();
  }
  EXPECT_EQ(delays, (std::vector<base::Millis>{1s, 2s, 4s, 8s, 8s, 8s}));
  EXPECT_EQ(backoff_delay(core.policy(), 1000), 8s);
}

TEST(SupervisorCore, ALongRunResetsTheBackoff) {
  CoreHarness core;
  core.start_ready();
  core.crash(1);
  core.fire_deadline();
  core.send(DaemonReady{101});
  core.crash(1);
  EXPECT_EQ(*next_deadline(core.state()) - core.now(), 2s);
  core.fire_deadline();
  core.send(DaemonReady{102});
  core.advance(8s);  // restart_max: longer than the longest backoff
  core.crash(1);
  EXPECT_EQ(*next_deadline(core.state()) - core.now(), 1s);
}

TEST(SupervisorCore, CrashLoopGivesUpWithDaemonFailed) {
  CoreHarness core;
  core.send(Begin{Stack::native});
  for (int i = 0; i < 5; ++i) {
    core.crash(1);
    ASSERT_EQ(core.state().phase, Phase::backoff) << "crash " << i + 1;
    core.fire_deadline();
  }
  EXPECT_EQ(core.state().daemon.restarts, 5);
  core.crash(1);
  EXPECT_EQ(core.state().phase, Phase::failed);
  EXPECT_EQ(core.finished_with(), code(base::Exit::daemon_failed));
  EXPECT_NE(core.state().failure.find("died 6 times within 300 s"), std::string::npos)
      << core.state().failure;
  EXPECT_NE(core.notifications(NotifyKind::status).back().status.find("failed: "), std::string::npos);
  EXPECT_EQ(core.spawner.spawned.size(), 6u) << "no spawn after giving up";
  EXPECT_FALSE(next_deadline(core.state()).has_value());
  EXPECT_EQ(core.count<FlushKernel>(), 7) << "six starts, plus the cleanup after giving up";
}

TEST(SupervisorCore, CrashesOutsideTheWindowDoNotCount) {
  CoreHarness core;
  core.policy().crash_loop_limit = 2;
  core.policy().crash_loop_window = 60s;
  core.start_ready();
  for (int i = 0; i < 10; ++i) {
    core.advance(61s);
    core.crash(1);
    ASSERT_EQ(core.state().phase, Phase::backoff) << "crash " << i + 1 << " is alone in its window";
    core.fire_deadline();
  }
}

TEST(SupervisorCore, NoRestartExitCodeFailsAtOnce) {
  CoreHarness core;
  core.policy().no_restart_exit_codes = {6, 10};
  core.send(Begin{Stack::native});
  core.crash(6);
  EXPECT_EQ(core.state().phase, Phase::failed);
  EXPECT_EQ(core.finished_with(), code(base::Exit::daemon_failed));
  EXPECT_NE(core.state().failure.find("exited with code 6"), std::string::npos);
  EXPECT_NE(core.state().failure.find("no_restart_exit_codes"), std::string::npos);
  EXPECT_EQ(core.spawner.spawned.size(), 1u);
  EXPECT_EQ(core.state().daemon.last_exit, (os::ProcessExit{6, 0}));
}

TEST(SupervisorCore, NoRestartCodesMatchExitsNotSignals) {
  CoreHarness core;
  core.policy().no_restart_exit_codes = {9};
  core.start_ready();
  core.send(ProcessExited{100, os::ProcessExit{-1, 9}});
  EXPECT_EQ(core.state().phase, Phase::backoff);
}

TEST(SupervisorCore, MissingBinaryFailsWithoutRetrying) {
  CoreHarness core;
  core.spawner.failure = SpawnFailed{"executing /usr/sbin/nope: No such file or directory", true};
  core.send(Begin{Stack::native});
  EXPECT_EQ(core.state().phase, Phase::failed);
  EXPECT_EQ(core.finished_with(), code(base::Exit::daemon_failed));
  EXPECT_NE(core.state().failure.find("/usr/sbin/nope"), std::string::npos);
  EXPECT_EQ(core.spawner.spawned.size(), 1u);
}

TEST(SupervisorCore, TransientSpawnFailureBacksOff) {
  CoreHarness core;
  core.spawner.failure = SpawnFailed{"fork: Resource temporarily unavailable", false};
  core.send(Begin{Stack::native});
  EXPECT_EQ(core.state().phase, Phase::backoff);
  core.spawner.failure.reset();
  core.fire_deadline();
  EXPECT_EQ(core.state().phase, Phase::starting);
  EXPECT_EQ(core.state().daemon.pid, 100);
}

TEST(SupervisorCore, StackRefusalFailsWithItsCodeAndStartsNothing) {
  CoreHarness core;
  core.prepare_result =
      StackPrepared{false, code(base::Exit::refused), "refusing to load KLIPS: af_key is loaded"};
  core.send(Begin{Stack::klips});
  EXPECT_EQ(core.state().phase, Phase::failed);
  EXPECT_EQ(core.finished_with(), code(base::Exit::refused));
  EXPECT_TRUE(core.spawner.spawned.empty());
  EXPECT_EQ(core.count<FlushKernel>(), 0);
  EXPECT_TRUE(core.notifications(NotifyKind::ready).empty());
}

TEST(SupervisorCore, StopSendsSigtermThenFlushesAndFinishes) {
  CoreHarness core;
  core.start_ready();
  core.clear_actions();
  core.send(StopRequested{});
  EXPECT_EQ(core.state().phase, Phase::stopping);
  auto signals = core.taken<SignalDaemon>();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].pid, 100);
  EXPECT_EQ(signals[0].signo, SIGTERM);
  EXPECT_EQ(core.notifications(NotifyKind::stopping).size(), 1u);
  core.advance(5ms);
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  EXPECT_EQ(core.state().phase, Phase::stopped);
  EXPECT_EQ(core.count<FlushKernel>(), 1) << "pluto leaves policies behind";
  EXPECT_EQ(core.count<UnloadOwnModules>(), 0);
  EXPECT_EQ(core.finished_with(), 0);
  EXPECT_EQ(core.spawner.spawned.size(), 1u) << "a stopped daemon is not restarted";
}

TEST(SupervisorCore, StopWithUnloadUnloadsAfterTheFlush) {
  CoreHarness core;
  core.start_ready();
  core.clear_actions();
  core.send(StopRequested{true});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  ASSERT_EQ(core.count<UnloadOwnModules>(), 1);
  // Flush, then unload, then finish.
  std::size_t flush_at = 0, unload_at = 0, finish_at = 0, i = 0;
  for (const auto& action : core.all()) {
    if (std::holds_alternative<FlushKernel>(action)) flush_at = i;
    if (std::holds_alternative<UnloadOwnModules>(action)) unload_at = i;
    if (std::holds_alternative<Finish>(action)) finish_at = i;
    ++i;
  }
  EXPECT_LT(flush_at, unload_at);
  EXPECT_LT(unload_at, finish_at);
}

TEST(SupervisorCore, DaemonIgnoringSigtermGetsSigkillAfterTheTimeout) {
  CoreHarness core;
  core.start_ready();
  core.send(StopRequested{});
  EXPECT_EQ(next_deadline(core.state()), core.now() + 10s);
  core.clear_actions();
  core.fire_deadline();
  auto signals = core.taken<SignalDaemon>();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].signo, SIGKILL);
  EXPECT_EQ(signals[0].scope, os::SignalScope::group);
  EXPECT_NE(core.reports().find("did not exit within 10 s of SIGTERM"), std::string::npos);
  core.send(ProcessExited{100, os::ProcessExit{-1, SIGKILL}});
  EXPECT_EQ(core.state().phase, Phase::stopped);
  EXPECT_EQ(core.finished_with(), 0);
}

TEST(SupervisorCore, DaemonSurvivingSigkillIsReportedNotWaitedForever) {
  CoreHarness core;
  core.start_ready();
  core.send(StopRequested{});
  core.fire_deadline();  // SIGKILL
  core.fire_deadline();  // still there after kill_timeout
  EXPECT_EQ(core.state().phase, Phase::failed);
  EXPECT_EQ(core.finished_with(), code(base::Exit::daemon_failed));
  EXPECT_NE(core.state().failure.find("did not exit even 5 s after SIGKILL"), std::string::npos);
}

TEST(SupervisorCore, StopDuringBackoffFinishesWithoutSpawning) {
  CoreHarness core;
  core.start_ready();
  core.crash(1);
  core.send(StopRequested{});
  EXPECT_EQ(core.state().phase, Phase::stopped);
  EXPECT_EQ(core.finished_with(), 0);
  EXPECT_EQ(core.spawner.spawned.size(), 1u);
  EXPECT_FALSE(next_deadline(core.state()).has_value());
}

TEST(SupervisorCore, StopWhileStartingTerminatesTheStartingDaemon) {
  CoreHarness core;
  core.send(Begin{Stack::native});
  core.send(StopRequested{});
  EXPECT_EQ(core.state().phase, Phase::stopping);
  EXPECT_EQ(core.taken<SignalDaemon>().at(0).signo, SIGTERM);
  core.send(DaemonReady{100});  // too late
  EXPECT_EQ(core.state().phase, Phase::stopping);
  EXPECT_TRUE(core.notifications(NotifyKind::ready).empty());
}

TEST(SupervisorCore, SigtermAndSigintStopSecondSignalKills) {
  for (int signo : {SIGTERM, SIGINT}) {
    CoreHarness core;
    core.start_ready();
    core.send(SignalReceived{signo});
    EXPECT_EQ(core.state().phase, Phase::stopping);
    EXPECT_EQ(core.taken<SignalDaemon>().back().signo, SIGTERM);
    core.send(SignalReceived{signo});
    EXPECT_EQ(core.taken<SignalDaemon>().back().signo, SIGKILL);
    core.send(ProcessExited{100, os::ProcessExit{-1, SIGKILL}});
    EXPECT_EQ(core.finished_with(), 0);
  }
}

TEST(SupervisorCore, SighupIsIgnoredAndSaysSo) {
  CoreHarness core;
  core.start_ready();
  core.send(SignalReceived{SIGHUP});
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_EQ(core.count<SignalDaemon>(), 0);
  EXPECT_NE(core.reports().find("SIGHUP"), std::string::npos);
}

TEST(SupervisorCore, WatchdogPingsAtHalfTheIntervalInEveryPhase) {
  CoreHarness core;
  core.policy().watchdog_interval = std::chrono::seconds(20);
  core.send(Begin{Stack::native});
  // Starting: the ready timeout (10 s) and the watchdog (10 s) coincide.
  EXPECT_EQ(next_deadline(core.state()), core.now() + 10s);
  core.send(DaemonReady{100});
  EXPECT_EQ(next_deadline(core.state()), core.now() + 10s) << "running: only the watchdog";
  for (int i = 0; i < 3; ++i) core.fire_deadline();
  EXPECT_EQ(core.notifications(NotifyKind::watchdog).size(), 3u);
  EXPECT_EQ(core.state().phase, Phase::running);
}

TEST(SupervisorCore, NoDaemonConfiguredSupervisesTheStackOnly) {
  CoreHarness core;
  core.policy().has_daemon = false;
  core.send(Begin{Stack::native});
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_TRUE(core.spawner.spawned.empty());
  EXPECT_EQ(core.notifications(NotifyKind::ready).at(0).status, "stack native, no keying daemon");
  core.send(StopRequested{});
  EXPECT_EQ(core.finished_with(), 0);
}

TEST(SupervisorCore, SwitchStopsTheDaemonPreparesTheTargetAndStartsAgain) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.clear_actions();
  core.send(SwitchRequested{Stack::klips});
  EXPECT_EQ(core.state().phase, Phase::stopping);
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  // native is flushed on the way out; then klips is prepared and the daemon started on it.
  EXPECT_EQ(core.count<FlushKernel>(), 1);
  ASSERT_EQ(core.count<PrepareStack>(), 1);
  EXPECT_EQ(core.taken<PrepareStack>()[0].stack, Stack::klips);
  EXPECT_EQ(core.spawner.spawned.back(), Stack::klips);
  core.send(DaemonReady{101});
  EXPECT_EQ(core.state().active_stack, Stack::klips);
  EXPECT_EQ(core.notifications(NotifyKind::status).back().status, "stack klips, pluto pid 101");
}

TEST(SupervisorCore, SwitchToTheActiveStackIsANoOp) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.clear_actions();
  core.send(SwitchRequested{Stack::native});
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_EQ(core.count<SignalDaemon>(), 0);
  EXPECT_NE(core.reports().find("already on the native stack"), std::string::npos);
}

std::vector<SwitchStage> stages(const CoreHarness& core) {
  std::vector<SwitchStage> found;
  for (const auto& progress : core.taken<SwitchProgress>()) found.push_back(progress.stage);
  return found;
}

TEST(SupervisorCore, ASwitchReportsEachStageAndEndsDoneWhenTheDaemonIsReadyOnTheNewStack) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.clear_actions();
  core.send(SwitchRequested{Stack::klips});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  EXPECT_EQ(core.taken<PrepareStack>().at(0).stack, Stack::klips);
  core.send(DaemonReady{101});
  EXPECT_EQ(stages(core),
            (std::vector<SwitchStage>{SwitchStage::stopping_daemon, SwitchStage::changing_modules,
                                      SwitchStage::starting_daemon, SwitchStage::done}));
  EXPECT_EQ(core.taken<SwitchProgress>().back().exit_code, 0);
  EXPECT_EQ(core.taken<SwitchProgress>().back().from, Stack::native);
  EXPECT_FALSE(core.state().switching.has_value());
}

TEST(SupervisorCore, AFailedPrepareRollsBackAndRestartsTheDaemonOnTheOldStack) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.clear_actions();
  core.answer_prepare_ = false;
  core.send(SwitchRequested{Stack::klips});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  EXPECT_EQ(core.state().phase, Phase::switching);
  core.send(StackPrepared{false, 4, "load ipsec failed: EIO"});
  ASSERT_EQ(core.count<PrepareStack>(), 2);
  EXPECT_EQ(core.taken<PrepareStack>()[1].stack, Stack::native);
  core.send(StackPrepared{true, 0, ""});
  EXPECT_EQ(core.spawner.spawned.back(), Stack::native);
  core.send(DaemonReady{101});
  const SwitchProgress last = core.taken<SwitchProgress>().back();
  EXPECT_EQ(last.stage, SwitchStage::rolled_back);
  EXPECT_EQ(last.exit_code, 4);
  EXPECT_NE(last.message.find("load ipsec failed: EIO"), std::string::npos) << last.message;
  EXPECT_EQ(core.state().phase, Phase::running);
  EXPECT_EQ(core.state().active_stack, Stack::native);
}

TEST(SupervisorCore, AFailedRollbackEndsTheSwitchAndTheSupervisorWithExitFive) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.answer_prepare_ = false;
  core.send(SwitchRequested{Stack::klips});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  core.send(StackPrepared{false, 5, "stuck"});
  core.send(StackPrepared{false, 5, "af_key stuck going"});
  EXPECT_EQ(core.taken<SwitchProgress>().back().stage, SwitchStage::rollback_failed);
  EXPECT_EQ(core.finished_with(), 5);
  EXPECT_NE(core.state().failure.find("the rollback failed too: af_key stuck going"), std::string::npos);
}

TEST(SupervisorCore, ADaemonThatDiesOnTheNewStackBeforeReadyRollsTheSwitchBack) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.send(SwitchRequested{Stack::klips});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  const pid_t on_klips = core.state().daemon.pid;
  core.clear_actions();
  core.send(ProcessExited{on_klips, os::ProcessExit{1, 0}});
  EXPECT_EQ(core.taken<PrepareStack>().at(0).stack, Stack::native);
  core.send(DaemonReady{core.state().daemon.pid});
  EXPECT_EQ(core.taken<SwitchProgress>().back().stage, SwitchStage::rolled_back);
  EXPECT_EQ(core.state().active_stack, Stack::native);
}

TEST(SupervisorCore, ASecondSwitchWhileOneRunsIsBusyAndAlreadyThereIsOk) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.send(SwitchRequested{Stack::native});
  EXPECT_EQ(core.taken<SwitchProgress>().back().stage, SwitchStage::rejected);
  EXPECT_EQ(core.taken<SwitchProgress>().back().exit_code, 0);
  core.send(SwitchRequested{Stack::klips});
  core.send(SwitchRequested{Stack::native});
  EXPECT_EQ(core.taken<SwitchProgress>().back().stage, SwitchStage::rejected);
  EXPECT_EQ(core.taken<SwitchProgress>().back().exit_code, 6);
  EXPECT_EQ(to_string(Phase::switching), "switching");
}

TEST(SupervisorCore, ModuleEventAsksForARecheck) {
  CoreHarness core;
  core.start_ready();
  core.send(ModuleEvent{"esp4", false});
  EXPECT_EQ(core.count<CheckStack>(), 1);
  EXPECT_EQ(core.state().phase, Phase::running);
}

TEST(SupervisorCore, EventsAfterFinishingChangeNothing) {
  CoreHarness core;
  core.start_ready();
  core.send(StopRequested{});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  core.clear_actions();
  core.send(StopRequested{});
  core.send(SignalReceived{SIGTERM});
  core.send(TimerFired{});
  core.send(DaemonReady{100});
  EXPECT_EQ(core.all().size(), 0u);
  EXPECT_EQ(core.state().phase, Phase::stopped);
}

TEST(SupervisorCore, DescribesExits) {
  EXPECT_EQ((os::ProcessExit{1, 0}).describe(), "exited with code 1");
  EXPECT_EQ((os::ProcessExit{-1, SIGKILL}).describe(), "was killed by SIGKILL");
}

TEST(SupervisorCore, AStopWhileModulesChangeCancelsTheWorkAndWaitsForIt) {
  CoreHarness core;
  core.answer_prepare_ = false;  // the module work runs off the loop
  core.send(Begin{Stack::native});
  ASSERT_EQ(core.state().phase, Phase::preparing_stack);
  core.send(SignalReceived{SIGTERM});
  EXPECT_EQ(core.count<CancelModuleWork>(), 1);
  EXPECT_EQ(core.notifications(NotifyKind::stopping).size(), 1u);
  EXPECT_FALSE(core.finished_with().has_value()) << "never leave while modules change";
  EXPECT_EQ(core.state().phase, Phase::preparing_stack);
  core.send(SignalReceived{SIGTERM});  // a second one only says so
  EXPECT_EQ(core.count<CancelModuleWork>(), 1);
  EXPECT_NE(core.reports().find("already stopping"), std::string::npos) << core.reports();

  core.send(StackPrepared{false, code(base::Exit::rolled_back), "a stop was requested before 'insert esp4'"});
  EXPECT_EQ(core.finished_with(), 0);
  EXPECT_EQ(core.state().phase, Phase::stopped);
  EXPECT_TRUE(core.spawner.spawned.empty()) << "no daemon on a half-made stack";
  EXPECT_FALSE(core.state().active_stack.has_value());
}

TEST(SupervisorCore, WorkThatEndsBeforeTheStopTakesEffectLeavesTheStackReadyAndStops) {
  CoreHarness core;
  core.answer_prepare_ = false;
  core.send(Begin{Stack::native});
  core.send(StopRequested{});
  core.send(StackPrepared{true, 0, "the native stack is live"});
  EXPECT_EQ(core.finished_with(), 0);
  EXPECT_EQ(core.state().active_stack, Stack::native);
  EXPECT_TRUE(core.spawner.spawned.empty());
  EXPECT_EQ(core.count<FlushKernel>(), 1) << "a native stack is flushed on the way out";
}

TEST(SupervisorCore, StopUnloadWhileModulesChangeUnloadsOnceTheWorkIsOver) {
  CoreHarness core;
  core.answer_prepare_ = false;
  core.send(Begin{Stack::native});
  core.send(StopRequested{true});
  EXPECT_EQ(core.count<UnloadOwnModules>(), 0) << "not while the other work runs";
  core.send(StackPrepared{false, code(base::Exit::rolled_back), "stopped"});
  EXPECT_EQ(core.count<UnloadOwnModules>(), 1);
  EXPECT_EQ(core.finished_with(), 0);
}

TEST(SupervisorCore, UnloadingIsWaitedForBeforeFinishing) {
  CoreHarness core;
  core.unload_result = ModulesUnloaded{false, code(base::Exit::refused), "esp4 is in use"};
  core.start_ready();
  core.send(StopRequested{true});
  core.clear_actions();
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  EXPECT_EQ(core.count<UnloadOwnModules>(), 1);
  EXPECT_EQ(core.state().phase, Phase::stopped);
  EXPECT_NE(core.reports().find("stopped: esp4 is in use"), std::string::npos) << core.reports();
  EXPECT_EQ(core.finished_with(), 0);
}

TEST(SupervisorCore, AStopDuringASwitchsModuleWorkInterruptsTheSwitch) {
  CoreHarness core;
  core.start_ready(Stack::native);
  core.answer_prepare_ = false;
  core.send(SwitchRequested{Stack::klips});
  core.send(ProcessExited{100, os::ProcessExit{0, 0}});
  ASSERT_EQ(core.state().phase, Phase::switching);
  core.clear_actions();
  core.send(StopRequested{});
  EXPECT_EQ(core.count<CancelModuleWork>(), 1);
  EXPECT_TRUE(core.taken<SwitchProgress>().empty()) << "the switch ends when its work does";
  core.send(
      StackPrepared{false, code(base::Exit::rolled_back), "a stop was requested before 'insert ipsec'"});
  const auto progress = core.taken<SwitchProgress>();
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].stage, SwitchStage::interrupted);
  EXPECT_EQ(progress[0].exit_code, code(base::Exit::rolled_back));
  EXPECT_NE(progress[0].message.find("a stop request interrupted the switch to klips"), std::string::npos);
  EXPECT_EQ(core.finished_with(), 0);
}

}  // namespace
}  // namespace stackmgr::supervisor
