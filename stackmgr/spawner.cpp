#include "stackmgr/spawner.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace stackmgr {
namespace {

using detect::Error;
using detect::error_from_errno;

// A new fd >= 3 with O_CLOEXEC, so dup2 onto 0..2 in the child never clobbers it.
detect::Result<UniqueFd> above_stdio(UniqueFd fd, const char* what) {
  if (fd.get() > 2) return fd;
  const int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return error_from_errno(errno, std::string("moving the ") + what + " above fd 2");
  return UniqueFd(moved);
}

detect::Result<std::pair<UniqueFd, UniqueFd>> make_pipe(const char* what) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return error_from_errno(errno, std::string("creating the ") + what + " pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  auto read_moved = above_stdio(std::move(read_end), what);
  if (!read_moved) return read_moved.error();
  auto write_moved = above_stdio(std::move(write_end), what);
  if (!write_moved) return write_moved.error();
  return std::make_pair(std::move(read_moved).value(), std::move(write_moved).value());
}

// Marks every fd >= 3 close-on-exec. Async-signal-safe: runs between fork and exec.
void close_other_fds_on_exec() {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  struct rlimit limit {};
  rlim_t max_fd = 65536;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) max_fd = limit.rlim_cur;
  for (rlim_t fd = 3; fd < max_fd; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
}

// The child between fork and exec: only async-signal-safe calls. Reports the failing errno
// through `error_fd` and exits 127.
[[noreturn]] void run_child(char* const* argv, char* const* envp, const char* working_directory, int null_fd,
                            int output_fd, int error_fd) {
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP) static_cast<void>(signal(signo, SIG_DFL));  // best effort
  }
  int failed_errno = 0;
  if (setsid() < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(output_fd, STDOUT_FILENO) < 0 ||
      dup2(output_fd, STDERR_FILENO) < 0 || chdir(working_directory) != 0) {
    failed_errno = errno;
  } else {
    umask(022);
    close_other_fds_on_exec();
    execve(argv[0], argv, envp);
    failed_errno = errno;
  }
  ssize_t ignored = write(error_fd, &failed_errno, sizeof failed_errno);
  (void)ignored;
  _exit(127);
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const auto& text : strings) pointers.push_back(const_cast<char*>(text.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

}  // namespace

detect::Result<SpawnedProcess> ForkExecSpawner::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return Error{EINVAL, "starting the daemon: argv[0] must be an absolute path (no PATH search), got '" +
                             (spec.argv.empty() ? std::string() : spec.argv[0]) + "'"};
  }
  if (std::any_of(spec.argv.begin(), spec.argv.end(), has_nul) ||
      std::any_of(spec.environment.begin(), spec.environment.end(), has_nul)) {
    return Error{EINVAL, "starting " + spec.argv[0] + ": an argument or variable contains a NUL byte"};
  }
  auto output = make_pipe("daemon output");
  if (!output) return output.error();
  auto exec_status = make_pipe("exec status");
  if (!exec_status) return exec_status.error();
  auto null_fd = above_stdio(UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)), "/dev/null");
  if (!null_fd || !null_fd->valid())
    return error_from_errno(errno, "opening /dev/null for the daemon's stdin");

  // Everything the child touches is built before fork: no allocation after it.
  std::vector<char*> argv = c_strings(spec.argv);
  std::vector<char*> envp = c_strings(spec.environment);
  auto& [output_read, output_write] = output.value();
  auto& [status_read, status_write] = exec_status.value();

  const pid_t pid = fork();
  if (pid < 0) return error_from_errno(errno, "forking to start " + spec.argv[0]);
  if (pid == 0) {
    run_child(argv.data(), envp.data(), spec.working_directory.c_str(), null_fd->get(), output_write.get(),
              status_write.get());
  }
  output_write.reset();
  status_write.reset();

  int child_errno = 0;
  ssize_t got = 0;
  do {
    got = read(status_read.get(), &child_errno, sizeof child_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    int ignored_status = 0;
    while (waitpid(pid, &ignored_status, 0) < 0 && errno == EINTR) {
    }
    return error_from_errno(child_errno, "executing " + spec.argv[0]);
  }
  return SpawnedProcess{pid, std::move(output_read)};
}

detect::Status ForkExecSpawner::signal(pid_t pid, int signo, SignalScope scope) {
  if (pid <= 0) return Error{EINVAL, "refusing to signal pid " + std::to_string(pid)};
  const pid_t target = scope == SignalScope::group ? -pid : pid;
  if (kill(target, signo) != 0 && errno != ESRCH) {
    return error_from_errno(errno, "sending signal " + std::to_string(signo) + " to " +
                                       (scope == SignalScope::group ? "process group " : "pid ") +
                                       std::to_string(pid));
  }
  return {};
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
    ReapedChild child{pid, {}};
    if (WIFEXITED(status)) {
      child.how.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      child.how.signal = WTERMSIG(status);
    } else {
      continue;  // stopped/continued: not an exit
    }
    reaped.push_back(child);
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

}  // namespace stackmgr
