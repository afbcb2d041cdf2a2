#pragma once
// Telling the service manager about stackmgr itself: systemd through its notify protocol (READY=1,
// STATUS=, STOPPING=1, WATCHDOG=1), and the waiting parent of `start --daemon` through a pipe.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stackmgr/base/unique_fd.hpp"
#include "stackmgr/os/unix_address.hpp"

namespace stackmgr::supervisor {

class Notifier {
 public:
  virtual ~Notifier() = default;
  // stackmgr is ready: the stack is live and the daemon reported ready. `status` names both.
  virtual void ready(const std::string& status) = 0;
  virtual void status(const std::string& status) = 0;
  virtual void stopping() = 0;
  virtual void watchdog() = 0;
};

// The notify protocol of sd_notify(3): one datagram per call to the socket $NOTIFY_SOCKET named
// when this was made (a path, or '@' for the abstract namespace). Without one (not under
// systemd) every call is a no-op; a failed send is ignored, as with sd_notify.
class SystemdNotifier final : public Notifier {
 public:
  SystemdNotifier();
  void ready(const std::string& status) override;
  void status(const std::string& status) override;
  void stopping() override;
  void watchdog() override;

 private:
  void send(const std::string& message);
  os::UnixAddress address_{};
  base::UniqueFd socket_;
};

// The watchdog interval systemd asks for (WATCHDOG_USEC, when WATCHDOG_PID is unset or our
// pid), or 0 when none or malformed.
std::chrono::microseconds systemd_watchdog_interval();

// `start --daemon`: the child writes one byte 'R' into the pipe once ready; the parent, blocked
// on the read end, then exits 0. Any other outcome closes the pipe unwritten (the child exits).
class ReadinessPipeNotifier final : public Notifier {
 public:
  explicit ReadinessPipeNotifier(base::UniqueFd write_end) : pipe_(std::move(write_end)) {}
  void ready(const std::string& status) override;
  void status(const std::string&) override {}
  void stopping() override {}
  void watchdog() override {}

 private:
  base::UniqueFd pipe_;
};

// Sends every notification to each notifier in turn.
class NotifierList final : public Notifier {
 public:
  void add(std::unique_ptr<Notifier> notifier) { notifiers_.push_back(std::move(notifier)); }
  void ready(const std::string& status) override;
  void status(const std::string& status) override;
  void stopping() override;
  void watchdog() override;

 private:
  std::vector<std::unique_ptr<Notifier>> notifiers_;
};

// Keeps the watchdog fed from a thread of its own while it lives: `start` holds one from its
// first step until the supervisor's loop runs, since recovering an interrupted switch and
// reading the host come before the loop and may outlast WatchdogSec. Pings at `period`.
class WatchdogKeepalive {
 public:
  WatchdogKeepalive(Notifier& notifier, std::chrono::microseconds period);
  WatchdogKeepalive(const WatchdogKeepalive&) = delete;
  WatchdogKeepalive& operator=(const WatchdogKeepalive&) = delete;
  // Stops pinging (and joins the thread) before it returns.
  ~WatchdogKeepalive();

 private:
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace stackmgr::supervisor
