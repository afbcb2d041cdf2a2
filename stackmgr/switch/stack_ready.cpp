#include "stackmgr/switch/stack_ready.hpp"

#include <algorithm>
#include <string>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/base/host_failure.hpp"
#include "stackmgr/base/strings.hpp"
#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/config/loader.hpp"
#include "stackmgr/switch/switch_direct.hpp"

namespace stackmgr::switching {
namespace {

std::string stack_name(detect::Stack stack) { return std::string(detect::to_string(stack)); }

void say(const StackReadyContext& context, base::LogLevel level, const std::string& message) {
  if (context.report) context.report(level, message);
}

std::string describe_refusal(const modules::Refusal& refusal) {
  return refusal.advice.empty() ? refusal.message : refusal.message + "; " + refusal.advice;
}

// Shows a locked run as it happens: the wait for the lock, the plan's notes, and each executor
// step ("insert esp4 ... ok (12 ms)").
class ReportingObserver final : public SwitchObserver {
 public:
  explicit ReportingObserver(const StackReadyContext& context) : context_(context) {}
  void waiting_for_lock(std::optional<pid_t> holder) override {
    say(context_, base::LogLevel::info,
        "waiting for the change lock" +
            (holder ? " (held by pid " + std::to_string(*holder) + ")" : std::string()));
  }
  void planned(const modules::Plan& plan) override {
    for (const auto& note : plan.notes) say(context_, base::LogLevel::info, note);
  }
  void step_started(const modules::Step& step, modules::Phase phase) override {
    say(context_, base::LogLevel::debug,
        std::string(phase == modules::Phase::rollback ? "rollback: " : "") +
            std::string(modules::to_string(step.kind)) + (step.module.empty() ? "" : " " + step.module) +
            " ...");
  }
  void step_finished(const modules::StepRecord& record) override {
    const std::string what = std::string(modules::to_string(record.step.kind)) +
                             (record.step.module.empty() ? "" : " " + record.step.module);
    const std::string phase = record.phase == modules::Phase::rollback ? "rollback: " : "";
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(record.took).count();
    const std::string detail = record.detail.empty() ? "" : ": " + record.detail;
    say(context_, record.succeeded() ? base::LogLevel::info : base::LogLevel::error,
        phase + what + " " + std::string(modules::to_string(record.status)) + " (" + std::to_string(ms) +
            " ms)" + detail);
  }

 private:
  const StackReadyContext& context_;
};

// The request and environment of a locked run from the context.
SwitchRequest request_for(detect::Stack target, const config::Config& config) {
  SwitchRequest request;
  request.target = target;
  request.policy = policy_from(config, false);
  request.lock_timeout = config.lock_timeout;
  request.module_mode = config.module_mode;
  return request;
}

SwitchEnvironment environment_for(const StackReadyContext& context) {
  SwitchEnvironment environment{*context.backend, *context.guard, *context.clock, context.detect};
  environment.recheck = context.recheck;
  environment.holders = context.holders;
  environment.lock_file = context.config.paths.lock_file();
  environment.module_record = context.config.paths.module_record();
  environment.stop_requested = context.stop_requested;
  return environment;
}

// A locked run's result as the supervisor reports it; `done` says what success means.
StackOutcome outcome_of(const SwitchResult& result, const std::string& done,
                        const std::string& nothing_to_do) {
  StackOutcome outcome{code(exit_for(result)), done, result.warnings};
  switch (result.status) {
    case SwitchStatus::busy:
    case SwitchStatus::failed:
      outcome.message = result.error ? result.error->describe() : "failed";
      if (result.error && base::is_filesystem_failure(result.error->code))
        outcome.message += " " + base::filesystem_advice(result.error->code);
      return outcome;
    case SwitchStatus::refused: outcome.message = describe_refusal(*result.refusal); return outcome;
    case SwitchStatus::executed: break;
  }
  const modules::ExecutionReport& report = *result.report;
  outcome.warnings.insert(outcome.warnings.end(), report.notes.begin(), report.notes.end());
  const std::string why = report.refusal   ? describe_refusal(*report.refusal)
                          : report.failure ? report.failure->describe()
                                           : std::string(modules::to_string(report.outcome));
  switch (report.outcome) {
    case modules::Outcome::done: break;
    case modules::Outcome::already_there: outcome.message = nothing_to_do; break;
    case modules::Outcome::refused: outcome.message = "refused: " + why; break;
    case modules::Outcome::rolled_back:
      outcome.message = why + "; the kernel was put back where it was";
      break;
    case modules::Outcome::rollback_failed:
      outcome.message = why + "; the rollback failed too: run 'stackmgr detect' to see the state";
      break;
  }
  return outcome;
}

StackOutcome manage(detect::Stack target, const StackReadyContext& context) {
  ReportingObserver observer(context);
  SwitchEnvironment environment = environment_for(context);
  const std::string name = stack_name(target);
  say(context, base::LogLevel::info, "making the " + name + " stack live");
  const SwitchResult result = switch_direct(request_for(target, context.config), environment, &observer);
  return outcome_of(result, "the " + name + " stack is live", "the " + name + " stack is already live");
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
                    " stack is in the kernel too (" + base::join(snapshot.reasons, "; ") + ")" +
                    external_advice;
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
  if (context.config.module_mode == config::ModuleMode::manage) return manage(target, context);
  const detect::Snapshot snapshot = context.detect();
  ExternalCheck check = check_external_stack(snapshot, target);
  if (!check.usable) return StackOutcome{code(base::Exit::refused), check.missing, {}};
  for (const auto& warning : check.warnings) say(context, base::LogLevel::warn, warning);
  return StackOutcome{
      code(base::Exit::ok),
      "the " + stack_name(target) + " stack is usable (modules.mode = external: nothing loaded)",
      check.warnings};
}

StackOutcome unload_own_modules(const StackReadyContext& context) {
  if (context.config.module_mode == config::ModuleMode::external) {
    return StackOutcome{
        code(base::Exit::ok), "modules.mode is \"external\": stackmgr loaded no modules, none to unload", {}};
  }
  ReportingObserver observer(context);
  SwitchEnvironment environment = environment_for(context);
  const SwitchResult result =
      unload_own_direct(request_for(context.config.default_stack, context.config), environment, &observer);
  std::string unloaded;
  if (result.plan) {
    for (const modules::Step& step : result.plan->steps) {
      if (step.kind == modules::StepKind::remove) unloaded += (unloaded.empty() ? "" : ", ") + step.module;
    }
  }
  StackOutcome outcome = outcome_of(result, "unloaded " + unloaded,
                                    "stackmgr loaded no modules that are still loaded; nothing to unload");
  if (outcome.exit_code == code(base::Exit::refused)) outcome.message = "not unloading: " + outcome.message;
  return outcome;
}

ResolvedStack resolve_stack(const config::Config& config, std::optional<detect::Stack> command_line,
                            const detect::Snapshot& snapshot) {
  ResolvedStack resolved;
  config::ChoiceInputs inputs = config::choice_inputs(config, snapshot);
  inputs.command_line = command_line;
  if (!command_line) {
    auto state = config::read_chosen_stack(config.paths.chosen_stack_file());
    if (!state) {
      resolved.exit_code = code(base::Exit::config);
      resolved.message = state.error().describe();
      return resolved;
    }
    inputs.state_file = state->stack;
    if (!state->warning.empty()) resolved.warnings.push_back(state->warning);
    auto protostack = config::read_protostack(config.paths.ipsec_conf);
    if (!protostack) {
      resolved.exit_code = code(base::Exit::config);
      resolved.message = protostack.error().describe();
      return resolved;
    }
    inputs.protostack = *protostack;
  }
  const config::StackChoice choice = config::choose_stack(inputs);
  resolved.stack = choice.stack;
  resolved.source = choice.source;
  resolved.explanation = choice.explanation;
  resolved.warnings.insert(resolved.warnings.end(), choice.warnings.begin(), choice.warnings.end());
  if (!choice.stack) {
    resolved.exit_code = code(base::Exit::refused);
    resolved.message = choice.explanation;
  }
  return resolved;
}

}  // namespace stackmgr::switching
