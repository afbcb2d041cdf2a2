#pragma once
// Small text helpers that know nothing of IPsec, shared by every layer.

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

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

// The number that is all of `text`, in `base` (std::from_chars: no blanks, no '+', no "0x"; a
// '-' only for a signed T); nothing when `text` is empty, has anything else, or T cannot hold it.
template <typename T>
std::optional<T> parse_number(std::string_view text, int base = 10) {
  if (text.empty()) return std::nullopt;
  T value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace stackmgr::base
