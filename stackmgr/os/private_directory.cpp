#include "stackmgr/os/private_directory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "modules/atomic_file.hpp"
#include "stackmgr/base/unique_fd.hpp"

namespace stackmgr::os {
namespace {

constexpr mode_t kPrivateMode = 0700;

std::string octal(mode_t mode) {
  char text[8];
  if (std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777)) < 0) return "?";
  return text;
}

detect::Error refuse(const std::filesystem::path& dir, std::string_view setting, const std::string& why) {
  return detect::Error{0, "refusing to use " + dir.string() + " as stackmgr's own directory (" +
                              std::string(setting) + "): " + why +
                              ", and stackmgr uses only a directory it made itself (owned by uid " +
                              std::to_string(::geteuid()) +
                              ", mode 0700): it may be shared with other programs, which a chmod would "
                              "lock out. Set " +
                              std::string(setting) + " to a directory of its own, such as /run/stackmgr"};
}

// Makes the leaf `dir` (its parent exists) with mode 0700; an Error with EEXIST when
// something is already there.
detect::Status make_leaf(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), kPrivateMode) != 0)
    return detect::error_from_errno(errno, "creating " + dir.string());
  // Only the directory made just now is chmod'ed (against an unusual umask), through an fd.
  base::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd || ::fchmod(fd.get(), kPrivateMode) != 0) {
    return detect::error_from_errno(errno, "setting the mode of " + dir.string());
  }
  return {};
}

}  // namespace

detect::Status prepare_private_directory(const std::filesystem::path& dir, std::string_view setting) {
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0) {
    if (errno != ENOENT) return detect::error_from_errno(errno, "inspecting " + dir.string());
    if (dir.has_parent_path() && dir.parent_path() != dir) {
      if (detect::Status parent = modules::ensure_directory(dir.parent_path(), 0755); !parent) return parent;
    }
    detect::Status made = make_leaf(dir);
    if (made || made.error().code != EEXIST) return made;
    if (::lstat(dir.c_str(), &info) != 0)
      return detect::error_from_errno(errno, "inspecting " + dir.string());
  }
  if (S_ISLNK(info.st_mode)) return refuse(dir, setting, "it is a symlink");
  if (!S_ISDIR(info.st_mode)) return refuse(dir, setting, "it exists and is not a directory");
  if (info.st_uid != ::geteuid()) {
    return refuse(dir, setting, "it exists and is owned by uid " + std::to_string(info.st_uid));
  }
  if ((info.st_mode & 07777) != kPrivateMode) {
    return refuse(dir, setting, "it exists with mode " + octal(info.st_mode));
  }
  return {};
}

}  // namespace stackmgr::os
