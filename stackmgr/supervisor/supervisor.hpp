#pragma once
// The running supervisor: wires the pure core (supervisor_core.hpp) to the world. One event
// loop multiplexes signals (signalfd), the control socket, the NOTIFY_SOCKET and the daemon's
// output; the core's actions are performed here and their results fed back as events.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "detect/error.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/control/server.hpp"
#include "stackmgr/os/event_loop.hpp"
#include "stackmgr/os/process.hpp"
#include "stackmgr/supervisor/core.hpp"
#include "stackmgr/supervisor/module_worker.hpp"
#include "stackmgr/supervisor/notify_listener.hpp"
#include "stackmgr/supervisor/supervisor_switch.hpp"
#include "stackmgr/supervisor/system_notifier.hpp"
#include "stackmgr/switch/stack_ready.hpp"
#include "stackmgr/watch/kernel_watch.hpp"

namespace stackmgr::supervisor {

// What the supervisor runs on: the stack, how it was chosen, and the config.
struct SupervisorSetup {
  config::Config config;
  detect::Stack stack = detect::Stack::native;
  std::string stack_explanation;  // choose_stack's explanation, for status
  config::ChoiceSource stack_source = config::ChoiceSource::automatic;
};

// The supervisor's boundaries with the kernel (real in production, fakes in tests).
// `prepare` and `unload_own` run on the module worker's thread, one at a time; the rest on the
// event loop's thread, and `kernel_status` never while module work runs (so a host may share one
// libkmod context between them).
struct SupervisorHost {
  using Report = std::function<void(base::LogLevel, const std::string&)>;
  using StopRequested = std::function<bool()>;
  os::Spawner& spawner;
  Notifier& notifier;
  // Makes the stack ready (make_stack_ready); `report` shows progress; `stop_requested` is
  // asked at each step boundary.
  std::function<switching::StackOutcome(detect::Stack, const Report& report,
                                        const StopRequested& stop_requested)>
      prepare;
  // Empties the native SAD/SPD (flush_xfrm).
  std::function<detect::Status()> flush;
  // stop --unload (unload_own_modules).
  std::function<switching::StackOutcome(const Report& report, const StopRequested& stop_requested)>
      unload_own;
  // The kernel part of the status document: {"active": ..., "kernel": ..., "detect": ...}.
  std::function<nlohmann::json()> kernel_status;
};

// The SupervisionPolicy for `config`'s daemon on `stack`, with systemd's watchdog interval.
SupervisionPolicy supervision_policy(const config::Config& config, detect::Stack stack,
                                     std::chrono::microseconds watchdog_interval);

class Supervisor {
 public:
  // Binds the notify and control sockets under run_dir and blocks the signals it handles.
  static detect::Result<std::unique_ptr<Supervisor>> create(SupervisorSetup setup, SupervisorHost host,
                                                            std::chrono::microseconds watchdog_interval);
  ~Supervisor();

  // Runs until the core finishes; returns the process exit code (Exit).
  int run();

  // Reacts to kernel module and ipsecN events from `monitor` (docs/supervisor.md,
  // "Watching the kernel"); `detect` re-reads the host. Call before run().
  detect::Status watch_kernel(std::unique_ptr<watch::ModuleMonitor> monitor,
                              std::function<detect::Snapshot()> detect);

  // The stackmgr.status/1 document of this running supervisor.
  [[nodiscard]] nlohmann::json status_document() const;

 private:
  Supervisor(SupervisorSetup setup, SupervisorHost host, SupervisionPolicy policy, os::EventLoop loop,
             os::SignalSource signals);
  detect::Status open_sockets();
  void feed(const Event& event);
  void perform(const Action& action);
  void spawn_daemon(detect::Stack stack);
  void on_signals();
  void on_notify();
  void on_daemon_output(int fd);
  void drain_output(int fd);
  void close_output(int fd);
  void on_request(control::ControlServer::ConnectionId id, const control::ControlRequest& request);
  void progress(base::LogLevel level, const std::string& message);
  void finish_requests(int exit_code, const std::string& message);
  std::optional<base::SteadyTime> deadline() const;
  void on_deadline();
  void on_module_events();
  void watch_after_feed();
  void react(watch::Reaction reaction, int round = 0);
  // Module work on the worker thread (docs/supervisor.md, "Module work off the loop").
  enum class WorkKind { prepare, unload, reload };
  struct Work {
    WorkKind kind = WorkKind::prepare;
    detect::Stack stack = detect::Stack::native;
    std::string title{};  // "making the native stack ready"
    std::string step{};   // the last progress line
    base::SteadyTime started{};
    watch::Reaction reaction{};  // reload: what asked for it
    int round = 0;               // reload: the how-manieth reload of this reaction
  };
  void submit_work(Work work, ModuleWorker::Job job);
  void on_worker();
  void work_finished(const Work& work, const switching::StackOutcome& outcome);
  [[nodiscard]] bool working() const { return !work_.empty(); }
  [[nodiscard]] std::string watch_phase() const;

  SupervisorSetup setup_;
  SupervisorHost host_;
  SupervisionPolicy policy_;
  os::EventLoop loop_;
  os::SignalSource signals_;
  std::optional<NotifyListener> notify_;
  std::unique_ptr<control::ControlServer> control_;
  State state_;
  std::vector<Event> pending_;  // events produced while performing actions
  bool feeding_ = false;
  std::optional<int> finished_;
  int cleanup_exit_ = 0;                   // the first failing cleanup step (flush, unload), for stop clients
  std::map<int, base::UniqueFd> outputs_;  // daemon output pipes (old ones may linger)
  std::map<int, std::string> partial_lines_;
  std::vector<control::ControlServer::ConnectionId> stop_requests_;  // waiting for the stop to finish
  std::string daemon_status_text_;                                   // the daemon's last STATUS=
  std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  base::SteadyTime started_ = std::chrono::steady_clock::now();
  SupervisorSwitch switch_{setup_.config.paths};  // an admin's switch, its clients and journal
  std::unique_ptr<watch::KernelWatch> watch_;     // null when not watching
  std::optional<std::string> watch_stopped_;      // why the module watch stopped the daemon
  int watch_exit_ = 0;                            // the exit code that goes with it
  bool check_deferred_ = false;                   // a watch check waits for the module work to end
  std::map<ModuleWorker::JobId, Work> work_;      // submitted and not finished, in order
  std::unique_ptr<ModuleWorker> worker_;          // last: destroyed (joined) first
};

// Writes `document` to run_dir/last-run.json (0600, atomically) so `status` can say how the
// last supervisor ended after it is gone.
detect::Status write_last_run(const config::PathsConfig& paths, const nlohmann::json& document);
// Reads it back: nullopt when absent or unreadable.
std::optional<nlohmann::json> read_last_run(const config::PathsConfig& paths);

}  // namespace stackmgr::supervisor
