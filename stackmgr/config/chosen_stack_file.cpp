#include "stackmgr/config/chosen_stack_file.hpp"

#include <cerrno>
#include <string_view>
#include <vector>

#include "modules/atomic_file.hpp"
#include "stackmgr/base/strings.hpp"

namespace stackmgr::config {
namespace {

constexpr std::size_t kMaxStateBytes = 4096;

// A word of the file as a warning may show it: at most 40 bytes, control and non-ASCII bytes as '?'.
std::string shown(const std::string& word) {
  std::string text = word.substr(0, 40);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return text;
}

std::string unusable(const std::filesystem::path& file, const std::string& why) {
  return "ignoring " + file.string() + ": " + why +
         "; treating it as if no switch was recorded (run 'stackmgr switch native|klips' to record one)";
}

}  // namespace

detect::Result<ChosenStackRead> read_chosen_stack(const std::filesystem::path& file, uid_t owner) {
  detect::Result<std::string> text = os::read_trusted_file(file, owner, kMaxStateBytes);
  if (!text) {
    if (text.error().code == ENOENT) return ChosenStackRead{};
    if (text.error().code == EFBIG) {
      return ChosenStackRead{std::nullopt, unusable(file, "it is larger than a stack name could be")};
    }
    return text.error();
  }
  return parse_chosen_stack(*text, file);
}

ChosenStackRead parse_chosen_stack(std::string_view text, const std::filesystem::path& file) {
  if (text.find('\0') != std::string_view::npos) {
    return ChosenStackRead{std::nullopt, unusable(file, "it holds binary data, not a stack name")};
  }
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string line(base::trim(text.substr(start, end - start)));
    if (!line.empty() && line.front() != '#') words.push_back(line);
    start = end + 1;
  }
  if (words.empty())
    return ChosenStackRead{std::nullopt, unusable(file, "it names no stack (empty or truncated)")};
  if (words.size() > 1) {
    return ChosenStackRead{std::nullopt, unusable(file, "it names more than one stack ('" + shown(words[0]) +
                                                            "', '" + shown(words[1]) + "')")};
  }
  const auto stack = detect::parse_stack(words.front());
  if (!stack) {
    return ChosenStackRead{
        std::nullopt, unusable(file, "'" + shown(words.front()) + "' is not a stack name (native or klips)")};
  }
  return ChosenStackRead{stack, {}};
}

detect::Status write_chosen_stack(const std::filesystem::path& file, detect::Stack stack, uid_t owner) {
  const std::filesystem::path directory = file.parent_path();
  if (!file.is_absolute() || !file.has_filename()) {
    return detect::Error{EINVAL, "recording the stack in " + file.string() + ": not an absolute file path"};
  }
  if (detect::Status made = modules::ensure_directory(directory, 0755); !made) return made;
  if (detect::Status trusted = os::check_trusted(directory, os::TrustedKind::directory, owner); !trusted) {
    return trusted;
  }
  return modules::write_file_atomically(file, chosen_stack_text(stack), 0644);
}

std::string chosen_stack_text(detect::Stack stack) {
  return "# The stack of the last successful 'stackmgr switch'. 'stackmgr start' prefers it to the\n"
         "# config (see stackmgr.toml's docs). Written by stackmgr; 'stackmgr switch' rewrites it.\n" +
         std::string(detect::to_string(stack)) + "\n";
}

}  // namespace stackmgr::config
