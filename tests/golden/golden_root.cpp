// golden_root: builds one fixture root exactly as the binary-level tests do, runs one command on
// it, and removes it. The golden driver (run_case.sh) uses it so that the goldens and
// test_detect_binary / test_cmd_doctor read the same trees.
//
//   golden_root detect CASE -- PROGRAM ARGS...
//       tests/detect/fixtures/CASE laid over base (detect_test::FixtureRoot), with its libkmod
//       index built by depmod over the Debian kernel's modules (build_kmod_index);
//   golden_root doctor CASE -- PROGRAM ARGS...
//       the same for the detect case named in tests/stackmgr/fixtures/doctor/CASE/.kernel, then
//       the doctor base and CASE laid over it (doctor_root.hpp).
//
// Every "{root}" in ARGS becomes the root's path. The root is made under TMPDIR. PROGRAM runs
// with stdin from /dev/null and this process's stdout and stderr. Exit status: PROGRAM's (128 +
// signal when it was killed), 77 when the Debian kernel's module index is not installed (the
// tests it serves skip then too), 125 when golden_root itself failed (it says why on stderr).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/detect/fixture_root.hpp"
#include "tests/detect/run_process.hpp"
#include "tests/stackmgr/cli/doctor_root.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;

constexpr int kSkipped = 77;
constexpr int kFailed = 125;
const fs::path kDoctorFixtures = DOCTOR_FIXTURES;

std::string with_root(std::string arg, const std::string& root) {
  constexpr std::string_view placeholder = "{root}";
  for (std::size_t at = arg.find(placeholder); at != std::string::npos;
       at = arg.find(placeholder, at + root.size())) {
    arg.replace(at, placeholder.size(), root);
  }
  return arg;
}

// Runs argv with stdin from /dev/null; its exit status, or 128 + signal.
int run(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int started = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (started != 0) {
    std::cerr << "golden_root: cannot start " << argv[0] << ": " << std::strerror(started) << '\n';
    return kFailed;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return kFailed;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int golden_root(std::string_view kind, std::string_view name, const std::vector<std::string>& command) {
  const std::optional<std::string> release = detect_test::debian_kernel_release();
  if (!release) {
    std::cerr << "golden_root: the Debian kernel's module index (linux-image-amd64) is not installed\n";
    return kSkipped;
  }
  const std::string kernel_case =
      kind == "doctor" ? doctor_root::kernel_case(kDoctorFixtures / name) : std::string(name);
  if (kernel_case.empty()) {
    std::cerr << "golden_root: no kernel case: " << (kDoctorFixtures / name / ".kernel").string() << '\n';
    return kFailed;
  }
  const detect_test::FixtureRoot fixture(kernel_case);
  if (const detect::Status built = fixture.build_kmod_index("/lib/modules/" + *release); !built) {
    std::cerr << "golden_root: " << built.error().describe() << '\n';
    return kFailed;
  }
  if (kind == "doctor") doctor_root::lay_doctor_case(fixture.path(), kDoctorFixtures, name);
  std::vector<std::string> argv;
  for (const std::string& arg : command) argv.push_back(with_root(arg, fixture.path().string()));
  return run(argv);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 4 || (args[0] != "detect" && args[0] != "doctor") || args[2] != "--") {
    std::cerr << "usage: golden_root detect|doctor CASE -- PROGRAM ARGS...\n";
    return kFailed;
  }
  try {
    return golden_root(args[0], args[1], {args.begin() + 3, args.end()});
  } catch (const std::exception& error) {
    std::cerr << "golden_root: " << error.what() << '\n';
    return kFailed;
  }
}
