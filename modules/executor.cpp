#include "modules/executor.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <stdexcept>
#include <utility>

#include "detect/catalog.hpp"
#include "modules/planner.hpp"
#include "stackmgr/base/strings.hpp"

namespace modules {

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::done: return "done";
    case Outcome::already_there: return "already_there";
    case Outcome::refused: return "refused";
    case Outcome::rolled_back: return "rolled_back";
    case Outcome::rollback_failed: return "rollback_failed";
  }
  return "rollback_failed";
}

std::string_view to_string(Phase phase) { return phase == Phase::forward ? "forward" : "rollback"; }

std::string_view to_string(StepStatus status) {
  switch (status) {
    case StepStatus::ok: return "ok";
    case StepStatus::skipped: return "skipped";
    case StepStatus::refused: return "refused";
    case StepStatus::failed: return "failed";
  }
  return "failed";
}

namespace {

using detect::InitState;
using detect::LoadedModule;

std::string seconds_text(std::chrono::milliseconds duration) {
  const auto count = duration.count();
  if (count % 1000 == 0) return std::to_string(count / 1000) + " s";
  return std::to_string(count) + " ms";
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_busy_errno(int code) { return code == EAGAIN || code == EBUSY || code == EWOULDBLOCK; }

// One run of one plan: the state it needs to roll itself back.
class Run {
 public:
  explicit Run(const ExecutorContext& context) : context_(context) {}

  ExecutionReport execute(const Plan& plan);

 private:
  struct StepResult {
    StepStatus status = StepStatus::ok;
    std::string detail;
    std::optional<detect::Error> error;
    std::optional<Refusal> refusal;
  };

  // A failed step from an OS error, with `what` in front of its message.
  static StepResult failed_with(const detect::Error& error, const std::string& what) {
    detect::Error described{error.code, what + ": " + error.message};
    return {StepStatus::failed, described.describe(), described, std::nullopt};
  }

  StepRecord perform(const Step& step, Phase phase);
  StepResult insert(const Step& step, Phase phase);
  StepResult remove(const Step& step);
  StepResult guard(const Step& step, Phase phase);
  void roll_back();
  void check_start_state_restored();

  // The state an insert is checked on: context.recheck, else context.redetect.
  [[nodiscard]] detect::Snapshot recheck() const {
    return context_.recheck ? context_.recheck() : context_.redetect();
  }
  [[nodiscard]] std::optional<LoadedModule> find_loaded(const std::string& name) const;
  [[nodiscard]] std::set<std::string> loaded_names() const;
  // Polls until `done` holds or `limit` has passed; true when it held.
  template <typename Predicate>
  bool wait_for(Predicate done, std::chrono::milliseconds limit);
  [[nodiscard]] std::string busy_detail(const std::string& name) const;

  const ExecutorContext& context_;
  ExecutionReport report_;
  std::set<std::string> start_loaded_;
  bool start_guard_ = false;
  std::vector<std::string> loaded_by_run_;    // in load order
  std::vector<std::string> unloaded_by_run_;  // in removal order
  bool rollback_ok_ = true;
};

std::optional<LoadedModule> Run::find_loaded(const std::string& name) const {
  const auto modules = context_.backend.loaded_modules();
  if (!modules) return std::nullopt;
  const std::string wanted = detect::normal_module_name(name);
  for (const LoadedModule& module : *modules) {
    if (detect::normal_module_name(module.name) == wanted) return module;
  }
  return std::nullopt;
}

std::set<std::string> Run::loaded_names() const {
  std::set<std::string> names;
  if (const auto modules = context_.backend.loaded_modules()) {
    for (const LoadedModule& module : *modules) names.insert(detect::normal_module_name(module.name));
  }
  return names;
}

template <typename Predicate>
bool Run::wait_for(Predicate done, std::chrono::milliseconds limit) {
  const Clock::TimePoint deadline = context_.clock.now() + limit;
  while (true) {
    if (done()) return true;
    if (context_.clock.now() >= deadline) return false;
    context_.clock.sleep_for(context_.timeouts.poll);
  }
}

std::string Run::busy_detail(const std::string& name) const {
  std::string detail = "busy: " + name + " is in use";
  const auto module = find_loaded(name);
  std::vector<std::string> parts;
  if (module && !module->holders.empty())
    parts.push_back("held by module " + stackmgr::base::join(module->holders));
  const std::vector<ProcessHolder> processes =
      context_.holders != nullptr ? context_.holders->holders_of(name) : std::vector<ProcessHolder>{};
  if (!processes.empty()) parts.push_back("held by " + describe_holders(processes));
  if (module && processes.empty()) {
    const int references = module->refcnt - static_cast<int>(module->holders.size());
    if (references > 0) {
      parts.push_back(std::to_string(references) + " reference" + (references == 1 ? "" : "s") +
                      " from outside the kernel's modules (an open socket such as PF_KEY, or an IPsec SA)");
    }
  }
  if (!parts.empty()) detail += " (" + stackmgr::base::join(parts) + ")";
  return detail + "; stop what holds it (the keying daemon: 'stackmgr stop'), then retry";
}

Run::StepResult Run::insert(const Step& step, Phase phase) {
  const std::string& name = step.module;
  const detect::Snapshot fresh = recheck();
  if (auto refusal = check_insert(fresh, name)) {
    std::string detail = refusal->message + "; " + refusal->advice;
    if (phase == Phase::forward) detail = "re-checked on fresh state: " + detail;
    return {StepStatus::refused, detail, std::nullopt, std::move(refusal)};
  }
  if (const auto current = find_loaded(name)) {
    if (current->state == InitState::going) {
      const bool gone = wait_for([&] { return !find_loaded(name).has_value(); }, context_.timeouts.going);
      if (!gone) {
        std::string detail = name + " is still unloading after " + seconds_text(context_.timeouts.going) +
                             "; it cannot be loaded again before it is gone";
        return {StepStatus::failed, detail, detect::Error{0, detail}, std::nullopt};
      }
    }
  }

  const std::set<std::string> before = loaded_names();
  const detect::Status status = context_.backend.insert(name);
  const std::set<std::string> after = loaded_names();
  // Record what this call loaded (dependencies first) even when it failed halfway.
  std::vector<std::string> order;
  if (const auto lookup = context_.backend.lookup(name)) order = lookup->dependencies;
  order.push_back(name);
  for (const std::string& each : after) {
    if (!contains(order, each)) order.push_back(each);
  }
  for (const std::string& each : order) {
    const std::string key = detect::normal_module_name(each);
    if (after.contains(key) && !before.contains(key) && !contains(loaded_by_run_, key)) {
      loaded_by_run_.push_back(key);
    }
  }
  if (!status) return failed_with(status.error(), "loading " + name + " failed");

  // Verify: the kernel's PF_KEY -EEXIST conflict can look like success.
  std::optional<LoadedModule> loaded;
  const bool settled = wait_for(
      [&] {
        loaded = find_loaded(name);
        return !loaded || loaded->state != InitState::coming;
      },
      context_.timeouts.coming);
  if (!settled) {
    std::string detail = name + " is still loading (coming) after " + seconds_text(context_.timeouts.coming) +
                         "; its init has not finished; see dmesg";
    return {StepStatus::failed, detail, detect::Error{0, detail}, std::nullopt};
  }
  if (!loaded) {
    const auto lookup = context_.backend.lookup(name);
    if (lookup && lookup->disk == detect::DiskState::builtin) return {StepStatus::ok, "built in", {}, {}};
    std::string detail = "the kernel did not load " + name +
                         " although the load call reported success: likely the PF_KEY -EEXIST conflict "
                         "(another PF_KEY provider is registered); see dmesg";
    return {StepStatus::failed, detail, detect::Error{0, detail}, std::nullopt};
  }
  if (loaded->state == InitState::going) {
    std::string detail = name + " is unloading again right after loading (its init failed?); see dmesg";
    return {StepStatus::failed, detail, detect::Error{0, detail}, std::nullopt};
  }
  return {StepStatus::ok, "live (verified)", std::nullopt, std::nullopt};
}

Run::StepResult Run::remove(const Step& step) {
  const std::string name = detect::normal_module_name(step.module);
  const bool best_effort = step.need == Need::best_effort;
  auto current = find_loaded(name);
  if (!current) return {StepStatus::ok, "not loaded; nothing to do", {}, {}};
  if (current->state == InitState::coming) {
    const bool live = wait_for(
        [&] {
          current = find_loaded(name);
          return !current || current->state != InitState::coming;
        },
        context_.timeouts.coming);
    if (!live) {
      std::string detail = name + " is still loading after " + seconds_text(context_.timeouts.coming) +
                           ", and a module that is loading cannot be unloaded";
      if (best_effort) return {StepStatus::skipped, "kept: " + detail, {}, {}};
      return {StepStatus::failed, detail, detect::Error{EBUSY, detail}, std::nullopt};
    }
    if (!current) return {StepStatus::ok, "not loaded; nothing to do", {}, {}};
  }
  if (current->state == InitState::going) {
    if (wait_for([&] { return !find_loaded(name).has_value(); }, context_.timeouts.going)) {
      return {StepStatus::ok, "was already unloading; gone", {}, {}};
    }
    std::string detail = name + " is still unloading after " + seconds_text(context_.timeouts.going);
    if (best_effort) return {StepStatus::skipped, "kept: " + detail, {}, {}};
    return {StepStatus::failed, detail, detect::Error{EBUSY, detail}, std::nullopt};
  }
  if (best_effort && (current->refcnt > 0 || !current->holders.empty())) {
    return {StepStatus::skipped,
            "kept: still in use" +
                (current->holders.empty() ? "" : " by " + stackmgr::base::join(current->holders)),
            {},
            {}};
  }

  const detect::Status status = context_.backend.remove(name);
  if (!status) {
    const int code = status.error().code;
    if (code == ENOENT) return {StepStatus::ok, "not loaded; nothing to do", {}, {}};
    if (is_busy_errno(code)) {
      const std::string detail = busy_detail(name);
      if (best_effort) return {StepStatus::skipped, "kept: " + detail, {}, {}};
      return {StepStatus::failed, detail, detect::Error{code, detail}, std::nullopt};
    }
    if (best_effort) return {StepStatus::skipped, "kept: " + status.error().describe(), {}, {}};
    return failed_with(status.error(), "unloading " + name + " failed");
  }
  unloaded_by_run_.push_back(name);
  if (!wait_for([&] { return !find_loaded(name).has_value(); }, context_.timeouts.going)) {
    std::string detail = name + " is still unloading after " + seconds_text(context_.timeouts.going);
    if (best_effort) return {StepStatus::skipped, "kept: " + detail, {}, {}};
    return {StepStatus::failed, detail, detect::Error{EBUSY, detail}, std::nullopt};
  }
  return {StepStatus::ok, "unloaded", std::nullopt, std::nullopt};
}

Run::StepResult Run::guard(const Step& step, Phase phase) {
  if (step.kind == StepKind::set_guard) {
    const detect::Status status = context_.guard.set();
    if (!status) return failed_with(status.error(), "installing the autoload guard failed");
    return {StepStatus::ok, "autoload guard installed", std::nullopt, std::nullopt};
  }
  if (phase == Phase::rollback) {
    // Never open the door to native autoloads while KLIPS that this run brought in is still
    // in the kernel. KLIPS that was there before the run was there without a guard too.
    const detect::Snapshot fresh = recheck();
    for (const detect::ModuleStatus& status : fresh.modules) {
      if (status.spec.stack == detect::Stack::klips && detect::is_loaded(status.state) &&
          !start_loaded_.contains(detect::normal_module_name(status.spec.name))) {
        std::string detail =
            "kept the autoload guard: KLIPS (" + status.spec.name + ") is still in the kernel";
        return {StepStatus::failed, detail, detect::Error{0, detail}, std::nullopt};
      }
    }
  }
  const detect::Status status = context_.guard.clear();
  if (!status) return failed_with(status.error(), "removing the autoload guard failed");
  return {StepStatus::ok, "autoload guard removed", std::nullopt, std::nullopt};
}

StepRecord Run::perform(const Step& step, Phase phase) {
  if (context_.observer != nullptr) context_.observer->step_started(step, phase);
  const Clock::TimePoint started = context_.clock.now();
  StepResult result;
  switch (step.kind) {
    case StepKind::insert: result = insert(step, phase); break;
    case StepKind::remove: result = remove(step); break;
    case StepKind::set_guard:
    case StepKind::clear_guard: result = guard(step, phase); break;
  }
  StepRecord record{step, phase, result.status, result.detail,
                    std::chrono::duration_cast<std::chrono::microseconds>(context_.clock.now() - started)};
  if (phase == Phase::forward && !record.succeeded()) {
    if (result.refusal) report_.refusal = std::move(result.refusal);
    if (result.error) report_.failure = std::move(result.error);
  }
  report_.records.push_back(record);
  if (context_.observer != nullptr) context_.observer->step_finished(record);
  return record;
}

void Run::roll_back() {
  std::vector<Step> steps;
  const bool guard_now = context_.guard.is_set();
  if (guard_now != start_guard_ && start_guard_) {
    steps.push_back(
        {StepKind::set_guard, "", "rollback: the guard was installed before this run", Need::required});
  }
  for (auto it = loaded_by_run_.rbegin(); it != loaded_by_run_.rend(); ++it) {
    steps.push_back({StepKind::remove, *it, "rollback: this run loaded it", Need::required});
  }
  if (guard_now != start_guard_ && !start_guard_) {
    steps.push_back(
        {StepKind::clear_guard, "", "rollback: there was no guard before this run", Need::required});
  }
  for (auto it = unloaded_by_run_.rbegin(); it != unloaded_by_run_.rend(); ++it) {
    steps.push_back({StepKind::insert, *it, "rollback: this run unloaded it", Need::required});
  }
  // Rollback inserts add to nothing: the lists describe the forward run only.
  const std::vector<std::string> loaded = loaded_by_run_;
  const std::vector<std::string> unloaded = unloaded_by_run_;
  for (const Step& step : steps) {
    if (!perform(step, Phase::rollback).succeeded()) rollback_ok_ = false;
  }
  loaded_by_run_ = loaded;
  unloaded_by_run_ = unloaded;
}

void Run::check_start_state_restored() {
  const std::set<std::string> now = loaded_names();
  std::vector<std::string> differences;
  for (const std::string& name : loaded_by_run_) {
    if (now.contains(name) && !start_loaded_.contains(name)) differences.push_back(name + " is still loaded");
  }
  for (const std::string& name : unloaded_by_run_) {
    if (!now.contains(name) && start_loaded_.contains(name))
      differences.push_back(name + " is not loaded again");
  }
  if (context_.guard.is_set() != start_guard_) {
    differences.push_back(start_guard_ ? "the autoload guard is missing"
                                       : "the autoload guard is still installed");
  }
  if (differences.empty()) return;
  rollback_ok_ = false;
  report_.notes.push_back("the start state was not restored: " + stackmgr::base::join(differences));
}

ExecutionReport Run::execute(const Plan& plan) {
  if (!context_.redetect) throw std::invalid_argument("modules::execute needs a redetect callback");
  if (plan.already_there()) {
    report_.outcome = Outcome::already_there;
    report_.final = context_.redetect();
    return std::move(report_);
  }
  start_loaded_ = loaded_names();
  start_guard_ = context_.guard.is_set();

  bool stopped = false;
  for (const Step& step : plan.steps) {
    if (context_.stop_requested && context_.stop_requested()) {
      report_.failure =
          detect::Error{ECANCELED, "a stop was requested before '" + std::string(to_string(step.kind)) +
                                       (step.module.empty() ? "" : " " + step.module) + "'"};
      stopped = true;
      break;
    }
    if (!perform(step, Phase::forward).succeeded()) {
      stopped = true;
      break;
    }
  }
  if (stopped) {
    roll_back();
    check_start_state_restored();
    if (!rollback_ok_) {
      report_.outcome = Outcome::rollback_failed;
    } else {
      report_.outcome = report_.refusal ? Outcome::refused : Outcome::rolled_back;
    }
  } else {
    report_.outcome = Outcome::done;
  }

  report_.final = context_.redetect();
  const std::set<std::string> end = loaded_names();
  for (const std::string& name : loaded_by_run_) {
    if (end.contains(name) && !start_loaded_.contains(name)) report_.loaded.insert(name);
  }
  for (const std::string& name : unloaded_by_run_) {
    if (!end.contains(name) && start_loaded_.contains(name)) report_.unloaded.insert(name);
  }
  return std::move(report_);
}

}  // namespace

ExecutionReport execute(const Plan& plan, const ExecutorContext& context) {
  return Run(context).execute(plan);
}

}  // namespace modules
