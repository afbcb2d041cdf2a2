#pragma once
// Orders modules for loading and unloading from what modules.dep and /proc/modules say.
// Pure; the planner uses it for its steps and the executor for its rollback.

#include <string>
#include <vector>

namespace modules {

struct OrderNode {
  std::string name;
  std::vector<std::string> dependencies;  // modules it needs, in load order (may name others)
  std::vector<std::string> holders;       // modules that use it right now (may name others)
};

// Every node after each node it depends on. Ties keep the input order. Besides the real edges
// (dependencies, holders), two modules that every dependency list names in the same order keep
// that order: modules.dep lists a module's dependencies deepest first.
std::vector<std::string> load_order(const std::vector<OrderNode>& nodes);

// Every node before each node it depends on (the reverse of load_order): a holder is unloaded
// before what it holds. Ties go in reverse input order (the catalog is in load order).
std::vector<std::string> removal_order(const std::vector<OrderNode>& nodes);

}  // namespace modules
