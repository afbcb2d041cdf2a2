#pragma once
// A config of the test's own for running the real binary on the real root: run_dir, state_dir
// and ipsec_conf in a private temp directory, so no real supervisor, lock or state file of the
// host is touched. Root-owned and 0644, so stackmgr trusts it (when the test runs as root).

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace testconfig {

class TempConfig {
 public:
  // `extra` is appended to the file (more sections; the [paths] section is written first).
  explicit TempConfig(const std::string& extra = "") {
    std::string pattern = (std::filesystem::temp_directory_path() / "stackmgr-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
    ::chmod(dir_.c_str(), 0755);
    std::ofstream(file()) << "[paths]\nrun_dir = \"" << run_dir().string() << "\"\nstate_dir = \""
                          << state_dir().string() << "\"\nipsec_conf = \"" << (dir_ / "ipsec.conf").string()
                          << "\"\n"
                          << extra;
    ::chmod(file().c_str(), 0644);
  }
  TempConfig(const TempConfig&) = delete;
  TempConfig& operator=(const TempConfig&) = delete;
  ~TempConfig() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  [[nodiscard]] std::filesystem::path file() const { return dir_ / "stackmgr.toml"; }
  [[nodiscard]] std::filesystem::path run_dir() const { return dir_ / "run"; }
  [[nodiscard]] std::filesystem::path state_dir() const { return dir_ / "state"; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace testconfig
