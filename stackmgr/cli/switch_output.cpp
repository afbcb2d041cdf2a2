#include "stackmgr/cli/switch_output.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "detect/snapshot_json.hpp"
#include "stackmgr/base/host_failure.hpp"
#include "stackmgr/base/strings.hpp"

namespace stackmgr::cli {
namespace {

std::string step_title(const modules::Step& step) {
  switch (step.kind) {
    case modules::StepKind::set_guard: return "set autoload guard";
    case modules::StepKind::clear_guard: return "clear autoload guard";
    case modules::StepKind::insert: return "load " + step.module;
    case modules::StepKind::remove: return "unload " + step.module;
  }
  return "";
}

std::string duration_text(std::chrono::microseconds took) {
  const double ms = static_cast<double>(took.count()) / 1000.0;
  if (ms >= 1000.0) return fmt::format("{:.2f} s", ms / 1000.0);
  if (ms >= 10.0) return fmt::format("{:.0f} ms", ms);
  return fmt::format("{:.1f} ms", ms);
}

nlohmann::ordered_json step_json(const modules::Step& step) {
  nlohmann::ordered_json json;
  json["kind"] = modules::to_string(step.kind);
  json["module"] =
      step.module.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(step.module);
  json["reason"] = step.reason;
  json["need"] = modules::to_string(step.need);
  return json;
}

nlohmann::ordered_json refusal_json(const modules::Refusal& refusal) {
  nlohmann::ordered_json json;
  json["rule"] = modules::to_string(refusal.rule);
  json["modules"] = refusal.modules;
  json["message"] = refusal.message;
  json["advice"] = refusal.advice;
  return json;
}

nlohmann::ordered_json steps_json(const modules::Plan& plan) {
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const modules::Step& step : plan.steps) steps.push_back(step_json(step));
  return steps;
}

// The catalog modules in the kernel right now, for a rollback_failed summary.
std::string kernel_now(const detect::Snapshot& snapshot) {
  std::string text;
  for (const detect::ModuleStatus& status : snapshot.modules) {
    if (!detect::is_present(status.state)) continue;
    text += (text.empty() ? "" : ", ") + status.spec.name + " (" +
            std::string(detect::to_string(status.state)) + ")";
  }
  return text.empty() ? "no IPsec module" : text;
}

std::chrono::microseconds total_time(const modules::ExecutionReport& report) {
  std::chrono::microseconds total{0};
  for (const auto& record : report.records) total += record.took;
  return total;
}

}  // namespace

std::string stack_title(detect::Stack stack) {
  return stack == detect::Stack::klips ? "KLIPS" : "the native stack";
}

std::string render_plan(const modules::Plan& plan) {
  std::string text;
  if (plan.already_there()) {
    text = "already there: " + stack_title(plan.target) + " is in place; nothing to do\n";
  } else {
    text = "plan: switch to " + stack_title(plan.target) + " in " + std::to_string(plan.steps.size()) +
           " step" + (plan.steps.size() == 1 ? "" : "s") + "\n";
    std::size_t number = 0;
    for (const modules::Step& step : plan.steps) {
      const std::string prefix = fmt::format("{:3}. ", ++number);
      std::string title = step_title(step);
      title.resize(std::max<std::size_t>(title.size(), 22), ' ');
      text += prefix + title + "  " + step.reason + "\n";
    }
  }
  if (!plan.notes.empty()) {
    text += "notes:\n";
    for (const std::string& note : plan.notes) text += "  - " + note + "\n";
  }
  return text;
}

std::string render_refusal(const modules::Refusal& refusal) {
  return "refused (rule " + std::string(modules::to_string(refusal.rule)) + "): " + refusal.message + "; " +
         refusal.advice + "\n";
}

std::string render_switch_summary(const switching::SwitchResult& result) {
  switch (result.status) {
    case switching::SwitchStatus::refused: return render_refusal(*result.refusal) + "nothing was changed\n";
    case switching::SwitchStatus::busy:
    case switching::SwitchStatus::failed: {
      const int error = result.error->code;
      return result.error->describe() +
             (base::is_filesystem_failure(error) ? " " + base::filesystem_advice(error) : std::string()) +
             "\nnothing was changed\n";
    }
    case switching::SwitchStatus::executed: break;
  }
  const modules::ExecutionReport& report = *result.report;
  std::string changes;
  if (!report.unloaded.empty()) changes += "unloaded " + base::join(report.unloaded);
  if (!report.loaded.empty())
    changes += (changes.empty() ? "" : "; ") + std::string("loaded ") + base::join(report.loaded);
  switch (report.outcome) {
    case modules::Outcome::already_there:
      return "already there: " + stack_title(result.target) + " is in place; nothing to do\n";
    case modules::Outcome::done:
      return "done: switched to " + stack_title(result.target) + " in " + duration_text(total_time(report)) +
             (changes.empty() ? "" : " (" + changes + ")") + "\n";
    case modules::Outcome::refused:
      return render_refusal(*report.refusal) +
             "the state changed while switching; what this run had done was undone: the host is where it "
             "was\n";
    case modules::Outcome::rolled_back:
      return "failed: " + (report.failure ? report.failure->describe() : std::string("a step failed")) +
             "\nrolled back: the host is back where it was\n";
    case modules::Outcome::rollback_failed: {
      std::string text = "failed: " +
                         (report.failure   ? report.failure->describe()
                          : report.refusal ? report.refusal->message
                                           : std::string("a step failed")) +
                         "\nROLLBACK FAILED: the host could not be put back where it was";
      for (const std::string& note : report.notes) text += "; " + note;
      text +=
          "\nstackmgr loaded nothing unsafe to get out of it. In the kernel now: " +
          kernel_now(report.final) +
          "\nrun 'stackmgr detect' for the whole state, resolve the failed steps above, then switch again\n";
      return text;
    }
  }
  return "";
}

nlohmann::ordered_json plan_to_json(const modules::PlanOrRefusal& planned, detect::Stack target) {
  nlohmann::ordered_json json;
  json["schema"] = kPlanSchema;
  json["target"] = detect::to_string(target);
  if (const auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    json["result"] = "refused";
    json["steps"] = nlohmann::ordered_json::array();
    json["notes"] = nlohmann::ordered_json::array();
    json["refusal"] = refusal_json(*refusal);
    return json;
  }
  const auto& plan = std::get<modules::Plan>(planned);
  json["result"] = plan.already_there() ? "already_there" : "plan";
  json["steps"] = steps_json(plan);
  json["notes"] = plan.notes;
  json["refusal"] = nullptr;
  return json;
}

nlohmann::ordered_json switch_to_json(const switching::SwitchResult& result) {
  nlohmann::ordered_json json;
  json["schema"] = kSwitchSchema;
  json["target"] = detect::to_string(result.target);
  switch (result.status) {
    case switching::SwitchStatus::executed:
      json["outcome"] = modules::to_string(result.report->outcome);
      break;
    case switching::SwitchStatus::refused: json["outcome"] = "refused"; break;
    case switching::SwitchStatus::busy: json["outcome"] = "busy"; break;
    case switching::SwitchStatus::failed: json["outcome"] = "error"; break;
  }
  json["exit_code"] = code(switching::exit_for(result));
  json["steps"] = result.plan ? steps_json(*result.plan) : nlohmann::ordered_json::array();
  json["notes"] = result.plan ? nlohmann::ordered_json(result.plan->notes) : nlohmann::ordered_json::array();
  const modules::Refusal* refusal =
      result.refusal ? &*result.refusal
                     : (result.report && result.report->refusal ? &*result.report->refusal : nullptr);
  json["refusal"] = refusal != nullptr ? refusal_json(*refusal) : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json failure = nullptr;
  if (result.error) failure = {{"errno", result.error->code}, {"message", result.error->describe()}};
  if (result.report && result.report->failure) {
    failure = {{"errno", result.report->failure->code}, {"message", result.report->failure->describe()}};
  }
  json["failure"] = failure;
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  if (result.report) {
    for (const modules::StepRecord& record : result.report->records) {
      nlohmann::ordered_json entry = step_json(record.step);
      entry["phase"] = modules::to_string(record.phase);
      entry["status"] = modules::to_string(record.status);
      entry["detail"] = record.detail;
      entry["took_ms"] = static_cast<double>(record.took.count()) / 1000.0;
      records.push_back(std::move(entry));
    }
  }
  json["records"] = records;
  json["loaded"] =
      result.report ? nlohmann::ordered_json(result.report->loaded) : nlohmann::ordered_json::array();
  json["unloaded"] =
      result.report ? nlohmann::ordered_json(result.report->unloaded) : nlohmann::ordered_json::array();
  json["report_notes"] =
      result.report ? nlohmann::ordered_json(result.report->notes) : nlohmann::ordered_json::array();
  json["warnings"] = result.warnings;
  if (result.report) {
    json["final"] = detect::snapshot_to_json(result.report->final);
  } else if (result.before) {
    json["final"] = detect::snapshot_to_json(*result.before);
  } else {
    json["final"] = nullptr;
  }
  return json;
}

void ConsoleSwitchObserver::waiting_for_lock(std::optional<pid_t> holder) {
  if (holder) {
    fmt::print(out_, "waiting for another stackmgr (pid {}) to finish...\n", *holder);
  } else {
    fmt::print(out_, "waiting for another stackmgr to finish...\n");
  }
  static_cast<void>(std::fflush(out_));  // best effort: live progress
}

void ConsoleSwitchObserver::planned(const modules::Plan& plan) {
  total_ = plan.steps.size();
  if (plan.already_there()) return;
  fmt::print(out_, "switching to {}: {} step{}\n", stack_title(plan.target), total_, total_ == 1 ? "" : "s");
  for (const std::string& note : plan.notes) fmt::print(out_, "  note: {}\n", note);
  static_cast<void>(std::fflush(out_));  // best effort: live progress
}

void ConsoleSwitchObserver::step_started(const modules::Step& step, modules::Phase phase) {
  if (phase == modules::Phase::rollback && rollback_ == 0) fmt::print(out_, "rolling back:\n");
  std::string counter = phase == modules::Phase::forward
                            ? "[" + std::to_string(++forward_) + "/" + std::to_string(total_) + "]"
                            : "[undo " + std::to_string(++rollback_) + "]";
  std::string title = step_title(step);
  title.resize(std::max<std::size_t>(title.size(), 22), ' ');
  fmt::print(out_, "  {:<8} {} ", counter, title);
  static_cast<void>(std::fflush(out_));  // best effort: live progress
}

void ConsoleSwitchObserver::step_finished(const modules::StepRecord& record) {
  fmt::print(out_, "{} ({}){}{}\n", modules::to_string(record.status), duration_text(record.took),
             record.detail.empty() ? "" : ": ", record.detail);
  static_cast<void>(std::fflush(out_));  // best effort: live progress
}

}  // namespace stackmgr::cli
