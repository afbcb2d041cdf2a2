#pragma once
// The one event loop: epoll over file descriptors (signalfd, control socket and its clients,
// notify socket, the daemon's output, the udev monitor), with ONE deadline as the epoll_wait
// timeout. No periodic wakeups: when nothing happens and no deadline is set, it
// sleeps until an fd becomes ready.

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "detect/error.hpp"
#include "stackmgr/base/time.hpp"
#include "stackmgr/base/unique_fd.hpp"

namespace stackmgr::os {

class EventLoop {
 public:
  using Handler = std::function<void(std::uint32_t events)>;  // EPOLLIN, EPOLLOUT, EPOLLHUP...
  using DeadlineSource = std::function<std::optional<base::SteadyTime>()>;

  static detect::Result<EventLoop> create();
  EventLoop(EventLoop&&) = default;
  EventLoop& operator=(EventLoop&&) = default;

  // Calls `handler` whenever `fd` has any of `events`. The fd stays owned by the caller, who
  // must unwatch it before closing it. Each watch is its own registration: an event that was
  // already collected for an fd unwatched since (and perhaps reused for another watch by the
  // time it is dispatched) goes to no handler.
  detect::Status watch(int fd, std::uint32_t events, Handler handler);
  detect::Status modify(int fd, std::uint32_t events);
  void unwatch(int fd);
  [[nodiscard]] bool watching(int fd) const { return tokens_.count(fd) != 0; }

  // Asked before every wait: the earliest time `on_deadline` must run (nullopt: none).
  void set_deadline(DeadlineSource source, std::function<void()> on_deadline);

  // Runs until stop(). Handlers may watch/unwatch fds and call stop().
  detect::Status run();
  // Runs at most one wait of at most `timeout` (tests; and the final flush at exit).
  detect::Status run_once(std::chrono::milliseconds timeout);
  void stop() { stopped_ = true; }

 private:
  explicit EventLoop(base::UniqueFd epoll) : epoll_(std::move(epoll)) {}
  detect::Status wait_and_dispatch(std::optional<std::chrono::milliseconds> cap);

  base::UniqueFd epoll_;
  // Registrations by token (epoll's data.u64, never reused); shared so a handler that unwatches
  // itself (or others) mid-dispatch stays safe.
  std::shared_ptr<std::map<std::uint64_t, std::shared_ptr<Handler>>> handlers_ =
      std::make_shared<std::map<std::uint64_t, std::shared_ptr<Handler>>>();
  std::map<int, std::uint64_t> tokens_;  // the current registration of each watched fd
  std::uint64_t next_token_ = 1;
  DeadlineSource deadline_;
  std::function<void()> on_deadline_;
  bool stopped_ = false;
};

// Signals as a file descriptor: blocks them for the process and reads them from a signalfd.
// The previous mask is restored on destruction. The spawner unblocks them in its children.
class SignalSource {
 public:
  static detect::Result<SignalSource> create(std::initializer_list<int> signals);
  SignalSource(SignalSource&& other) noexcept;
  SignalSource& operator=(SignalSource&&) = delete;
  ~SignalSource();

  [[nodiscard]] int fd() const { return fd_.get(); }
  // Every pending signal number, without blocking.
  std::vector<int> read_pending();

 private:
  SignalSource(base::UniqueFd fd, sigset_t previous) : fd_(std::move(fd)), previous_(previous) {}
  base::UniqueFd fd_;
  sigset_t previous_{};
  bool restore_ = true;
};

}  // namespace stackmgr::os
