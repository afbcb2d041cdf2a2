#pragma once
// The read side of the OS boundary for kernel modules: what is loaded, and what the module index
// says. The real one is libkmod (modules/kmod_backend.hpp); the unit tests use a fake kernel.
// The write side (insert, remove) is modules::ModuleBackend.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"

namespace detect {

enum class InitState { live, coming, going };

// A module the running kernel has loaded (a /proc/modules row).
struct LoadedModule {
  std::string name;
  InitState state = InitState::live;
  int refcnt = 0;
  std::vector<std::string> holders;  // modules that use this one
};

enum class DiskState {
  available,  // a .ko for the target kernel
  builtin,    // listed in modules.builtin
  absent,     // neither
  unknown,    // cannot tell: no modules directory for this kernel
};

// What the module index (modules.dep, modules.builtin, modprobe.d) says about one module.
struct ModuleLookup {
  std::string name;  // the module's own name, after alias resolution
  DiskState disk = DiskState::unknown;
  std::string path;                       // the .ko, when available
  bool blacklisted = false;               // a `blacklist` line in modprobe.d
  std::string install_command;            // an `install` line in modprobe.d, if any
  std::vector<std::string> dependencies;  // modules it needs, in load order (modules.dep)
};

class ModuleIndex {
 public:
  virtual ~ModuleIndex() = default;

  // Every module the kernel has loaded. ENOENT when the kernel has no module support.
  [[nodiscard]] virtual Result<std::vector<LoadedModule>> loaded_modules() const = 0;

  // Index facts about `name` for the target kernel. Never fails for a missing module:
  // that is DiskState::absent. Fails only when the index itself cannot be read.
  [[nodiscard]] virtual Result<ModuleLookup> lookup(std::string_view name) const = 0;
};

}  // namespace detect
