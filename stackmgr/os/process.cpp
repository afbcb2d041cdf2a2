#include "stackmgr/os/process.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <thread>
#include <utility>

#include "stackmgr/base/signals.hpp"
#include "stackmgr/os/capabilities.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere else

namespace stackmgr::os {
namespace {

using base::UniqueFd;
using detect::Error;
using detect::error_from_errno;

// A new fd >= 3 with O_CLOEXEC, so dup2 onto 0..2 in the child never clobbers it.
detect::Result<base::UniqueFd> above_stdio(base::UniqueFd fd, const char* what) {
  if (fd.get() > 2) return fd;
  const int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return error_from_errno(errno, std::string("moving the ") + what + " above fd 2");
  return base::UniqueFd(moved);
}

struct Pipe {
  base::UniqueFd read_end;
  base::UniqueFd write_end;
};

detect::Result<Pipe> make_pipe(const char* what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return error_from_errno(errno, std::string("creating the ") + what + " pipe");
  auto read_end = above_stdio(base::UniqueFd(fds[0]), what);
  if (!read_end) return read_end.error();
  auto write_end = above_stdio(base::UniqueFd(fds[1]), what);
  if (!write_end) return write_end.error();
  return Pipe{std::move(read_end).value(), std::move(write_end).value()};
}

// Marks every fd >= 3 close-on-exec. Async-signal-safe: runs between fork and exec.
void close_other_fds_on_exec() {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  struct rlimit limit {};
  rlim_t max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) max_fd = limit.rlim_cur;
  for (rlim_t fd = 3; fd < max_fd; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
}

// What the child does between fork and exec; every fd and array is prepared before fork.
struct ChildPlumbing {
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* working_directory = "/";
  bool new_session = true;
  int stdin_fd = -1;
  int stdout_fd = -1;  // -1: keep the inherited one
  int stderr_fd = -1;
  int exec_status_fd = -1;
  const int* drop_capabilities = nullptr;
  std::size_t drop_count = 0;
};

// What the child reports on exec_status_fd when it cannot exec: the stage, its errno, and for
// a capability drop, which capability.
enum class ChildStage : int { setup, drop_capability, exec };
struct ChildFailure {
  ChildStage stage = ChildStage::setup;
  int error = 0;
  int capability = -1;
};

// Removes each capability from the bounding, ambient and inheritable sets of the calling
// process. Raw prctl/capget/capset only: libcap's set functions allocate, and this runs between
// fork and exec. A capability this kernel does not know (EINVAL) cannot be held: skipped.
// Returns 0, or the errno with *failed set to the capability.
int drop_capabilities(const int* capabilities, std::size_t count, int* failed) {
  for (std::size_t i = 0; i < count; ++i) {
    const int capability = capabilities[i];
    *failed = capability;
    const int in_bounding = prctl(PR_CAPBSET_READ, capability, 0, 0, 0);
    if (in_bounding < 0) {
      if (errno == EINVAL) continue;
      return errno;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, capability, 0, 0) != 0 && errno != EINVAL) return errno;
    if (in_bounding == 1 && prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) return errno;
  }
  *failed = -1;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct sets[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, sets) != 0) return errno;
  for (std::size_t i = 0; i < count; ++i) {
    const auto capability = static_cast<unsigned>(capabilities[i]);
    if (capability / 32 < _LINUX_CAPABILITY_U32S_3)
      sets[capability / 32].inheritable &= ~(1U << (capability % 32));
  }
  if (syscall(SYS_capset, &header, sets) != 0) return errno;
  return 0;
}

// The child: only async-signal-safe calls. Reports a ChildFailure on exec_status_fd and exits
// 127 when it cannot exec.
[[noreturn]] void run_child(const ChildPlumbing& plumbing) {
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP) static_cast<void>(signal(signo, SIG_DFL));  // best effort
  }
  ChildFailure failure;
  if ((plumbing.new_session && setsid() < 0) || dup2(plumbing.stdin_fd, STDIN_FILENO) < 0 ||
      (plumbing.stdout_fd >= 0 && dup2(plumbing.stdout_fd, STDOUT_FILENO) < 0) ||
      (plumbing.stderr_fd >= 0 && dup2(plumbing.stderr_fd, STDERR_FILENO) < 0) ||
      chdir(plumbing.working_directory) != 0) {
    failure.error = errno;
  } else if (const int dropped =
                 drop_capabilities(plumbing.drop_capabilities, plumbing.drop_count, &failure.capability);
             dropped != 0) {
    failure.stage = ChildStage::drop_capability;
    failure.error = dropped;
  } else {
    umask(022);
    close_other_fds_on_exec();
    execve(plumbing.argv[0], plumbing.argv, plumbing.envp);
    failure.stage = ChildStage::exec;
    failure.error = errno;
  }
  ssize_t ignored = write(plumbing.exec_status_fd, &failure, sizeof failure);
  static_cast<void>(ignored);
  _exit(127);
}

// The Error for a child that did not get to exec `program`.
Error child_failure_error(const ChildFailure& failure, const std::string& program) {
  switch (failure.stage) {
    case ChildStage::drop_capability: {
      const std::string which =
          failure.capability >= 0 ? capability_name(failure.capability) : std::string("capabilities");
      std::string text = "dropping " + which + " before executing " + program;
      if (failure.error == EPERM)
        text += " (stackmgr needs CAP_SETPCAP for that; it does not start a program that would keep it)";
      return error_from_errno(failure.error, text);
    }
    case ChildStage::setup:
      return error_from_errno(failure.error, "preparing the child process for " + program);
    case ChildStage::exec: break;
  }
  return error_from_errno(failure.error, "executing " + program);
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const auto& text : strings)
    pointers.push_back(const_cast<char*>(text.c_str()));  // NOLINT: execve's signature
  pointers.push_back(nullptr);
  return pointers;
}

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

ProcessExit exit_from_status(int status) {
  ProcessExit how;
  if (WIFEXITED(status)) {
    how.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    how.signal = WTERMSIG(status);
  }
  return how;
}

int exit_status_code(const ProcessExit& how) { return how.signal != 0 ? 128 + how.signal : how.exit_code; }

// waitpid for `pid`, retrying on EINTR.
int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Waits for `pid` until `deadline`; nullopt when it is still running then.
std::optional<int> wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return 0;  // not our child any more: nothing to wait for
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace

std::string ProcessExit::describe() const {
  if (signal != 0) return "was killed by " + base::signal_name(signal);
  if (exit_code < 0) return "could not be started";
  return "exited with code " + std::to_string(exit_code);
}

detect::Result<Child> spawn_child(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return Error{EINVAL, "starting a program: argv[0] must be an absolute path (no PATH search), got '" +
                             (spec.argv.empty() ? std::string() : spec.argv[0]) + "'"};
  }
  if (std::any_of(spec.argv.begin(), spec.argv.end(), has_nul) ||
      std::any_of(spec.environment.begin(), spec.environment.end(), has_nul)) {
    return Error{EINVAL, "starting " + spec.argv[0] + ": an argument or variable contains a NUL byte"};
  }
  Pipe output;
  Pipe error;
  if (spec.output != ChildOutput::inherited) {
    auto made = make_pipe("output");
    if (!made) return made.error();
    output = std::move(made).value();
  }
  if (spec.output == ChildOutput::separate_pipes) {
    auto made = make_pipe("error output");
    if (!made) return made.error();
    error = std::move(made).value();
  }
  auto made_status = make_pipe("exec status");
  if (!made_status) return made_status.error();
  Pipe exec_status = std::move(made_status).value();
  auto null_fd = above_stdio(base::UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)), "/dev/null");
  if (!null_fd || !null_fd->valid()) return error_from_errno(errno, "opening /dev/null for stdin");

  // Everything the child touches is built before fork: no allocation after it.
  std::vector<char*> argv = c_strings(spec.argv);
  std::vector<char*> envp = c_strings(spec.environment);
  ChildPlumbing plumbing;
  plumbing.argv = argv.data();
  plumbing.envp = envp.data();
  plumbing.working_directory = spec.working_directory.c_str();
  plumbing.new_session = spec.new_session;
  plumbing.stdin_fd = null_fd->get();
  plumbing.stdout_fd = output.write_end.get();
  plumbing.stderr_fd =
      spec.output == ChildOutput::separate_pipes ? error.write_end.get() : output.write_end.get();
  plumbing.exec_status_fd = exec_status.write_end.get();
  plumbing.drop_capabilities = spec.drop_capabilities.data();
  plumbing.drop_count = spec.drop_capabilities.size();

  static_cast<void>(std::fflush(nullptr));  // a child that shares stdout must not repeat our output
  const pid_t pid = fork();
  if (pid < 0) return error_from_errno(errno, "forking to start " + spec.argv[0]);
  if (pid == 0) run_child(plumbing);
  output.write_end.reset();
  error.write_end.reset();
  exec_status.write_end.reset();

  ChildFailure failure;
  ssize_t got = 0;
  do {
    got = read(exec_status.read_end.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    wait_for(pid);
    return child_failure_error(failure, spec.argv[0]);
  }
  return Child{pid, std::move(output.read_end), std::move(error.read_end)};
}

detect::Status send_signal(pid_t pid, int signo, SignalScope scope) {
  if (pid <= 0) return Error{EINVAL, "refusing to signal pid " + std::to_string(pid)};
  const pid_t target = scope == SignalScope::group ? -pid : pid;
  if (kill(target, signo) != 0 && errno != ESRCH) {
    return error_from_errno(errno, "sending signal " + std::to_string(signo) + " to " +
                                       (scope == SignalScope::group ? "process group " : "pid ") +
                                       std::to_string(pid));
  }
  return {};
}

detect::Result<Child> ForkExecSpawner::spawn(const SpawnSpec& spec) {
  SpawnSpec daemon = spec;
  daemon.output = ChildOutput::merged_pipe;
  daemon.new_session = true;
  return spawn_child(daemon);
}

detect::Status ForkExecSpawner::signal(pid_t pid, int signo, SignalScope scope) {
  return send_signal(pid, signo, scope);
}

bool is_permanent_spawn_error(const detect::Error& error) {
  switch (error.code) {
    case ENOENT:
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case EISDIR:
    case EINVAL:
    case E2BIG:
    case ELIBBAD: return true;
    default: return false;
  }
}

std::vector<ReapedChild> reap_children() {
  std::vector<ReapedChild> reaped;
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) break;  // 0: children left but none exited; -1/ECHILD: no children
    if (!WIFEXITED(status) && !WIFSIGNALED(status)) continue;  // stopped/continued: not an exit
    reaped.push_back(ReapedChild{pid, exit_from_status(status)});
  }
  return reaped;
}

detect::Result<std::vector<std::string>> build_environment(
    const std::map<std::string, std::string>& configured, const std::string& notify_socket) {
  std::vector<std::string> environment;
  for (const auto& [name, value] : configured) {
    const bool valid_name =
        !name.empty() && (std::isalpha(static_cast<unsigned char>(name[0])) != 0 || name[0] == '_') &&
        std::all_of(name.begin(), name.end(),
                    [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
    if (!valid_name) return Error{EINVAL, "daemon.environment: invalid variable name '" + name + "'"};
    if (name == "NOTIFY_SOCKET") {
      return Error{EINVAL, "daemon.environment: NOTIFY_SOCKET is set by stackmgr itself; remove it"};
    }
    if (has_nul(value)) return Error{EINVAL, "daemon.environment: " + name + " contains a NUL byte"};
    environment.push_back(name + "=" + value);
  }
  if (!notify_socket.empty()) environment.push_back("NOTIFY_SOCKET=" + notify_socket);
  std::sort(environment.begin(), environment.end());
  return environment;
}

detect::Result<Captured> run_capture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& environment,
                                     const CaptureLimits& limits) {
  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  SpawnSpec spec{argv, environment};
  spec.output = ChildOutput::separate_pipes;
  spec.new_session = false;
  auto child = spawn_child(spec);
  if (!child) return child.error();

  Captured captured;
  bool timed_out = false;
  std::array<pollfd, 2> fds{pollfd{child->output.get(), POLLIN, 0}, pollfd{child->error.get(), POLLIN, 0}};
  std::array<std::string*, 2> sinks{&captured.out, &captured.err};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[16384];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;  // closed with the Child
        continue;
      }
      const std::size_t room = limits.max_output - std::min(limits.max_output, sinks[i]->size());
      const std::size_t keep = std::min(room, static_cast<std::size_t>(n));
      sinks[i]->append(buffer, keep);
      if (keep < static_cast<std::size_t>(n)) captured.truncated = true;
    }
  }
  // A helper may close its output and still not exit: the deadline bounds the wait too.
  std::optional<int> status = timed_out ? std::nullopt : wait_until(child->pid, deadline);
  if (!status) {
    kill(child->pid, SIGKILL);
    wait_for(child->pid);
    return error_from_errno(
        ETIMEDOUT, argv[0] + " did not finish within " + std::to_string(limits.timeout.count()) + " ms");
  }
  captured.exit_code = exit_status_code(exit_from_status(*status));
  return captured;
}

detect::Result<int> run_and_wait(const std::vector<std::string>& argv) {
  std::vector<std::string> environment;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
    environment.emplace_back(*entry);
  SpawnSpec spec{argv, std::move(environment)};
  spec.output = ChildOutput::inherited;
  spec.new_session = false;
  auto child = spawn_child(spec);
  if (!child) return child.error();
  return exit_status_code(exit_from_status(wait_for(child->pid)));
}

detect::Result<base::UniqueFd> fork_to_background(int failed_code) {
  auto made = make_pipe("readiness");
  if (!made) return made.error();
  Pipe pipe = std::move(made).value();
  static_cast<void>(std::fflush(nullptr));
  const pid_t child = fork();
  if (child < 0) return error_from_errno(errno, "forking into the background");
  if (child > 0) {
    pipe.write_end.reset();
    char byte = 0;
    ssize_t got = 0;
    do {
      got = read(pipe.read_end.get(), &byte, 1);
    } while (got < 0 && errno == EINTR);
    if (got == 1 && byte == 'R') _exit(0);
    const ProcessExit how = exit_from_status(wait_for(child));
    _exit(how.signal != 0 ? failed_code : how.exit_code);
  }
  pipe.read_end.reset();
  setsid();
  if (const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    close(null_fd);
  }
  return std::move(pipe.write_end);
}

}  // namespace stackmgr::os
