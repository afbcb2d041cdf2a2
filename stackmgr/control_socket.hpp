#pragma once
// The control socket of a running supervisor: run_dir/control.sock, a Unix stream socket, mode
// 0600 in a 0700 directory, and an SO_PEERCRED check (root only). Protocol (docs/supervisor.md):
// the client sends ONE JSON request line; the server answers with zero or more progress lines
// and one final result line, then closes:
//   -> {"v":1,"cmd":"stop","unload":true}
//   <- {"type":"progress","level":"info","message":"stopping pluto (pid 42): SIGTERM ..."}
//   <- {"type":"result","ok":true,"exit":0,"message":"stopped","data":{...}}

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "detect/error.hpp"
#include "detect/stack.hpp"
#include "stackmgr/event_loop.hpp"
#include "stackmgr/unique_fd.hpp"

namespace stackmgr {

inline constexpr int kControlProtocolVersion = 1;

enum class ControlCommand { status, stop, switch_stack };
std::string_view to_string(ControlCommand command);

struct ControlRequest {
  ControlCommand command = ControlCommand::status;
  bool unload = false;                 // stop: also unload the modules stackmgr loaded
  std::optional<detect::Stack> stack;  // switch: the target (required)
  bool dry_run = false;                // switch: print the plan only
};

// Validates one request line: a JSON object with "cmd" (status|stop|switch), optional "v" (1),
// and only the fields that command takes, each of the right type. Error code 0, message fit
// for the reply ("unknown field 'x' for stop").
detect::Result<ControlRequest> parse_control_request(std::string_view line);
// The request as one JSON line (no newline).
std::string control_request_line(const ControlRequest& request);

// One reply line, parsed. (The NOLINT: clang-tidy sees a throw in nlohmann::json's noexcept
// move, which only asserts.)
struct ControlReply {  // NOLINT(bugprone-exception-escape)
  bool final = false;  // "result" (the last line) or "progress"
  std::string level;   // progress: debug|info|warn|error
  std::string message;
  bool ok = false;      // result
  int exit_code = 0;    // result: the Exit code the client should exit with
  nlohmann::json data;  // result: command-specific (status: the stackmgr.status/1 document)
};
// Reply lines as JSON text (no newline).
std::string progress_reply(std::string_view level, std::string_view message);
std::string result_reply(int exit_code, std::string_view message, const nlohmann::json& data = nullptr);
detect::Result<ControlReply> parse_control_reply(std::string_view line);

struct ControlLimits {
  std::size_t max_request_bytes = 4096;
  std::chrono::milliseconds request_timeout{5000};           // to send the request line after connecting
  std::size_t max_pending_output = std::size_t{256} * 1024;  // a client that does not read is dropped
  std::size_t max_connections = 32;
  uid_t allowed_uid = 0;
};

class ControlServer {
 public:
  using ConnectionId = std::uint64_t;
  // Called once per valid request. Answer with send()/finish() now or later.
  using RequestHandler = std::function<void(ConnectionId, const ControlRequest&)>;

  // Binds `path` (its directory must exist; a stale socket is replaced: the caller holds the
  // instance lock), mode 0600, and watches it in `loop`.
  static detect::Result<std::unique_ptr<ControlServer>> listen(const std::filesystem::path& path,
                                                               EventLoop& loop, RequestHandler handler,
                                                               ControlLimits limits = {});
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ~ControlServer();

  // Queues a progress line to connection `id` (a no-op once it is gone).
  void send(ConnectionId id, const std::string& line);
  // Queues the final line; the connection closes once it is written.
  void finish(ConnectionId id, const std::string& line);
  [[nodiscard]] bool is_open(ConnectionId id) const { return connections_.count(id) != 0; }
  [[nodiscard]] std::size_t connection_count() const { return connections_.size(); }

  // The earliest request deadline of a client that has not sent its request yet.
  [[nodiscard]] std::optional<SteadyTime> next_deadline() const;
  // Drops (with an error reply) clients whose request deadline has passed.
  void expire(SteadyTime now);
  // At exit: writes what is queued, waiting at most `budget` in total; then closes everything
  // and removes the socket file.
  void shutdown(std::chrono::milliseconds budget);

 private:
  struct Connection {
    UniqueFd fd;
    std::string input;
    std::string output;
    SteadyTime deadline{};
    bool dispatched = false;  // the request was handed over; no more reading
    bool closing = false;     // close once `output` is written
    bool want_write = false;
  };

  ControlServer(UniqueFd fd, std::filesystem::path path, EventLoop& loop, RequestHandler handler,
                ControlLimits limits)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        loop_(loop),
        handler_(std::move(handler)),
        limits_(limits) {}
  void accept_pending();
  void on_client(ConnectionId id, std::uint32_t events);
  void read_request(ConnectionId id);
  void dispatch(ConnectionId id, std::string_view line);
  void queue(ConnectionId id, const std::string& line, bool final);
  void flush(ConnectionId id);
  void close_connection(ConnectionId id);
  void update_interest(ConnectionId id);

  UniqueFd fd_;
  std::filesystem::path path_;
  EventLoop& loop_;
  RequestHandler handler_;
  ControlLimits limits_;
  std::map<ConnectionId, Connection> connections_;
  ConnectionId next_id_ = 1;
};

// Why a client could not talk to a supervisor.
enum class ControlFailure {
  not_running,  // no socket, or nobody listening (ENOENT, ECONNREFUSED)
  permission,   // EACCES/EPERM: not root
  protocol,     // garbage, timeout, or the connection dropped before the result
};
struct ControlClientError {
  ControlFailure failure = ControlFailure::protocol;
  detect::Error error;
};

// Connects to `path`, sends `request`, passes every progress line to `on_progress`, and
// returns the final result. `idle_timeout` bounds each wait for the next line.
std::variant<ControlReply, ControlClientError> call_supervisor(
    const std::filesystem::path& path, const ControlRequest& request,
    const std::function<void(const ControlReply&)>& on_progress, std::chrono::milliseconds idle_timeout);

}  // namespace stackmgr
