#include "stackmgr/os/event_loop.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <utility>

namespace stackmgr::os {

detect::Result<EventLoop> EventLoop::create() {
  base::UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return detect::error_from_errno(errno, "creating the epoll instance");
  return EventLoop(std::move(epoll));
}

detect::Status EventLoop::watch(int fd, std::uint32_t events, Handler handler) {
  const std::uint64_t token = next_token_;
  epoll_event event{};
  event.events = events;
  event.data.u64 = token;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return detect::error_from_errno(errno, "adding fd " + std::to_string(fd) + " to epoll");
  }
  ++next_token_;
  tokens_[fd] = token;
  (*handlers_)[token] = std::make_shared<Handler>(std::move(handler));
  return {};
}

detect::Status EventLoop::modify(int fd, std::uint32_t events) {
  const auto found = tokens_.find(fd);
  if (found == tokens_.end())
    return detect::Error{ENOENT, "changing fd " + std::to_string(fd) + ": not watched"};
  epoll_event event{};
  event.events = events;
  event.data.u64 = found->second;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event) != 0) {
    return detect::error_from_errno(errno, "changing fd " + std::to_string(fd) + " in epoll");
  }
  return {};
}

void EventLoop::unwatch(int fd) {
  const auto found = tokens_.find(fd);
  if (found == tokens_.end()) return;
  handlers_->erase(found->second);
  tokens_.erase(found);
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::set_deadline(DeadlineSource source, std::function<void()> on_deadline) {
  deadline_ = std::move(source);
  on_deadline_ = std::move(on_deadline);
}

detect::Status EventLoop::run() {
  stopped_ = false;
  while (!stopped_) {
    if (auto status = wait_and_dispatch(std::nullopt); !status) return status;
  }
  return {};
}

detect::Status EventLoop::run_once(std::chrono::milliseconds timeout) { return wait_and_dispatch(timeout); }

detect::Status EventLoop::wait_and_dispatch(std::optional<std::chrono::milliseconds> cap) {
  using std::chrono::milliseconds;
  // The one deadline: fire it first if it has passed, else sleep until it (or an fd).
  std::optional<base::SteadyTime> deadline = deadline_ ? deadline_() : std::nullopt;
  if (deadline && std::chrono::steady_clock::now() >= *deadline) {
    if (on_deadline_) on_deadline_();
    return {};
  }
  int timeout_ms = -1;
  if (deadline) {
    const auto remaining = *deadline - std::chrono::steady_clock::now();
    // Round up: waking a millisecond early would just loop once more.
    const auto ms = std::chrono::ceil<milliseconds>(remaining).count();
    timeout_ms = static_cast<int>(std::min<long long>(ms, INT_MAX));
  }
  if (cap)
    timeout_ms = timeout_ms < 0 ? static_cast<int>(cap->count())
                                : std::min(timeout_ms, static_cast<int>(cap->count()));

  epoll_event events[16];
  const int ready = epoll_wait(epoll_.get(), events, 16, timeout_ms);
  if (ready < 0) {
    if (errno == EINTR) return {};
    return detect::error_from_errno(errno, "waiting in epoll");
  }
  // Keep the handlers map alive and look each registration up again: an earlier handler may
  // have unwatched (and closed) a later fd, and even watched a new fd under the same number.
  auto handlers = handlers_;
  for (int i = 0; i < ready && !stopped_; ++i) {
    // epoll_event is packed on x86-64: copy its members out before taking references to them.
    const std::uint64_t token = events[i].data.u64;
    const std::uint32_t ready_events = events[i].events;
    auto found = handlers->find(token);
    if (found == handlers->end()) continue;
    std::shared_ptr<Handler> handler = found->second;
    (*handler)(ready_events);
  }
  if (ready == 0 && deadline && std::chrono::steady_clock::now() >= *deadline && on_deadline_ && !stopped_) {
    on_deadline_();
  }
  return {};
}

detect::Result<SignalSource> SignalSource::create(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int signo : signals) sigaddset(&mask, signo);
  sigset_t previous;
  if (sigprocmask(SIG_BLOCK, &mask, &previous) != 0)
    return detect::error_from_errno(errno, "blocking signals");
  base::UniqueFd fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) {
    const int saved = errno;
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    return detect::error_from_errno(saved, "creating the signalfd");
  }
  return SignalSource(std::move(fd), previous);
}

SignalSource::SignalSource(SignalSource&& other) noexcept
    : fd_(std::move(other.fd_)), previous_(other.previous_), restore_(std::exchange(other.restore_, false)) {}

SignalSource::~SignalSource() {
  if (restore_) sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

std::vector<int> SignalSource::read_pending() {
  std::vector<int> signals;
  for (;;) {
    signalfd_siginfo info{};
    const ssize_t got = read(fd_.get(), &info, sizeof info);
    if (got < 0 && errno == EINTR) continue;
    if (got != static_cast<ssize_t>(sizeof info)) break;
    signals.push_back(static_cast<int>(info.ssi_signo));
  }
  return signals;
}

}  // namespace stackmgr::os
