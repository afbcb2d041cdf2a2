#include "tests/detect/fixture_root.hpp"

#include <stdlib.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/detect/run_process.hpp"

namespace detect_test {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = STACKMGR_DETECT_FIXTURES;

// A module that needs nothing and exports nothing: stands in for KLIPS's .ko in the index.
constexpr std::string_view kStandIn = "kernel/arch/x86/kernel/cpu/mce/mce-inject.ko";

void overlay(const fs::path& from, const fs::path& to) {
  for (const auto& entry : fs::recursive_directory_iterator(from)) {
    const fs::path relative = fs::relative(entry.path(), from);
    if (relative == ".remove" || relative == ".case") continue;
    const fs::path target = to / relative;
    if (entry.is_directory()) {
      fs::create_directories(target);
    } else if (relative.filename() != ".keep") {
      fs::create_directories(target.parent_path());
      fs::copy_file(entry.path(), target, fs::copy_options::overwrite_existing);
    }
  }
}

}  // namespace

FixtureRoot::FixtureRoot(std::string_view name) {
  const fs::path source = kFixtures / name;
  if (!fs::is_directory(source)) throw std::runtime_error("no fixture case " + source.string());
  std::string pattern = (fs::temp_directory_path() / "stackmgr-fixture-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
  overlay(kFixtures / "base", path_);
  std::ifstream removals(source / ".remove");
  for (std::string line; std::getline(removals, line);) {
    if (!line.empty()) fs::remove_all(path_ / line);
  }
  overlay(source, path_);
}

FixtureRoot::~FixtureRoot() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void FixtureRoot::write(std::string_view relative, std::string_view content) const {
  const fs::path file = path_ / relative;
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

detect::Status FixtureRoot::build_kmod_index(const fs::path& real_modules_dir) const {
  const fs::path dir = path_ / "lib/modules" / kRelease;
  if (!fs::is_directory(dir)) return {};  // a case without a module index keeps none
  std::ifstream dep(dir / "modules.dep");
  for (std::string line; std::getline(dep, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string relative = line.substr(0, colon);
    fs::path real = real_modules_dir / relative;
    if (!fs::exists(real)) real = real_modules_dir / kStandIn;
    if (!fs::exists(real))
      return detect::Error{ENOENT, "no real module for " + relative + " in " + real_modules_dir.string()};
    fs::create_directories((dir / relative).parent_path());
    std::error_code ignored;
    fs::create_symlink(real, dir / relative, ignored);
  }
  const std::string depmod_path = fs::exists("/sbin/depmod") ? "/sbin/depmod" : "depmod";
  const ProcessResult depmod = run_process({depmod_path, "-b", path_.string(), std::string(kRelease)});
  if (depmod.exit_code != 0) return detect::Error{0, "depmod failed: " + depmod.err};
  return {};
}

}  // namespace detect_test
