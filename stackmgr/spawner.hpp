#pragma once
// Starting and signalling the keying daemon: the Spawner interface (a fake one runs the unit
// tests) and the fork/exec implementation. Never a shell: argv goes to execve as it is.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "stackmgr/supervisor_core.hpp"
#include "stackmgr/unique_fd.hpp"

namespace stackmgr {

struct SpawnSpec {
  std::vector<std::string> argv;         // argv[0] is an absolute path; no PATH search
  std::vector<std::string> environment;  // "KEY=VALUE" entries: the whole environment
  std::string working_directory = "/";
};

struct SpawnedProcess {
  pid_t pid = 0;
  UniqueFd output;  // read end of the pipe that carries the daemon's stdout and stderr
};

class Spawner {
 public:
  virtual ~Spawner() = default;
  // Starts `spec` and returns once execve succeeded (or failed: then the Error carries the
  // exec errno, e.g. ENOENT for a missing binary, and nothing is left running).
  virtual detect::Result<SpawnedProcess> spawn(const SpawnSpec& spec) = 0;
  // Sends `signo` to `pid`, or to its whole process group. ESRCH (already gone) is success.
  virtual detect::Status signal(pid_t pid, int signo, SignalScope scope) = 0;
};

// fork + execve. The child gets its own session (setsid), stdin from /dev/null, stdout and
// stderr into one pipe, every other fd closed (close_range), default signal dispositions and
// an empty signal mask, and exactly spec.environment.
class ForkExecSpawner final : public Spawner {
 public:
  detect::Result<SpawnedProcess> spawn(const SpawnSpec& spec) override;
  detect::Status signal(pid_t pid, int signo, SignalScope scope) override;
};

// True for spawn errors that retrying cannot fix: a missing, non-executable or invalid binary.
bool is_permanent_spawn_error(const detect::Error& error);

// Reaps every child that has exited, without blocking (waitpid(-1, WNOHANG) in a loop).
struct ReapedChild {
  pid_t pid = 0;
  ProcessExit how;
};
std::vector<ReapedChild> reap_children();

// The daemon's whole environment: the configured variables plus NOTIFY_SOCKET (when not
// empty), sorted by name. Names must be [A-Za-z_][A-Za-z0-9_]*; NOTIFY_SOCKET is ours.
detect::Result<std::vector<std::string>> build_environment(
    const std::map<std::string, std::string>& configured, const std::string& notify_socket);

}  // namespace stackmgr
