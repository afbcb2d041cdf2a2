#include "stackmgr/base/host_failure.hpp"

#include <cerrno>
#include <cstring>

namespace stackmgr::base {

bool is_filesystem_failure(int error_number) {
  switch (error_number) {
    case EROFS:
    case ENOSPC:
    case EDQUOT:
    case EACCES:
    case EIO:
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case EMLINK: return true;
    default: return false;
  }
}

Exit exit_for_error(int error_number) {
  if (error_number == 0) return Exit::config;
  if (error_number == EPERM) return Exit::permission;
  if (is_filesystem_failure(error_number)) return Exit::filesystem;
  return Exit::internal;
}

std::string errno_name(int error_number) {
  const char* name = strerrorname_np(error_number);
  return name != nullptr ? std::string(name) : "errno " + std::to_string(error_number);
}

std::string filesystem_advice(int error_number) {
  return "(" + errno_name(error_number) +
         ": the host's file system refused it; make it writable, free space or fix its permissions, then "
         "run stackmgr again)";
}

}  // namespace stackmgr::base
