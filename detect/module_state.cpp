#include "detect/module_state.hpp"

#include <algorithm>
#include <cerrno>

#include "detect/catalog.hpp"
#include "detect/sysfs_modules.hpp"

namespace detect {
namespace {

ModuleState from_init_state(InitState state) {
  switch (state) {
    case InitState::live: return ModuleState::live;
    case InitState::coming: return ModuleState::coming;
    case InitState::going: return ModuleState::going;
  }
  return ModuleState::live;
}

std::optional<LoadedModule> find_loaded(const LoadedView& view, const HostRoot& root,
                                        const std::string& name) {
  if (view.source == LoadedView::Source::proc_modules) {
    for (const LoadedModule& module : view.modules) {
      if (normal_module_name(module.name) == name) return module;
    }
    return std::nullopt;
  }
  if (view.source == LoadedView::Source::sysfs) return read_sysfs_module(root, name);
  return std::nullopt;
}

void set_index_facts(ModuleStatus& status, const Result<ModuleLookup>& lookup) {
  if (!lookup) return;
  status.blacklisted = lookup->blacklisted;
  status.dependencies = lookup->dependencies;
  status.path = lookup->path;
}

std::string index_unknown_why(const Result<ModuleLookup>& lookup, const ModuleSubsystem& subsystem) {
  if (!lookup) return lookup.error().describe();
  if (!subsystem.modules_dir_exists) {
    return "there is no module index for kernel " + subsystem.kernel_release + " (" + subsystem.modules_dir +
           " is missing)";
  }
  return "the module index in " + subsystem.modules_dir + " cannot be used";
}

// Not loaded, and the kernel has no module support: its code is in the kernel only if built in.
void judge_without_module_support(ModuleStatus& status, DiskState disk, const Result<ModuleLookup>& lookup,
                                  const ModuleSubsystem& subsystem, const Markers& markers,
                                  const HostRoot& root) {
  const std::string& name = status.spec.name;
  switch (disk) {
    case DiskState::builtin: status.state = ModuleState::builtin; return;
    case DiskState::absent: status.state = ModuleState::absent; return;
    case DiskState::available:
      status.state = status.blacklisted ? ModuleState::blacklisted : ModuleState::available;
      status.note = "on disk, but this kernel has no module support: it cannot be loaded";
      return;
    case DiskState::unknown: break;
  }
  if (sysfs_shows_builtin(root, normal_module_name(name))) {
    status.state = ModuleState::builtin;
    status.note =
        "built in (inferred: no module support, and /sys/module/" + normal_module_name(name) + " exists)";
    return;
  }
  const char* marker = presence_marker_name(name);
  if (marker != nullptr && markers.proc_net_readable && presence_marker_set(name, markers)) {
    status.state = ModuleState::builtin;
    status.note = std::string("built in (inferred: no module support, and ") + marker + " exists)";
    return;
  }
  status.state = ModuleState::unknown;
  status.note = "the kernel has no module support, and " + index_unknown_why(lookup, subsystem) +
                " to tell whether it is built in";
  if (marker != nullptr && markers.proc_net_readable) {
    status.note += std::string("; ") + marker + " is missing, so its code is not in this kernel";
  }
}

}  // namespace

const char* presence_marker_name(std::string_view module) {
  const std::string name = normal_module_name(module);
  if (name == "af_key") return "/proc/net/pfkey";
  if (name == "ipsec") return "/proc/net/ipsec/version";
  return nullptr;
}

bool presence_marker_set(std::string_view module, const Markers& markers) {
  const std::string name = normal_module_name(module);
  if (name == "af_key") return markers.proc_net_pfkey;
  if (name == "ipsec") return markers.ipsec_version;
  return false;
}

LoadedView read_loaded_view(const ModuleIndex& backend, const HostRoot& root,
                            const ModuleSubsystem& subsystem) {
  LoadedView view;
  auto loaded = backend.loaded_modules();
  if (loaded) {
    view.source = LoadedView::Source::proc_modules;
    view.modules = std::move(loaded).value();
    return view;
  }
  view.problem = loaded.error().describe();
  if (loaded.error().code == ENOENT && subsystem.supported != Fact::yes) return view;
  if (sysfs_modules_visible(root)) view.source = LoadedView::Source::sysfs;
  return view;
}

ModuleStatus module_status(const ModuleSpec& spec, const LoadedView& view, const Result<ModuleLookup>& lookup,
                           const ModuleSubsystem& subsystem, const Markers& markers,
                           const std::set<std::string>& guarded, const HostRoot& root) {
  ModuleStatus status;
  status.spec = spec;
  const std::string name = normal_module_name(spec.name);
  status.guarded = guarded.count(name) > 0;
  set_index_facts(status, lookup);

  if (const auto loaded = find_loaded(view, root, name)) {
    status.state = from_init_state(loaded->state);
    status.refcnt = loaded->refcnt;
    status.holders = loaded->holders;
    if (view.source == LoadedView::Source::sysfs) status.note = "from /sys/module (" + view.problem + ")";
    return status;
  }

  const DiskState disk = lookup ? lookup->disk : DiskState::unknown;
  if (view.source == LoadedView::Source::none && subsystem.supported == Fact::no) {
    judge_without_module_support(status, disk, lookup, subsystem, markers, root);
    return status;
  }
  if (disk == DiskState::builtin) {
    status.state = ModuleState::builtin;
    return status;
  }
  if (view.source == LoadedView::Source::none) {
    status.state = ModuleState::unknown;
    status.note = "cannot tell whether " + spec.name + " is loaded: " +
                  (view.problem.empty() ? std::string("no /proc/modules and no /sys/module") : view.problem);
    if (disk == DiskState::available) status.note += "; it is on disk";
    if (disk == DiskState::absent) status.note += "; it is not on disk";
    return status;
  }
  switch (disk) {
    case DiskState::available:
      status.state = status.blacklisted ? ModuleState::blacklisted : ModuleState::available;
      return status;
    case DiskState::absent: status.state = ModuleState::absent; return status;
    case DiskState::builtin: status.state = ModuleState::builtin; return status;
    case DiskState::unknown: break;
  }
  if (sysfs_shows_builtin(root, name)) {
    status.state = ModuleState::builtin;
    status.note = "built in (inferred: /sys/module/" + name + " exists without an initstate)";
    return status;
  }
  status.state = ModuleState::unknown;
  status.note =
      "not loaded; cannot tell whether it is on disk or built in: " + index_unknown_why(lookup, subsystem);
  return status;
}

}  // namespace detect
