#include "detect/proc_modules.hpp"

#include <cerrno>
#include <string>

#include "detect/catalog.hpp"
#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    const std::size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
    if (pos > start) words.push_back(line.substr(start, pos - start));
  }
  return words;
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<InitState> parse_state(std::string_view text) {
  if (text == "Live") return InitState::live;
  if (text == "Loading") return InitState::coming;
  if (text == "Unloading") return InitState::going;
  return std::nullopt;
}

// "-", or a comma-terminated list that may hold "[permanent]" (a module without an exit function).
std::optional<std::vector<std::string>> parse_holders(std::string_view text) {
  std::vector<std::string> holders;
  if (text == "-") return holders;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t comma = text.find(',', pos);
    const std::string_view item =
        text.substr(pos, comma == std::string_view::npos ? text.size() - pos : comma - pos);
    if (!item.empty() && item != "[permanent]") {
      if (!is_valid_module_name(item)) return std::nullopt;
      holders.emplace_back(item);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return holders;
}

Error malformed(std::size_t number, std::string_view line, std::string_view why) {
  std::string shown(line.substr(0, 80));
  return Error{EBADMSG, "/proc/modules line " + std::to_string(number) + " is malformed (" +
                            std::string(why) + "): '" + shown + "'"};
}

}  // namespace

Result<std::vector<LoadedModule>> parse_proc_modules(std::string_view text) {
  std::vector<LoadedModule> modules;
  std::size_t number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    const std::string_view line =
        text.substr(pos, end == std::string_view::npos ? text.size() - pos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;

    const std::vector<std::string_view> words = split_words(line);
    if (words.size() < 6) return malformed(number, line, "fewer than 6 fields; truncated?");
    LoadedModule module;
    if (!is_valid_module_name(words[0])) return malformed(number, line, "not a module name");
    module.name = std::string(words[0]);
    if (!all_digits(words[1])) return malformed(number, line, "size is not a number");
    if (words[2] == "-") {
      module.refcnt = -1;
    } else {
      const auto refcnt = stackmgr::base::parse_number<int>(words[2]);
      if (!refcnt || *refcnt < 0) return malformed(number, line, "refcnt is not a number");
      module.refcnt = *refcnt;
    }
    auto holders = parse_holders(words[3]);
    if (!holders) return malformed(number, line, "holders are not module names");
    module.holders = std::move(*holders);
    const auto state = parse_state(words[4]);
    if (!state) return malformed(number, line, "state is not Live, Loading or Unloading");
    module.state = *state;
    if (words[5].substr(0, 2) != "0x") return malformed(number, line, "address is not 0x...");
    modules.push_back(std::move(module));
  }
  return modules;
}

}  // namespace detect
