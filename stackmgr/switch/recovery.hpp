#pragma once
// Recovering from a switch that was interrupted (stackmgr killed, power lost): `start` and the
// next switch look for an unfinished journal and take the kernel to a safe, consistent stack,
// always through the planner and executor (which never load anything unsafe).

#include <optional>
#include <string>

#include "stackmgr/switch/journal.hpp"
#include "stackmgr/switch/switch_direct.hpp"

namespace stackmgr::switching {

enum class RecoveryOutcome {
  nothing,           // no journal: no switch was interrupted
  completed,         // the target was live and nothing of the old stack: the switch was finished
  rolled_back,       // the kernel was taken back to the journal's `from` stack
  unusable_journal,  // corrupt or truncated: moved aside; the kernel's state was detected, not guessed
  failed,            // the recovery could not finish; the journal is kept (see message)
};
std::string_view to_string(RecoveryOutcome outcome);

struct RecoveryResult {
  RecoveryOutcome outcome = RecoveryOutcome::nothing;
  std::string message;                   // for the log: what was found and what was done
  std::optional<SwitchJournal> journal;  // the interrupted switch, when one was found
  std::optional<SwitchResult> switched;  // the completing or rolling-back switch, when one ran
  std::optional<detect::Stack> stack;    // the stack the kernel is on afterwards, when consistent
};

// Reads environment.journal (required) and, when a switch was interrupted, completes it when its
// target is fully live and nothing of the old stack remains, else rolls back to `from` (or, when
// nothing was active before, finishes towards `to`). A rollback does not record a choice.
RecoveryResult recover_interrupted_switch(const SwitchRequest& base, SwitchEnvironment& environment,
                                          SwitchObserver* observer = nullptr);

// True when `stack` is fully in the kernel (every core module live or built in) and the other
// stack is not there at all.
bool stack_fully_live(const detect::Snapshot& snapshot, detect::Stack stack);

}  // namespace stackmgr::switching
