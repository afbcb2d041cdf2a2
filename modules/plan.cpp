#include "modules/plan.hpp"

namespace modules {

std::string_view to_string(StepKind kind) {
  switch (kind) {
    case StepKind::clear_guard: return "clear_guard";
    case StepKind::remove: return "remove";
    case StepKind::insert: return "insert";
    case StepKind::set_guard: return "set_guard";
  }
  return "insert";
}

std::string_view to_string(Need need) { return need == Need::required ? "required" : "best_effort"; }

std::string_view to_string(Rule rule) {
  switch (rule) {
    case Rule::klips_over_native: return "klips_over_native";
    case Rule::native_over_klips: return "native_over_klips";
    case Rule::both_builtin: return "both_builtin";
    case Rule::current_builtin: return "current_builtin";
    case Rule::busy_module: return "busy_module";
    case Rule::no_module_operations: return "no_module_operations";
    case Rule::blacklisted: return "blacklisted";
    case Rule::module_missing: return "module_missing";
    case Rule::broken_state: return "broken_state";
  }
  return "broken_state";
}

}  // namespace modules
