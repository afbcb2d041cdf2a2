#include "stackmgr/supervisor/system_notifier.hpp"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "stackmgr/base/strings.hpp"
#include "stackmgr/os/pid_file.hpp"

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

SystemdNotifier::SystemdNotifier() {
  const char* name = std::getenv("NOTIFY_SOCKET");
  if (name == nullptr) return;
  // A path, or '@' and a name in the abstract namespace; anything else is ignored, as by sd_notify.
  auto address = os::unix_address(name, "NOTIFY_SOCKET", os::AbstractNames::allowed);
  if (!address) return;
  address_ = *address;
  socket_ = base::UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
}

void SystemdNotifier::send(const std::string& message) {
  if (!socket_) return;
  // A service manager that is gone or busy must not stop the supervisor: the send is best effort.
  while (::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL, address_.get(),
                  address_.size) < 0 &&
         errno == EINTR) {
  }
}

void SystemdNotifier::ready(const std::string& status) { send("READY=1\nSTATUS=" + one_line(status)); }

void SystemdNotifier::status(const std::string& status) { send("STATUS=" + one_line(status)); }

void SystemdNotifier::stopping() { send("STOPPING=1"); }

void SystemdNotifier::watchdog() { send("WATCHDOG=1"); }

std::chrono::microseconds systemd_watchdog_interval() {
  const char* usec = std::getenv("WATCHDOG_USEC");
  if (usec == nullptr) return std::chrono::microseconds{0};
  if (const char* pid = std::getenv("WATCHDOG_PID")) {
    const auto owner = os::parse_pid(pid);
    if (!owner || *owner != getpid()) return std::chrono::microseconds{0};  // meant for another process
  }
  const auto interval = base::parse_number<std::int64_t>(usec);
  if (!interval || *interval <= 0) return std::chrono::microseconds{0};
  return std::chrono::microseconds{*interval};
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
