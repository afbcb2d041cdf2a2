// Helpers for the real-daemon tests, so the shell scripts need no socket tools:
//   pluto_test_tool notify-record SOCKET OUT -- CMD ARGS...
//       plays systemd: binds the datagram socket SOCKET, runs CMD with NOTIFY_SOCKET=SOCKET
//       (the rest of the environment as is), appends "<ms since start, 3 decimals> <pid>
//       <payload>" to OUT per message (newlines in the payload become '|'), and exits with
//       CMD's exit code.
//   pluto_test_tool control-raw SOCKET
//       connects to the Unix stream socket SOCKET, sends stdin as it is, half-closes, and
//       prints whatever comes back until EOF. Exit 0 once connected, 2 when it cannot connect.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

sockaddr_un address_of(const char* path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path, sizeof address.sun_path - 1);
  return address;
}

int usage() {
  std::fprintf(stderr,
               "usage: pluto_test_tool notify-record SOCKET OUT -- CMD...\n"
               "       pluto_test_tool control-raw SOCKET\n");
  return 64;
}

int notify_record(const char* socket_path, const char* out_path, char** command) {
  unlink(socket_path);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  sockaddr_un address = address_of(socket_path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("bind");
    return 70;
  }
  FILE* out = std::fopen(out_path, "a");
  if (out == nullptr) {
    std::perror(out_path);
    return 70;
  }
  const auto started = std::chrono::steady_clock::now();
  const pid_t child = fork();
  if (child == 0) {
    setenv("NOTIFY_SOCKET", socket_path, 1);
    execv(command[0], command);
    std::perror(command[0]);
    _exit(127);
  }
  int status = 0;
  bool exited = false;
  while (true) {
    pollfd wait{fd, POLLIN, 0};
    poll(&wait, 1, exited ? 0 : 100);
    bool got_any = false;
    while (true) {
      char payload[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
      iovec vector{payload, sizeof payload - 1};
      msghdr message{};
      message.msg_iov = &vector;
      message.msg_iovlen = 1;
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      const ssize_t got = recvmsg(fd, &message, MSG_DONTWAIT);
      if (got < 0) break;
      got_any = true;
      pid_t sender = 0;
      for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
           header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_type == SCM_CREDENTIALS) {
          ucred credentials{};
          std::memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
          sender = credentials.pid;
        }
      }
      std::string text(payload, static_cast<std::size_t>(got));
      for (char& c : text) {
        if (c == '\n') c = '|';
      }
      const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - started;
      std::fprintf(out, "%.3f %d %s\n", ms.count(), sender, text.c_str());
      std::fflush(out);
    }
    if (exited && !got_any) break;
    if (!exited && waitpid(child, &status, WNOHANG) == child) exited = true;
  }
  unlink(socket_path);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

int control_raw(const char* socket_path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = address_of(socket_path);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::fprintf(stderr, "control-raw: connect %s: %s\n", socket_path, std::strerror(errno));
    return 2;
  }
  std::string input;
  char chunk[4096];
  for (;;) {
    const ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
    if (got <= 0) break;
    input.append(chunk, static_cast<std::size_t>(got));
  }
  // A server that refuses may close first; its answer is still there to read.
  if (!input.empty()) (void)send(fd, input.data(), input.size(), MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  char buffer[4096];
  for (;;) {
    const ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    std::fwrite(buffer, 1, static_cast<std::size_t>(got), stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 6 && std::strcmp(argv[1], "notify-record") == 0 && std::strcmp(argv[4], "--") == 0) {
    return notify_record(argv[2], argv[3], argv + 5);
  }
  if (argc == 3 && std::strcmp(argv[1], "control-raw") == 0) return control_raw(argv[2]);
  return usage();
}
