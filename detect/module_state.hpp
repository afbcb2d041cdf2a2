#pragma once
// One state per catalog module, from loaded-module facts, the module index and the markers.

#include <set>
#include <string>
#include <vector>

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "detect/module_index.hpp"
#include "detect/snapshot.hpp"

namespace detect {

// Where loaded-module facts came from: the backend's /proc/modules, /sys/module when that
// failed, or nowhere (no module support, or neither readable).
struct LoadedView {
  enum class Source { proc_modules, sysfs, none };
  Source source = Source::none;
  std::vector<LoadedModule> modules;  // when source == proc_modules
  std::string problem;                // why /proc/modules was not used; empty when it was
};

// Asks the backend for the loaded modules and falls back to <root>/sys/module when that fails
// for any reason other than the kernel having no module support.
LoadedView read_loaded_view(const ModuleIndex& backend, const HostRoot& root,
                            const ModuleSubsystem& subsystem);

// The state of `spec`. Never reports `absent` unless the index for this kernel says so and
// nothing says the code is in the kernel; otherwise `unknown` with a note saying why.
ModuleStatus module_status(const ModuleSpec& spec, const LoadedView& view, const Result<ModuleLookup>& lookup,
                           const ModuleSubsystem& subsystem, const Markers& markers,
                           const std::set<std::string>& guarded, const HostRoot& root);

// The marker that proves `module`'s code is in the kernel (af_key: /proc/net/pfkey; ipsec:
// /proc/net/ipsec/version), or nullptr for modules without one.
const char* presence_marker_name(std::string_view module);
// Whether that marker is set in `markers` (false for modules without one).
bool presence_marker_set(std::string_view module, const Markers& markers);

}  // namespace detect
