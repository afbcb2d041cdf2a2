#pragma once
// /sys/module: the fallback source of loaded-module facts when /proc/modules cannot be read.

#include <optional>
#include <string_view>

#include "detect/host.hpp"
#include "detect/module_index.hpp"

namespace detect {

// True when <root>/sys/module exists, so that a missing /sys/module/<name> means something.
bool sysfs_modules_visible(const HostRoot& root);

// A loaded module from <root>/sys/module/<name>/{initstate,refcnt,holders/}; nullopt when it
// has no initstate (not loaded, or built in). refcnt is -1 when unreadable.
std::optional<LoadedModule> read_sysfs_module(const HostRoot& root, std::string_view name);

// True when <root>/sys/module/<name> exists without an initstate: the kernel creates such a
// directory for a built-in module that has parameters or a version.
bool sysfs_shows_builtin(const HostRoot& root, std::string_view name);

}  // namespace detect
