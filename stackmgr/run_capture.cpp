#include "stackmgr/run_capture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace stackmgr {
namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Child side: plumbing, then execve. Only async-signal-safe calls; reports errno on `status_fd`.
[[noreturn]] void exec_child(const std::vector<char*>& argv, const std::vector<char*>& envp, int out, int err,
                             int status_fd) {
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) {
    const int saved = errno;
    (void)!::write(status_fd, &saved, sizeof saved);
    ::_exit(127);
  }
  ::execve(argv[0], argv.data(), envp.data());
  const int saved = errno;
  (void)!::write(status_fd, &saved, sizeof saved);
  ::_exit(127);
}

}  // namespace

detect::Result<Captured> run_capture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& environment,
                                     const CaptureLimits& limits) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return detect::error_from_errno(EINVAL, "running a helper: argv[0] must be an absolute path");
  }
  std::vector<std::string> args = argv;
  std::vector<std::string> env = environment;
  std::vector<char*> c_argv;
  for (std::string& arg : args) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (std::string& entry : env) c_env.push_back(entry.data());
  c_env.push_back(nullptr);

  std::array<int, 2> out{-1, -1};
  std::array<int, 2> err{-1, -1};
  std::array<int, 2> status{-1, -1};
  if (::pipe2(out.data(), O_CLOEXEC) < 0 || ::pipe2(err.data(), O_CLOEXEC) < 0 ||
      ::pipe2(status.data(), O_CLOEXEC) < 0) {
    const int saved = errno;
    for (auto* pipe : {&out, &err, &status}) {
      close_fd((*pipe)[0]);
      close_fd((*pipe)[1]);
    }
    return detect::error_from_errno(saved, "creating pipes for " + argv[0]);
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int saved = errno;
    for (auto* pipe : {&out, &err, &status}) {
      close_fd((*pipe)[0]);
      close_fd((*pipe)[1]);
    }
    return detect::error_from_errno(saved, "forking for " + argv[0]);
  }
  if (pid == 0) exec_child(c_argv, c_env, out[1], err[1], status[1]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(status[1]);

  int exec_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(status[0], &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  close_fd(status[0]);
  if (got < 0) got = 0;  // cannot tell: carry on as if exec worked; the exit code will say

  Captured captured;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  std::array<pollfd, 2> fds{pollfd{out[0], POLLIN, 0}, pollfd{err[0], POLLIN, 0}};
  std::array<std::string*, 2> sinks{&captured.out, &captured.err};
  while (got == 0 && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[16384];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        continue;
      }
      const std::size_t room = limits.max_output - std::min(limits.max_output, sinks[i]->size());
      const std::size_t keep = std::min(room, static_cast<std::size_t>(n));
      sinks[i]->append(buffer, keep);
      if (keep < static_cast<std::size_t>(n)) captured.truncated = true;
    }
  }
  for (pollfd& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  if (timed_out || got != 0) ::kill(pid, SIGKILL);
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (got != 0) return detect::error_from_errno(exec_errno, "executing " + argv[0]);
  if (timed_out) {
    return detect::error_from_errno(
        ETIMEDOUT, argv[0] + " did not finish within " + std::to_string(limits.timeout.count()) + " ms");
  }
  captured.exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  return captured;
}

}  // namespace stackmgr
