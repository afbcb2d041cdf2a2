#include "stackmgr/os/unix_address.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

namespace stackmgr::os {

detect::Result<UnixAddress> unix_address(std::string_view name, std::string_view what,
                                         AbstractNames abstract) {
  UnixAddress result;
  const bool is_abstract = abstract == AbstractNames::allowed && name.size() >= 2 && name[0] == '@';
  // A path needs room for its terminating NUL; an abstract name has none.
  if (name.empty() || (name[0] != '/' && !is_abstract) || name.size() >= sizeof result.address.sun_path) {
    const std::string allowed =
        abstract == AbstractNames::allowed ? "absolute (or '@' and a name)" : "absolute";
    return detect::Error{ENAMETOOLONG, std::string(what) + " path '" + std::string(name) + "': must be " +
                                           allowed + " and under " +
                                           std::to_string(sizeof result.address.sun_path) + " bytes"};
  }
  result.address.sun_family = AF_UNIX;
  std::memcpy(result.address.sun_path, name.data(), name.size());
  if (is_abstract) result.address.sun_path[0] = '\0';
  result.size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (is_abstract ? 0 : 1));
  return result;
}

}  // namespace stackmgr::os
