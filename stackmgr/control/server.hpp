#pragma once
// The supervisor's side of the control socket: run_dir/control.sock, a Unix stream socket, mode
// 0600 in a 0700 directory, and an SO_PEERCRED check (root only). One request per connection
// (protocol.hpp), served from the event loop without ever blocking it.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "detect/error.hpp"
#include "stackmgr/base/time.hpp"
#include "stackmgr/base/unique_fd.hpp"
#include "stackmgr/control/protocol.hpp"
#include "stackmgr/os/event_loop.hpp"

namespace stackmgr::control {

struct ControlLimits {
  std::size_t max_request_bytes = 4096;
  std::chrono::milliseconds request_timeout{5000};           // to send the request line after connecting
  std::size_t max_pending_output = std::size_t{256} * 1024;  // a client that does not read is dropped
  std::size_t max_connections = 32;
  uid_t allowed_uid = 0;
  // Out of fds (EMFILE, ENFILE): the listener stays readable, so it is not watched for this long.
  std::chrono::milliseconds accept_backoff{1000};
};

class ControlServer {
 public:
  using ConnectionId = std::uint64_t;
  // Called once per valid request. Answer with send()/finish() now or later.
  using RequestHandler = std::function<void(ConnectionId, const ControlRequest&)>;

  // Binds `path` (its directory must exist; a stale socket is replaced: the caller holds the
  // instance lock), mode 0600, and watches it in `loop`.
  static detect::Result<std::unique_ptr<ControlServer>> listen(const std::filesystem::path& path,
                                                               os::EventLoop& loop, RequestHandler handler,
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
  // False while accepting is paused after the process ran out of file descriptors.
  [[nodiscard]] bool accepting() const { return !accept_paused_until_; }

  // The earliest request deadline of a client that has not sent its request yet, or the end of
  // a pause in accepting.
  [[nodiscard]] std::optional<base::SteadyTime> next_deadline() const;
  // Drops (with an error reply) clients whose request deadline has passed; resumes accepting
  // once a pause is over.
  void expire(base::SteadyTime now);
  // At exit: writes what is queued, waiting at most `budget` in total; then closes everything
  // and removes the socket file.
  void shutdown(std::chrono::milliseconds budget);

 private:
  struct Connection {
    base::UniqueFd fd;
    std::string input;
    std::string output;
    base::SteadyTime deadline{};
    bool dispatched = false;  // the request was handed over; no more reading
    bool closing = false;     // close once `output` is written
    bool want_write = false;
  };

  ControlServer(base::UniqueFd fd, std::filesystem::path path, os::EventLoop& loop, RequestHandler handler,
                ControlLimits limits)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        loop_(loop),
        handler_(std::move(handler)),
        limits_(limits) {}
  void accept_pending();
  // Stops watching the listener for limits_.accept_backoff (logged once per shortage).
  void pause_accepting(int error_number);
  void resume_accepting();
  void on_client(ConnectionId id, std::uint32_t events);
  void read_request(ConnectionId id);
  void dispatch(ConnectionId id, std::string_view line);
  void queue(ConnectionId id, const std::string& line, bool final);
  void flush(ConnectionId id);
  void close_connection(ConnectionId id);
  void update_interest(ConnectionId id);

  base::UniqueFd fd_;
  std::filesystem::path path_;
  os::EventLoop& loop_;
  RequestHandler handler_;
  ControlLimits limits_;
  std::map<ConnectionId, Connection> connections_;
  ConnectionId next_id_ = 1;
  std::optional<base::SteadyTime> accept_paused_until_;
  bool short_of_fds_ = false;  // since the last accept that worked
};

}  // namespace stackmgr::control
