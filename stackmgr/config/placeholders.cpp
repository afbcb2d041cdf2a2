#include "stackmgr/config/placeholders.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace stackmgr::config {
namespace {

constexpr std::array<std::string_view, 5> kPlaceholderNames = {"stack", "protostack", "rundir",
                                                               "notify_socket", "ipsec_conf"};

std::string known_placeholders() {
  std::string text;
  for (std::string_view name : kPlaceholderNames) {
    if (!text.empty()) text += ", ";
    text += "{" + std::string(name) + "}";
  }
  return text;
}

// Walks `text`, calling `literal(chunk)` for plain text and `placeholder(name)` for each {name}.
// Returns an error message for an unknown name or an unbalanced brace, or "" when fine.
template <typename Literal, typename Placeholder>
std::string scan_placeholders(std::string_view text, Literal literal, Placeholder placeholder) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal(text.substr(i, 1));
      i += 2;
      continue;
    }
    if (c == '}')
      return "unbalanced '}' at offset " + std::to_string(i) + " (write '}}' for a literal brace)";
    if (c == '{') {
      const std::size_t close = text.find('}', i + 1);
      if (close == std::string_view::npos) {
        return "unbalanced '{' at offset " + std::to_string(i) + " (write '{{' for a literal brace)";
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      if (std::find(kPlaceholderNames.begin(), kPlaceholderNames.end(), name) == kPlaceholderNames.end()) {
        return "unknown placeholder {" + std::string(name) + "}; known placeholders: " + known_placeholders();
      }
      placeholder(name);
      i = close + 1;
      continue;
    }
    const std::size_t next = text.find_first_of("{}", i);
    const std::size_t end = next == std::string_view::npos ? text.size() : next;
    literal(text.substr(i, end - i));
    i = end;
  }
  return {};
}

}  // namespace

std::string placeholder_problem(std::string_view text) {
  return scan_placeholders(
      text, [](std::string_view) {}, [](std::string_view) {});
}

PlaceholderValues placeholder_values(const Config& config, detect::Stack stack) {
  return PlaceholderValues{
      std::string(detect::to_string(stack)), stack == detect::Stack::native ? "netkey" : "klips",
      config.paths.run_dir.string(),         config.paths.notify_socket().string(),
      config.paths.ipsec_conf.string(),
  };
}

detect::Result<std::string> expand_placeholders(std::string_view text, const PlaceholderValues& values) {
  std::string out;
  const std::string problem = scan_placeholders(
      text, [&](std::string_view chunk) { out += chunk; },
      [&](std::string_view name) {
        if (name == "stack") out += values.stack;
        if (name == "protostack") out += values.protostack;
        if (name == "rundir") out += values.rundir;
        if (name == "notify_socket") out += values.notify_socket;
        if (name == "ipsec_conf") out += values.ipsec_conf;
      });
  if (!problem.empty()) return detect::Error{EINVAL, "expanding '" + std::string(text) + "': " + problem};
  return out;
}

detect::Result<std::vector<std::string>> expand_argv(const std::vector<std::string>& argv,
                                                     const PlaceholderValues& values) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& word : argv) {
    detect::Result<std::string> expanded = expand_placeholders(word, values);
    if (!expanded) return expanded.error();
    out.push_back(std::move(expanded).value());
  }
  return out;
}

}  // namespace stackmgr::config
