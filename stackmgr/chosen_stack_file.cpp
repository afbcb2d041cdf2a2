#include "stackmgr/chosen_stack_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace stackmgr {
namespace {

constexpr std::size_t kMaxStateBytes = 4096;

std::string unusable(const std::filesystem::path& file, const std::string& why) {
  return "ignoring " + file.string() + ": " + why +
         "; treating it as if no switch was recorded (run 'stackmgr switch native|klips' to record one)";
}

std::string trim(const std::string& text) {
  const char* space = " \t\r\v\f";
  const std::size_t first = text.find_first_not_of(space);
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

detect::Status fsync_directory(const std::filesystem::path& directory) {
  const int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return detect::error_from_errno(errno, "opening " + directory.string() + " to sync it");
  const int result = fsync(fd);
  const int saved = errno;
  close(fd);
  if (result != 0) return detect::error_from_errno(saved, "syncing " + directory.string());
  return {};
}

detect::Status write_all(int fd, const std::string& content, const std::string& what) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t wrote = write(fd, content.data() + done, content.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return detect::error_from_errno(errno, "writing " + what);
    done += static_cast<std::size_t>(wrote);
  }
  return {};
}

}  // namespace

detect::Result<ChosenStackRead> read_chosen_stack(const std::filesystem::path& file, uid_t owner) {
  detect::Result<std::string> text = read_trusted_file(file, owner, kMaxStateBytes);
  if (!text) {
    if (text.error().code == ENOENT) return ChosenStackRead{};
    if (text.error().code == EFBIG) {
      return ChosenStackRead{std::nullopt, unusable(file, "it is larger than a stack name could be")};
    }
    return text.error();
  }
  if (text->find('\0') != std::string::npos) {
    return ChosenStackRead{std::nullopt, unusable(file, "it holds binary data, not a stack name")};
  }
  std::vector<std::string> words;
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    const std::string line = trim(text->substr(start, end - start));
    if (!line.empty() && line.front() != '#') words.push_back(line);
    start = end + 1;
  }
  if (words.empty())
    return ChosenStackRead{std::nullopt, unusable(file, "it names no stack (empty or truncated)")};
  if (words.size() > 1) {
    return ChosenStackRead{std::nullopt, unusable(file, "it names more than one stack ('" + words[0] +
                                                            "', '" + words[1] + "')")};
  }
  const auto stack = detect::parse_stack(words.front());
  if (!stack) {
    std::string shown = words.front().substr(0, 40);
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    return ChosenStackRead{std::nullopt,
                           unusable(file, "'" + shown + "' is not a stack name (native or klips)")};
  }
  return ChosenStackRead{stack, {}};
}

detect::Status write_chosen_stack(const std::filesystem::path& file, detect::Stack stack, uid_t owner) {
  const std::filesystem::path directory = file.parent_path();
  if (!file.is_absolute() || !file.has_filename()) {
    return detect::Error{EINVAL, "recording the stack in " + file.string() + ": not an absolute file path"};
  }
  if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
    return detect::error_from_errno(errno, "creating " + directory.string());
  }
  if (detect::Status trusted = check_trusted(directory, TrustedKind::directory, owner); !trusted) {
    return trusted;
  }

  std::string temp = (directory / ("." + file.filename().string() + ".XXXXXX")).string();
  const int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return detect::error_from_errno(errno, "creating a temporary file in " + directory.string());
  const auto fail = [&](detect::Error error) -> detect::Status {
    close(fd);
    unlink(temp.c_str());
    return error;
  };
  if (fchmod(fd, 0644) != 0) return fail(detect::error_from_errno(errno, "setting the mode of " + temp));
  const std::string content =
      "# The stack of the last successful 'stackmgr switch'. 'stackmgr start' prefers it to the\n"
      "# config (see stackmgr.toml's docs). Written by stackmgr; 'stackmgr switch' rewrites it.\n" +
      std::string(detect::to_string(stack)) + "\n";
  if (detect::Status wrote = write_all(fd, content, temp); !wrote) return fail(wrote.error());
  if (fsync(fd) != 0) return fail(detect::error_from_errno(errno, "syncing " + temp));
  if (close(fd) != 0) {
    const int saved = errno;
    unlink(temp.c_str());
    return detect::error_from_errno(saved, "closing " + temp);
  }
  if (rename(temp.c_str(), file.c_str()) != 0) {
    const int saved = errno;
    unlink(temp.c_str());
    return detect::error_from_errno(saved, "renaming " + temp + " to " + file.string());
  }
  return fsync_directory(directory);
}

detect::Status clear_chosen_stack(const std::filesystem::path& file) {
  if (unlink(file.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return detect::error_from_errno(errno, "removing " + file.string());
  }
  return fsync_directory(file.parent_path());
}

}  // namespace stackmgr
