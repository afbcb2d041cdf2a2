#include "stackmgr/stack_ready.hpp"

#include <algorithm>
#include <string>

#include "modules/planner.hpp"
#include "stackmgr/chosen_stack_file.hpp"
#include "stackmgr/config_loader.hpp"
#include "stackmgr/exit_codes.hpp"
#include "stackmgr/lock.hpp"
#include "stackmgr/module_record.hpp"

namespace stackmgr {
namespace {

std::string stack_name(detect::Stack stack) { return std::string(detect::to_string(stack)); }

std::string join(const std::vector<std::string>& items, const char* separator = ", ") {
  std::string text;
  for (const auto& item : items) {
    if (!text.empty()) text += separator;
    text += item;
  }
  return text;
}

void say(const StackReadyContext& context, Level level, const std::string& message) {
  if (context.report) context.report(level, message);
}

int exit_for(modules::Outcome outcome) {
  switch (outcome) {
    case modules::Outcome::done:
    case modules::Outcome::already_there: return code(Exit::ok);
    case modules::Outcome::refused: return code(Exit::refused);
    case modules::Outcome::rolled_back: return code(Exit::rolled_back);
    case modules::Outcome::rollback_failed: return code(Exit::rollback_failed);
  }
  return code(Exit::internal);
}

std::string describe_refusal(const modules::Refusal& refusal) {
  return refusal.advice.empty() ? refusal.message : refusal.message + "; " + refusal.advice;
}

// Shows each executor step as it happens: "insert esp4 ... ok (12 ms)".
class ReportingObserver final : public modules::StepObserver {
 public:
  explicit ReportingObserver(const StackReadyContext& context) : context_(context) {}
  void step_started(const modules::Step&, modules::Phase) override {}
  void step_finished(const modules::StepRecord& record) override {
    const std::string what = std::string(modules::to_string(record.step.kind)) +
                             (record.step.module.empty() ? "" : " " + record.step.module);
    const std::string phase = record.phase == modules::Phase::rollback ? "rollback: " : "";
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(record.took).count();
    const std::string detail = record.detail.empty() ? "" : ": " + record.detail;
    say(context_, record.succeeded() ? Level::info : Level::error,
        phase + what + " " + std::string(modules::to_string(record.status)) + " (" + std::to_string(ms) +
            " ms)" + detail);
  }

 private:
  const StackReadyContext& context_;
};

// The change lock, or the outcome that says why not.
std::variant<Lock, StackOutcome> take_change_lock(const StackReadyContext& context) {
  const auto& config = context.config;
  auto lock = Lock::acquire(
      config.paths.lock_file(), LockWait::wait, config.lock_timeout, [&context](std::optional<pid_t> holder) {
        say(context, Level::info,
            "waiting for the change lock" +
                (holder ? " (held by pid " + std::to_string(*holder) + ")" : std::string()));
      });
  if (lock) return std::move(lock).value();
  const bool busy = lock.error().code == EWOULDBLOCK;
  return StackOutcome{busy ? code(Exit::busy) : code(Exit::internal), lock.error().describe(), {}};
}

modules::Policy policy_of(const Config& config, const ModuleRecord& record) {
  modules::Policy policy;
  policy.allow_ipcomp = config.allow_ipcomp;
  policy.load_helpers = config.load_helpers;
  policy.use_guard = config.use_guard;
  policy.loaded_by_us = record.modules();
  return policy;
}

// Every module the kernel has loaded (dependencies such as xfrm_algo too, which the catalog
// does not list); nullopt when the list cannot be read.
std::optional<std::set<std::string>> loaded_names(const StackReadyContext& context) {
  auto loaded = context.backend->loaded_modules();
  if (!loaded) return std::nullopt;
  std::set<std::string> names;
  for (const auto& module : *loaded) names.insert(module.name);
  return names;
}

// Runs `plan` through the executor and keeps the module record in step with what it did.
StackOutcome execute_and_record(const modules::Plan& plan, ModuleRecord& record,
                                const StackReadyContext& context, const std::string& done_message) {
  ReportingObserver observer(context);
  modules::ExecutorContext executor{*context.backend, *context.guard,  *context.clock,
                                    context.detect,   context.holders, &observer};
  const modules::ExecutionReport report = modules::execute(plan, executor);
  record.apply(report.loaded, report.unloaded);
  if (auto loaded = loaded_names(context)) record.keep_only(*loaded);
  StackOutcome outcome{exit_for(report.outcome), done_message, report.notes};
  if (auto saved = record.save(context.config.paths.module_record()); !saved) {
    outcome.warnings.push_back("could not update the module record: " + saved.error().describe() +
                               "; 'stop --unload' may leave modules behind");
  }
  if (report.outcome == modules::Outcome::done || report.outcome == modules::Outcome::already_there)
    return outcome;
  std::string why = report.refusal   ? describe_refusal(*report.refusal)
                    : report.failure ? report.failure->describe()
                                     : std::string(modules::to_string(report.outcome));
  switch (report.outcome) {
    case modules::Outcome::refused: outcome.message = "refused: " + why; break;
    case modules::Outcome::rolled_back:
      outcome.message = why + "; the kernel was put back where it was";
      break;
    default:
      outcome.message = why + "; the rollback failed too: run 'stackmgr detect' to see the state";
      break;
  }
  return outcome;
}

StackOutcome manage(detect::Stack target, const StackReadyContext& context) {
  auto lock = take_change_lock(context);
  if (auto* failed = std::get_if<StackOutcome>(&lock)) return *failed;
  auto record = ModuleRecord::load(context.config.paths.module_record());
  if (!record) return StackOutcome{code(Exit::config), record.error().describe(), {}};
  const detect::Snapshot snapshot = context.detect();
  const auto planned = modules::plan_switch(snapshot, target, policy_of(context.config, *record));
  if (const auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    return StackOutcome{code(Exit::refused), describe_refusal(*refusal), {}};
  }
  const auto& plan = std::get<modules::Plan>(planned);
  for (const auto& note : plan.notes) say(context, Level::info, note);
  if (plan.already_there()) {
    return StackOutcome{code(Exit::ok), "the " + stack_name(target) + " stack is already live", plan.notes};
  }
  say(context, Level::info,
      "loading the " + stack_name(target) + " stack (" + std::to_string(plan.steps.size()) + " steps)");
  return execute_and_record(plan, record.value(), context, "the " + stack_name(target) + " stack is live");
}

std::string state_text(const detect::ModuleStatus& module) {
  switch (module.state) {
    case detect::ModuleState::available: return "is not loaded (on disk)";
    case detect::ModuleState::blacklisted: return "is not loaded (blacklisted)";
    case detect::ModuleState::absent: return "is not in the kernel and not on disk";
    case detect::ModuleState::unknown: return "cannot be checked (" + module.note + ")";
    default: return "is " + std::string(detect::to_string(module.state));
  }
}

}  // namespace

ExternalCheck check_external_stack(const detect::Snapshot& snapshot, detect::Stack target) {
  ExternalCheck check;
  const std::string name = stack_name(target);
  const detect::Stack other = detect::other(target);
  const auto& other_report = snapshot.report(other);
  // KLIPS's /proc files are its own; /proc/net/pfkey is not proof of the native stack (any
  // PF_KEY provider could make one), so native presence comes from the verdict alone.
  const bool other_in_kernel = other_report.verdict == detect::Verdict::active ||
                               other_report.verdict == detect::Verdict::builtin ||
                               other_report.verdict == detect::Verdict::partial ||
                               (other == detect::Stack::klips && snapshot.markers.any_klips());
  const std::string external_advice =
      "; modules.mode is \"external\", so stackmgr loads nothing: make the host provide it, or set "
      "modules.mode = \"manage\"";
  if (snapshot.overall == detect::Overall::conflict || other_in_kernel) {
    check.missing = "the " + name + " stack cannot be used: the " + stack_name(other) +
                    " stack is in the kernel too (" + join(snapshot.reasons, "; ") + ")" + external_advice;
    return check;
  }
  const auto verdict = snapshot.report(target).verdict;
  const bool active = verdict == detect::Verdict::active || verdict == detect::Verdict::builtin;
  if (target == detect::Stack::native) {
    if (!active && !snapshot.markers.xfrm_framework()) {
      check.missing =
          "the native stack is not usable: the kernel has no XFRM framework "
          "(/proc/net/xfrm_stat and /proc/sys/net/core/xfrm_acq_expires are missing)" +
          external_advice;
      return check;
    }
  } else if (!active && !snapshot.markers.ipsec_version) {
    check.missing =
        "the KLIPS stack is not usable: /proc/net/ipsec_version (or /proc/net/ipsec/version) is "
        "missing, so the ipsec module is not in the kernel" +
        external_advice;
    return check;
  }
  check.usable = true;
  if (active) return check;
  for (const auto& module : snapshot.modules) {
    if (module.spec.stack != target || module.spec.role != detect::ModuleRole::core) continue;
    if (detect::is_present(module.state)) continue;
    std::string warning = module.spec.name + " " + state_text(module);
    if (module.spec.name == "af_key") {
      warning += ": PF_KEY daemons need it; XFRM netlink daemons such as libreswan's pluto do not";
    } else if (target == detect::Stack::native) {
      warning += ": SAs that need it will fail unless the kernel can load it on demand";
    }
    check.warnings.push_back(std::move(warning));
  }
  return check;
}

StackOutcome make_stack_ready(detect::Stack target, const StackReadyContext& context) {
  if (context.config.module_mode == ModuleMode::manage) return manage(target, context);
  const detect::Snapshot snapshot = context.detect();
  ExternalCheck check = check_external_stack(snapshot, target);
  if (!check.usable) return StackOutcome{code(Exit::refused), check.missing, {}};
  for (const auto& warning : check.warnings) say(context, Level::warn, warning);
  return StackOutcome{
      code(Exit::ok),
      "the " + stack_name(target) + " stack is usable (modules.mode = external: nothing loaded)",
      check.warnings};
}

StackOutcome unload_own_modules(const StackReadyContext& context) {
  if (context.config.module_mode == ModuleMode::external) {
    return StackOutcome{
        code(Exit::ok), "modules.mode is \"external\": stackmgr loaded no modules, none to unload", {}};
  }
  auto lock = take_change_lock(context);
  if (auto* failed = std::get_if<StackOutcome>(&lock)) return *failed;
  auto record = ModuleRecord::load(context.config.paths.module_record());
  if (!record) return StackOutcome{code(Exit::config), record.error().describe(), {}};
  const detect::Snapshot snapshot = context.detect();
  if (auto loaded = loaded_names(context)) record.value().keep_only(*loaded);
  if (record->modules().empty()) {
    if (auto saved = record->save(context.config.paths.module_record()); !saved) {
      return StackOutcome{code(Exit::ok), "no modules to unload", {saved.error().describe()}};
    }
    return StackOutcome{
        code(Exit::ok), "stackmgr loaded no modules that are still loaded; nothing to unload", {}};
  }
  const auto planned = modules::plan_unload_own(snapshot, policy_of(context.config, *record));
  if (const auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    return StackOutcome{code(Exit::refused), "not unloading: " + describe_refusal(*refusal), {}};
  }
  const auto& plan = std::get<modules::Plan>(planned);
  std::vector<std::string> names(record->modules().begin(), record->modules().end());
  say(context, Level::info, "unloading what stackmgr loaded: " + join(names));
  return execute_and_record(plan, record.value(), context, "unloaded " + join(names));
}

ResolvedStack resolve_stack(const Config& config, std::optional<detect::Stack> command_line,
                            const detect::Snapshot& snapshot) {
  ResolvedStack resolved;
  ChoiceInputs inputs = choice_inputs(config, snapshot);
  inputs.command_line = command_line;
  if (!command_line) {
    auto state = read_chosen_stack(config.paths.chosen_stack_file());
    if (!state) {
      resolved.exit_code = code(Exit::config);
      resolved.message = state.error().describe();
      return resolved;
    }
    inputs.state_file = state->stack;
    if (!state->warning.empty()) resolved.warnings.push_back(state->warning);
    auto protostack = read_protostack(config.paths.ipsec_conf);
    if (!protostack) {
      resolved.exit_code = code(Exit::config);
      resolved.message = protostack.error().describe();
      return resolved;
    }
    inputs.protostack = *protostack;
  }
  const StackChoice choice = choose_stack(inputs);
  resolved.stack = choice.stack;
  resolved.source = choice.source;
  resolved.explanation = choice.explanation;
  resolved.warnings.insert(resolved.warnings.end(), choice.warnings.begin(), choice.warnings.end());
  if (!choice.stack) {
    resolved.exit_code = code(Exit::refused);
    resolved.message = choice.explanation;
  }
  return resolved;
}

}  // namespace stackmgr
