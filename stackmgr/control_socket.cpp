#include "stackmgr/control_socket.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "stackmgr/exit_codes.hpp"

namespace stackmgr {
namespace {

using nlohmann::json;

detect::Error protocol_error(std::string message) { return detect::Error{0, std::move(message)}; }

detect::Result<sockaddr_un> socket_address(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.empty() || text[0] != '/' || text.size() >= sizeof address.sun_path) {
    return detect::Error{ENAMETOOLONG, "control socket path '" + text + "': must be absolute and under " +
                                           std::to_string(sizeof address.sun_path) + " bytes"};
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

// The fields each command accepts (besides "v" and "cmd").
const std::map<std::string, std::set<std::string>, std::less<>>& allowed_fields() {
  static const std::map<std::string, std::set<std::string>, std::less<>> fields = {
      {"status", {}}, {"stop", {"unload"}}, {"switch", {"stack", "dry_run"}}};
  return fields;
}

detect::Result<bool> optional_bool(const json& object, const char* key) {
  auto found = object.find(key);
  if (found == object.end()) return false;
  if (!found->is_boolean()) return protocol_error(std::string("field '") + key + "' must be true or false");
  return found->get<bool>();
}

}  // namespace

std::string_view to_string(ControlCommand command) {
  switch (command) {
    case ControlCommand::status: return "status";
    case ControlCommand::stop: return "stop";
    case ControlCommand::switch_stack: return "switch";
  }
  return "unknown";
}

detect::Result<ControlRequest> parse_control_request(std::string_view line) {
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return protocol_error("malformed request: not one line of JSON");
  if (!parsed.is_object()) return protocol_error("malformed request: expected a JSON object");
  auto version = parsed.find("v");
  if (version != parsed.end() &&
      (!version->is_number_integer() || version->get<int>() != kControlProtocolVersion)) {
    return protocol_error("unsupported protocol version: this supervisor speaks v" +
                          std::to_string(kControlProtocolVersion));
  }
  auto command_field = parsed.find("cmd");
  if (command_field == parsed.end() || !command_field->is_string()) {
    return protocol_error("malformed request: \"cmd\" (status, stop or switch) is missing");
  }
  const std::string command = command_field->get<std::string>();
  auto allowed = allowed_fields().find(command);
  if (allowed == allowed_fields().end()) {
    return protocol_error("unknown command '" + command.substr(0, 64) + "'; known: status, stop, switch");
  }
  for (const auto& [key, value] : parsed.items()) {
    if (key != "v" && key != "cmd" && allowed->second.count(key) == 0) {
      return protocol_error("unknown field '" + key.substr(0, 64) + "' for " + command);
    }
  }
  ControlRequest request;
  if (command == "status") {
    request.command = ControlCommand::status;
  } else if (command == "stop") {
    request.command = ControlCommand::stop;
    auto unload = optional_bool(parsed, "unload");
    if (!unload) return unload.error();
    request.unload = *unload;
  } else {
    request.command = ControlCommand::switch_stack;
    auto stack = parsed.find("stack");
    if (stack == parsed.end() || !stack->is_string()) {
      return protocol_error("switch needs \"stack\": \"native\" or \"klips\"");
    }
    request.stack = detect::parse_stack(stack->get<std::string>());
    if (!request.stack)
      return protocol_error("unknown stack '" + stack->get<std::string>().substr(0, 64) + "'");
    auto dry_run = optional_bool(parsed, "dry_run");
    if (!dry_run) return dry_run.error();
    request.dry_run = *dry_run;
  }
  return request;
}

std::string control_request_line(const ControlRequest& request) {
  json line = {{"v", kControlProtocolVersion}, {"cmd", std::string(to_string(request.command))}};
  if (request.command == ControlCommand::stop && request.unload) line["unload"] = true;
  if (request.command == ControlCommand::switch_stack) {
    if (request.stack) line["stack"] = std::string(detect::to_string(*request.stack));
    if (request.dry_run) line["dry_run"] = true;
  }
  return line.dump();
}

std::string progress_reply(std::string_view level, std::string_view message) {
  return json{{"type", "progress"}, {"level", level}, {"message", message}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string result_reply(int exit_code, std::string_view message, const json& data) {
  json line = {{"type", "result"}, {"ok", exit_code == 0}, {"exit", exit_code}, {"message", message}};
  if (!data.is_null()) line["data"] = data;
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

detect::Result<ControlReply> parse_control_reply(std::string_view line) {
  const json parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("type") ||
      !parsed["type"].is_string()) {
    return protocol_error("the supervisor sent a malformed reply line");
  }
  ControlReply reply;
  const std::string type = parsed["type"].get<std::string>();
  reply.message = parsed.value("message", std::string());
  if (type == "progress") {
    reply.level = parsed.value("level", std::string("info"));
    return reply;
  }
  if (type != "result" || !parsed.contains("exit") || !parsed["exit"].is_number_integer()) {
    return protocol_error("the supervisor sent a reply of unknown type '" + type + "'");
  }
  reply.final = true;
  reply.exit_code = parsed["exit"].get<int>();
  reply.ok = parsed.value("ok", false);
  if (parsed.contains("data")) reply.data = parsed["data"];
  return reply;
}

// --- server --------------------------------------------------------------------------------

detect::Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::filesystem::path& path,
                                                                     EventLoop& loop, RequestHandler handler,
                                                                     ControlLimits limits) {
  auto address = socket_address(path);
  if (!address) return address.error();
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return detect::error_from_errno(errno, "creating the control socket");
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return detect::error_from_errno(errno, "removing the stale control socket " + path.string());
  }
  const mode_t old_mask = umask(0177);
  const int bound = bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.value()), sizeof(sockaddr_un));
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
    UniqueFd client(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        spdlog::warn("control socket: accept: {}", std::strerror(errno));
      return;
    }
    ucred peer{};
    socklen_t length = sizeof peer;
    const bool known = getsockopt(client.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0;
    std::string refusal;
    int refusal_code = code(Exit::permission);
    if (!known) {
      refusal = "cannot read the peer's credentials (SO_PEERCRED)";
    } else if (peer.uid != limits_.allowed_uid) {
      refusal = "permission denied: only root may use the stackmgr control socket";
      spdlog::warn(
          "control socket: refused a connection from uid {} (pid {}): only root may control stackmgr",
          peer.uid, peer.pid);
    } else if (connections_.size() >= limits_.max_connections) {
      refusal = "busy: too many control connections at once; try again";
      refusal_code = code(Exit::busy);
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
      finish(id, result_reply(code(Exit::usage), "request too long (the limit is " +
                                                     std::to_string(limits_.max_request_bytes) + " bytes)"));
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
    finish(id, result_reply(code(Exit::usage), request.error().message));
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

std::optional<SteadyTime> ControlServer::next_deadline() const {
  std::optional<SteadyTime> earliest;
  for (const auto& [id, connection] : connections_) {
    if (connection.dispatched) continue;
    if (!earliest || connection.deadline < *earliest) earliest = connection.deadline;
  }
  return earliest;
}

void ControlServer::expire(SteadyTime now) {
  std::vector<ConnectionId> late;
  for (const auto& [id, connection] : connections_) {
    if (!connection.dispatched && now >= connection.deadline) late.push_back(id);
  }
  for (ConnectionId id : late) {
    spdlog::warn("control socket: a client sent no request within {} ms; dropping it",
                 limits_.request_timeout.count());
    connections_.at(id).dispatched = true;
    finish(id, result_reply(code(Exit::usage), "timed out waiting for the request line"));
  }
}

void ControlServer::shutdown(std::chrono::milliseconds budget) {
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

// --- client --------------------------------------------------------------------------------

std::variant<ControlReply, ControlClientError> call_supervisor(
    const std::filesystem::path& path, const ControlRequest& request,
    const std::function<void(const ControlReply&)>& on_progress, std::chrono::milliseconds idle_timeout) {
  auto failure = [](ControlFailure kind, detect::Error error) {
    return ControlClientError{kind, std::move(error)};
  };
  auto address = socket_address(path);
  if (!address) return failure(ControlFailure::protocol, address.error());
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return failure(ControlFailure::protocol, detect::error_from_errno(errno, "creating a socket"));
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.value()), sizeof(sockaddr_un)) != 0) {
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
      return failure(ControlFailure::protocol,
                     protocol_error("the supervisor closed the connection before its result"));
    }
    pending.append(buffer, static_cast<std::size_t>(got));
  }
}

}  // namespace stackmgr
