#pragma once
// Runs a short-lived helper program (iptables-save) and captures its output. fork + execve
// with an explicit argv and environment: never a shell, never a PATH search.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "detect/error.hpp"

namespace stackmgr {

struct CaptureLimits {
  std::chrono::milliseconds timeout{5000};  // then SIGKILL, and ETIMEDOUT
  std::size_t max_output = 8u << 20;        // bytes kept of stdout (and of stderr); the rest is drained
};

struct Captured {
  int exit_code = -1;  // the exit status; 128 + N when killed by signal N
  std::string out;     // stdout
  std::string err;     // stderr
  bool truncated = false;
};

// Runs argv (argv[0] absolute) with `environment` ("KEY=VALUE"), stdin from /dev/null. Fails
// with the exec errno (ENOENT, EACCES) or ETIMEDOUT; a non-zero exit is a result, not an error.
detect::Result<Captured> run_capture(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& environment,
                                     const CaptureLimits& limits = {});

}  // namespace stackmgr
