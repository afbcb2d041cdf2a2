#pragma once
// Small host roots for running the real binary with --root: a kernel whose /proc says what
// the test needs, built in a temporary directory.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace testroot {

class FixtureRoot {
 public:
  // A kernel without module support: /proc is "mounted" (proc/sys exists), /proc/modules
  // is not, and no module index exists for its release.
  FixtureRoot() {
    std::string pattern = (std::filesystem::temp_directory_path() / "stackmgr-root-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
    write("proc/sys/kernel/osrelease", "6.1.0-fixture\n");
    write("proc/net/dev", "");
    std::filesystem::create_directories(path_ / "sys/class/net");
  }
  FixtureRoot(const FixtureRoot&) = delete;
  FixtureRoot& operator=(const FixtureRoot&) = delete;
  ~FixtureRoot() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  void write(const std::string& relative, const std::string& text) const {
    std::filesystem::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative) << text;
  }
  // The kernel has `module` built in (a /sys/module directory without initstate).
  void builtin(const std::string& module) const {
    std::filesystem::create_directories(path_ / "sys/module" / module);
  }

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace testroot
