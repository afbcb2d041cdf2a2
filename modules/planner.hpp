#pragma once
// The planner: pure functions from a Snapshot to a Plan or a Refusal. No I/O, no side effects.

#include "detect/snapshot.hpp"
#include "modules/plan.hpp"

namespace modules {

// Steps that take the kernel from `now` to `target` (unload the other stack in reverse
// dependency order, then load the target's modules), or the rule that forbids it.
PlanOrRefusal plan_switch(const detect::Snapshot& now, detect::Stack target, const Policy& policy);

// Steps that unload only what stackmgr loaded (policy.loaded_by_us), in a safe order:
// `stop --unload`.
PlanOrRefusal plan_unload_own(const detect::Snapshot& now, const Policy& policy);

// The last check before inserting `module`, on a freshly re-read snapshot: nullopt when safe.
std::optional<Refusal> check_insert(const detect::Snapshot& fresh, const std::string& module);

}  // namespace modules
