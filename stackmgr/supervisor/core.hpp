#pragma once
// The supervisor's decisions as one pure function: (policy, state, event, now) -> (state,
// actions). No I/O and no clock: the event loop turns the world into events and performs the
// actions, feeding their results back as events. Models: s6-supervise and runit's runsv.
// The phases, timers and messages are documented in docs/supervisor.md.

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "detect/stack.hpp"
#include "stackmgr/base/log_level.hpp"
#include "stackmgr/base/time.hpp"
#include "stackmgr/os/process.hpp"

namespace stackmgr::supervisor {

using base::Millis;
using base::SteadyTime;
using os::ProcessExit;
using os::SignalScope;

// How the daemon says it is ready.
enum class Readiness {
  notify,  // READY=1 on our NOTIFY_SOCKET; after ready_timeout without it, assume ready (warn)
  settle,  // it does not speak sd_notify: ready once it has stayed up for settle_time
};

// How the daemon is supervised: DaemonConfig plus what systemd tells us (watchdog).
struct SupervisionPolicy {
  bool has_daemon = true;              // false: the config names no daemon for the stack (stack only)
  std::string daemon_name = "daemon";  // for messages: "pluto (pid 42) exited with code 1"
  Readiness readiness = Readiness::notify;
  base::Millis ready_timeout{10000};
  base::Millis settle_time{1000};
  base::Millis stop_timeout{10000};
  base::Millis kill_timeout{5000};  // after SIGKILL: how long before stackmgr reports it stuck
  base::Millis restart_initial{1000};
  base::Millis restart_max{60000};
  int crash_loop_limit = 5;  // restarts allowed within crash_loop_window
  base::Millis crash_loop_window{300000};
  std::vector<int> no_restart_exit_codes;
  std::chrono::microseconds watchdog_interval{0};  // WATCHDOG_USEC; 0 = no watchdog
};

enum class Phase {
  idle,             // nothing yet: waiting for Begin
  preparing_stack,  // the stack is being made ready (modules, flush)
  switching,        // an admin's switch is changing the modules (or rolling them back)
  starting,         // the daemon runs; waiting for it to be ready
  running,          // the daemon is ready (or no daemon is configured)
  backoff,          // the daemon died; waiting to restart it
  stopping,         // SIGTERM (then SIGKILL) sent; waiting for the daemon to exit
  unloading,        // stop --unload: the daemon is gone; unloading what stackmgr loaded
  failed,           // gave up: stack refused, crash loop, no-restart code, daemon missing
  stopped,          // stopped on request
};
std::string_view to_string(Phase phase);

struct DaemonState {
  pid_t pid = 0;  // 0 when no daemon process is alive
  std::optional<base::SteadyTime> spawned_at;
  std::optional<base::SteadyTime> ready_at;  // of the current process
  int restarts = 0;                          // respawns after a death, since Begin
  int consecutive_crashes = 0;               // drives the backoff; reset by a long enough run
  std::deque<base::SteadyTime> crashes;      // deaths inside crash_loop_window
  std::optional<os::ProcessExit> last_exit;
  std::optional<base::SteadyTime> last_exit_at;
  bool kill_sent = false;  // SIGKILL already sent while stopping
};

// An admin's switch through the supervisor, from the request to its end.
struct SwitchInFlight {
  std::optional<detect::Stack> from;  // the stack before (nullopt: none was ready)
  detect::Stack to = detect::Stack::native;
  bool rolling_back = false;
  std::string failure;   // what failed, once rolling back
  int failure_exit = 0;  // the client's exit once rolled back: refused or rolled_back
};

struct State {
  Phase phase = Phase::idle;
  detect::Stack stack = detect::Stack::native;  // the stack being made ready / in use
  std::optional<detect::Stack> active_stack;    // set once a stack was made ready
  DaemonState daemon;
  std::optional<base::SteadyTime> deadline;  // the phase's one timer
  std::optional<base::SteadyTime> watchdog_due;
  bool announced_ready = false;                // READY=1 went to systemd
  bool unload_on_stop = false;                 // stop --unload
  bool stop_pending = false;                   // a stop came while modules change: stop once they are done
  std::optional<detect::Stack> switch_target;  // a switch waits for the daemon to stop
  std::optional<SwitchInFlight> switching;     // an admin's switch, until it ends
  std::string failure;                         // why phase == failed
  int exit_code = 0;                           // the supervisor's exit code once finished
};

// --- events ------------------------------------------------------------------------------

struct Begin {  // `stackmgr start`: make `stack` ready, then run the daemon on it
  detect::Stack stack = detect::Stack::native;
};
struct StackPrepared {  // result of PrepareStack
  bool ok = true;
  int exit_code = 0;    // the Exit code when !ok (refused, rolled back, config...)
  std::string message;  // what was done, or what failed and what to do
};
struct DaemonSpawned {  // result of SpawnDaemon
  pid_t pid = 0;
};
struct SpawnFailed {  // result of SpawnDaemon
  std::string message;
  bool permanent = false;  // exec failed (missing binary...): retrying cannot help
};
struct DaemonReady {  // READY=1 from `pid` on our NOTIFY_SOCKET
  pid_t pid = 0;
};
struct ProcessExited {  // reaped by waitpid
  pid_t pid = 0;
  os::ProcessExit how;
};
struct TimerFired {};  // the loop's one deadline passed (now >= next_deadline)
struct StopRequested {
  bool unload = false;  // stop --unload
};
struct SignalReceived {
  int signo = 0;  // SIGTERM, SIGINT or SIGHUP (SIGCHLD never reaches the core)
};
struct SwitchRequested {  // stop the daemon, prepare `target`, start again
  detect::Stack target = detect::Stack::native;
};
struct ModulesUnloaded {  // result of UnloadOwnModules
  bool ok = true;
  int exit_code = 0;
  std::string message;
};
struct ModuleEvent {  // a kernel module appeared or went away (libudev)
  std::string module;
  bool added = true;
};

using Event =
    std::variant<Begin, StackPrepared, DaemonSpawned, SpawnFailed, DaemonReady, ProcessExited, TimerFired,
                 StopRequested, SignalReceived, SwitchRequested, ModulesUnloaded, ModuleEvent>;

// --- actions -----------------------------------------------------------------------------

// Module work (PrepareStack, UnloadOwnModules) runs off the event loop: the loop keeps serving
// the watchdog, status requests and signals, and feeds the result back when the work is done.
struct PrepareStack {  // detect, plan, load/verify; answer with StackPrepared
  detect::Stack stack = detect::Stack::native;
};
struct CancelModuleWork {};  // the module work under way stops at its next step and rolls back
struct FlushKernel {};       // empty the native SAD and SPD (XFRM netlink, never PF_KEY)
struct SpawnDaemon {         // fork/exec the daemon for `stack`; answer DaemonSpawned/SpawnFailed
  detect::Stack stack = detect::Stack::native;
};
struct SignalDaemon {
  pid_t pid = 0;
  int signo = 0;
  os::SignalScope scope = os::SignalScope::process;  // group: the daemon's whole session (-pid)
};
enum class NotifyKind { ready, status, stopping, watchdog };
struct NotifySystem {  // sd_notify to systemd (and the --daemon parent for `ready`)
  NotifyKind kind = NotifyKind::status;
  std::string status;  // STATUS= text; empty for watchdog
};
struct UnloadOwnModules {};  // stop --unload: plan_unload_own with the module record; answer ModulesUnloaded
struct CheckStack {};        // re-detect and compare with the chosen stack
struct Report {              // a message for the log and for control clients waiting on this operation
  base::LogLevel level = base::LogLevel::info;
  std::string message;
};
// Where an admin's switch is; the supervisor journals each stage and answers the client.
enum class SwitchStage {
  stopping_daemon,   // begins the switch: the daemon is being stopped
  changing_modules,  // flushed; unloading the old stack, loading and verifying the new one, guard
  starting_daemon,   // the stack is ready; starting the daemon and waiting for its readiness
  rolling_back,      // a step failed (message): going back to `from`, then its daemon
  done,              // terminal: the daemon is ready on `to` (exit ok)
  rolled_back,       // terminal: back on `from` with its daemon (exit rolled_back)
  rollback_failed,   // terminal: the rollback failed too (exit rollback_failed; message says why)
  rejected,          // terminal: not started (already there: exit ok; or not now: exit busy)
  interrupted,       // terminal: a stop or a failure ended it half-way; the journal stays for start
};
std::string_view to_string(SwitchStage stage);
struct SwitchProgress {
  SwitchStage stage = SwitchStage::stopping_daemon;
  std::optional<detect::Stack> from;
  detect::Stack to = detect::Stack::native;
  int exit_code = 0;    // terminal stages: the Exit code for the client
  std::string message;  // what failed, or why it was rejected
};

struct Finish {  // leave the event loop; the process exits with `exit_code`
  int exit_code = 0;
};

using Action = std::variant<PrepareStack, CancelModuleWork, FlushKernel, SpawnDaemon, SignalDaemon,
                            NotifySystem, UnloadOwnModules, CheckStack, Report, Finish, SwitchProgress>;

struct Transition {
  State state;
  std::vector<Action> actions;  // to perform in order
};

// The whole supervisor logic. Pure: same inputs, same outputs.
Transition on_event(const SupervisionPolicy& policy, State state, const Event& event, base::SteadyTime now);

// The earliest time at which the loop must send TimerFired (phase timer or watchdog), if any.
std::optional<base::SteadyTime> next_deadline(const State& state);

// The backoff before restart number `consecutive` (1-based): restart_initial doubled each
// time, capped at restart_max.
base::Millis backoff_delay(const SupervisionPolicy& policy, int consecutive);

// "stack native, pluto pid 42" and friends: the STATUS= text for systemd and `status`.
std::string status_line(const SupervisionPolicy& policy, const State& state);

}  // namespace stackmgr::supervisor
