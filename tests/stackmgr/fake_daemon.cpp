// A stand-in keying daemon for the spawner, notify-listener and supervisor tests. Options, in
// any combination, act in this order:
//   --report            print what the process got: env, open fds, session, signal state and
//                       capability sets
//   --say TEXT          print TEXT (repeatable)
//   --exit N            exit with N now
//   --ignore-term       ignore SIGTERM (a daemon that must be SIGKILLed)
//   --grandchild        fork a child that sleeps; print "grandchild PID"
//   --ready             send READY=1 to $NOTIFY_SOCKET
//   --ready-from-child  send READY=1 from a forked child (a pid that is not the daemon's)
//   --ready-delay-ms N  wait N ms before --ready
// Then it sleeps until a signal ends it.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

void report() {
  for (char** entry = environ; *entry != nullptr; ++entry) std::printf("env %s\n", *entry);
  DIR* dir = opendir("/proc/self/fd");
  const int dir_fd = dir != nullptr ? dirfd(dir) : -1;
  while (dir != nullptr) {
    const dirent* entry = readdir(dir);
    if (entry == nullptr) break;
    if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == dir_fd) continue;
    std::printf("fd %s\n", entry->d_name);
  }
  if (dir != nullptr) closedir(dir);
  char target[256] = {};
  const ssize_t length = readlink("/proc/self/fd/0", target, sizeof target - 1);
  std::printf("stdin %s\n", length > 0 ? target : "?");
  std::printf("pid %d sid %d pgid %d\n", getpid(), getsid(0), getpgid(0));
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigIgn:", 0) == 0 || line.rfind("Cap", 0) == 0)
      std::printf("%s\n", line.c_str());
  }
  char cwd[256] = {};
  std::printf("cwd %s\n", getcwd(cwd, sizeof cwd) != nullptr ? cwd : "?");
  std::fflush(stdout);
}

void send_ready() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr) return;
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path, sizeof address.sun_path - 1);
  const char message[] = "READY=1\nSTATUS=fake daemon ready";
  sendto(fd, message, sizeof message - 1, 0, reinterpret_cast<sockaddr*>(&address), sizeof address);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int ready_delay_ms = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--report") {
      report();
    } else if (arg == "--say" && i + 1 < args.size()) {
      std::printf("%s\n", args[++i].c_str());
      std::fflush(stdout);
    } else if (arg == "--exit" && i + 1 < args.size()) {
      return std::atoi(args[++i].c_str());
    } else if (arg == "--ignore-term") {
      signal(SIGTERM, SIG_IGN);
    } else if (arg == "--grandchild") {
      const pid_t child = fork();
      if (child == 0) {
        for (;;) pause();
      }
      std::printf("grandchild %d\n", child);
      std::fflush(stdout);
    } else if (arg == "--ready-delay-ms" && i + 1 < args.size()) {
      ready_delay_ms = std::atoi(args[++i].c_str());
    } else if (arg == "--ready") {
      if (ready_delay_ms > 0) usleep(static_cast<useconds_t>(ready_delay_ms) * 1000);
      send_ready();
    } else if (arg == "--ready-from-child") {
      const pid_t child = fork();
      if (child == 0) {
        send_ready();
        _exit(0);
      }
      waitpid(child, nullptr, 0);
    } else {
      std::fprintf(stderr, "fake_daemon: unknown argument %s\n", arg.c_str());
      return 64;
    }
  }
  for (;;) pause();
}
