#include "stackmgr/supervisor/supervisor_switch.hpp"

#include <unistd.h>

#include <chrono>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/config/chosen_stack_file.hpp"

namespace stackmgr::supervisor {
namespace {

std::string name(detect::Stack stack) { return std::string(detect::to_string(stack)); }

constexpr std::size_t kStopStep = 0;
constexpr std::size_t kFlushStep = 1;
constexpr std::size_t kModulesStep = 2;
constexpr std::size_t kStartStep = 3;

bool terminal(SwitchStage stage) {
  switch (stage) {
    case SwitchStage::stopping_daemon:
    case SwitchStage::changing_modules:
    case SwitchStage::starting_daemon:
    case SwitchStage::rolling_back: return false;
    case SwitchStage::done:
    case SwitchStage::rolled_back:
    case SwitchStage::rollback_failed:
    case SwitchStage::rejected:
    case SwitchStage::interrupted: return true;
  }
  return true;
}

}  // namespace

detect::Status SupervisorSwitch::begin(control::ControlServer::ConnectionId client,
                                       std::optional<detect::Stack> from, detect::Stack to,
                                       const std::string& daemon_name) {
  switching::SwitchJournal journal;
  journal.from = from;
  journal.to = to;
  journal.via = switching::JournalVia::supervisor;
  journal.pid = getpid();
  journal.started_at =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  journal.steps = {
      {"stop " + daemon_name, false},
      {"flush the native SAD and SPD", false},
      {"unload " + (from ? "the " + name(*from) + " stack" : std::string("nothing")) +
           ", load and verify the " + name(to) + " stack, set or clear the autoload guard",
       false},
      {"start " + daemon_name + " on the " + name(to) + " stack and wait for its readiness", false},
  };
  if (auto written = switching::write_journal(paths_.journal(), journal); !written) {
    return detect::Error{written.error().code, "could not write the switch journal: " +
                                                   (written.error().code != 0 ? written.error().message
                                                                              : written.error().describe())};
  }
  journal_ = std::move(journal);
  clients_ = {client};
  return {};
}

void SupervisorSwitch::save(std::vector<std::string>& warnings) {
  if (auto written = switching::write_journal(paths_.journal(), *journal_); !written) {
    warnings.push_back("could not update the switch journal: " + written.error().describe());
  }
}

std::optional<std::string> SupervisorSwitch::on_progress(const SwitchProgress& progress,
                                                         std::vector<std::string>& warnings) {
  if (!journal_) {
    return progress.stage == SwitchStage::rejected
               ? std::optional(reply(progress.exit_code, progress.message))
               : std::nullopt;
  }
  switching::SwitchJournal& journal = *journal_;
  auto& steps = journal.steps;
  switch (progress.stage) {
    case SwitchStage::stopping_daemon:
      journal.phase = "executing";
      save(warnings);
      break;
    case SwitchStage::changing_modules:
      steps[kStopStep].done = true;
      steps[kFlushStep].done = true;
      save(warnings);
      break;
    case SwitchStage::starting_daemon:
      if (journal.phase == "rolling-back") {
        journal.mark_done("roll back to the old stack");
      } else {
        steps[kModulesStep].done = true;
      }
      save(warnings);
      break;
    case SwitchStage::rolling_back:
      journal.phase = "rolling-back";
      steps.push_back({"roll back to the old stack", false});
      save(warnings);
      break;
    case SwitchStage::done:
      steps[kStartStep].done = true;
      if (auto chosen = config::write_chosen_stack(paths_.chosen_stack_file(), progress.to); !chosen) {
        warnings.push_back("could not record the stack for the next start: " + chosen.error().describe() +
                           "; 'stackmgr start' will choose from the config instead");
      }
      [[fallthrough]];
    case SwitchStage::rolled_back:
    case SwitchStage::rejected:
      if (auto removed = switching::remove_journal(paths_.journal()); !removed)
        warnings.push_back(removed.error().describe());
      break;
    case SwitchStage::rollback_failed:
    case SwitchStage::interrupted:
      journal.phase = progress.stage == SwitchStage::interrupted ? "interrupted" : "rollback-failed";
      save(warnings);  // kept: the next `start` recovers from it
      break;
  }
  if (!terminal(progress.stage)) return std::nullopt;
  journal_.reset();
  clients_.clear();
  return reply(progress.exit_code, progress.message, &progress);
}

std::string SupervisorSwitch::reply(int exit_code, const std::string& message,
                                    const SwitchProgress* progress) {
  nlohmann::json data = nullptr;
  if (progress != nullptr) {
    data = {{"outcome", std::string(to_string(progress->stage))},
            {"from", progress->from ? nlohmann::json(name(*progress->from)) : nlohmann::json(nullptr)},
            {"to", name(progress->to)}};
  }
  return control::result_reply(exit_code, message, data);
}

}  // namespace stackmgr::supervisor
