#pragma once
// A doctor case's tree (tests/stackmgr/fixtures/doctor): the kernel side is a tests/detect
// fixture case, named in the case's .kernel file and built by detect_test::FixtureRoot; over it
// go fixtures/doctor/base and then the case's own files. Shared by test_cmd_doctor and the
// golden tests, so that both run `stackmgr doctor` on the same tree.

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace doctor_root {

// The tests/detect fixture case that `doctor_case` (a directory) names in its .kernel file.
inline std::string kernel_case(const std::filesystem::path& doctor_case) {
  std::ifstream in(doctor_case / ".kernel");
  std::string line;
  std::getline(in, line);
  return line;
}

// Copies the files of `from` over `to`, all but the case's own notes (.case, .kernel).
inline void overlay(const std::filesystem::path& from, const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  for (const auto& entry : fs::recursive_directory_iterator(from)) {
    const fs::path relative = fs::relative(entry.path(), from);
    if (relative == ".case" || relative == ".kernel") continue;
    if (entry.is_directory()) {
      fs::create_directories(to / relative);
    } else {
      fs::create_directories((to / relative).parent_path());
      fs::copy_file(entry.path(), to / relative, fs::copy_options::overwrite_existing);
    }
  }
}

// Lays `doctor_fixtures`/base, then `doctor_fixtures`/`name`, over the kernel tree at `root`.
inline void lay_doctor_case(const std::filesystem::path& root, const std::filesystem::path& doctor_fixtures,
                            std::string_view name) {
  overlay(doctor_fixtures / "base", root);
  overlay(doctor_fixtures / name, root);
}

}  // namespace doctor_root
