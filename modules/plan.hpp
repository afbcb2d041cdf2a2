#pragma once
// A plan: the ordered steps that take the kernel to a target stack, or the refusal that says
// why it must not. Plain values; the planner makes them, the executor runs them.

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "detect/stack.hpp"

namespace modules {

enum class StepKind {
  clear_guard,  // remove the autoload guard so the native modules can load
  remove,       // unload one module (it must have no holders left)
  insert,       // load one module with its dependencies, then verify it is live
  set_guard,    // write the autoload guard that blocks the native modules
};
std::string_view to_string(StepKind kind);

// Whether a step's failure fails the run.
enum class Need {
  required,     // a failure stops the run and rolls it back
  best_effort,  // cleanup (a dependency stackmgr loaded): kept, not failed, when still in use
};
std::string_view to_string(Need need);

struct Step {
  StepKind kind = StepKind::insert;
  std::string module;  // empty for guard steps
  std::string reason;  // why this step is in the plan, for the admin
  Need need = Need::required;
};

// Which safety rule a refusal comes from. Stable names: they appear in --json output.
enum class Rule {
  klips_over_native,     // 1: never insert KLIPS while a native module is live or coming
  native_over_klips,     // 2: never insert a native module while KLIPS is live
  both_builtin,          // 3: both stacks built in
  current_builtin,       // 4: the current stack is built in and cannot be unloaded
  busy_module,           // 5: a module to unload is held from outside the stack
  no_module_operations,  // 6: modules_disabled, no CAP_SYS_MODULE, or no module support
  blacklisted,           // 7: a module to load is blacklisted
  module_missing,        // a core module is not on disk for this kernel
  broken_state,          // detection found markers that disagree with module states
};
std::string_view to_string(Rule rule);

struct Refusal {
  Rule rule = Rule::broken_state;
  std::vector<std::string> modules;  // the modules involved
  std::string message;  // what is refused and why ("refusing to load KLIPS: af_key is loaded ...")
  std::string advice;   // what the admin can do next
};

struct Plan {
  detect::Stack target = detect::Stack::native;
  std::vector<Step> steps;
  std::vector<std::string> notes;  // things left out on purpose (ipcomp, absent helpers...)
  [[nodiscard]] bool already_there() const { return steps.empty(); }
};

using PlanOrRefusal = std::variant<Plan, Refusal>;

// The admin's choices that shape a plan.
struct Policy {
  bool allow_ipcomp = false;           // load ipcomp/ipcomp6 (insecure on the native stack; seed)
  bool load_helpers = true;            // load helper modules that are on disk
  bool use_guard = true;               // keep the autoload guard while KLIPS is chosen
  std::set<std::string> loaded_by_us;  // modules stackmgr itself loaded (from its record)
};

}  // namespace modules
