#include "stackmgr/switch/switch_direct.hpp"

#include <unistd.h>

#include <cerrno>
#include <set>
#include <stdexcept>
#include <string>

#include "modules/planner.hpp"
#include "stackmgr/base/host_failure.hpp"
#include "stackmgr/base/pause_point.hpp"
#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/switch/journal.hpp"

namespace stackmgr::switching {
namespace {

std::string step_text(const modules::Step& step) {
  return std::string(modules::to_string(step.kind)) + (step.module.empty() ? "" : " " + step.module);
}

// Rewrites the journal before each executor step (forward and rollback), then passes the event on.
class JournalingObserver final : public SwitchObserver {
 public:
  JournalingObserver(std::filesystem::path file, SwitchJournal journal, SwitchObserver* next,
                     std::vector<std::string>& warnings)
      : file_(std::move(file)), journal_(std::move(journal)), next_(next), warnings_(warnings) {}

  void step_started(const modules::Step& step, modules::Phase phase) override {
    if (phase == modules::Phase::rollback) {
      journal_.phase = "rolling-back";
      journal_.steps.push_back(JournalStep{"rollback: " + step_text(step), false});
    } else {
      journal_.phase = "executing";
    }
    save();
    STACKMGR_PAUSE_POINT("switch.step-started", step_text(step));
    if (next_ != nullptr) next_->step_started(step, phase);
  }
  void step_finished(const modules::StepRecord& record) override {
    const std::string prefix = record.phase == modules::Phase::rollback ? "rollback: " : "";
    journal_.mark_done(prefix + step_text(record.step));
    STACKMGR_PAUSE_POINT("switch.step-finished", prefix + step_text(record.step));
    if (next_ != nullptr) next_->step_finished(record);
  }
  void keep_after_failed_rollback() {
    journal_.phase = "rollback-failed";
    save();
  }

 private:
  void save() {
    if (auto written = write_journal(file_, journal_); !written && !warned_) {
      warned_ = true;
      warnings_.push_back("could not update the switch journal: " + written.error().describe() +
                          "; if stackmgr is killed now, 'stackmgr start' cannot tell what it was doing");
    }
  }

  std::filesystem::path file_;
  SwitchJournal journal_;
  SwitchObserver* next_;
  std::vector<std::string>& warnings_;
  bool warned_ = false;
};

SwitchJournal journal_for(const modules::Plan& plan, const detect::Snapshot& before) {
  SwitchJournal journal;
  journal.from = before.active_stack();
  journal.to = plan.target;
  journal.via = JournalVia::direct;
  journal.pid = getpid();
  journal.started_at =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  for (const modules::Step& step : plan.steps) journal.steps.push_back(JournalStep{step_text(step), false});
  return journal;
}

}  // namespace

std::optional<modules::Refusal> external_mode_refusal(const modules::Plan& plan) {
  if (plan.already_there()) return std::nullopt;
  std::vector<std::string> involved;
  for (const modules::Step& step : plan.steps) {
    if (!step.module.empty()) involved.push_back(step.module);
  }
  std::string needs;
  for (const std::string& name : involved) needs += (needs.empty() ? "" : ", ") + name;
  const std::string target = plan.target == detect::Stack::klips ? "KLIPS" : "the native stack";
  return modules::Refusal{
      modules::Rule::no_module_operations, involved,
      "refusing to switch to " + target +
          ": the config says mode = \"external\" under [modules] (modules are managed outside stackmgr), "
          "and the switch needs " +
          (needs.empty() ? std::string("the autoload guard changed") : "to load or unload " + needs),
      "load the stack's modules by the host's own means, or set mode = \"manage\" under [modules] in the "
      "stackmgr config"};
}

void name_process_holders(modules::Refusal& refusal, const modules::ProcessHolderLookup* holders) {
  if (refusal.rule != modules::Rule::busy_module || holders == nullptr) return;
  for (const std::string& module : refusal.modules) {
    const std::vector<modules::ProcessHolder> processes = holders->holders_of(module);
    if (processes.empty()) continue;
    refusal.message += "; " + module + " is held by " + modules::describe_holders(processes);
  }
}

modules::Policy policy_from(const config::Config& config, bool allow_ipcomp_flag) {
  modules::Policy policy;
  policy.allow_ipcomp = config.allow_ipcomp || allow_ipcomp_flag;
  policy.load_helpers = config.load_helpers;
  policy.use_guard = config.use_guard;
  return policy;
}

modules::Policy policy_with_record(modules::Policy policy, const ModuleRecord& record) {
  policy.loaded_by_us.insert(record.modules().begin(), record.modules().end());
  return policy;
}

namespace {

// What one locked run changes besides the modules.
enum class RunKind {
  switch_stack,  // journaled when environment.journal is set; records the chosen stack
  unload_own,    // stop --unload: only what the record says stackmgr loaded; no journal
};

// The names of every module the kernel has loaded (dependencies such as xfrm_algo too, which
// the catalog does not list); nullopt when the list cannot be read.
std::optional<std::set<std::string>> loaded_names(const modules::ModuleBackend& backend) {
  const auto loaded = backend.loaded_modules();
  if (!loaded) return std::nullopt;
  std::set<std::string> names;
  for (const detect::LoadedModule& module : *loaded) names.insert(module.name);
  return names;
}

// Lock, record, detect, plan, execute, record again: the one sequence every module change
// of stackmgr goes through.
SwitchResult run_locked(const SwitchRequest& request, SwitchEnvironment& environment,
                        SwitchObserver* observer, RunKind kind) {
  if (!environment.detect) throw std::invalid_argument("stackmgr::switching needs a detect callback");
  SwitchResult result;
  result.target = request.target;

  auto lock = os::Lock::acquire(
      environment.lock_file, request.wait, request.lock_timeout,
      [observer](std::optional<pid_t> holder) {
        if (observer != nullptr) observer->waiting_for_lock(holder);
      },
      environment.stop_requested);
  if (!lock) {
    result.status = lock.error().code == EWOULDBLOCK ? SwitchStatus::busy : SwitchStatus::failed;
    result.error = lock.error();
    return result;
  }

  ModuleRecord record;
  if (auto loaded = ModuleRecord::load(environment.module_record)) {
    record = std::move(loaded).value();
  } else {
    result.warnings.push_back(loaded.error().describe() +
                              " (planning as if stackmgr had loaded nothing: it unloads fewer dependencies)");
  }

  result.before = environment.detect();
  modules::PlanOrRefusal planned;
  if (kind == RunKind::unload_own) {
    if (auto names = loaded_names(environment.backend)) record.keep_only(*names);  // unloaded by others
    planned = modules::plan_unload_own(*result.before, policy_with_record(request.policy, record));
  } else {
    planned =
        modules::plan_switch(*result.before, request.target, policy_with_record(request.policy, record));
  }
  if (auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    name_process_holders(*refusal, environment.holders);
    result.status = SwitchStatus::refused;
    result.refusal = std::move(*refusal);
    return result;
  }
  result.plan = std::get<modules::Plan>(std::move(planned));
  if (request.module_mode == config::ModuleMode::external) {
    if (auto refusal = external_mode_refusal(*result.plan)) {
      result.status = SwitchStatus::refused;
      result.refusal = std::move(refusal);
      return result;
    }
  }
  std::optional<JournalingObserver> journaling;
  const bool journaled =
      kind == RunKind::switch_stack && !environment.journal.empty() && !result.plan->already_there();
  if (journaled) {
    STACKMGR_PAUSE_POINT("switch.planned", detect::to_string(request.target));
    SwitchJournal journal = journal_for(*result.plan, *result.before);
    if (auto written = write_journal(environment.journal, journal); !written) {
      result.status = SwitchStatus::failed;
      // Nothing was changed: the summary says so. describe() adds the errno's text once.
      result.error = detect::Error{
          written.error().code,
          "could not write the switch journal: " +
              (written.error().code != 0 ? written.error().message : written.error().describe())};
      return result;
    }
    journaling.emplace(environment.journal, std::move(journal), observer, result.warnings);
  }
  if (observer != nullptr) observer->planned(*result.plan);

  modules::ExecutorContext context{environment.backend, environment.guard, environment.clock,
                                   environment.detect};
  context.recheck = environment.recheck;
  context.holders = environment.holders;
  context.observer = journaling ? &*journaling : observer;
  context.timeouts = environment.timeouts;
  context.stop_requested = environment.stop_requested;
  result.report = modules::execute(*result.plan, context);
  result.status = SwitchStatus::executed;
  const modules::Outcome outcome = result.report->outcome;
  if (journaled) {
    STACKMGR_PAUSE_POINT("switch.executed", modules::to_string(outcome));
    if (outcome == modules::Outcome::rollback_failed) {
      journaling->keep_after_failed_rollback();
    } else if (auto removed = remove_journal(environment.journal); !removed) {
      result.warnings.push_back(removed.error().describe());
    }
  }
  if (kind == RunKind::switch_stack && !environment.chosen_stack_file.empty() &&
      (outcome == modules::Outcome::done || outcome == modules::Outcome::already_there)) {
    if (auto chosen = config::write_chosen_stack(environment.chosen_stack_file, request.target); !chosen) {
      result.warnings.push_back(
          "could not record the stack for the next start: " + chosen.error().describe() +
          "; 'stackmgr start' will choose from the config instead");
    }
  }

  if (!result.plan->already_there() || kind == RunKind::unload_own) {
    record.apply(result.report->loaded, result.report->unloaded);
    if (auto names = loaded_names(environment.backend)) record.keep_only(*names);
    if (detect::Status saved = record.save(environment.module_record); !saved) {
      result.warnings.push_back("could not save the module record: " + saved.error().describe() +
                                "; 'stackmgr stop --unload' will not know what this switch loaded");
    }
  }
  if (journaled) {
    STACKMGR_PAUSE_POINT("switch.finished", modules::to_string(outcome));
  }
  return result;
}

}  // namespace

SwitchResult switch_direct(const SwitchRequest& request, SwitchEnvironment& environment,
                           SwitchObserver* observer) {
  return run_locked(request, environment, observer, RunKind::switch_stack);
}

SwitchResult unload_own_direct(const SwitchRequest& request, SwitchEnvironment& environment,
                               SwitchObserver* observer) {
  return run_locked(request, environment, observer, RunKind::unload_own);
}

base::Exit exit_for(const SwitchResult& result) {
  switch (result.status) {
    case SwitchStatus::refused: return base::Exit::refused;
    case SwitchStatus::busy: return base::Exit::busy;
    case SwitchStatus::failed:
      if (result.error && result.error->code == ECANCELED) return base::Exit::rolled_back;  // nothing changed
      return result.error ? base::exit_for_error(result.error->code) : base::Exit::internal;
    case SwitchStatus::executed: break;
  }
  switch (result.report->outcome) {
    case modules::Outcome::done:
    case modules::Outcome::already_there: return base::Exit::ok;
    case modules::Outcome::refused: return base::Exit::refused;
    case modules::Outcome::rolled_back: return base::Exit::rolled_back;
    case modules::Outcome::rollback_failed: return base::Exit::rollback_failed;
  }
  return base::Exit::internal;
}

}  // namespace stackmgr::switching
