#include "stackmgr/supervisor/notify_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stackmgr/os/unix_address.hpp"

namespace stackmgr::supervisor {
namespace {

constexpr std::size_t kMaxDatagram = 4096;
constexpr std::size_t kMaxPassedFds = 16;

void close_passed_fds(msghdr& message) {
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
      if (fd >= 0) ::close(fd);
    }
  }
}

std::optional<ucred> credentials_of(msghdr& message) {
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr; header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS &&
        header->cmsg_len == CMSG_LEN(sizeof(ucred))) {
      ucred credentials{};
      std::memcpy(&credentials, CMSG_DATA(header), sizeof credentials);
      return credentials;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> NotifyMessage::get(const std::string& key) const {
  std::optional<std::string> value;
  for (const auto& [name, text] : fields) {
    if (name == key) value = text;
  }
  return value;
}

std::optional<NotifyMessage> parse_notify_payload(std::string_view payload) {
  NotifyMessage message;
  std::size_t at = 0;
  while (at < payload.size()) {
    std::size_t end = payload.find('\n', at);
    if (end == std::string_view::npos) end = payload.size();
    const std::string_view line = payload.substr(at, end - at);
    at = end + 1;
    const std::size_t equals = line.find('=');
    if (equals == std::string_view::npos || equals == 0) continue;
    message.fields.emplace_back(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
  }
  if (message.fields.empty()) return std::nullopt;
  return message;
}

detect::Result<NotifyListener> NotifyListener::bind(const std::filesystem::path& path) {
  const std::string text = path.string();
  const auto address = os::unix_address(text, "notify socket");
  if (!address) return address.error();
  base::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return detect::error_from_errno(errno, "creating the notify socket");
  const int on = 1;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    return detect::error_from_errno(errno, "enabling SO_PASSCRED on the notify socket");
  }
  if (unlink(text.c_str()) != 0 && errno != ENOENT) {
    return detect::error_from_errno(errno, "removing the stale notify socket " + text);
  }
  const mode_t old_mask = umask(0177);
  const int bound = ::bind(fd.get(), address->get(), address->size);
  const int bind_errno = errno;
  umask(old_mask);
  if (bound != 0) return detect::error_from_errno(bind_errno, "binding the notify socket " + text);
  if (chmod(text.c_str(), 0600) != 0) return detect::error_from_errno(errno, "chmod 0600 " + text);
  return NotifyListener(std::move(fd), path);
}

NotifyListener::~NotifyListener() {
  if (fd_) unlink(path_.c_str());
}

std::vector<NotifyMessage> NotifyListener::receive() {
  std::vector<NotifyMessage> messages;
  for (;;) {
    char payload[kMaxDatagram];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
    iovec vector{payload, sizeof payload};
    msghdr message{};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t got = recvmsg(fd_.get(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (got < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    close_passed_fds(message);
    const auto credentials = credentials_of(message);
    if (!credentials || (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || got == 0) continue;
    auto parsed = parse_notify_payload(std::string_view(payload, static_cast<std::size_t>(got)));
    if (!parsed) continue;
    parsed->pid = credentials->pid;
    parsed->uid = credentials->uid;
    messages.push_back(std::move(*parsed));
  }
  return messages;
}

}  // namespace stackmgr::supervisor
