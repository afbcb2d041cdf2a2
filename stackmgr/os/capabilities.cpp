#include "stackmgr/os/capabilities.hpp"

#include <sys/capability.h>

#include <algorithm>
#include <cctype>

namespace stackmgr::os {

std::optional<int> capability_from_name(std::string_view name) {
  constexpr std::string_view kPrefix = "cap_";
  if (name.size() <= kPrefix.size() || name.find('\0') != std::string_view::npos) return std::nullopt;
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;  // also keeps out "16"
  cap_value_t value = 0;
  if (cap_from_name(lower.c_str(), &value) != 0) return std::nullopt;
  // cap_from_name stops at the end of a known name ("cap_kill,x" gives CAP_KILL): the whole
  // text must be that name.
  char* known = cap_to_name(value);
  const bool whole = known != nullptr && lower == known;
  cap_free(known);
  if (!whole) return std::nullopt;
  return static_cast<int>(value);
}

std::string capability_name(int capability) {
  char* text = cap_to_name(static_cast<cap_value_t>(capability));
  if (text == nullptr) return "capability " + std::to_string(capability);
  std::string name(text);
  cap_free(text);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return name;
}

}  // namespace stackmgr::os
