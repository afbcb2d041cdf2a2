#pragma once
// Properties the fuzz targets check beyond "no crash": a violation aborts, which libFuzzer and
// the replay runner both report as a failure.

#include <cstdlib>
#include <string_view>

#include "detect/klips_proc.hpp"

namespace fuzz {

inline void require(bool condition) {
  if (!condition) std::abort();
}

// What a parser reports is safe to print: short, and free of control bytes other than tab.
inline void require_printable(std::string_view text, std::size_t limit) {
  require(text.size() <= limit);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    require(c == '\t' || (byte >= 0x20 && byte != 0x7f));
  }
}

inline std::size_t count_lines(std::string_view text) {
  std::size_t lines = 0;
  for (const char c : text) lines += c == '\n' ? 1 : 0;
  return lines + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

template <typename Table>
void require_sane(const Table& table, std::string_view text) {
  const std::size_t lines = count_lines(text);
  require(table.rows.size() + table.problems.size() <= lines);
  for (const auto& problem : table.problems) {
    require(problem.line >= 1 && problem.line <= lines);
    require_printable(problem.text, detect::kProblemTextLimit + 3);
    require_printable(problem.reason, detect::kProblemTextLimit + 3);
  }
}

}  // namespace fuzz
