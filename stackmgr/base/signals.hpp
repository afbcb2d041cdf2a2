#pragma once
// Signal numbers as people read them.

#include <string>

namespace stackmgr::base {

// "SIGTERM", "SIGKILL"; "signal 64" for a number the C library has no name for.
std::string signal_name(int signo);

}  // namespace stackmgr::base
