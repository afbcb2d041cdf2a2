#pragma once
// The planner: pure functions from a Snapshot to a Plan or a Refusal. No I/O, no side effects.
// The rules it enforces, with their refusal texts, are in docs/safety-rules.md.

#include <optional>
#include <string>

#include "detect/snapshot.hpp"
#include "modules/plan.hpp"

namespace modules {

// Steps that take the kernel from `now` to `target`: set the autoload guard (to KLIPS), unload
// the other stack in reverse dependency order, unload dependencies stackmgr loaded
// (policy.loaded_by_us) that nothing else needs, clear the guard (to native), then load the
// target's core modules and its helpers that are on disk. Or the rule that forbids it.
PlanOrRefusal plan_switch(const detect::Snapshot& now, detect::Stack target, const Policy& policy);

// Steps that unload only what stackmgr loaded (policy.loaded_by_us), in a safe order, for
// `stop --unload`. The guard is left as it is. Refuses when one of them is held from outside.
PlanOrRefusal plan_unload_own(const detect::Snapshot& now, const Policy& policy);

// The last check before inserting `module` (and the catalog modules it depends on), on a
// freshly re-read snapshot: nullopt when safe, else the rule it would break (1, 2, 6, 7, or a
// missing module).
std::optional<Refusal> check_insert(const detect::Snapshot& fresh, const std::string& module);

}  // namespace modules
