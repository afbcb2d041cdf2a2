#pragma once
// Runs the stackmgr binary (fork/exec, no shell) and captures its exit code, stdout and stderr.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace testrun {

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp_fd(int fd) {
  std::string text;
  ::lseek(fd, 0, SEEK_SET);
  char buffer[4096];
  for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(got));
  return text;
}

// Runs `binary args...`; as `uid` when set (the child drops to it before exec).
inline Ran run(const std::string& binary, const std::vector<std::string>& args,
               std::optional<uid_t> uid = {}) {
  char out_name[] = "/tmp/stackmgr-out-XXXXXX";
  char err_name[] = "/tmp/stackmgr-err-XXXXXX";
  const int out = ::mkstemp(out_name);
  const int err = ::mkstemp(err_name);
  ::unlink(out_name);
  ::unlink(err_name);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (uid && (::setgid(*uid) != 0 || ::setuid(*uid) != 0)) ::_exit(126);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    // Say why, or the test only sees 127: as another uid, often a parent directory it cannot
    // search (a tree cloned under a 0700 directory, for example).
    const std::string why = "run_binary: cannot exec " + binary +
                            (uid ? " as uid " + std::to_string(*uid) : "") + ": " + std::strerror(errno) +
                            "\n";
    (void)!::write(2, why.data(), why.size());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  Ran ran;
  ran.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ran.out = slurp_fd(out);
  ran.err = slurp_fd(err);
  ::close(out);
  ::close(err);
  return ran;
}

// Why `uid` cannot execute `binary`, or nullopt when it can. Usually a parent directory that
// others cannot search (a tree cloned under a 0700 directory such as mktemp -d's): the tests
// that run the binary as another user skip with this reason rather than fail.
inline std::optional<std::string> cannot_exec_as(const std::string& binary, uid_t uid) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int error = 0;
    if (::setgid(uid) != 0 || ::setuid(uid) != 0 || ::access(binary.c_str(), X_OK) != 0) error = errno;
    (void)!::write(fds[1], &error, sizeof error);
    ::_exit(0);
  }
  ::close(fds[1]);
  int error = 0;
  const bool read_all = ::read(fds[0], &error, sizeof error) == static_cast<ssize_t>(sizeof error);
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  if (read_all && error == 0) return std::nullopt;
  return "uid " + std::to_string(uid) + " cannot execute " + binary + " (" +
         (read_all ? std::strerror(error) : "no answer from the child") +
         "): is a directory above the build tree closed to others?";
}

}  // namespace testrun
