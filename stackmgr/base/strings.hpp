#pragma once
// Small text helpers that know nothing of IPsec, shared by every layer.

#include <string>
#include <string_view>

namespace stackmgr::base {

// `items` with `separator` between them: join({"af_key", "esp4"}, ", ") is "af_key, esp4".
// Works for any range of things a std::string can be appended from.
template <typename Range>
std::string join(const Range& items, std::string_view separator = ", ") {
  std::string text;
  bool first = true;
  for (const auto& item : items) {
    if (!first) text += separator;
    text += item;
    first = false;
  }
  return text;
}

// `text` without leading and trailing blanks (space, tab, CR, LF, VT, FF).
std::string_view trim(std::string_view text);

}  // namespace stackmgr::base
