#include "modules/module_order.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace modules {
namespace {

using Edges = std::set<std::pair<std::size_t, std::size_t>>;  // (first, then): first loads earlier

// Edges from what is known for sure: a module loads after its dependencies, before its holders.
Edges hard_edges(const std::vector<OrderNode>& nodes, const std::map<std::string, std::size_t>& index) {
  Edges edges;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const std::string& dependency : nodes[i].dependencies) {
      const auto found = index.find(dependency);
      if (found != index.end() && found->second != i) edges.insert({found->second, i});
    }
    for (const std::string& holder : nodes[i].holders) {
      const auto found = index.find(holder);
      if (found != index.end() && found->second != i) edges.insert({i, found->second});
    }
  }
  return edges;
}

// Edges from the order of dependency lists: a before b when some list names a before b and no
// list names b before a. A real dependency is never contradicted, so it always survives.
Edges list_edges(const std::vector<OrderNode>& nodes, const std::map<std::string, std::size_t>& index) {
  Edges seen;
  for (const OrderNode& node : nodes) {
    std::vector<std::size_t> listed;
    for (const std::string& dependency : node.dependencies) {
      const auto found = index.find(dependency);
      if (found != index.end()) listed.push_back(found->second);
    }
    for (std::size_t a = 0; a < listed.size(); ++a) {
      for (std::size_t b = a + 1; b < listed.size(); ++b) {
        if (listed[a] != listed[b]) seen.insert({listed[a], listed[b]});
      }
    }
  }
  Edges consistent;
  for (const auto& [first, then] : seen) {
    if (!seen.contains({then, first})) consistent.insert({first, then});
  }
  return consistent;
}

// Kahn's algorithm; among ready nodes the smallest index goes first. nullopt on a cycle.
std::optional<std::vector<std::size_t>> sort(std::size_t count, const Edges& edges) {
  std::vector<int> incoming(count, 0);
  std::vector<std::vector<std::size_t>> next(count);
  for (const auto& [first, then] : edges) {
    ++incoming[then];
    next[first].push_back(then);
  }
  std::set<std::size_t> ready;
  for (std::size_t i = 0; i < count; ++i) {
    if (incoming[i] == 0) ready.insert(i);
  }
  std::vector<std::size_t> order;
  while (!ready.empty()) {
    const std::size_t current = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(current);
    for (const std::size_t then : next[current]) {
      if (--incoming[then] == 0) ready.insert(then);
    }
  }
  if (order.size() != count) return std::nullopt;
  return order;
}

std::vector<std::size_t> ordered_indices(const std::vector<OrderNode>& nodes) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < nodes.size(); ++i) index.emplace(nodes[i].name, i);
  const Edges hard = hard_edges(nodes, index);
  Edges all = hard;
  const Edges soft = list_edges(nodes, index);
  all.insert(soft.begin(), soft.end());
  if (auto order = sort(nodes.size(), all)) return *order;
  if (auto order = sort(nodes.size(), hard)) return *order;
  // Inconsistent holder data (a cycle): keep the input order; the executor re-checks holders.
  std::vector<std::size_t> order(nodes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  return order;
}

}  // namespace

std::vector<std::string> load_order(const std::vector<OrderNode>& nodes) {
  std::vector<std::string> names;
  for (const std::size_t i : ordered_indices(nodes)) names.push_back(nodes[i].name);
  return names;
}

std::vector<std::string> removal_order(const std::vector<OrderNode>& nodes) {
  std::vector<std::string> names = load_order(nodes);
  std::reverse(names.begin(), names.end());
  return names;
}

}  // namespace modules
