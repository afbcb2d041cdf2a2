#include "stackmgr/os/lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "stackmgr/os/pid_file.hpp"
#include "stackmgr/os/private_directory.hpp"

namespace stackmgr::os {
namespace {

// Refuses what someone other than us could have made or could change.
detect::Status check_owned(const std::filesystem::path& path, const struct stat& info, const char* what) {
  if (info.st_uid != ::geteuid()) {
    return detect::Error{0, "refusing to use " + std::string(what) + " " + path.string() +
                                ": it is owned by uid " + std::to_string(info.st_uid) + ", not by uid " +
                                std::to_string(::geteuid()) + "; remove it or run 'chown " +
                                std::to_string(::geteuid()) + " " + path.string() + "'"};
  }
  if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return detect::Error{0, "refusing to use " + std::string(what) + " " + path.string() +
                                ": group or others can write it; run 'chmod go-w " + path.string() + "'"};
  }
  return {};
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

std::optional<pid_t> holder_from_fd(int fd) {
  char buffer[32] = {};
  const ssize_t got = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (got <= 0) return std::nullopt;
  const auto pid = parse_pid(std::string_view(buffer, static_cast<std::size_t>(got)));
  if (!pid || !process_exists(*pid)) return std::nullopt;
  return pid;
}

std::string holder_text(std::optional<pid_t> holder) {
  return holder ? "another stackmgr (pid " + std::to_string(*holder) + ")" : "another stackmgr";
}

std::string seconds(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

}  // namespace

detect::Result<Lock> Lock::acquire(const std::filesystem::path& path, LockWait wait,
                                   std::chrono::milliseconds timeout, const WaitingCallback& waiting,
                                   const GiveUp& give_up) {
  // The lock lives in run_dir, a directory of stackmgr's own.
  if (detect::Status status = prepare_private_directory(path.parent_path(), "paths.run_dir"); !status)
    return status.error();
  struct stat info {};

  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) {
    if (errno == ELOOP)
      return detect::Error{0, "refusing to use lock file " + path.string() + ": it is a symlink"};
    return detect::error_from_errno(errno, "opening lock file " + path.string());
  }
  Lock lock(fd, path);  // closes the fd on every early return
  if (::fstat(fd, &info) != 0) return detect::error_from_errno(errno, "inspecting " + path.string());
  if (!S_ISREG(info.st_mode))
    return detect::Error{0, "refusing to use lock file " + path.string() + ": not a file"};
  if (detect::Status status = check_owned(path, info, "lock file"); !status) return status.error();

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(5);
  bool told = false;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return detect::error_from_errno(errno, "locking " + path.string());
    const std::optional<pid_t> holder = holder_from_fd(fd);
    if (wait == LockWait::no_wait) {
      return detect::Error{EWOULDBLOCK, "busy: " + holder_text(holder) +
                                            " is changing the IPsec stack (it holds " + path.string() +
                                            "); try again later, or wait for it without --no-wait"};
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return detect::Error{EWOULDBLOCK, "busy: " + holder_text(holder) + " still holds " + path.string() +
                                            " after waiting " + seconds(timeout) +
                                            "; try again later, or wait longer with --timeout SEC"};
    }
    if (give_up && give_up()) {
      return detect::Error{ECANCELED,
                           "stopped waiting for " + holder_text(holder) + " to release " + path.string()};
    }
    if (!told && waiting) waiting(holder);
    told = true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return detect::error_from_errno(errno, "writing the pid into " + path.string());
  }
  return lock;
}

Lock::Lock(Lock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

Lock& Lock::operator=(Lock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

Lock::~Lock() { release(); }

void Lock::release() {
  if (fd_ < 0) return;
  // Clear the pid only while holding the lock; a failed acquire never held it.
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0 && ::ftruncate(fd_, 0) != 0) {
    // A stale pid is harmless: readers check that the process exists.
  }
  ::close(fd_);
  fd_ = -1;
}

std::optional<pid_t> lock_holder(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  const auto holder = holder_from_fd(fd);
  ::close(fd);
  return holder;
}

}  // namespace stackmgr::os
