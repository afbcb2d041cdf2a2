#pragma once
// The single-instance lock: an flock held on the pid file for the supervisor's whole life.
// A second `stackmgr start` fails at once, naming the running pid. The lock goes away with the
// process, so a crashed supervisor never blocks the next start (its pid file is just stale).

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string_view>
#include <variant>

#include "detect/error.hpp"
#include "stackmgr/base/unique_fd.hpp"

namespace stackmgr::os {

class PidFile;

// Another supervisor holds the lock.
struct AlreadyRunning {
  std::optional<pid_t> pid;  // from the pid file, when it could be read
};

using PidFileResult = std::variant<PidFile, AlreadyRunning, detect::Error>;

class PidFile {
 public:
  // Opens or creates `path` (0644, no symlinks followed) and takes an exclusive flock without
  // waiting. On success the file holds this process's pid. The parent directory must exist.
  static PidFileResult acquire(const std::filesystem::path& path);

  PidFile(PidFile&&) = default;
  PidFile& operator=(PidFile&&) = default;

  // Rewrites the pid (after `start --daemon` forked: the lock is inherited, the pid is new).
  detect::Status write_pid(pid_t pid);
  // Removes the file, then releases the lock (a clean stop).
  void remove();
  // Releases the lock and keeps the file (a failed run: `status` then says "dead, pid file").
  void release();
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  PidFile(base::UniqueFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
  base::UniqueFd fd_;
  std::filesystem::path path_;
};

// What the pid file says about a supervisor, without taking the lock for long.
enum class PidFileState {
  absent,  // no pid file: not running
  locked,  // a live supervisor holds it
  stale,   // the file exists, nobody holds its lock: the supervisor died or failed
};
struct PidFileProbe {
  PidFileState state = PidFileState::absent;
  std::optional<pid_t> pid;
};

// A process id as pid files hold it: decimal digits, surrounded by blanks at most, in
// 1..4194304 (the kernel's PID_MAX_LIMIT). nullopt for anything else.
std::optional<pid_t> parse_pid(std::string_view text);

// Reads `path` and tests its lock (a non-blocking shared flock, released at once).
detect::Result<PidFileProbe> probe_pid_file(const std::filesystem::path& path);

}  // namespace stackmgr::os
