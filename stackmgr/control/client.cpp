#include "stackmgr/control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "stackmgr/base/unique_fd.hpp"
#include "stackmgr/os/unix_address.hpp"

namespace stackmgr::control {

std::variant<ControlReply, ControlClientError> call_supervisor(
    const std::filesystem::path& path, const ControlRequest& request,
    const std::function<void(const ControlReply&)>& on_progress, std::chrono::milliseconds idle_timeout) {
  auto failure = [](ControlFailure kind, detect::Error error) {
    return ControlClientError{kind, std::move(error)};
  };
  auto address = os::unix_address(path.string(), "control socket");
  if (!address) return failure(ControlFailure::protocol, address.error());
  base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return failure(ControlFailure::protocol, detect::error_from_errno(errno, "creating a socket"));
  if (connect(fd.get(), address->get(), address->size) != 0) {
    const int saved = errno;
    const ControlFailure kind = (saved == ENOENT || saved == ECONNREFUSED || saved == ENOTDIR)
                                    ? ControlFailure::not_running
                                : (saved == EACCES || saved == EPERM) ? ControlFailure::permission
                                                                      : ControlFailure::protocol;
    return failure(kind, detect::error_from_errno(saved, "connecting to " + path.string()));
  }
  const std::string line = control_request_line(request) + "\n";
  for (std::size_t sent = 0; sent < line.size();) {
    const ssize_t wrote = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) break;  // a refusing server may have closed already: read its reply
    sent += static_cast<std::size_t>(wrote);
  }
  std::string pending;
  for (;;) {
    std::size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      const std::string reply_line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      auto reply = parse_control_reply(reply_line);
      if (!reply) return failure(ControlFailure::protocol, reply.error());
      if (reply->final) return std::move(reply).value();
      if (on_progress) on_progress(*reply);
    }
    if (pending.size() > (1U << 20)) {
      return failure(ControlFailure::protocol, protocol_error("the supervisor sent an overlong reply line"));
    }
    pollfd wait{fd.get(), POLLIN, 0};
    const int ready = poll(&wait, 1, static_cast<int>(idle_timeout.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      return failure(ControlFailure::protocol,
                     protocol_error("the supervisor did not answer within " +
                                    std::to_string(idle_timeout.count() / 1000) + " s"));
    }
    char buffer[4096];
    const ssize_t got = recv(fd.get(), buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return failure(ControlFailure::dropped,
                     protocol_error("the supervisor closed the connection before its result"));
    }
    pending.append(buffer, static_cast<std::size_t>(got));
  }
}

}  // namespace stackmgr::control
