#include "stackmgr/base/signals.hpp"

#include <cstring>

namespace stackmgr::base {

std::string signal_name(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  if (abbrev == nullptr) return "signal " + std::to_string(signo);
  return std::string("SIG") + abbrev;
}

}  // namespace stackmgr::base
