#include "stackmgr/supervisor/system_notifier.hpp"

#include <pthread.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>

namespace stackmgr::supervisor {
namespace {

// STATUS= is one line: newlines would start new assignments.
std::string one_line(const std::string& text) {
  std::string line = text;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace

void SystemdNotifier::ready(const std::string& status) {
  sd_notify(0, ("READY=1\nSTATUS=" + one_line(status)).c_str());
}

void SystemdNotifier::status(const std::string& status) {
  sd_notify(0, ("STATUS=" + one_line(status)).c_str());
}

void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1"); }

void SystemdNotifier::watchdog() { sd_notify(0, "WATCHDOG=1"); }

std::chrono::microseconds systemd_watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds{0};
  return std::chrono::microseconds{static_cast<std::int64_t>(usec)};
}

void ReadinessPipeNotifier::ready(const std::string&) {
  if (!pipe_) return;
  const char ready_byte = 'R';
  while (write(pipe_.get(), &ready_byte, 1) < 0 && errno == EINTR) {
  }
  pipe_.reset();
}

void NotifierList::ready(const std::string& status) {
  for (auto& notifier : notifiers_) notifier->ready(status);
}
void NotifierList::status(const std::string& status) {
  for (auto& notifier : notifiers_) notifier->status(status);
}
void NotifierList::stopping() {
  for (auto& notifier : notifiers_) notifier->stopping();
}
void NotifierList::watchdog() {
  for (auto& notifier : notifiers_) notifier->watchdog();
}

WatchdogKeepalive::WatchdogKeepalive(Notifier& notifier, std::chrono::microseconds period) {
  notifier.watchdog();
  thread_ = std::thread([this, &notifier, period] {
    sigset_t all;  // signals are the main thread's business (its signalfd)
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_.wait_for(lock, period, [this] { return stopping_; })) notifier.watchdog();
  });
}

WatchdogKeepalive::~WatchdogKeepalive() {
  {
    const std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  thread_.join();
}

}  // namespace stackmgr::supervisor
