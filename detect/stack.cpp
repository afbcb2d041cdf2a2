#include "detect/stack.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace detect {

std::string_view to_string(Stack stack) { return stack == Stack::native ? "native" : "klips"; }

std::optional<Stack> parse_stack(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "native" || lower == "netkey" || lower == "xfrm") return Stack::native;
  if (lower == "klips") return Stack::klips;
  return std::nullopt;
}

Stack other(Stack stack) { return stack == Stack::native ? Stack::klips : Stack::native; }

}  // namespace detect
