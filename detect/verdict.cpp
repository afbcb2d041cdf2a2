#include "detect/verdict.hpp"

#include <algorithm>

#include "detect/module_state.hpp"
#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

std::string stack_title(Stack stack) { return stack == Stack::native ? "native" : "KLIPS"; }

std::vector<const ModuleStatus*> core_modules(Stack stack, const std::vector<ModuleStatus>& modules) {
  std::vector<const ModuleStatus*> cores;
  for (const ModuleStatus& status : modules) {
    if (status.spec.stack == stack && status.spec.role == ModuleRole::core) cores.push_back(&status);
  }
  return cores;
}

const ModuleStatus* find_module(const std::vector<ModuleStatus>& modules, std::string_view name) {
  for (const ModuleStatus& status : modules) {
    if (status.spec.name == name) return &status;
  }
  return nullptr;
}

// "af_key live (refcnt 1, held by esp4)", "esp4 on disk, not loaded", "ah4 built in".
std::string describe(const ModuleStatus& status) {
  const std::string& name = status.spec.name;
  switch (status.state) {
    case ModuleState::live: {
      std::string text = name + " live";
      std::vector<std::string> details;
      if (status.refcnt >= 0) details.push_back("refcnt " + std::to_string(status.refcnt));
      if (!status.holders.empty()) details.push_back("held by " + stackmgr::base::join(status.holders));
      if (!details.empty()) text += " (" + stackmgr::base::join(details) + ")";
      return text;
    }
    case ModuleState::coming: return name + " coming (being loaded)";
    case ModuleState::going: return name + " going (being unloaded)";
    case ModuleState::builtin: return name + " built in";
    case ModuleState::available: return name + " on disk, not loaded";
    case ModuleState::blacklisted: return name + " blacklisted, not loaded";
    case ModuleState::absent: return name + " absent";
    case ModuleState::unknown: return name + " unknown";
  }
  return name;
}

bool known_not_in_kernel(ModuleState state) {
  return state == ModuleState::available || state == ModuleState::blacklisted || state == ModuleState::absent;
}

enum class Presence { in_kernel, not_in_kernel, unknown };

// Module state first; for an unknown state, the module's own marker when /proc/net is readable.
Presence presence(const ModuleStatus& status, const Markers& markers) {
  if (is_present(status.state)) return Presence::in_kernel;
  if (known_not_in_kernel(status.state)) return Presence::not_in_kernel;
  if (presence_marker_name(status.spec.name) == nullptr || !markers.proc_net_readable)
    return Presence::unknown;
  return presence_marker_set(status.spec.name, markers) ? Presence::in_kernel : Presence::not_in_kernel;
}

std::string first_note_about(const ModuleSubsystem& subsystem, std::string_view topic) {
  for (const std::string& note : subsystem.notes) {
    if (note.find(topic) != std::string::npos) return note;
  }
  return "";
}

// Why no module can be loaded on this host right now; empty when loading is possible.
std::vector<std::string> host_blockers(const ModuleSubsystem& subsystem) {
  std::vector<std::string> blockers;
  if (subsystem.supported == Fact::no) {
    blockers.push_back("the kernel has no module support (no /proc/modules): nothing can be loaded");
    return blockers;
  }
  if (subsystem.supported == Fact::unknown) {
    const std::string why = first_note_about(subsystem, "/proc");
    blockers.push_back("cannot tell whether the kernel supports modules" + (why.empty() ? "" : ": " + why));
  }
  if (subsystem.modules_disabled == Fact::yes) {
    blockers.push_back(
        "module loading is disabled (/proc/sys/kernel/modules_disabled is 1) and stays so until the next "
        "reboot");
  } else if (subsystem.modules_disabled == Fact::unknown && subsystem.supported == Fact::yes) {
    const std::string why = first_note_about(subsystem, "modules_disabled");
    blockers.push_back("cannot tell whether module loading is disabled" + (why.empty() ? "" : ": " + why));
  }
  if (subsystem.cap_sys_module_bounding == Fact::no) {
    blockers.push_back(
        "CAP_SYS_MODULE is not in the capability bounding set (a container?): no process here "
        "can load modules");
  }
  if (subsystem.kernel_release.empty())
    blockers.push_back("the kernel release is unknown, so is its module index");
  return blockers;
}

void add_guard_reason(const std::vector<const ModuleStatus*>& cores, std::vector<std::string>& reasons) {
  std::vector<std::string> guarded;
  for (const ModuleStatus* status : cores) {
    if (status->guarded) guarded.push_back(status->spec.name);
  }
  if (guarded.empty()) return;
  reasons.push_back("stackmgr's autoload guard blocks " + stackmgr::base::join(guarded) +
                    ": kmod will not autoload them; stackmgr lifts the guard before loading them itself");
}

void add_unknown(std::vector<std::pair<std::string, std::vector<std::string>>>& groups,
                 const std::string& name, const std::string& note) {
  for (auto& [text, names] : groups) {
    if (text == note) {
      names.push_back(name);
      return;
    }
  }
  groups.push_back({note, {name}});
}

StackReport judge_absent_stack(StackReport report, const std::vector<const ModuleStatus*>& cores,
                               const ModuleSubsystem& subsystem, const Markers& markers) {
  std::vector<std::string> blockers;
  std::vector<std::string> loadable;
  std::vector<std::pair<std::string, std::vector<std::string>>> unknown_groups;  // note -> modules
  for (const ModuleStatus* status : cores) {
    const std::string& name = status->spec.name;
    switch (status->state) {
      case ModuleState::available: loadable.push_back(name); break;
      case ModuleState::blacklisted:
        blockers.push_back(
            std::string(name)
                .append(" is blacklisted in modprobe.d: stackmgr does not load blacklisted modules "
                        "(remove the 'blacklist ")
                .append(name)
                .append("' line to allow it)"));
        break;
      case ModuleState::absent:
        blockers.push_back(name + " is neither built in nor on disk for kernel " + subsystem.kernel_release);
        break;
      default: {
        const char* marker = presence_marker_name(name);
        if (marker != nullptr && markers.proc_net_readable) {
          blockers.push_back(name + " is not in the kernel: " + marker + " is missing");
        } else {
          add_unknown(unknown_groups, name, status->note);
        }
        break;
      }
    }
  }
  for (const auto& [note, names] : unknown_groups) {
    blockers.push_back("cannot tell whether " + stackmgr::base::join(names) +
                       (names.size() > 1 ? " are" : " is") + " in the kernel or can be loaded: " + note);
  }
  for (std::string& blocker : host_blockers(subsystem)) blockers.push_back(std::move(blocker));
  if (blockers.empty()) {
    report.verdict = Verdict::loadable;
    report.reasons.push_back("no core module is in the kernel; " + stackmgr::base::join(loadable) +
                             (loadable.size() == 1 ? " is" : " are") + " on disk and can be loaded");
    if (subsystem.cap_sys_module != Fact::yes) {
      report.reasons.push_back("this process lacks CAP_SYS_MODULE: loading them needs root");
    }
    return report;
  }
  report.verdict = Verdict::unavailable;
  report.reasons = std::move(blockers);
  return report;
}

}  // namespace

bool has_code_in_kernel(Verdict verdict) {
  return verdict == Verdict::active || verdict == Verdict::builtin || verdict == Verdict::partial;
}

StackReport judge_stack(Stack stack, const std::vector<ModuleStatus>& modules,
                        const ModuleSubsystem& subsystem, const Markers& markers) {
  StackReport report;
  report.stack = stack;
  const std::vector<const ModuleStatus*> cores = core_modules(stack, modules);
  if (cores.empty()) {
    report.verdict = Verdict::unavailable;
    report.reasons.push_back("the catalog lists no core module for the " + stack_title(stack) + " stack");
    return report;
  }
  const auto all = [&](auto predicate) { return std::all_of(cores.begin(), cores.end(), predicate); };
  std::vector<std::string> described;
  described.reserve(cores.size());
  for (const ModuleStatus* status : cores) described.push_back(describe(*status));

  if (all([](const ModuleStatus* s) { return s->state == ModuleState::builtin; })) {
    report.verdict = Verdict::builtin;
    report.reasons.push_back("every core module is built into the kernel (" +
                             stackmgr::base::join(described) +
                             "): the stack is always there and cannot be unloaded");
  } else if (all([](const ModuleStatus* s) {
               return s->state == ModuleState::live || s->state == ModuleState::builtin;
             })) {
    report.verdict = Verdict::active;
    report.reasons.push_back("every core module is in the kernel: " + stackmgr::base::join(described));
  } else if (std::any_of(cores.begin(), cores.end(), [&](const ModuleStatus* s) {
               return presence(*s, markers) == Presence::in_kernel;
             })) {
    report.verdict = Verdict::partial;
    report.reasons.push_back("only part of the " + stack_title(stack) +
                             " stack is in the kernel: " + stackmgr::base::join(described));
    for (const ModuleStatus* status : cores) {
      if (status->state != ModuleState::unknown) continue;
      const char* marker = presence_marker_name(status->spec.name);
      if (presence(*status, markers) == Presence::in_kernel && marker != nullptr) {
        report.reasons.push_back(status->spec.name + "'s module state is unknown, but " + marker +
                                 " shows its code is in the kernel: " + status->note);
      } else {
        report.reasons.push_back(status->spec.name + ": " + status->note);
      }
    }
  } else {
    report = judge_absent_stack(std::move(report), cores, subsystem, markers);
  }
  add_guard_reason(cores, report.reasons);
  return report;
}

std::vector<std::string> marker_disagreements(const std::vector<ModuleStatus>& modules,
                                              const Markers& markers) {
  std::vector<std::string> found;
  if (!markers.proc_net_readable) return found;
  const ModuleStatus* af_key = find_module(modules, "af_key");
  const ModuleStatus* ipsec = find_module(modules, "ipsec");

  if (af_key != nullptr && markers.proc_net_pfkey && known_not_in_kernel(af_key->state)) {
    found.push_back(
        "/proc/net/pfkey exists, but af_key is " + std::string(to_string(af_key->state)) +
        ": something else provides native PF_KEY, or the module index is not the running kernel's");
  }
  if (af_key != nullptr && !markers.proc_net_pfkey &&
      (af_key->state == ModuleState::live || af_key->state == ModuleState::builtin)) {
    found.push_back("af_key is " + std::string(to_string(af_key->state)) +
                    ", but /proc/net/pfkey is missing: its PF_KEY registration failed or was undone");
  }

  std::vector<std::string> klips_files;
  if (markers.ipsec_version) klips_files.emplace_back("/proc/net/ipsec/version");
  if (markers.ipsec_eroute) klips_files.emplace_back("/proc/net/ipsec_eroute");
  if (markers.ipsec_spi) klips_files.emplace_back("/proc/net/ipsec_spi");
  if (markers.proc_sys_net_ipsec) klips_files.emplace_back("/proc/sys/net/ipsec");
  if (ipsec != nullptr && !klips_files.empty() && known_not_in_kernel(ipsec->state)) {
    found.push_back("KLIPS markers exist (" + stackmgr::base::join(klips_files) +
                    "), but the ipsec module is " + std::string(to_string(ipsec->state)) +
                    ": leftovers of a failed unload, or another KLIPS build");
  }
  if (ipsec != nullptr && markers.initial_netns && !markers.ipsec_version &&
      (ipsec->state == ModuleState::live || ipsec->state == ModuleState::builtin)) {
    found.push_back(
        "ipsec is " + std::string(to_string(ipsec->state)) +
        ", but /proc/net/ipsec/version is missing: the module is not KLIPS, or its init failed halfway");
  }
  if (!markers.ipsec_interfaces.empty() && markers.initial_netns) {
    bool any_klips_known = false;
    bool all_klips_absent = true;
    for (const ModuleStatus& status : modules) {
      if (status.spec.stack != Stack::klips) continue;
      any_klips_known = true;
      if (!known_not_in_kernel(status.state)) all_klips_absent = false;
    }
    if (any_klips_known && all_klips_absent) {
      found.push_back(
          stackmgr::base::join(markers.ipsec_interfaces) +
          " exists, but no KLIPS module is in the kernel: a leftover or foreign device named like KLIPS's");
    }
  }
  return found;
}

OverallJudgement judge_overall(const StackReport& native, const StackReport& klips,
                               const std::vector<ModuleStatus>& modules, const Markers& markers) {
  OverallJudgement judgement;
  const std::vector<std::string> disagreements = marker_disagreements(modules, markers);
  const bool native_in = has_code_in_kernel(native.verdict);
  const bool klips_in = has_code_in_kernel(klips.verdict);

  if (native_in && klips_in) {
    judgement.overall = Overall::conflict;
    judgement.reasons.push_back(
        "both stacks have code in the kernel: native is " + std::string(to_string(native.verdict)) +
        ", KLIPS is " + std::string(to_string(klips.verdict)) +
        "; only one PF_KEY implementation can work, and loading KLIPS over the native "
        "modules crashed 2.6 kernels");
    judgement.reasons.insert(judgement.reasons.end(), disagreements.begin(), disagreements.end());
  } else if (!disagreements.empty()) {
    judgement.overall = Overall::broken;
    judgement.reasons = disagreements;
    judgement.reasons.push_back(
        "the kernel's markers disagree with the module states: explain this before "
        "switching stacks");
  } else if (native_in) {
    judgement.overall = Overall::native;
    judgement.reasons.push_back("the native stack is " + std::string(to_string(native.verdict)) + ": " +
                                native.reasons.front());
  } else if (klips_in) {
    judgement.overall = Overall::klips;
    judgement.reasons.push_back("KLIPS is " + std::string(to_string(klips.verdict)) + ": " +
                                klips.reasons.front());
  } else {
    judgement.overall = Overall::none;
    judgement.reasons.push_back(
        "neither stack has code in the kernel (native: " + std::string(to_string(native.verdict)) +
        ", KLIPS: " + std::string(to_string(klips.verdict)) + ")");
  }
  if (markers.xfrm_framework()) {
    std::vector<std::string> files;
    if (markers.xfrm_stat) files.emplace_back("/proc/net/xfrm_stat");
    if (markers.xfrm_acq_expires) files.emplace_back("/proc/sys/net/core/xfrm_acq_expires");
    judgement.reasons.push_back(
        "XFRM framework built in (" + stackmgr::base::join(files) +
        "): the kernel can hold XFRM policies, but that says nothing about af_key, esp4 "
        "or ah4, the native stack's modules");
  }
  return judgement;
}

}  // namespace detect
