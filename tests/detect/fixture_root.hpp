#pragma once
// Fixture roots for detection tests: tests/detect/fixtures/base with one case laid over it,
// copied into a temp directory so tests (and depmod) may change it freely.

#include <filesystem>
#include <string>
#include <string_view>

#include "detect/error.hpp"
#include "detect/host.hpp"

namespace detect_test {

class FixtureRoot {
 public:
  // Copies fixtures/base, deletes the paths listed in fixtures/<name>/.remove, then copies
  // fixtures/<name> over it. Throws std::runtime_error when the case does not exist.
  explicit FixtureRoot(std::string_view name);
  ~FixtureRoot();
  FixtureRoot(const FixtureRoot&) = delete;
  FixtureRoot& operator=(const FixtureRoot&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] detect::HostRoot host() const { return detect::HostRoot(path_); }

  // Writes `content` to `relative`, creating parent directories.
  void write(std::string_view relative, std::string_view content) const;

  // Turns the fixture's text modules.dep into a real libkmod index: links each .ko it names to
  // the same path under `real_modules_dir` (KLIPS modules, which Debian lacks, to a module that
  // exports nothing) and runs depmod -b on the fixture's release.
  [[nodiscard]] detect::Status build_kmod_index(const std::filesystem::path& real_modules_dir) const;

  // The fixture's kernel release (proc/sys/kernel/osrelease of the base).
  static constexpr std::string_view kRelease = "6.1.0-fixture";

 private:
  std::filesystem::path path_;
};

}  // namespace detect_test
