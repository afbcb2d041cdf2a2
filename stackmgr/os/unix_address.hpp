#pragma once
// The address of a Unix socket, as bind(2), connect(2) and sendto(2) take it.

#include <sys/socket.h>
#include <sys/un.h>

#include <string_view>

#include "detect/error.hpp"

namespace stackmgr::os {

struct UnixAddress {
  sockaddr_un address{};
  socklen_t size = 0;  // the bytes of `address` in use: pass it with the address
  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&address); }
};

enum class AbstractNames { refused, allowed };

// The address of `name`: an absolute path, or with AbstractNames::allowed also '@' and a name
// in the abstract namespace (as NOTIFY_SOCKET gives it). ENAMETOOLONG, naming `what` ("control
// socket"), for anything else: empty, relative, or too long for sun_path.
detect::Result<UnixAddress> unix_address(std::string_view name, std::string_view what,
                                         AbstractNames abstract = AbstractNames::refused);

}  // namespace stackmgr::os
