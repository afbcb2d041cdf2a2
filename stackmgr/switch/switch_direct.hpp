#pragma once
// A switch without a running supervisor: lock, detect, plan, execute, record. Every module
// change of stackmgr goes through here, the supervisor's too (stack_ready.hpp). Its only
// output is the observer and the returned result: it prints nothing itself.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/snapshot.hpp"
#include "modules/executor.hpp"
#include "modules/module_backend.hpp"
#include "modules/plan.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/os/lock.hpp"
#include "stackmgr/switch/module_record.hpp"

namespace stackmgr::switching {

struct SwitchRequest {
  detect::Stack target = detect::Stack::native;
  modules::Policy policy;  // loaded_by_us is filled in from the module record
  os::LockWait wait = os::LockWait::wait;
  std::chrono::milliseconds lock_timeout{30000};
  config::ModuleMode module_mode = config::ModuleMode::manage;  // external: refuse any plan that has steps
};

// The OS boundaries a switch runs through. Production: KmodBackend, GuardFile, SystemClock,
// detect_host, ProcHolderLookup and the paths under /run/stackmgr. Tests: the fake kernel.
struct SwitchEnvironment {
  modules::ModuleBackend& backend;
  modules::AutoloadGuard& guard;
  modules::Clock& clock;
  modules::Redetect detect;     // required: reads the host
  modules::Redetect recheck{};  // optional: the executor's check before each insert (detect when empty)
  const modules::ProcessHolderLookup* holders = nullptr;
  std::filesystem::path lock_file = os::kDefaultLockFile;
  std::filesystem::path module_record = kDefaultModuleRecord;
  modules::ExecutorTimeouts timeouts{};
  // The switch journal (switch_journal.hpp), rewritten before each step; empty: none is kept.
  std::filesystem::path journal{};
  // Where a successful switch records its stack for the next `start`; empty: not recorded.
  std::filesystem::path chosen_stack_file{};
  // Asked before every plan step; true stops the run there and rolls it back (the executor's
  // contract). Empty: never stops. May be set from another thread.
  std::function<bool()> stop_requested{};
};

// Live events of a switch. Every method has a default that ignores it.
class SwitchObserver : public modules::StepObserver {
 public:
  // The lock is taken; the caller waits (at most the timeout) for `holder`.
  virtual void waiting_for_lock(std::optional<pid_t> holder) { static_cast<void>(holder); }
  // The plan is made and is about to run (not called when it is refused).
  virtual void planned(const modules::Plan& plan) { static_cast<void>(plan); }
  void step_started(const modules::Step& step, modules::Phase phase) override {
    static_cast<void>(step);
    static_cast<void>(phase);
  }
  void step_finished(const modules::StepRecord& record) override { static_cast<void>(record); }
};

enum class SwitchStatus {
  executed,  // the plan ran: see report (done, already_there, refused, rolled_back, rollback_failed)
  refused,   // the planner refused: see refusal; nothing was touched
  busy,      // another stackmgr holds the lock: see error
  failed,    // could not get started (lock directory, ...): see error; nothing was touched
};

struct SwitchResult {
  SwitchStatus status = SwitchStatus::failed;
  detect::Stack target = detect::Stack::native;
  std::optional<detect::Snapshot> before;          // what detection saw first
  std::optional<modules::Plan> plan;               // when one was made
  std::optional<modules::Refusal> refusal;         // when status == refused
  std::optional<modules::ExecutionReport> report;  // when status == executed
  std::optional<detect::Error> error;              // when status is busy or failed
  std::vector<std::string> warnings;               // e.g. the module record could not be saved
};

// With [modules] mode = "external" stackmgr changes nothing: a plan with steps becomes this refusal.
std::optional<modules::Refusal> external_mode_refusal(const modules::Plan& plan);

// Adds the processes that keep a busy_module refusal's modules in use (e.g. the pid and command
// holding a PF_KEY socket on af_key) to its message: the pure planner cannot see processes.
// Other refusals, and modules whose holders cannot be found, are left as they are.
void name_process_holders(modules::Refusal& refusal, const modules::ProcessHolderLookup* holders);

// The module policy from the config, with --allow-ipcomp on top.
modules::Policy policy_from(const config::Config& config, bool allow_ipcomp_flag);

// The policy a plan uses: `policy` plus what the record says stackmgr loaded.
modules::Policy policy_with_record(modules::Policy policy, const ModuleRecord& record);

// Takes the lock, detects, plans with the record, runs the plan through the executor, and
// updates the record with what the run loaded and unloaded. The lock is held until it returns.
// With environment.journal set, the journal is written before the first step (a failure to
// write it changes nothing: status failed) and before every step, and removed at the end unless
// the rollback failed. With chosen_stack_file set, done and already there record the target.
SwitchResult switch_direct(const SwitchRequest& request, SwitchEnvironment& environment,
                           SwitchObserver* observer = nullptr);

// `stop --unload` under the same lock and record: plans only the unloading of what the module
// record says stackmgr loaded and is still loaded (plan_unload_own), in the safe order. No
// journal, no chosen stack. `request.target` is not used.
SwitchResult unload_own_direct(const SwitchRequest& request, SwitchEnvironment& environment,
                               SwitchObserver* observer = nullptr);

// The exit code of a switch (exit_codes.hpp): ok for done and already there, refused,
// rolled_back, rollback_failed, busy; when it could not start, base::exit_for_error of the
// error (config for untrusted files, filesystem for a state or run directory the host refuses).
base::Exit exit_for(const SwitchResult& result);

}  // namespace stackmgr::switching
