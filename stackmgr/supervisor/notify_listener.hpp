#pragma once
// The NOTIFY_SOCKET stackmgr owns for the keying daemon: a datagram socket at a path under
// run_dir (not abstract: abstract sockets are per network namespace). Every message carries the
// sender's credentials (SO_PASSCRED), so READY=1 counts only from the daemon's own pid.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detect/error.hpp"
#include "stackmgr/base/unique_fd.hpp"

namespace stackmgr::supervisor {

// One sd_notify datagram: "KEY=VALUE" lines, with the kernel-verified sender.
struct NotifyMessage {
  pid_t pid = 0;
  uid_t uid = 0;
  std::vector<std::pair<std::string, std::string>> fields;  // in the order sent

  // The value of the last `key` in the message, if present.
  [[nodiscard]] std::optional<std::string> get(const std::string& key) const;
  [[nodiscard]] bool ready() const { return get("READY") == "1"; }
};

// Parses a datagram's payload. Lines without '=' or with an empty key are skipped; returns
// nullopt when nothing valid is left.
std::optional<NotifyMessage> parse_notify_payload(std::string_view payload);

class NotifyListener {
 public:
  // Binds a fresh socket at `path` (removing a stale one; the caller holds the instance lock),
  // mode 0600, non-blocking, with SO_PASSCRED.
  static detect::Result<NotifyListener> bind(const std::filesystem::path& path);

  NotifyListener(NotifyListener&&) = default;
  NotifyListener& operator=(NotifyListener&&) = default;
  ~NotifyListener();

  // For epoll: readable when datagrams wait.
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  // Reads every waiting datagram without blocking. Datagrams without credentials, truncated
  // ones (over 4 KiB) and empty ones are dropped; fds passed along are closed at once.
  std::vector<NotifyMessage> receive();

 private:
  NotifyListener(base::UniqueFd fd, std::filesystem::path path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  base::UniqueFd fd_;
  std::filesystem::path path_;
};

}  // namespace stackmgr::supervisor
