#pragma once
// The one way stackmgr starts programs: fork + execve with an explicit argv (argv[0] absolute,
// no PATH search, never a shell) and an explicit environment; stdin from /dev/null. Built on
// it: the keying daemon (Spawner), short helpers whose output is captured (run_capture),
// commands that share the terminal (run_and_wait), and `start --daemon` (fork_to_background).

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "stackmgr/base/unique_fd.hpp"

namespace stackmgr::os {

// How a process ended (from waitpid).
struct ProcessExit {
  int exit_code = -1;  // when it exited; -1 when killed by a signal
  int signal = 0;      // when killed by a signal
  // "exited with code 1", "was killed by SIGKILL".
  [[nodiscard]] std::string describe() const;
  bool operator==(const ProcessExit&) const = default;
};

// Where a child's stdout and stderr go.
enum class ChildOutput {
  merged_pipe,     // both into one pipe (Child::output)
  separate_pipes,  // stdout into Child::output, stderr into Child::error
  inherited,       // this process's own stdout and stderr
};

struct SpawnSpec {
  std::vector<std::string> argv;         // argv[0] is an absolute path; no PATH search
  std::vector<std::string> environment;  // "KEY=VALUE" entries: the whole environment
  std::string working_directory = "/";
  ChildOutput output = ChildOutput::merged_pipe;
  bool new_session = true;  // setsid(): the child leads its own process group
  // Capabilities (numbers, os/capabilities.hpp) the program must never have: removed from the
  // child's bounding set (so no exec, setuid binary or file capability gives them back), and
  // from its inheritable and ambient sets, before execve. Needs CAP_SETPCAP in this process.
  std::vector<int> drop_capabilities{};
};

struct Child {
  pid_t pid = 0;
  base::UniqueFd output;  // read end for stdout (and stderr when merged); invalid when inherited
  base::UniqueFd error;   // read end for stderr with separate_pipes
};

// Starts `spec` and returns once execve succeeded, or failed: then the Error carries the exec
// errno (ENOENT for a missing binary...), or the errno of dropping a capability (EPERM without
// CAP_SETPCAP), and the child is reaped. The child gets default signal dispositions, an empty
// signal mask, umask 022, no fd but 0, 1 and 2, and none of spec.drop_capabilities.
detect::Result<Child> spawn_child(const SpawnSpec& spec);

// Sends `signo` to `pid` or, with `group`, to its process group. ESRCH (gone) is success.
enum class SignalScope { process, group };
detect::Status send_signal(pid_t pid, int signo, SignalScope scope);

// The keying daemon's seam: fork/exec in production, a fake in the supervisor's tests.
class Spawner {
 public:
  virtual ~Spawner() = default;
  // spawn_child with merged output in a new session (the daemon's whole group can be signalled).
  virtual detect::Result<Child> spawn(const SpawnSpec& spec) = 0;
  virtual detect::Status signal(pid_t pid, int signo, SignalScope scope) = 0;
};

class ForkExecSpawner final : public Spawner {
 public:
  detect::Result<Child> spawn(const SpawnSpec& spec) override;
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

struct CaptureLimits {
  std::chrono::milliseconds timeout{5000};  // the whole run; then SIGKILL, and ETIMEDOUT
  std::size_t max_output = 8u << 20;        // bytes kept of stdout (and of stderr); the rest is drained
};

struct Captured {
  int exit_code = -1;  // the exit status; 128 + N when killed by signal N
  std::string out;     // stdout
  std::string err;     // stderr
  bool truncated = false;
};

// Runs a short-lived helper (iptables-save) with `environment` and captures its output. Fails
// with the exec errno (ENOENT, EACCES) or ETIMEDOUT when it has not exited within the timeout
// (it is killed and reaped); a non-zero exit is a result, not an error.
detect::Result<Captured> run_capture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& environment,
                                     const CaptureLimits& limits = {});

// Runs argv with this process's environment and its stdout and stderr, and waits for it.
// Returns its exit status, 128+N when killed by signal N, or the Error that kept it from starting.
detect::Result<int> run_and_wait(const std::vector<std::string>& argv);

// `start --daemon`: forks. The parent waits until the child reports readiness on the returned
// pipe (writes 'R': the parent exits 0) or exits (the parent exits with its code, or with
// `failed_code` when it died of a signal); it never returns. The child starts a new session,
// takes stdin from /dev/null and gets the pipe's write end.
detect::Result<base::UniqueFd> fork_to_background(int failed_code);

}  // namespace stackmgr::os
