#include "tests/support/fake_snapshot.hpp"

#include <algorithm>

namespace fake {
namespace {

using detect::Fact;
using detect::ModuleState;
using detect::Stack;

detect::StackReport judge(const detect::Snapshot& snapshot, Stack stack) {
  detect::StackReport report;
  report.stack = stack;
  bool any = false;
  bool all_present = true;
  bool all_builtin = true;
  bool loadable = true;
  for (const detect::ModuleStatus& status : snapshot.modules) {
    if (status.spec.stack != stack || status.spec.role != detect::ModuleRole::core) continue;
    any = true;
    all_present = all_present && detect::is_present(status.state);
    all_builtin = all_builtin && status.state == ModuleState::builtin;
    loadable = loadable && (detect::is_present(status.state) || status.state == ModuleState::available);
  }
  if (!any) {
    report.verdict = detect::Verdict::unavailable;
  } else if (all_builtin) {
    report.verdict = detect::Verdict::builtin;
  } else if (all_present) {
    report.verdict = detect::Verdict::active;
  } else if (loadable && snapshot.subsystem.can_change_modules()) {
    report.verdict = detect::Verdict::loadable;
  } else {
    report.verdict = detect::Verdict::unavailable;
  }
  return report;
}

bool any_present(const detect::Snapshot& snapshot, Stack stack) {
  return std::any_of(snapshot.modules.begin(), snapshot.modules.end(),
                     [&](const detect::ModuleStatus& status) {
                       return status.spec.stack == stack && detect::is_present(status.state);
                     });
}

}  // namespace

detect::Snapshot snapshot_of(const FakeKernel& kernel, const detect::Catalog& catalog,
                             const HostFacts& facts) {
  detect::Snapshot snapshot;
  const auto loaded = kernel.loaded_modules();
  snapshot.subsystem.supported = loaded ? Fact::yes : Fact::no;
  snapshot.subsystem.modules_disabled = facts.modules_disabled;
  snapshot.subsystem.cap_sys_module = facts.cap_sys_module;
  snapshot.subsystem.cap_sys_module_bounding = facts.cap_sys_module;
  snapshot.subsystem.kernel_release = facts.kernel_release;
  snapshot.subsystem.modules_dir = "/lib/modules/" + facts.kernel_release;
  snapshot.subsystem.modules_dir_exists = true;

  for (const detect::ModuleSpec& spec : catalog.all()) {
    detect::ModuleStatus status;
    status.spec = spec;
    const auto lookup = kernel.lookup(spec.name);
    if (lookup) {
      status.dependencies = lookup->dependencies;
      status.blacklisted = lookup->blacklisted;
      status.path = lookup->path;
    }
    const detect::LoadedModule* row = nullptr;
    if (loaded) {
      for (const detect::LoadedModule& module : *loaded) {
        if (module.name == spec.name) row = &module;
      }
    }
    if (row != nullptr) {
      status.state = row->state == detect::InitState::live     ? ModuleState::live
                     : row->state == detect::InitState::coming ? ModuleState::coming
                                                               : ModuleState::going;
      status.refcnt = row->refcnt;
      status.holders = row->holders;
    } else if (!lookup) {
      status.state = ModuleState::unknown;
    } else {
      switch (lookup->disk) {
        case detect::DiskState::builtin: status.state = ModuleState::builtin; break;
        case detect::DiskState::available:
          status.state = lookup->blacklisted ? ModuleState::blacklisted : ModuleState::available;
          break;
        case detect::DiskState::absent: status.state = ModuleState::absent; break;
        case detect::DiskState::unknown: status.state = ModuleState::unknown; break;
      }
    }
    status.guarded = facts.guard_installed && spec.stack == Stack::native;
    snapshot.modules.push_back(std::move(status));
  }

  const detect::ModuleStatus* af_key = snapshot.module("af_key");
  const detect::ModuleStatus* ipsec = snapshot.module("ipsec");
  const bool klips_in = ipsec != nullptr && detect::is_present(ipsec->state);
  snapshot.markers.proc_net_readable = true;
  snapshot.markers.proc_net_pfkey = af_key != nullptr && detect::is_present(af_key->state);
  snapshot.markers.xfrm_stat = any_present(snapshot, Stack::native);
  snapshot.markers.ipsec_version = snapshot.markers.ipsec_eroute = snapshot.markers.ipsec_spi = klips_in;
  snapshot.markers.proc_sys_net_ipsec = klips_in;
  if (klips_in) snapshot.markers.ipsec_interfaces = {"ipsec0"};
  snapshot.markers.guard_installed = facts.guard_installed;

  snapshot.native = judge(snapshot, Stack::native);
  snapshot.klips = judge(snapshot, Stack::klips);
  const bool native_in = any_present(snapshot, Stack::native);
  const bool klips_any = any_present(snapshot, Stack::klips);
  snapshot.overall = native_in && klips_any ? detect::Overall::conflict
                     : native_in            ? detect::Overall::native
                     : klips_any            ? detect::Overall::klips
                                            : detect::Overall::none;
  return snapshot;
}

}  // namespace fake
