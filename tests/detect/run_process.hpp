#pragma once
// Runs a program (argv, no shell) and captures its exit code, stdout and stderr: for the
// binary-level tests, the Debian index lookup and the bench.

#include <optional>
#include <string>
#include <vector>

namespace detect_test {

struct ProcessResult {
  int exit_code = -1;  // the exit status, or 128 + signal; -1 when it could not be started
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH when it has no '/') with stdin from /dev/null.
ProcessResult run_process(const std::vector<std::string>& argv);

// The release of the kernel that Debian's linux-image-amd64 metapackage depends on
// ("6.1.0-56-amd64", from dpkg-query), when its /lib/modules/<release>/modules.dep.bin exists.
std::optional<std::string> debian_kernel_release();

}  // namespace detect_test
