#include "stackmgr/os/pid_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "stackmgr/base/strings.hpp"

namespace stackmgr::os {
namespace {

constexpr pid_t kPidMaxLimit = 4194304;

std::optional<pid_t> read_pid(int fd) {
  char buffer[32] = {};
  const ssize_t got = pread(fd, buffer, sizeof buffer - 1, 0);
  if (got <= 0) return std::nullopt;
  return parse_pid(std::string_view(buffer, static_cast<std::size_t>(got)));
}

// True when `fd` is still the file at `path` (a stopping supervisor may have unlinked it
// between our open and our flock).
bool still_linked(int fd, const std::filesystem::path& path) {
  struct stat opened {
  }, named{};
  if (fstat(fd, &opened) != 0 || lstat(path.c_str(), &named) != 0) return false;
  return opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
}

}  // namespace

std::optional<pid_t> parse_pid(std::string_view text) {
  const auto pid = base::parse_number<pid_t>(base::trim(text));
  if (!pid || *pid <= 0 || *pid > kPidMaxLimit) return std::nullopt;
  return pid;
}

PidFileResult PidFile::acquire(const std::filesystem::path& path) {
  base::UniqueFd fd;
  for (int attempt = 0;; ++attempt) {
    fd.reset(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) return detect::error_from_errno(errno, "opening the pid file " + path.string());
    while (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK) return AlreadyRunning{read_pid(fd.get())};
      return detect::error_from_errno(errno, "locking the pid file " + path.string());
    }
    if (still_linked(fd.get(), path)) break;
    if (attempt >= 10)
      return detect::Error{EAGAIN, "the pid file " + path.string() + " keeps being replaced"};
  }
  PidFile pid_file(std::move(fd), path);
  if (auto written = pid_file.write_pid(getpid()); !written) return written.error();
  return pid_file;
}

detect::Status PidFile::write_pid(pid_t pid) {
  const std::string text = std::to_string(pid) + "\n";
  if (ftruncate(fd_.get(), 0) != 0) return detect::error_from_errno(errno, "truncating " + path_.string());
  if (pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return detect::error_from_errno(errno, "writing the pid to " + path_.string());
  }
  return {};
}

void PidFile::remove() {
  if (!fd_) return;
  unlink(path_.c_str());
  fd_.reset();
}

void PidFile::release() { fd_.reset(); }

detect::Result<PidFileProbe> probe_pid_file(const std::filesystem::path& path) {
  base::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return PidFileProbe{};
    return detect::error_from_errno(errno, "opening the pid file " + path.string());
  }
  PidFileProbe probe{PidFileState::stale, read_pid(fd.get())};
  while (flock(fd.get(), LOCK_SH | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      probe.state = PidFileState::locked;
      return probe;
    }
    return detect::error_from_errno(errno, "testing the lock on " + path.string());
  }
  return probe;  // closing fd drops the shared lock at once
}

}  // namespace stackmgr::os
