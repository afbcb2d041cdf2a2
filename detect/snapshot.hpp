#pragma once
// What detection found: a plain value, no behaviour. Everything downstream reads this.

#include <optional>
#include <string>
#include <vector>

#include "detect/catalog.hpp"
#include "detect/stack.hpp"

namespace detect {

enum class ModuleState {
  live,         // loaded and running
  coming,       // being loaded
  going,        // being unloaded
  builtin,      // compiled into the kernel
  available,    // a .ko on disk, not loaded
  blacklisted,  // on disk, not loaded, and blacklisted in modprobe.d
  absent,       // not on disk, not built in
  unknown,      // cannot tell (no modules directory, no module support); see `note`
};
std::string_view to_string(ModuleState state);

// True for live, coming and going: the kernel holds the module's code.
bool is_loaded(ModuleState state);
// True for loaded or built in: the module's code is in the kernel right now.
bool is_present(ModuleState state);

struct ModuleStatus {
  ModuleSpec spec;
  ModuleState state = ModuleState::unknown;
  int refcnt = -1;                        // live modules only
  std::vector<std::string> holders;       // live modules only
  std::vector<std::string> dependencies;  // from modules.dep, load order
  std::string path;                       // the .ko, when on disk
  bool blacklisted = false;               // also true for a live module that is blacklisted
  bool guarded = false;                   // stackmgr's autoload guard blocks it
  std::string note;                       // why the state is what it is, when not obvious
};

// Tri-state facts: a host may not let us know.
enum class Fact { yes, no, unknown };
std::string_view to_string(Fact fact);

struct ModuleSubsystem {
  Fact supported = Fact::unknown;                // /proc/modules exists
  Fact modules_disabled = Fact::unknown;         // /proc/sys/kernel/modules_disabled == 1
  Fact cap_sys_module = Fact::unknown;           // CAP_SYS_MODULE in our effective set
  Fact cap_sys_module_bounding = Fact::unknown;  // in the bounding set: root here could get it
  std::string kernel_release;                    // uname -r
  std::string modules_dir;                       // /lib/modules/<release>
  bool modules_dir_exists = false;
  std::vector<std::string> notes;  // why a fact is unknown

  // True when this process may load and unload modules right now.
  [[nodiscard]] bool can_change_modules() const;
};

// The kernel's own markers. Each broke on some kernel; none is trusted alone.
struct Markers {
  bool proc_net_pfkey = false;                // /proc/net/pfkey (af_key)
  bool xfrm_stat = false;                     // /proc/net/xfrm_stat (XFRM framework)
  bool xfrm_acq_expires = false;              // /proc/sys/net/core/xfrm_acq_expires (XFRM framework)
  bool ipsec_version = false;                 // /proc/net/ipsec/version or /proc/net/ipsec_version
  std::string ipsec_version_text;             // its first line
  bool ipsec_eroute = false;                  // /proc/net/ipsec_eroute
  bool ipsec_spi = false;                     // /proc/net/ipsec_spi
  bool proc_sys_net_ipsec = false;            // /proc/sys/net/ipsec
  std::vector<std::string> ipsec_interfaces;  // ipsecN net devices
  bool guard_installed = false;               // stackmgr's autoload guard file exists
  bool proc_net_readable = false;             // /proc/net could be seen: a missing marker means something
  bool initial_netns = true;                  // /proc/net and the interfaces are the initial netns's
  std::vector<std::string> notes;             // what limited the markers (permissions, netns, XFRM ifaces)

  [[nodiscard]] bool any_native() const { return proc_net_pfkey; }
  [[nodiscard]] bool xfrm_framework() const { return xfrm_stat || xfrm_acq_expires; }
  [[nodiscard]] bool any_klips() const {
    return ipsec_version || ipsec_eroute || ipsec_spi || proc_sys_net_ipsec || !ipsec_interfaces.empty();
  }
};

enum class Verdict {
  active,       // every core module present (live or built in)
  builtin,      // every core module built in: always active, cannot be unloaded
  partial,      // some core modules present, others not
  loadable,     // not active; every core module can be loaded now
  unavailable,  // not active and cannot be made active; see reasons
};
std::string_view to_string(Verdict verdict);

struct StackReport {
  Stack stack = Stack::native;
  Verdict verdict = Verdict::unavailable;
  std::vector<std::string> reasons;
};

enum class Overall {
  none,      // neither stack is in the kernel
  native,    // the native stack is (at least partly) in the kernel
  klips,     // KLIPS is in the kernel
  conflict,  // both stacks are in the kernel
  broken,    // markers disagree with module states
};
std::string_view to_string(Overall overall);

struct Snapshot {
  ModuleSubsystem subsystem;
  std::vector<ModuleStatus> modules;  // catalog order
  Markers markers;
  StackReport native;
  StackReport klips;
  Overall overall = Overall::none;
  std::vector<std::string> reasons;  // why `overall` is what it is

  [[nodiscard]] const ModuleStatus* module(std::string_view name) const;
  [[nodiscard]] const StackReport& report(Stack stack) const {
    return stack == Stack::native ? native : klips;
  }
  // The stack whose code is in the kernel: native or klips, or nullopt for none/conflict/broken.
  [[nodiscard]] std::optional<Stack> active_stack() const;
};

}  // namespace detect
