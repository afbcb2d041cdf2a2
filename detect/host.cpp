#include "detect/host.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace detect {

Result<std::string> HostRoot::read(std::string_view relative, std::size_t limit) const {
  const std::filesystem::path file = path(relative);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return error_from_errno(errno, "reading " + file.string());
  std::string content;
  char buffer[8192];
  while (content.size() < limit) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return error_from_errno(saved, "reading " + file.string());
    }
    if (got == 0) break;
    content.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  if (content.size() > limit) content.resize(limit);
  return content;
}

bool HostRoot::is_real_root() const {
  if (root_ == "/") return true;
  struct stat mine {};
  struct stat real {};
  if (::stat(root_.c_str(), &mine) != 0 || ::stat("/", &real) != 0) return false;
  return mine.st_dev == real.st_dev && mine.st_ino == real.st_ino;
}

bool HostRoot::exists(std::string_view relative) const {
  struct stat info {};
  return ::lstat(path(relative).c_str(), &info) == 0;
}

}  // namespace detect
