#include "stackmgr/control/server.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/os/unix_address.hpp"

namespace stackmgr::control {

detect::Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::filesystem::path& path,
                                                                     os::EventLoop& loop,
                                                                     RequestHandler handler,
                                                                     ControlLimits limits) {
  auto address = os::unix_address(path.string(), "control socket");
  if (!address) return address.error();
  base::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return detect::error_from_errno(errno, "creating the control socket");
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return detect::error_from_errno(errno, "removing the stale control socket " + path.string());
  }
  const mode_t old_mask = umask(0177);
  const int bound = bind(fd.get(), address->get(), address->size);
  const int bind_errno = errno;
  umask(old_mask);
  if (bound != 0) return detect::error_from_errno(bind_errno, "binding the control socket " + path.string());
  if (chmod(path.c_str(), 0600) != 0) return detect::error_from_errno(errno, "chmod 0600 " + path.string());
  if (::listen(fd.get(), 16) != 0) return detect::error_from_errno(errno, "listening on " + path.string());
  std::unique_ptr<ControlServer> server(
      new ControlServer(std::move(fd), path, loop, std::move(handler), limits));
  ControlServer* self = server.get();
  if (auto watched = loop.watch(self->fd_.get(), EPOLLIN, [self](std::uint32_t) { self->accept_pending(); });
      !watched) {
    return watched.error();
  }
  return server;
}

ControlServer::~ControlServer() {
  for (auto& [id, connection] : connections_) loop_.unwatch(connection.fd.get());
  connections_.clear();
  if (fd_) {
    loop_.unwatch(fd_.get());
    unlink(path_.c_str());
  }
}

void ControlServer::accept_pending() {
  for (;;) {
    base::UniqueFd client(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pause_accepting(errno);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::warn("control socket: accept: {}", std::strerror(errno));
      }
      return;
    }
    if (short_of_fds_) {
      short_of_fds_ = false;
      spdlog::info("control socket: accepting connections again");
    }
    ucred peer{};
    socklen_t length = sizeof peer;
    const bool known = getsockopt(client.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0;
    std::string refusal;
    int refusal_code = code(base::Exit::permission);
    if (!known) {
      refusal = "cannot read the peer's credentials (SO_PEERCRED)";
    } else if (peer.uid != limits_.allowed_uid) {
      refusal = "permission denied: only root may use the stackmgr control socket";
      spdlog::warn(
          "control socket: refused a connection from uid {} (pid {}): only root may control stackmgr",
          peer.uid, peer.pid);
    } else if (connections_.size() >= limits_.max_connections) {
      refusal = "busy: too many control connections at once; try again";
      refusal_code = code(base::Exit::busy);
    }
    if (!refusal.empty()) {
      const std::string line = result_reply(refusal_code, refusal) + "\n";
      ssize_t ignored = ::send(client.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
      continue;
    }
    const ConnectionId id = next_id_++;
    Connection connection;
    connection.fd = std::move(client);
    connection.deadline = std::chrono::steady_clock::now() + limits_.request_timeout;
    const int fd = connection.fd.get();
    connections_.emplace(id, std::move(connection));
    auto watched =
        loop_.watch(fd, EPOLLIN | EPOLLRDHUP, [this, id](std::uint32_t events) { on_client(id, events); });
    if (!watched) {
      spdlog::warn("control socket: {}", watched.error().describe());
      connections_.erase(id);
    }
  }
}

void ControlServer::pause_accepting(int error_number) {
  // The pending connection stays queued and the listener readable: watching it now would wake
  // the loop at once, again and again.
  loop_.unwatch(fd_.get());
  accept_paused_until_ = std::chrono::steady_clock::now() + limits_.accept_backoff;
  if (short_of_fds_) return;
  short_of_fds_ = true;
  spdlog::warn("control socket: cannot accept a connection: {}; retrying every {} ms until it works",
               std::strerror(error_number), limits_.accept_backoff.count());
}

void ControlServer::resume_accepting() {
  accept_paused_until_.reset();
  if (!fd_) return;
  if (auto watched = loop_.watch(fd_.get(), EPOLLIN, [this](std::uint32_t) { accept_pending(); }); !watched) {
    spdlog::warn("control socket: {}", watched.error().describe());
    return;
  }
  accept_pending();
}

void ControlServer::on_client(ConnectionId id, std::uint32_t events) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  if ((events & EPOLLOUT) != 0) {
    flush(id);
    if (!is_open(id)) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0) return;
  if (!found->second.dispatched) {
    read_request(id);
    return;
  }
  // After the request nothing is read: a full hangup means the client went away (a client
  // that only shut down its sending side still gets its answer).
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) close_connection(id);
}

void ControlServer::read_request(ConnectionId id) {
  Connection& connection = connections_.at(id);
  bool eof = false;
  for (;;) {
    char buffer[1024];
    const ssize_t got = recv(connection.fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (got <= 0) {
      eof = true;
      break;
    }
    connection.input.append(buffer, static_cast<std::size_t>(got));
    const std::size_t newline = connection.input.find('\n');
    if (newline != std::string::npos && newline <= limits_.max_request_bytes) {
      const std::string line = connection.input.substr(0, newline);
      dispatch(id, line);
      return;
    }
    if (connection.input.size() > limits_.max_request_bytes) {
      spdlog::warn("control socket: a request longer than {} bytes; dropping it", limits_.max_request_bytes);
      finish(id, result_reply(code(base::Exit::usage), "request too long (the limit is " +
                                                           std::to_string(limits_.max_request_bytes) +
                                                           " bytes)"));
      return;
    }
  }
  if (!eof) return;
  if (connection.input.empty()) {
    close_connection(id);
    return;
  }
  const std::string line = connection.input;  // a last line without '\n' still counts
  dispatch(id, line);
}

void ControlServer::dispatch(ConnectionId id, std::string_view line) {
  Connection& connection = connections_.at(id);
  connection.dispatched = true;
  connection.input.clear();
  update_interest(id);
  auto request = parse_control_request(line);
  if (!request) {
    spdlog::warn("control socket: rejected a request: {}", request.error().message);
    finish(id, result_reply(code(base::Exit::usage), request.error().message));
    return;
  }
  handler_(id, *request);
}

void ControlServer::send(ConnectionId id, const std::string& line) { queue(id, line, false); }

void ControlServer::finish(ConnectionId id, const std::string& line) { queue(id, line, true); }

void ControlServer::queue(ConnectionId id, const std::string& line, bool final) {
  auto found = connections_.find(id);
  if (found == connections_.end() || found->second.closing) return;
  Connection& connection = found->second;
  connection.output += line;
  connection.output += '\n';
  connection.closing = final;
  if (connection.output.size() > limits_.max_pending_output) {
    spdlog::warn("control socket: a client does not read its replies; dropping it");
    close_connection(id);
    return;
  }
  flush(id);
}

void ControlServer::flush(ConnectionId id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  Connection& connection = found->second;
  while (!connection.output.empty()) {
    const ssize_t sent = ::send(connection.fd.get(), connection.output.data(), connection.output.size(),
                                MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (sent < 0) {  // EPIPE, ECONNRESET: the client is gone
      close_connection(id);
      return;
    }
    connection.output.erase(0, static_cast<std::size_t>(sent));
  }
  if (connection.output.empty() && connection.closing) {
    close_connection(id);
    return;
  }
  update_interest(id);
}

void ControlServer::update_interest(ConnectionId id) {
  Connection& connection = connections_.at(id);
  const bool want_write = !connection.output.empty();
  if (want_write == connection.want_write && connection.dispatched) return;
  connection.want_write = want_write;
  // Before the request: readable. After: writable while output waits (hangups always count).
  std::uint32_t events = connection.dispatched ? 0 : (EPOLLIN | EPOLLRDHUP);
  if (want_write) events |= EPOLLOUT;
  loop_.modify(connection.fd.get(), events);
}

void ControlServer::close_connection(ConnectionId id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  loop_.unwatch(found->second.fd.get());
  connections_.erase(found);
}

std::optional<base::SteadyTime> ControlServer::next_deadline() const {
  std::optional<base::SteadyTime> earliest = accept_paused_until_;
  for (const auto& [id, connection] : connections_) {
    if (connection.dispatched) continue;
    if (!earliest || connection.deadline < *earliest) earliest = connection.deadline;
  }
  return earliest;
}

void ControlServer::expire(base::SteadyTime now) {
  if (accept_paused_until_ && now >= *accept_paused_until_) resume_accepting();
  std::vector<ConnectionId> late;
  for (const auto& [id, connection] : connections_) {
    if (!connection.dispatched && now >= connection.deadline) late.push_back(id);
  }
  for (ConnectionId id : late) {
    spdlog::warn("control socket: a client sent no request within {} ms; dropping it",
                 limits_.request_timeout.count());
    connections_.at(id).dispatched = true;
    finish(id, result_reply(code(base::Exit::usage), "timed out waiting for the request line"));
  }
}

void ControlServer::shutdown(std::chrono::milliseconds budget) {
  accept_paused_until_.reset();
  if (fd_) {
    loop_.unwatch(fd_.get());
    unlink(path_.c_str());
    fd_.reset();
  }
  const auto until = std::chrono::steady_clock::now() + budget;
  for (auto& [id, connection] : connections_) {
    while (!connection.output.empty() && std::chrono::steady_clock::now() < until) {
      const ssize_t sent = ::send(connection.fd.get(), connection.output.data(), connection.output.size(),
                                  MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        connection.output.erase(0, static_cast<std::size_t>(sent));
        continue;
      }
      if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
      pollfd wait{connection.fd.get(), POLLOUT, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      poll(&wait, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    }
    loop_.unwatch(connection.fd.get());
  }
  connections_.clear();
}

}  // namespace stackmgr::control
