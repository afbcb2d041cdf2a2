#include "detect/subsystem.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

constexpr int kCapSysModule = 16;

bool is_safe_release(std::string_view release) {
  if (release.empty() || release.size() > 64 || release == "." || release == "..") return false;
  for (const char c : release) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == '+' || c == '~';
    if (!ok) return false;
  }
  return true;
}

Fact read_modules_disabled(const HostRoot& root, Fact supported, std::vector<std::string>& notes) {
  constexpr std::string_view file = "proc/sys/kernel/modules_disabled";
  const auto content = root.read(file, 64);
  if (!content) {
    if (content.error().code == ENOENT && supported == Fact::no) {
      notes.push_back("/proc/sys/kernel/modules_disabled does not exist: the kernel has no module support");
    } else if (content.error().code == ENOENT) {
      notes.push_back("/proc/sys/kernel/modules_disabled does not exist (is /proc/sys mounted?)");
    } else {
      notes.push_back("cannot read modules_disabled: " + content.error().describe());
    }
    return Fact::unknown;
  }
  const std::string value(stackmgr::base::trim(*content));
  if (value == "0") return Fact::no;
  if (value == "1") return Fact::yes;
  notes.push_back("/proc/sys/kernel/modules_disabled holds '" + value.substr(0, 16) + "', not 0 or 1");
  return Fact::unknown;
}

}  // namespace

KernelRelease read_kernel_release(const HostRoot& root) {
  KernelRelease result;
  const auto content = root.read("proc/sys/kernel/osrelease", 256);
  std::string why;
  if (content) {
    result.release = std::string(stackmgr::base::trim(*content));
    if (is_safe_release(result.release)) return result;
    why = "/proc/sys/kernel/osrelease holds '" + result.release.substr(0, 64) + "', not a kernel release";
  } else {
    why = content.error().describe();
  }
  result.release.clear();
  utsname names{};
  if (::uname(&names) == 0 && is_safe_release(names.release)) {
    result.release = names.release;
    result.note = "kernel release from uname() (" + why + ")";
    return result;
  }
  result.note = "cannot find the kernel release: " + why;
  return result;
}

std::filesystem::path modules_dir_for(const HostRoot& root, const std::string& release) {
  const std::string lib = "lib/modules/" + release;
  if (root.exists(lib)) return root.path(lib);
  const std::string usr = "usr/lib/modules/" + release;
  if (root.exists(usr)) return root.path(usr);
  return root.path(lib);
}

bool proc_mounted(const HostRoot& root) { return root.exists("proc/sys") || root.exists("proc/self"); }

Fact capability_in(std::string_view status_text, std::string_view field, int capability) {
  std::size_t pos = 0;
  while (pos < status_text.size()) {
    const std::size_t end = std::min(status_text.find('\n', pos), status_text.size());
    const std::string_view line = status_text.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, field.size()) != field || line.size() <= field.size() || line[field.size()] != ':')
      continue;
    const auto mask =
        stackmgr::base::parse_number<std::uint64_t>(stackmgr::base::trim(line.substr(field.size() + 1)), 16);
    if (!mask) return Fact::unknown;
    return (*mask >> capability) & 1U ? Fact::yes : Fact::no;
  }
  return Fact::unknown;
}

ModuleSubsystem read_subsystem(const HostRoot& root) {
  ModuleSubsystem subsystem;
  const bool proc = proc_mounted(root);
  if (root.exists("proc/modules")) {
    subsystem.supported = Fact::yes;
  } else if (proc) {
    subsystem.supported = Fact::no;
    subsystem.notes.push_back("/proc/modules does not exist: the kernel was built without module support");
  } else {
    subsystem.notes.push_back("/proc is not mounted: cannot tell whether the kernel supports modules");
  }
  subsystem.modules_disabled = read_modules_disabled(root, subsystem.supported, subsystem.notes);

  if (const auto status = root.read("proc/self/status", 1 << 16)) {
    subsystem.cap_sys_module = capability_in(*status, "CapEff", kCapSysModule);
    subsystem.cap_sys_module_bounding = capability_in(*status, "CapBnd", kCapSysModule);
    if (subsystem.cap_sys_module == Fact::unknown) {
      subsystem.notes.push_back("/proc/self/status has no readable CapEff line");
    }
  } else {
    subsystem.notes.push_back("cannot read capabilities: " + status.error().describe());
  }

  const KernelRelease release = read_kernel_release(root);
  subsystem.kernel_release = release.release;
  if (!release.note.empty()) subsystem.notes.push_back(release.note);
  if (!release.release.empty()) {
    const std::filesystem::path dir = modules_dir_for(root, release.release);
    subsystem.modules_dir = dir.string();
    std::error_code ignored;
    subsystem.modules_dir_exists = std::filesystem::is_directory(dir, ignored);
    if (!subsystem.modules_dir_exists) {
      subsystem.notes.push_back(subsystem.modules_dir + " does not exist: no module index for this kernel");
    }
  }
  return subsystem;
}

}  // namespace detect
