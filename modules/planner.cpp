#include "modules/planner.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "modules/module_order.hpp"
#include "stackmgr/base/strings.hpp"

namespace modules {
namespace {

using detect::ModuleRole;
using detect::ModuleState;
using detect::ModuleStatus;
using detect::Snapshot;
using detect::Stack;

using Names = std::vector<std::string>;

// "af_key is" / "af_key, esp4 are"
std::string names_are(const Names& names) {
  return stackmgr::base::join(names) + (names.size() == 1 ? " is" : " are");
}

bool contains(const Names& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string stack_title(Stack stack) { return stack == Stack::klips ? "KLIPS" : "the native stack"; }

std::string switch_command(Stack stack) { return "'stackmgr switch " + std::string(to_string(stack)) + "'"; }

std::vector<const ModuleStatus*> modules_of(const Snapshot& snapshot, Stack stack) {
  std::vector<const ModuleStatus*> result;
  for (const ModuleStatus& status : snapshot.modules) {
    if (status.spec.stack == stack) result.push_back(&status);
  }
  return result;
}

Names names_of(const Snapshot& snapshot, Stack stack, bool (*predicate)(const ModuleStatus&)) {
  Names names;
  for (const ModuleStatus* status : modules_of(snapshot, stack)) {
    if (predicate(*status)) names.push_back(status->spec.name);
  }
  return names;
}

bool is_builtin(const ModuleStatus& status) { return status.state == ModuleState::builtin; }
bool is_loaded_status(const ModuleStatus& status) { return detect::is_loaded(status.state); }
bool is_unknown(const ModuleStatus& status) { return status.state == ModuleState::unknown; }

// Rule 6: why this host cannot load or unload modules, or nullopt when it can.
std::optional<std::pair<std::string, std::string>> no_module_operations_reason(const Snapshot& snapshot) {
  const detect::ModuleSubsystem& subsystem = snapshot.subsystem;
  if (subsystem.can_change_modules()) return std::nullopt;
  if (subsystem.supported == detect::Fact::no) {
    return std::pair{std::string("this kernel has no module support (no /proc/modules)"),
                     std::string("use a kernel with loadable module support, or one with the chosen stack "
                                 "built in (then stackmgr only verifies it)")};
  }
  if (subsystem.modules_disabled == detect::Fact::yes) {
    return std::pair{
        std::string("module loading is disabled (/proc/sys/kernel/modules_disabled is 1, which "
                    "cannot be undone until reboot)"),
        std::string("reboot without setting kernel.modules_disabled (look in /etc/sysctl.conf and "
                    "/etc/sysctl.d), then retry")};
  }
  if (subsystem.cap_sys_module == detect::Fact::no) {
    return std::pair{std::string("this process lacks CAP_SYS_MODULE"), std::string("run it as root")};
  }
  std::string why = "cannot tell whether this process may load modules";
  if (!subsystem.notes.empty()) why += " (" + stackmgr::base::join(subsystem.notes) + ")";
  return std::pair{why, std::string("run 'stackmgr detect' to see what could not be read")};
}

std::optional<Refusal> module_operations_refusal(const Snapshot& snapshot, const std::string& what,
                                                 const Names& modules) {
  const auto reason = no_module_operations_reason(snapshot);
  if (!reason) return std::nullopt;
  std::string message = "refusing to " + what + ": " + reason->first;
  if (!modules.empty()) message += "; it needs to load or unload " + stackmgr::base::join(modules);
  return Refusal{Rule::no_module_operations, modules, message, reason->second};
}

// Rule 1: KLIPS may load only when no native IPsec code is in the kernel.
std::optional<Refusal> klips_insert_refusal(const Snapshot& fresh, const std::string& module) {
  const Names loaded = names_of(fresh, Stack::native, is_loaded_status);
  const Names builtin = names_of(fresh, Stack::native, is_builtin);
  const Names unknown = names_of(fresh, Stack::native, is_unknown);
  const bool pfkey = fresh.markers.proc_net_pfkey;
  if (loaded.empty() && builtin.empty() && unknown.empty() && !pfkey) return std::nullopt;

  Names parts;
  if (!loaded.empty()) parts.push_back(names_are(loaded) + " loaded");
  if (!builtin.empty()) parts.push_back(names_are(builtin) + " built into this kernel");
  if (!unknown.empty()) parts.push_back("cannot tell whether " + names_are(unknown) + " in the kernel");
  if (pfkey && !contains(loaded, "af_key") && !contains(builtin, "af_key")) {
    parts.push_back("/proc/net/pfkey exists, so a native PF_KEY provider is registered");
  }
  std::string message = "refusing to load KLIPS";
  if (module != "ipsec") message += " (" + module + ")";
  message += ": ";
  for (std::size_t i = 0; i < parts.size(); ++i) message += (i == 0 ? "" : "; ") + parts[i];
  message += " (loading KLIPS now would crash a 2.6 kernel)";

  std::string advice;
  if (!builtin.empty()) {
    advice = "KLIPS cannot be used with this kernel; boot one that has the native stack as modules";
  } else if (!loaded.empty()) {
    advice = "run " + switch_command(Stack::klips) + " to unload them first";
  } else if (!unknown.empty()) {
    advice = "run 'stackmgr detect' to see why their state is unknown";
  } else {
    advice =
        "find the module that provides PF_KEY ('stackmgr detect', lsmod) and add it to the native "
        "module list in the stackmgr config";
  }
  Names involved = loaded;
  involved.insert(involved.end(), builtin.begin(), builtin.end());
  involved.insert(involved.end(), unknown.begin(), unknown.end());
  return Refusal{Rule::klips_over_native, involved, message, advice};
}

std::vector<std::string> klips_marker_names(const detect::Markers& markers) {
  Names found;
  if (markers.ipsec_version) found.push_back("/proc/net/ipsec/version");
  if (markers.ipsec_eroute) found.push_back("/proc/net/ipsec_eroute");
  if (markers.ipsec_spi) found.push_back("/proc/net/ipsec_spi");
  if (markers.proc_sys_net_ipsec) found.push_back("/proc/sys/net/ipsec");
  found.insert(found.end(), markers.ipsec_interfaces.begin(), markers.ipsec_interfaces.end());
  return found;
}

// Rule 2: a native module may load only when KLIPS is not in the kernel.
std::optional<Refusal> native_insert_refusal(const Snapshot& fresh, const std::string& module) {
  const Names loaded = names_of(fresh, Stack::klips, is_loaded_status);
  const Names builtin = names_of(fresh, Stack::klips, is_builtin);
  const Names unknown = names_of(fresh, Stack::klips, is_unknown);
  const Names markers = klips_marker_names(fresh.markers);
  if (loaded.empty() && builtin.empty() && unknown.empty() && markers.empty()) return std::nullopt;

  Names parts;
  if (!loaded.empty()) parts.push_back("KLIPS (" + stackmgr::base::join(loaded) + ") is loaded");
  if (!builtin.empty())
    parts.push_back("KLIPS (" + stackmgr::base::join(builtin) + ") is built into this kernel");
  if (!unknown.empty()) parts.push_back("cannot tell whether " + names_are(unknown) + " in the kernel");
  if (loaded.empty() && builtin.empty() && !markers.empty()) {
    parts.push_back("KLIPS's markers are present (" + stackmgr::base::join(markers) + ")");
  }
  std::string message = "refusing to load " + module + ": ";
  for (std::size_t i = 0; i < parts.size(); ++i) message += (i == 0 ? "" : "; ") + parts[i];
  message += " (loading a native module over KLIPS is unsafe: only one PF_KEY can exist)";

  std::string advice;
  if (!builtin.empty()) {
    advice = "the native stack cannot be used with this kernel; boot one that has KLIPS as a module";
  } else if (!loaded.empty()) {
    advice = "run " + switch_command(Stack::native) + " to unload KLIPS first";
  } else if (!unknown.empty()) {
    advice = "run 'stackmgr detect' to see why their state is unknown";
  } else {
    advice =
        "find what provides KLIPS's /proc files ('stackmgr detect'), and add its module to the KLIPS "
        "module list in the stackmgr config";
  }
  Names involved = loaded;
  involved.insert(involved.end(), builtin.begin(), builtin.end());
  involved.insert(involved.end(), unknown.begin(), unknown.end());
  return Refusal{Rule::native_over_klips, involved, message, advice};
}

std::string blacklist_advice(const Names& names) {
  return "if the stack should be used, remove the 'blacklist " + names.front() + "' line (grep -r " +
         names.front() + " /etc/modprobe.d /run/modprobe.d /lib/modprobe.d), then retry";
}

Refusal blacklisted_refusal(const std::string& what, const Names& names) {
  return Refusal{Rule::blacklisted, names,
                 "refusing to " + what + ": " + names_are(names) +
                     " blacklisted in modprobe.d, and stackmgr never force-loads a blacklisted module",
                 blacklist_advice(names)};
}

Refusal missing_refusal(const Snapshot& now, const std::string& what, const Names& names) {
  std::string kernel = now.subsystem.kernel_release.empty() ? "this kernel" : now.subsystem.kernel_release;
  return Refusal{Rule::module_missing, names,
                 "refusing to " + what + ": " + names_are(names) + " not available for kernel " + kernel +
                     " (no module on disk, not built in)",
                 "install the kernel's modules (e.g. the linux-image package for " + kernel +
                     "), or boot a kernel that has them"};
}

// Rule 5 on the planning snapshot: modules held from outside the set being removed.
std::optional<Refusal> busy_refusal(const Snapshot& now, const std::string& what, const Names& removing,
                                    const Names& cleanup) {
  Names busy;
  Names parts;
  Names outside_holders;
  for (const std::string& name : removing) {
    const ModuleStatus* status = now.module(name);
    if (status == nullptr || status->state != ModuleState::live) continue;
    Names outside;
    int inside = 0;
    for (const std::string& holder : status->holders) {
      if (contains(removing, holder) || contains(cleanup, holder)) {
        ++inside;
      } else {
        outside.push_back(holder);
      }
    }
    if (!outside.empty()) {
      busy.push_back(name);
      parts.push_back(name + " is used by " + stackmgr::base::join(outside) + ", which " +
                      (outside.size() == 1 ? "is" : "are") + " not being unloaded");
      outside_holders.insert(outside_holders.end(), outside.begin(), outside.end());
      continue;
    }
    const int references = status->refcnt - inside;
    if (status->refcnt >= 0 && references > 0) {
      busy.push_back(name);
      parts.push_back(name + " is in use (" + std::to_string(references) + " reference" +
                      (references == 1 ? "" : "s") +
                      " not held by a module: an open socket such as PF_KEY, "
                      "or an IPsec SA)");
    }
  }
  if (busy.empty()) return std::nullopt;
  std::string message = "refusing to " + what + ": ";
  for (std::size_t i = 0; i < parts.size(); ++i) message += (i == 0 ? "" : "; ") + parts[i];
  std::string advice;
  if (!outside_holders.empty()) {
    advice = "unload " + stackmgr::base::join(outside_holders) + " first (modprobe -r " +
             stackmgr::base::join(outside_holders) + "), or add " +
             (outside_holders.size() == 1 ? "it" : "them") +
             " to the stack's module list in the stackmgr config";
  } else {
    advice =
        "stop the keying daemon and flush the SAs ('stackmgr stop'), then retry; the switch names the "
        "process holding a PF_KEY socket when it can find it";
  }
  Names involved = busy;
  involved.insert(involved.end(), outside_holders.begin(), outside_holders.end());
  return Refusal{Rule::busy_module, involved, message, advice};
}

// Rule 3.
std::optional<Refusal> both_builtin_refusal(const Snapshot& now) {
  const Names native = names_of(now, Stack::native, is_builtin);
  const Names klips = names_of(now, Stack::klips, is_builtin);
  if (native.empty() || klips.empty()) return std::nullopt;
  Names involved = native;
  involved.insert(involved.end(), klips.begin(), klips.end());
  return Refusal{
      Rule::both_builtin, involved,
      "refusing every change: both IPsec stacks are built into this kernel (native: " +
          stackmgr::base::join(native) + "; KLIPS: " + stackmgr::base::join(klips) +
          "); only one PF_KEY implementation can exist, so neither stack can work safely",
      "rebuild the kernel with at most one IPsec stack built in (the other as modules or not at all)"};
}

// Rule 4.
std::optional<Refusal> current_builtin_refusal(const Snapshot& now, Stack target) {
  const Stack leaving = detect::other(target);
  const Names builtin = names_of(now, leaving, is_builtin);
  if (builtin.empty()) return std::nullopt;
  const std::string leaving_title = leaving == Stack::klips ? "KLIPS" : "native IPsec code";
  const std::string danger = target == Stack::klips
                                 ? "loading KLIPS next to it would crash the kernel"
                                 : "loading native modules next to it is unsafe (only one PF_KEY can exist)";
  return Refusal{Rule::current_builtin, builtin,
                 "refusing to switch to " + stack_title(target) + ": " + leaving_title +
                     " is built into this kernel (" + names_are(builtin) +
                     " built in) and cannot be unloaded; " + danger,
                 "stay on " + stack_title(leaving) + " (" + switch_command(leaving) +
                     "), or boot a kernel that has " + stack_title(leaving) + " as modules"};
}

// The snapshot as it will be once `removed` are gone: the planner checks its inserts on it.
Snapshot after_removal(const Snapshot& now, const Names& removed, Stack leaving) {
  Snapshot simulated = now;
  for (ModuleStatus& status : simulated.modules) {
    if (!contains(removed, status.spec.name)) continue;
    status.state = status.blacklisted ? ModuleState::blacklisted : ModuleState::available;
    status.refcnt = -1;
    status.holders.clear();
  }
  const bool none_left = names_of(simulated, leaving, is_loaded_status).empty() &&
                         names_of(simulated, leaving, is_builtin).empty();
  // Markers of a stack whose every module is gone go with it; unexplained ones stay.
  if (none_left && leaving == Stack::native && contains(removed, "af_key"))
    simulated.markers.proc_net_pfkey = false;
  if (none_left && leaving == Stack::klips && !removed.empty()) {
    simulated.markers.ipsec_version = simulated.markers.ipsec_eroute = simulated.markers.ipsec_spi = false;
    simulated.markers.proc_sys_net_ipsec = false;
    simulated.markers.ipsec_interfaces.clear();
  }
  return simulated;
}

void mark_live(Snapshot& snapshot, const std::string& name) {
  for (ModuleStatus& status : snapshot.modules) {
    if (status.spec.name == name) status.state = ModuleState::live;
  }
}

std::vector<OrderNode> nodes_for(const Snapshot& now, const Names& names) {
  std::vector<OrderNode> nodes;
  for (const std::string& name : names) {
    if (const ModuleStatus* status = now.module(name)) {
      nodes.push_back({name, status->dependencies, status->holders});
    } else {
      nodes.push_back({name, {}, {}});
    }
  }
  return nodes;
}

// Non-catalog dependencies of `removing` that stackmgr loaded and that no module staying in (or
// coming into) the kernel needs. Their own holders are not in the snapshot: the executor checks.
Names cleanup_dependencies(const Snapshot& now, const Names& removing, const Names& staying,
                           const Policy& policy, std::map<std::string, Names>& users) {
  Names cleanup;
  for (const std::string& name : removing) {
    const ModuleStatus* status = now.module(name);
    if (status == nullptr) continue;
    for (const std::string& dependency : status->dependencies) {
      if (now.module(dependency) != nullptr || !policy.loaded_by_us.contains(dependency)) continue;
      users[dependency].push_back(name);
      if (!contains(cleanup, dependency)) cleanup.push_back(dependency);
    }
  }
  std::erase_if(cleanup, [&](const std::string& dependency) {
    return std::any_of(staying.begin(), staying.end(), [&](const std::string& name) {
      const ModuleStatus* status = now.module(name);
      return status != nullptr && contains(status->dependencies, dependency);
    });
  });
  return cleanup;
}

Names loaded_or_builtin_names(const Snapshot& now, Stack stack) {
  Names names;
  for (const ModuleStatus* status : modules_of(now, stack)) {
    if (detect::is_present(status->state)) names.push_back(status->spec.name);
  }
  return names;
}

struct TargetChoice {
  Names insert;
  std::map<std::string, std::string> reasons;
  Names missing_core;
  Names blacklisted_core;
  Names notes;
};

TargetChoice choose_target_modules(const Snapshot& now, Stack target, const Policy& policy) {
  TargetChoice choice;
  Names present, absent_helpers, blacklisted_helpers, unknown_helpers, skipped_helpers, ipcomp_left_out,
      ipcomp_foreign;
  const std::string stack_word = target == Stack::klips ? "KLIPS" : "native-stack";
  for (const ModuleStatus* status : modules_of(now, target)) {
    const std::string& name = status->spec.name;
    const ModuleRole role = status->spec.role;
    const bool core = role == ModuleRole::core;
    switch (status->state) {
      case ModuleState::live:
      case ModuleState::builtin:
        present.push_back(name + (status->state == ModuleState::builtin ? " (built in)" : ""));
        if (role == ModuleRole::ipcomp && !policy.loaded_by_us.contains(name)) ipcomp_foreign.push_back(name);
        continue;
      case ModuleState::coming:
        choice.insert.push_back(name);
        choice.reasons[name] = name + " is still loading; wait until it is live";
        continue;
      case ModuleState::going:
        choice.insert.push_back(name);
        choice.reasons[name] = name + " is being unloaded; load it again once it is gone";
        continue;
      case ModuleState::blacklisted:
        (core ? choice.blacklisted_core : blacklisted_helpers).push_back(name);
        continue;
      case ModuleState::absent: (core ? choice.missing_core : absent_helpers).push_back(name); continue;
      case ModuleState::unknown: (core ? choice.missing_core : unknown_helpers).push_back(name); continue;
      case ModuleState::available: break;
    }
    if (core) {
      choice.insert.push_back(name);
      choice.reasons[name] = "core module of " + stack_title(target);
    } else if (role == ModuleRole::ipcomp && !policy.allow_ipcomp) {
      ipcomp_left_out.push_back(name);
    } else if (!policy.load_helpers) {
      skipped_helpers.push_back(name);
    } else if (role == ModuleRole::ipcomp) {
      choice.insert.push_back(name);
      choice.reasons[name] =
          "IPComp, allowed by allow_ipcomp" +
          std::string(target == Stack::native ? " (insecure on the native stack: an extra IPIP header)" : "");
    } else {
      choice.insert.push_back(name);
      choice.reasons[name] = stack_word + " helper, on disk for this kernel";
    }
  }
  if (!present.empty()) choice.notes.push_back("already in the kernel: " + stackmgr::base::join(present));
  if (!ipcomp_left_out.empty()) {
    choice.notes.push_back(
        stackmgr::base::join(ipcomp_left_out) +
        " not loaded: IPComp on the native stack is insecure (the kernel puts an extra "
        "IPIP header into IPComp packets; FreeS/WAN's 2.6 known issues); pass --allow-ipcomp or set "
        "allow_ipcomp = true under [modules] in the stackmgr config to load " +
        (ipcomp_left_out.size() == 1 ? "it" : "them") + " anyway");
  }
  if (!ipcomp_foreign.empty() && !policy.allow_ipcomp && target == Stack::native) {
    choice.notes.push_back(
        names_are(ipcomp_foreign) +
        " loaded (not by stackmgr) and left alone; IPComp on the native stack is insecure");
  }
  if (!skipped_helpers.empty())
    choice.notes.push_back("helpers not loaded (load_helpers is off): " +
                           stackmgr::base::join(skipped_helpers));
  if (!absent_helpers.empty())
    choice.notes.push_back("helpers not available for this kernel, not loaded: " +
                           stackmgr::base::join(absent_helpers));
  if (!blacklisted_helpers.empty()) {
    choice.notes.push_back(
        names_are(blacklisted_helpers) +
        " blacklisted in modprobe.d; not loaded (stackmgr never force-loads a blacklisted module)");
  }
  if (!unknown_helpers.empty()) {
    choice.notes.push_back("cannot tell whether " + names_are(unknown_helpers) +
                           " available for this kernel; not loaded");
  }
  return choice;
}

// True when every native catalog module is covered by the installed guard.
bool guard_current(const Snapshot& now) {
  if (!now.markers.guard_installed) return false;
  const auto natives = modules_of(now, Stack::native);
  return std::all_of(natives.begin(), natives.end(),
                     [](const ModuleStatus* status) { return status->guarded; });
}

}  // namespace

PlanOrRefusal plan_switch(const Snapshot& now, Stack target, const Policy& policy) {
  const Stack leaving = detect::other(target);
  const std::string what = "switch to " + stack_title(target);
  if (auto refusal = both_builtin_refusal(now)) return *refusal;
  if (auto refusal = current_builtin_refusal(now, target)) return *refusal;

  Plan plan;
  plan.target = target;

  // What goes: the other stack's loaded modules, then dependencies stackmgr loaded for them.
  const Names leaving_loaded = names_of(now, leaving, is_loaded_status);
  TargetChoice choice = choose_target_modules(now, target, policy);
  Names staying = loaded_or_builtin_names(now, target);
  staying.insert(staying.end(), choice.insert.begin(), choice.insert.end());
  std::map<std::string, Names> users;
  const Names cleanup = cleanup_dependencies(now, leaving_loaded, staying, policy, users);
  Names removal_set = leaving_loaded;
  removal_set.insert(removal_set.end(), cleanup.begin(), cleanup.end());
  const Names removals = removal_order(nodes_for(now, removal_set));

  const Names inserts = load_order(nodes_for(now, choice.insert));

  const bool guard_wanted = target == Stack::klips && policy.use_guard && !guard_current(now);
  const bool guard_clear = target == Stack::native && now.markers.guard_installed;

  // Rule 6 applies only when a module has to change.
  Names changing = removals;
  changing.insert(changing.end(), inserts.begin(), inserts.end());
  changing.insert(changing.end(), choice.missing_core.begin(), choice.missing_core.end());
  changing.insert(changing.end(), choice.blacklisted_core.begin(), choice.blacklisted_core.end());
  if (!changing.empty()) {
    if (auto refusal = module_operations_refusal(now, what, changing)) return *refusal;
  }
  if (!choice.blacklisted_core.empty()) return blacklisted_refusal(what, choice.blacklisted_core);
  if (!choice.missing_core.empty()) return missing_refusal(now, what, choice.missing_core);

  // Rules 1 and 2 on the state the inserts will meet.
  Snapshot simulated = after_removal(now, leaving_loaded, leaving);
  for (const std::string& name : inserts) {
    if (auto refusal = check_insert(simulated, name)) return *refusal;
    mark_live(simulated, name);
  }
  if (auto refusal = busy_refusal(now, what, leaving_loaded, cleanup)) return *refusal;

  if (guard_wanted) {
    plan.steps.push_back({StepKind::set_guard, "",
                          "block autoloading of the native modules (opening a PF_KEY socket pulls af_key in) "
                          "before they are unloaded and for as long as KLIPS is chosen",
                          Need::required});
  }
  for (const std::string& name : removals) {
    if (contains(cleanup, name)) {
      plan.steps.push_back({StepKind::remove, name,
                            "loaded by stackmgr as a dependency of " + stackmgr::base::join(users[name]) +
                                "; unloaded unless something else still uses it",
                            Need::best_effort});
    } else if (leaving == Stack::native) {
      plan.steps.push_back({StepKind::remove, name,
                            "native module: it must be out of the kernel before KLIPS loads",
                            Need::required});
    } else {
      plan.steps.push_back(
          {StepKind::remove, name,
           "KLIPS module: it must be out of the kernel before native modules load (one PF_KEY)",
           Need::required});
    }
  }
  if (guard_clear) {
    plan.steps.push_back({StepKind::clear_guard, "",
                          "let the native modules load again: the native stack is chosen", Need::required});
  }
  for (const std::string& name : inserts) {
    plan.steps.push_back({StepKind::insert, name, choice.reasons[name], Need::required});
  }

  plan.notes = choice.notes;
  if (target == Stack::klips && !policy.use_guard && !now.markers.guard_installed) {
    plan.notes.push_back(
        "no autoload guard (use_guard is off): a program opening a PF_KEY socket can pull af_key "
        "in while KLIPS is chosen");
  }
  if (target == Stack::klips && !policy.use_guard && now.markers.guard_installed) {
    plan.notes.push_back(
        "the autoload guard is installed although use_guard is off; it stays until the native "
        "stack is chosen");
  }
  return plan;
}

PlanOrRefusal plan_unload_own(const Snapshot& now, const Policy& policy) {
  const std::string what = "unload the modules stackmgr loaded";
  if (auto refusal = both_builtin_refusal(now)) return *refusal;
  Names catalog_own;
  Names cleanup;
  for (const std::string& name : policy.loaded_by_us) {
    const ModuleStatus* status = now.module(name);
    if (status == nullptr) {
      if (detect::is_valid_module_name(name)) cleanup.push_back(name);
    } else if (detect::is_loaded(status->state)) {
      catalog_own.push_back(name);
    }
  }
  // Keep catalog order (load order) for ties.
  Names ordered_own;
  for (const ModuleStatus& status : now.modules) {
    if (contains(catalog_own, status.spec.name)) ordered_own.push_back(status.spec.name);
  }
  // A dependency that a module staying in the kernel needs is not ours to take away.
  std::erase_if(cleanup, [&](const std::string& dependency) {
    return std::any_of(now.modules.begin(), now.modules.end(), [&](const ModuleStatus& status) {
      return detect::is_present(status.state) && !contains(ordered_own, status.spec.name) &&
             contains(status.dependencies, dependency);
    });
  });
  Names all = ordered_own;
  all.insert(all.end(), cleanup.begin(), cleanup.end());
  Plan plan;
  plan.target = now.active_stack().value_or(Stack::native);
  if (all.empty()) {
    plan.notes.push_back("stackmgr loaded no module that is still in the kernel; nothing to unload");
    return plan;
  }
  if (auto refusal = module_operations_refusal(now, what, all)) return *refusal;
  if (auto refusal = busy_refusal(now, what, ordered_own, cleanup)) return *refusal;
  for (const std::string& name : removal_order(nodes_for(now, all))) {
    const bool dependency = contains(cleanup, name);
    plan.steps.push_back({StepKind::remove, name,
                          dependency
                              ? "a dependency stackmgr loaded; unloaded unless something else still uses it"
                              : "loaded by stackmgr; stop --unload removes only what stackmgr loaded",
                          dependency ? Need::best_effort : Need::required});
  }
  Names left;
  for (const ModuleStatus& status : now.modules) {
    if (detect::is_loaded(status.state) && !contains(all, status.spec.name)) left.push_back(status.spec.name);
  }
  if (!left.empty())
    plan.notes.push_back("left alone (not loaded by stackmgr): " + stackmgr::base::join(left));
  return plan;
}

std::optional<Refusal> check_insert(const Snapshot& fresh, const std::string& module) {
  if (!detect::is_valid_module_name(module)) {
    return Refusal{Rule::broken_state,
                   {module},
                   "refusing to load '" + module + "': not a valid module name",
                   "this is a bug in the plan; please report it"};
  }
  if (auto refusal = module_operations_refusal(fresh, "load " + module, {module})) return refusal;
  const ModuleStatus* status = fresh.module(module);
  // The module and the catalog modules it pulls in as dependencies.
  std::vector<const ModuleStatus*> involved;
  if (status != nullptr) {
    involved.push_back(status);
    for (const std::string& dependency : status->dependencies) {
      if (const ModuleStatus* other = fresh.module(dependency)) involved.push_back(other);
    }
  }
  for (const ModuleStatus* each : involved) {
    auto refusal = each->spec.stack == Stack::klips ? klips_insert_refusal(fresh, each->spec.name)
                                                    : native_insert_refusal(fresh, each->spec.name);
    if (refusal) return refusal;
  }
  if (status == nullptr || detect::is_present(status->state)) return std::nullopt;
  if (status->state == ModuleState::blacklisted || status->blacklisted) {
    return blacklisted_refusal("load " + module, {module});
  }
  if (status->state == ModuleState::absent) return missing_refusal(fresh, "load " + module, {module});
  return std::nullopt;
}

}  // namespace modules
