#include "stackmgr/switch/recovery.hpp"

namespace stackmgr::switching {
namespace {

std::string name(detect::Stack stack) { return std::string(detect::to_string(stack)); }

std::string describe_interrupted(const SwitchJournal& journal) {
  std::string text = "found an interrupted switch (" + std::string(to_string(journal.via)) + ", pid " +
                     std::to_string(journal.pid) + ") from " +
                     (journal.from ? name(*journal.from) : "no stack") + " to " + name(journal.to) + ", " +
                     journal.phase;
  const std::size_t next = journal.next_step();
  if (next < journal.steps.size()) {
    text += " at step " + std::to_string(next + 1) + "/" + std::to_string(journal.steps.size()) + " (" +
            journal.steps[next].what + ")";
  }
  return text;
}

std::string describe_failure(const SwitchResult& result) {
  if (result.refusal) return result.refusal->message;
  if (result.error) return result.error->describe();
  if (result.report && result.report->failure) return result.report->failure->describe();
  if (result.report) return std::string(modules::to_string(result.report->outcome));
  return "unknown";
}

// What the failed recovery did to the kernel, said only as far as it was checked: a refusal or
// a run that could not start changed nothing; a run that executed says whether its rollback
// put back what it changed, and what a fresh detection found in the kernel at its end.
std::string what_it_left(const SwitchResult& result) {
  switch (result.status) {
    case SwitchStatus::refused:
    case SwitchStatus::busy:
    case SwitchStatus::failed: return "it changed nothing in the kernel";
    case SwitchStatus::executed: break;
  }
  const modules::ExecutionReport& report = *result.report;
  std::string now = "the kernel now has " + std::string(detect::to_string(report.final.overall));
  switch (report.outcome) {
    case modules::Outcome::refused:
    case modules::Outcome::rolled_back: return "what it had changed was put back; " + now;
    case modules::Outcome::rollback_failed:
      return "its rollback failed too, so the kernel is not where the recovery found it; " + now;
    case modules::Outcome::done:
    case modules::Outcome::already_there: break;
  }
  return now;
}

bool succeeded(const SwitchResult& result) {
  if (result.status != SwitchStatus::executed || !result.report) return false;
  return result.report->outcome == modules::Outcome::done ||
         result.report->outcome == modules::Outcome::already_there;
}

}  // namespace

std::string_view to_string(RecoveryOutcome outcome) {
  switch (outcome) {
    case RecoveryOutcome::nothing: return "nothing";
    case RecoveryOutcome::completed: return "completed";
    case RecoveryOutcome::rolled_back: return "rolled-back";
    case RecoveryOutcome::unusable_journal: return "unusable-journal";
    case RecoveryOutcome::failed: return "failed";
  }
  return "failed";
}

bool stack_fully_live(const detect::Snapshot& snapshot, detect::Stack stack) {
  const detect::Overall alone =
      stack == detect::Stack::native ? detect::Overall::native : detect::Overall::klips;
  const detect::Verdict verdict = snapshot.report(stack).verdict;
  return snapshot.overall == alone &&
         (verdict == detect::Verdict::active || verdict == detect::Verdict::builtin);
}

RecoveryResult recover_interrupted_switch(const SwitchRequest& base, SwitchEnvironment& environment,
                                          SwitchObserver* observer) {
  RecoveryResult result;
  auto read = read_journal(environment.journal);
  if (!read) {
    result.outcome = RecoveryOutcome::failed;
    result.message = "cannot read the switch journal: " + read.error().describe() +
                     "; fix the file's owner or mode (root, not writable by others)";
    return result;
  }
  if (!read->problem.empty()) {
    const detect::Snapshot now = environment.detect();
    result.outcome = RecoveryOutcome::unusable_journal;
    result.stack = now.active_stack();
    result.message = read->problem + "; not guessing what it meant: the kernel has " +
                     std::string(detect::to_string(now.overall)) +
                     (result.stack && stack_fully_live(now, *result.stack) ? " (fully live)" : "") +
                     ", and the stack is chosen and checked as on any start";
    return result;
  }
  if (!read->journal) return result;
  const SwitchJournal journal = *read->journal;
  result.journal = journal;
  const detect::Snapshot now = environment.detect();

  SwitchRequest request = base;
  SwitchEnvironment recovery = environment;
  std::string decision;
  if (stack_fully_live(now, journal.to)) {
    request.target = journal.to;
    result.outcome = RecoveryOutcome::completed;
    decision =
        "the " + name(journal.to) + " stack is fully live and nothing of the other is left: completing it";
  } else if (journal.from) {
    request.target = *journal.from;
    recovery.chosen_stack_file.clear();  // going back is not a new choice
    result.outcome = RecoveryOutcome::rolled_back;
    decision = "the kernel has " + std::string(detect::to_string(now.overall)) + ", not a live " +
               name(journal.to) + " stack alone: rolling back to " + name(*journal.from);
  } else {
    request.target = journal.to;
    result.outcome = RecoveryOutcome::completed;
    decision =
        "no stack was active before it: finishing the switch to " + name(journal.to) + " through the planner";
  }
  SwitchResult switched = switch_direct(request, recovery, observer);
  const bool ok = succeeded(switched);
  result.switched = std::move(switched);
  if (!ok) {
    // Keep the journal (the switch above may have replaced or removed it) for the next attempt.
    static_cast<void>(write_journal(environment.journal, journal));
    result.outcome = RecoveryOutcome::failed;
    result.message = describe_interrupted(journal) + "; " + decision +
                     " failed: " + describe_failure(*result.switched) + "; " +
                     what_it_left(*result.switched) +
                     ". Run 'stackmgr detect', then 'stackmgr switch native|klips'";
    return result;
  }
  if (auto removed = remove_journal(environment.journal); !removed) {
    result.message = removed.error().describe() + "; ";
  }
  result.stack = request.target;
  result.message += describe_interrupted(journal) + "; " + decision + ": " +
                    (result.outcome == RecoveryOutcome::completed ? "completed" : "rolled back") +
                    ", the kernel is on the " + name(request.target) + " stack";
  return result;
}

}  // namespace stackmgr::switching
