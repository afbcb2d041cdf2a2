#pragma once
// Judging: pure functions from collected facts to each stack's verdict and the overall state.
// No I/O. The definitions are documented in docs/detect.md.

#include <string>
#include <vector>

#include "detect/snapshot.hpp"

namespace detect {

// The verdict on `stack` from its core modules' states (in `modules`), the subsystem and the
// markers, with reasons an admin can act on. A stack with no core module in the catalog is
// unavailable.
StackReport judge_stack(Stack stack, const std::vector<ModuleStatus>& modules,
                        const ModuleSubsystem& subsystem, const Markers& markers);

struct OverallJudgement {
  Overall overall = Overall::none;
  std::vector<std::string> reasons;
};

// The overall state from both stack reports, the module states and the markers: conflict when
// both stacks have code in the kernel, broken when markers disagree with module states (only
// where module states are known), otherwise the stack that is in, or none.
OverallJudgement judge_overall(const StackReport& native, const StackReport& klips,
                               const std::vector<ModuleStatus>& modules, const Markers& markers);

// The marker/module disagreements judge_overall() reports, one sentence each; empty when the
// markers agree with the module states or cannot be trusted (/proc/net unreadable).
std::vector<std::string> marker_disagreements(const std::vector<ModuleStatus>& modules,
                                              const Markers& markers);

// True for verdicts that mean some of the stack's code is in the kernel.
bool has_code_in_kernel(Verdict verdict);

}  // namespace detect
