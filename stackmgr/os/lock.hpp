#pragma once
// One change at a time: an exclusive flock on a file under /run/stackmgr, held around every
// change to the kernel's IPsec stack (switch, start, stop --unload). The holder writes its pid
// into the file so a waiting caller can say who it is waiting for.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>

#include "detect/error.hpp"

namespace stackmgr::os {

inline constexpr const char* kDefaultLockFile = "/run/stackmgr/lock";

enum class LockWait {
  wait,     // retry until the timeout, then fail as busy
  no_wait,  // fail as busy at once (--no-wait)
};

class Lock {
 public:
  // Called once when the lock is found taken and the caller starts waiting (pid when known).
  using WaitingCallback = std::function<void(std::optional<pid_t> holder)>;

  // Asked while waiting; true gives up the wait.
  using GiveUp = std::function<bool()>;

  // Takes the lock on `path`, creating its directory (run_dir: prepare_private_directory) when
  // missing. Refuses a directory stackmgr would not have made, and a file that is a symlink,
  // not owned by this user, or writable by group or others (code 0, a message saying how to
  // fix it). Busy: code EWOULDBLOCK and a message naming the holder's pid when known. Given up
  // (`give_up` said so): ECANCELED. Other failures carry the OS's errno.
  static detect::Result<Lock> acquire(const std::filesystem::path& path, LockWait wait,
                                      std::chrono::milliseconds timeout, const WaitingCallback& waiting = {},
                                      const GiveUp& give_up = {});

  Lock(Lock&& other) noexcept;
  Lock& operator=(Lock&& other) noexcept;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  // Releases the lock (and clears the pid in the file).
  ~Lock();

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  Lock(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  void release();

  int fd_ = -1;
  std::filesystem::path path_;
};

// The pid written in the lock file at `path`, when it names a process that exists.
std::optional<pid_t> lock_holder(const std::filesystem::path& path);

}  // namespace stackmgr::os
