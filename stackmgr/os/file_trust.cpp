#include "stackmgr/os/file_trust.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <vector>

namespace stackmgr::os {
namespace {

constexpr int kMaxSymlinks = 40;  // what the kernel allows before ELOOP

struct Walked {
  std::string resolved;  // the path with every symlink followed
  struct stat info {};
};

std::string user_name(uid_t uid) {
  std::array<char, 1024> buffer{};
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return "uid " + std::to_string(uid) + " ('" + found->pw_name + "')";
  }
  return "uid " + std::to_string(uid);
}

std::string group_name(gid_t gid) {
  std::array<char, 1024> buffer{};
  struct group entry {};
  struct group* found = nullptr;
  if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return std::string("'") + found->gr_name + "'";
  }
  return std::to_string(gid);
}

std::string mode_text(mode_t mode) { return fmt::format("{:04o}", static_cast<unsigned>(mode & 07777)); }

std::string writers(const struct stat& info) {
  const bool group = (info.st_mode & S_IWGRP) != 0;
  const bool others = (info.st_mode & S_IWOTH) != 0;
  std::string text = "writable by ";
  if (group) text += "group " + group_name(info.st_gid);
  if (group && others) text += " and ";
  if (others) text += "others";
  return text + " (mode " + mode_text(info.st_mode) + ")";
}

bool writable_by_others(const struct stat& info) { return (info.st_mode & (S_IWGRP | S_IWOTH)) != 0; }

bool trusted_owner(const struct stat& info, uid_t owner) {
  return info.st_uid == kRootUid || info.st_uid == owner;
}

std::string owner_wanted(uid_t owner) {
  return owner == kRootUid ? "root" : "root or uid " + std::to_string(owner);
}

detect::Error refuse(const std::string& shown, const std::string& why, const std::string& fix) {
  return detect::Error{0, "refusing " + shown + ": " + why + "; run '" + fix + "'"};
}

// Splits `text` into path components, dropping empty ones and ".", and pushes them so that the
// first component ends up on top of `pending`.
void push_components(const std::string& text, std::vector<std::string>& pending) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t slash = text.find('/', start);
    const std::size_t end = slash == std::string::npos ? text.size() : slash;
    std::string part = text.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  pending.insert(pending.end(), parts.rbegin(), parts.rend());
}

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == 0 || slash == std::string::npos) return "/";
  return path.substr(0, slash);
}

std::string join(const std::string& directory, const std::string& name) {
  return directory == "/" ? "/" + name : directory + "/" + name;
}

detect::Result<std::string> read_link(const std::string& link) {
  std::vector<char> buffer(256);
  for (;;) {
    const ssize_t length = readlink(link.c_str(), buffer.data(), buffer.size());
    if (length < 0) return detect::error_from_errno(errno, "reading the symlink " + link);
    if (static_cast<std::size_t>(length) < buffer.size()) {
      return std::string(buffer.data(), static_cast<std::size_t>(length));
    }
    if (buffer.size() >= 65536) return detect::Error{ENAMETOOLONG, "reading the symlink " + link};
    buffer.resize(buffer.size() * 2);
  }
}

// A directory on the way to the checked path.
detect::Status check_directory_above(const std::string& shown, const std::string& directory,
                                     const struct stat& info, uid_t owner) {
  if (!S_ISDIR(info.st_mode)) {
    return detect::Error{ENOTDIR, "checking " + shown + ": " + directory + " is not a directory"};
  }
  if (!trusted_owner(info, owner)) {
    return refuse(shown,
                  "the directory " + directory + " above it is owned by " + user_name(info.st_uid) +
                      ", not " + owner_wanted(owner) + ", so that user could replace it",
                  "chown root " + directory);
  }
  if (writable_by_others(info) && (info.st_mode & S_ISVTX) == 0) {
    return refuse(
        shown, "the directory " + directory + " above it is " + writers(info) + ", so they could replace it",
        "chmod go-w " + directory);
  }
  return {};
}

// The checked path itself, after every symlink was followed.
detect::Status check_final(const std::string& shown, const struct stat& info, TrustedKind kind, uid_t owner) {
  if (kind == TrustedKind::file && !S_ISREG(info.st_mode)) {
    return detect::Error{0, "refusing " + shown + ": it is not a regular file"};
  }
  if (kind == TrustedKind::directory && !S_ISDIR(info.st_mode)) {
    return detect::Error{ENOTDIR, "checking " + shown};
  }
  if (!trusted_owner(info, owner)) {
    return refuse(shown, "it is owned by " + user_name(info.st_uid) + ", not " + owner_wanted(owner),
                  "chown root " + shown);
  }
  if (writable_by_others(info)) return refuse(shown, "it is " + writers(info), "chmod go-w " + shown);
  return {};
}

detect::Result<Walked> walk(const std::filesystem::path& path, TrustedKind kind, uid_t owner) {
  const std::string shown = path.string();
  if (!path.is_absolute()) {
    return detect::Error{EINVAL, "checking " + shown + ": not an absolute path"};
  }
  if (shown.find('\0') != std::string::npos || shown.find('\n') != std::string::npos) {
    return detect::Error{EINVAL, "checking a path: it contains a NUL or newline character"};
  }

  std::vector<std::string> pending;
  push_components(shown, pending);
  std::string current = "/";
  struct stat info {};
  if (lstat("/", &info) != 0) return detect::error_from_errno(errno, "checking " + shown + " (at /)");
  if (!pending.empty()) {
    if (const detect::Status status = check_directory_above(shown, "/", info, owner); !status) {
      return status.error();
    }
  }

  int links = 0;
  while (!pending.empty()) {
    const std::string name = std::move(pending.back());
    pending.pop_back();
    if (name == "..") {
      current = parent_of(current);
      continue;
    }
    const std::string next = join(current, name);
    if (lstat(next.c_str(), &info) != 0) {
      const int saved = errno;
      if (next == shown) return detect::error_from_errno(saved, "reading " + shown);
      return detect::error_from_errno(saved, "reading " + shown + " (at " + next + ")");
    }
    if (S_ISLNK(info.st_mode)) {
      if (!trusted_owner(info, owner)) {
        return refuse(shown,
                      "the symlink " + next + " on its path is owned by " + user_name(info.st_uid) +
                          ", not " + owner_wanted(owner) + ", so that user chooses what it points to",
                      "chown -h root " + next);
      }
      if (++links > kMaxSymlinks) return detect::Error{ELOOP, "reading " + shown};
      detect::Result<std::string> target = read_link(next);
      if (!target) return target.error();
      if (!target->empty() && target->front() == '/') current = "/";
      push_components(*target, pending);
      continue;
    }
    if (!pending.empty()) {
      if (const detect::Status status = check_directory_above(shown, next, info, owner); !status) {
        return status.error();
      }
    }
    current = next;
  }

  if (lstat(current.c_str(), &info) != 0) return detect::error_from_errno(errno, "reading " + shown);
  if (const detect::Status status = check_final(shown, info, kind, owner); !status) return status.error();
  return Walked{current, info};
}

}  // namespace

detect::Status check_trusted(const std::filesystem::path& path, TrustedKind kind, uid_t owner) {
  detect::Result<Walked> walked = walk(path, kind, owner);
  if (!walked) return walked.error();
  return {};
}

detect::Result<std::string> read_trusted_file(const std::filesystem::path& path, uid_t owner,
                                              std::size_t max_bytes) {
  detect::Result<Walked> walked = walk(path, TrustedKind::file, owner);
  if (!walked) return walked.error();
  const std::string shown = path.string();

  const int fd = open(walked->resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return detect::error_from_errno(errno, "opening " + shown);
  struct stat opened {};
  if (fstat(fd, &opened) != 0) {
    const int saved = errno;
    close(fd);
    return detect::error_from_errno(saved, "reading " + shown);
  }
  if (opened.st_dev != walked->info.st_dev || opened.st_ino != walked->info.st_ino) {
    close(fd);
    return detect::Error{0,
                         "refusing " + shown + ": it was replaced while stackmgr was checking it; try again"};
  }
  if (static_cast<std::size_t>(opened.st_size) > max_bytes) {
    close(fd);
    return detect::Error{EFBIG, "reading " + shown + " (" + std::to_string(opened.st_size) +
                                    " bytes, at most " + std::to_string(max_bytes) + " accepted)"};
  }

  std::string content;
  std::array<char, 8192> chunk{};
  for (;;) {
    const ssize_t got = read(fd, chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int saved = errno;
      close(fd);
      return detect::error_from_errno(saved, "reading " + shown);
    }
    if (got == 0) break;
    content.append(chunk.data(), static_cast<std::size_t>(got));
    if (content.size() > max_bytes) {
      close(fd);
      return detect::Error{EFBIG,
                           "reading " + shown + " (more than " + std::to_string(max_bytes) + " bytes)"};
    }
  }
  close(fd);
  return content;
}

}  // namespace stackmgr::os
