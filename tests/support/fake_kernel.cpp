#include "tests/support/fake_kernel.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <sstream>

#include "detect/proc_modules.hpp"

namespace fake {
namespace {

using detect::DiskState;
using detect::Error;
using detect::InitState;
using detect::Stack;

// "kernel/net/key/af_key.ko.xz" -> "af_key"; '-' becomes '_' as in the kernel.
std::string module_name_from_path(std::string path) {
  path = path.substr(path.find_last_of('/') + 1);
  path = path.substr(0, path.find(".ko"));
  std::replace(path.begin(), path.end(), '-', '_');
  return path;
}

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

}  // namespace

FakeKernel::FakeKernel(detect::Catalog catalog) : catalog_(std::move(catalog)) {}

FakeKernel FakeKernel::from_fixture(const detect::HostRoot& root, detect::Catalog catalog) {
  FakeKernel kernel(std::move(catalog));
  const auto release = root.read("proc/sys/kernel/osrelease");
  const std::string version = release ? trim(*release) : "";
  const std::string moddir = "lib/modules/" + version;

  kernel.index_readable_ = !version.empty() && root.exists(moddir);
  if (const auto dep = root.read(moddir + "/modules.dep")) {
    std::istringstream lines(*dep);
    for (std::string line; std::getline(lines, line);) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::vector<std::string> deps;
      std::istringstream words(line.substr(colon + 1));
      for (std::string word; words >> word;) deps.push_back(module_name_from_path(word));
      kernel.add_module(module_name_from_path(line.substr(0, colon)), DiskState::available, deps);
    }
  }
  if (const auto builtin = root.read(moddir + "/modules.builtin")) {
    std::istringstream lines(*builtin);
    for (std::string line; std::getline(lines, line);) {
      if (!trim(line).empty()) kernel.add_module(module_name_from_path(trim(line)), DiskState::builtin);
    }
  }
  for (const char* dir : {"etc/modprobe.d", "run/modprobe.d", "lib/modprobe.d"}) {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(root.path(dir), ignored)) {
      if (entry.path().extension() != ".conf") continue;
      const auto conf = root.read(std::filesystem::relative(entry.path(), root.root()).string());
      if (!conf) continue;
      std::istringstream lines(*conf);
      for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string keyword, name;
        words >> keyword >> name;
        if (keyword == "blacklist" && !name.empty()) kernel.module(name).blacklisted = true;
        if (keyword == "install" && !name.empty()) {
          std::string command;
          std::getline(words, command);
          kernel.module(name).install_command = trim(command);
        }
      }
    }
  }
  const auto proc_modules = root.read("proc/modules");
  kernel.module_support_ = proc_modules.ok();
  if (proc_modules) {
    // A malformed table fails as the real backend's parser fails; well-formed lines still load.
    if (const auto parsed = detect::parse_proc_modules(*proc_modules); !parsed) {
      kernel.loaded_problem_ = parsed.error().message;
    }
  }
  if (proc_modules) {
    // name size refcnt holders, state address
    std::istringstream lines(*proc_modules);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string name, size, refcnt, holders, state;
      if (!(words >> name >> size >> refcnt >> holders >> state)) continue;
      Module& entry = kernel.module(name);
      if (entry.disk == DiskState::absent) entry.disk = DiskState::available;
      entry.loaded = true;
      entry.state = state == "Loading"     ? InitState::coming
                    : state == "Unloading" ? InitState::going
                                           : InitState::live;
      const int holder_count =
          holders == "-" ? 0 : static_cast<int>(std::count(holders.begin(), holders.end(), ','));
      entry.user_refs = std::max(0, std::atoi(refcnt.c_str()) - holder_count);
    }
    // Holders listed in /proc/modules must depend on the module for holders_of() to agree.
    std::istringstream again(*proc_modules);
    for (std::string line; std::getline(again, line);) {
      std::istringstream words(line);
      std::string name, size, refcnt, holders;
      if (!(words >> name >> size >> refcnt >> holders) || holders == "-") continue;
      std::istringstream list(holders);
      for (std::string holder; std::getline(list, holder, ',');) {
        if (holder.empty()) continue;
        auto& deps = kernel.module(holder).deps;
        if (std::find(deps.begin(), deps.end(), name) == deps.end()) deps.push_back(name);
      }
    }
  }
  return kernel;
}

FakeKernel::Module& FakeKernel::module(const std::string& name) { return modules_[name]; }

void FakeKernel::add_module(const std::string& name, DiskState disk, std::vector<std::string> deps) {
  Module& entry = module(name);
  entry.disk = disk;
  entry.deps = std::move(deps);
}

void FakeKernel::set_loaded(const std::string& name, InitState state) {
  Module& entry = module(name);
  if (entry.disk == DiskState::absent) entry.disk = DiskState::available;
  entry.loaded = true;
  entry.state = state;
}

void FakeKernel::set_blacklisted(const std::string& name, bool blacklisted) {
  module(name).blacklisted = blacklisted;
}

void FakeKernel::hold(const std::string& name) { ++module(name).user_refs; }
void FakeKernel::release(const std::string& name) {
  Module& entry = module(name);
  entry.user_refs = std::max(0, entry.user_refs - 1);
}

void FakeKernel::fail_insert(const std::string& name, int errnum) { module(name).insert_errno = errnum; }
void FakeKernel::fail_remove(const std::string& name, int errnum) { module(name).remove_errno = errnum; }
void FakeKernel::fail_insert_silently(const std::string& name) { module(name).silent_failure = true; }
void FakeKernel::stay_coming(const std::string& name, int polls) { module(name).coming_polls = polls; }
void FakeKernel::stay_going(const std::string& name, int polls) { module(name).going_polls = polls; }

void FakeKernel::clear_faults() {
  for (auto& [name, entry] : modules_) {
    entry.insert_errno = entry.remove_errno = 0;
    entry.silent_failure = false;
    entry.coming_polls = entry.going_polls = 0;
  }
}

bool FakeKernel::is_loaded(const std::string& name) const {
  const auto found = modules_.find(name);
  return found != modules_.end() && found->second.loaded;
}

std::set<std::string> FakeKernel::loaded_names() const {
  std::set<std::string> names;
  for (const auto& [name, entry] : modules_) {
    if (entry.loaded) names.insert(name);
  }
  return names;
}

std::vector<std::string> FakeKernel::holders_of(const std::string& name) const {
  std::vector<std::string> holders;
  for (const auto& [other, entry] : modules_) {
    if (entry.loaded && std::find(entry.deps.begin(), entry.deps.end(), name) != entry.deps.end()) {
      holders.push_back(other);
    }
  }
  return holders;
}

bool FakeKernel::in_stack(const std::string& name, Stack stack) const {
  const detect::ModuleSpec* spec = catalog_.find(name);
  return spec != nullptr && spec->stack == stack;
}

std::optional<std::string> FakeKernel::loaded_member_of(Stack stack) const {
  for (const auto& [name, entry] : modules_) {
    if ((entry.loaded || entry.disk == DiskState::builtin) && in_stack(name, stack)) return name;
  }
  return std::nullopt;
}

void FakeKernel::advance_transitions() const {
  for (auto& [name, entry] : modules_) {
    if (!entry.loaded) continue;
    if (entry.state == InitState::coming && entry.coming_polls-- <= 0) entry.state = InitState::live;
    if (entry.state == InitState::going && entry.going_polls-- <= 0) entry.loaded = false;
  }
}

detect::Result<std::vector<detect::LoadedModule>> FakeKernel::loaded_modules() const {
  if (!module_support_) return Error{ENOENT, "reading /proc/modules"};
  if (loaded_errno_ != 0) return Error{loaded_errno_, "reading /proc/modules"};
  if (!loaded_problem_.empty()) return Error{EBADMSG, loaded_problem_};
  advance_transitions();
  std::vector<detect::LoadedModule> result;
  for (const auto& [name, entry] : modules_) {
    if (!entry.loaded) continue;
    const auto holders = holders_of(name);
    result.push_back({name, entry.state, entry.user_refs + static_cast<int>(holders.size()), holders});
  }
  return result;
}

detect::Result<detect::ModuleLookup> FakeKernel::lookup(std::string_view name) const {
  if (!index_readable_) return detect::ModuleLookup{std::string(name), DiskState::unknown, "", false, "", {}};
  const auto found = modules_.find(std::string(name));
  if (found == modules_.end())
    return detect::ModuleLookup{std::string(name), DiskState::absent, "", false, "", {}};
  const Module& entry = found->second;
  detect::ModuleLookup lookup{std::string(name),     entry.disk, "", entry.blacklisted,
                              entry.install_command, entry.deps};
  if (entry.disk == DiskState::available) lookup.path = "/lib/modules/fake/" + std::string(name) + ".ko";
  return lookup;
}

detect::Status FakeKernel::insert(std::string_view name) {
  ++insert_calls_;
  call_log_.push_back("insert " + std::string(name));
  return insert_one(std::string(name), 0);
}

detect::Status FakeKernel::insert_one(const std::string& name, int depth) {
  if (!module_support_) return Error{ENOSYS, "inserting " + name};
  if (depth > 16) return Error{ELOOP, "inserting " + name + ": dependency loop"};
  const auto found = modules_.find(name);
  if (found == modules_.end() || found->second.disk == DiskState::absent) {
    return Error{ENOENT, "inserting " + name + ": module not found"};
  }
  Module& entry = found->second;
  if (entry.disk == DiskState::builtin) return {};
  if (entry.blacklisted) return Error{EPERM, "inserting " + name + ": module is blacklisted"};
  if (entry.loaded) return {};
  for (const std::string& dep : entry.deps) {
    if (detect::Status status = insert_one(dep, depth + 1); !status) return status;
  }
  if (entry.insert_errno != 0) return Error{entry.insert_errno, "inserting " + name};
  // The danger the whole project exists for: KLIPS over native killed 2.6 kernels, and the
  // native protocol handlers over KLIPS leave stale handlers behind on modern ones.
  if (in_stack(name, Stack::klips)) {
    if (const auto native = loaded_member_of(Stack::native)) {
      crash_reason_ =
          "kernel crash: KLIPS module " + name + " inserted while native " + *native + " is loaded";
      return {};
    }
  }
  if (in_stack(name, Stack::native)) {
    if (const auto klips = loaded_member_of(Stack::klips)) {
      crash_reason_ =
          "kernel crash: native module " + name + " inserted while KLIPS " + *klips + " is loaded";
      return {};
    }
  }
  if (entry.silent_failure) return {};  // modprobe's exit 0 on the PF_KEY -EEXIST conflict
  entry.loaded = true;
  entry.state = entry.coming_polls > 0 ? detect::InitState::coming : detect::InitState::live;
  return {};
}

detect::Status FakeKernel::remove(std::string_view name_view) {
  const std::string name(name_view);
  ++remove_calls_;
  call_log_.push_back("remove " + name);
  if (!module_support_) return Error{ENOSYS, "removing " + name};
  const auto found = modules_.find(name);
  if (found == modules_.end() || !found->second.loaded) {
    if (found != modules_.end() && found->second.disk == DiskState::builtin) {
      return Error{EPERM, "removing " + name + ": module is built in"};
    }
    return Error{ENOENT, "removing " + name + ": module is not loaded"};
  }
  Module& entry = found->second;
  if (entry.remove_errno != 0) return Error{entry.remove_errno, "removing " + name};
  if (entry.state == detect::InitState::going) return Error{EAGAIN, "removing " + name + ": already going"};
  if (entry.user_refs > 0 || !holders_of(name).empty()) return Error{EAGAIN, "removing " + name + ": in use"};
  if (entry.going_polls > 0) {
    entry.state = detect::InitState::going;
  } else {
    entry.loaded = false;
  }
  return {};
}

}  // namespace fake
