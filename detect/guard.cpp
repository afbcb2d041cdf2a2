#include "detect/guard.hpp"

#include <algorithm>
#include <sstream>

#include "detect/catalog.hpp"

namespace detect {

std::set<std::string> parse_guard(std::string_view text) {
  std::set<std::string> guarded;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string keyword, name, command, extra;
    if (!(words >> keyword >> name >> command) || words >> extra) continue;
    if (keyword != "install" || !is_valid_module_name(name)) continue;
    if (command != "/bin/false" && command != "/usr/bin/false") continue;
    guarded.insert(normal_module_name(name));
  }
  return guarded;
}

std::set<std::string> read_guarded_modules(const HostRoot& root) {
  const auto text = root.read(kGuardFile, 1 << 16);
  if (!text) return {};
  return parse_guard(*text);
}

}  // namespace detect
