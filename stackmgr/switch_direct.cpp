#include "stackmgr/switch_direct.hpp"

#include <cerrno>
#include <stdexcept>

#include "modules/planner.hpp"

namespace stackmgr {

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

modules::Policy policy_with_record(modules::Policy policy, const ModuleRecord& record) {
  policy.loaded_by_us.insert(record.modules().begin(), record.modules().end());
  return policy;
}

SwitchResult switch_direct(const SwitchRequest& request, SwitchEnvironment& environment,
                           SwitchObserver* observer) {
  if (!environment.detect) throw std::invalid_argument("stackmgr::switch_direct needs a detect callback");
  SwitchResult result;
  result.target = request.target;

  auto lock = Lock::acquire(environment.lock_file, request.wait, request.lock_timeout,
                            [observer](std::optional<pid_t> holder) {
                              if (observer != nullptr) observer->waiting_for_lock(holder);
                            });
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
  auto planned =
      modules::plan_switch(*result.before, request.target, policy_with_record(request.policy, record));
  if (auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    name_process_holders(*refusal, environment.holders);
    result.status = SwitchStatus::refused;
    result.refusal = std::move(*refusal);
    return result;
  }
  result.plan = std::get<modules::Plan>(std::move(planned));
  if (request.module_mode == ModuleMode::external) {
    if (auto refusal = external_mode_refusal(*result.plan)) {
      result.status = SwitchStatus::refused;
      result.refusal = std::move(refusal);
      return result;
    }
  }
  if (observer != nullptr) observer->planned(*result.plan);

  modules::ExecutorContext context{environment.backend, environment.guard, environment.clock,
                                   environment.detect};
  context.holders = environment.holders;
  context.observer = observer;
  context.timeouts = environment.timeouts;
  result.report = modules::execute(*result.plan, context);
  result.status = SwitchStatus::executed;

  if (!result.plan->already_there()) {
    record.apply(result.report->loaded, result.report->unloaded);
    if (const auto loaded = environment.backend.loaded_modules()) {
      std::set<std::string> names;
      for (const detect::LoadedModule& module : *loaded) names.insert(module.name);
      record.keep_only(names);
    }
    if (detect::Status saved = record.save(environment.module_record); !saved) {
      result.warnings.push_back("could not save the module record: " + saved.error().describe() +
                                "; 'stackmgr stop --unload' will not know what this switch loaded");
    }
  }
  return result;
}

Exit exit_for(const SwitchResult& result) {
  switch (result.status) {
    case SwitchStatus::refused: return Exit::refused;
    case SwitchStatus::busy: return Exit::busy;
    case SwitchStatus::failed:
      if (result.error && (result.error->code == EACCES || result.error->code == EPERM))
        return Exit::permission;
      if (result.error && result.error->code == 0) return Exit::config;  // an untrusted file or directory
      return Exit::internal;
    case SwitchStatus::executed: break;
  }
  switch (result.report->outcome) {
    case modules::Outcome::done:
    case modules::Outcome::already_there: return Exit::ok;
    case modules::Outcome::refused: return Exit::refused;
    case modules::Outcome::rolled_back: return Exit::rolled_back;
    case modules::Outcome::rollback_failed: return Exit::rollback_failed;
  }
  return Exit::internal;
}

}  // namespace stackmgr
