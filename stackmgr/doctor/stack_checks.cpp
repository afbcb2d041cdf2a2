// Stack health as detection sees it: both stacks built in, a conflict, blacklisted modules,
// modules_disabled, the autoload guard with KLIPS, and the keying daemon.
#include "stackmgr/doctor/checks.hpp"

namespace stackmgr::doctor {
namespace {

std::vector<std::string> names_where(const detect::Snapshot& snapshot, detect::Stack stack,
                                     detect::ModuleRole role,
                                     bool (*predicate)(const detect::ModuleStatus&)) {
  std::vector<std::string> names;
  for (const detect::ModuleStatus& module : snapshot.modules) {
    if (module.spec.stack == stack && module.spec.role == role && predicate(module))
      names.push_back(module.spec.name);
  }
  return names;
}

std::string stack_name(detect::Stack stack) { return stack == detect::Stack::native ? "native" : "KLIPS"; }

std::string reasons_of(const detect::Snapshot& snapshot) {
  return snapshot.reasons.empty() ? std::string() : " (" + join_list(snapshot.reasons, 4) + ")";
}

}  // namespace

CheckResult check_both_builtin(const DoctorInputs& inputs) {
  CheckResult result{"stack-both-builtin", Level::ok, "Both stacks compiled into the kernel", "", ""};
  auto builtin = [](const detect::ModuleStatus& m) { return m.state == detect::ModuleState::builtin; };
  const auto native = names_where(inputs.snapshot, detect::Stack::native, detect::ModuleRole::core, builtin);
  const auto klips = names_where(inputs.snapshot, detect::Stack::klips, detect::ModuleRole::core, builtin);
  if (native.empty() || klips.empty()) {
    result.reason = native.empty() && klips.empty()
                        ? "Neither stack's core is compiled in."
                        : "Only the " + std::string(native.empty() ? "KLIPS" : "native") +
                              " stack's core is compiled in (" + join_list(native.empty() ? klips : native) +
                              ").";
    return result;
  }
  result.level = Level::fail;
  result.reason = "Both stacks are compiled into the kernel (native: " + join_list(native) +
                  "; KLIPS: " + join_list(klips) +
                  "). Only one PF_KEY implementation can exist, so they cannot work together, "
                  "and a built-in stack cannot be unloaded.";
  result.fix =
      "Build the kernel with at most one stack compiled in (the other as modules, or not at all) and boot "
      "it.";
  return result;
}

CheckResult check_conflict(const DoctorInputs& inputs) {
  CheckResult result{"stack-conflict", Level::ok, "One stack in the kernel", "", ""};
  const detect::Snapshot& snapshot = inputs.snapshot;
  switch (snapshot.overall) {
    case detect::Overall::conflict:
      result.level = Level::fail;
      result.reason =
          "Both stacks have code in the kernel" + reasons_of(snapshot) +
          ". Loading KLIPS while af_key, esp4 or ah4 are loaded crashed 2.6 kernels; the two cannot "
          "share PF_KEY.";
      result.fix =
          "Keep one: 'stackmgr switch native' or 'stackmgr switch klips' unloads the other stack's modules. "
          "If "
          "the kernel already misbehaves, reboot.";
      return result;
    case detect::Overall::broken:
      result.level = Level::fail;
      result.reason = "The kernel's markers disagree with the module states" + reasons_of(snapshot) +
                      ", so no stack can be trusted to work.";
      result.fix =
          "Run 'stackmgr detect' to see each marker and module; a half-unloaded stack usually needs a "
          "reboot.";
      return result;
    case detect::Overall::none:
      result.reason = "No IPsec stack is in the kernel" + reasons_of(snapshot) + ".";
      break;
    case detect::Overall::native: result.reason = "Only the native stack is in the kernel."; break;
    case detect::Overall::klips: result.reason = "Only KLIPS is in the kernel."; break;
  }
  return result;
}

CheckResult check_stack_available(const DoctorInputs& inputs, const TargetStack& target) {
  CheckResult result{"stack-available", Level::ok, "The stack in use can be active", "", ""};
  const detect::StackReport& report = inputs.snapshot.report(target.stack);
  const std::string stack = "The " + stack_name(target.stack) + " stack (" + target.source + ")";
  const std::string why = report.reasons.empty() ? std::string() : ": " + join_list(report.reasons, 4);
  const std::string name(detect::to_string(target.stack));
  switch (report.verdict) {
    case detect::Verdict::active:
      // Chosen because it is active: say it once.
      result.reason = target.active ? "The " + stack_name(target.stack) + " stack is active in the kernel."
                                    : stack + " is active.";
      return result;
    case detect::Verdict::builtin: result.reason = stack + " is built into the kernel."; return result;
    case detect::Verdict::loadable:
      result.reason = stack + " is not loaded but can be" + why + ".";
      return result;
    case detect::Verdict::partial:
      result.level = Level::warn;
      result.reason = stack + " is only partly in the kernel" + why + ".";
      result.fix = "Run 'stackmgr switch " + name + "' to complete it.";
      return result;
    case detect::Verdict::unavailable: break;
  }
  result.level = Level::fail;
  result.reason = stack + " cannot be made active" + why + ".";
  result.fix =
      "See 'stackmgr detect' for each module: install the running kernel's modules, allow module loading "
      "(a container needs the host to load them), or choose the other stack.";
  return result;
}

CheckResult check_blacklist(const DoctorInputs& inputs, const TargetStack& target) {
  CheckResult result{"stack-blacklist", Level::ok, "Blacklisted modules of the stack in use", "", ""};
  std::vector<std::string> blocking;  // core, not in the kernel: the stack cannot come up
  std::vector<std::string> latent;    // core, in the kernel now: the next load fails
  std::vector<std::string> helpers;
  for (const detect::ModuleStatus& module : inputs.snapshot.modules) {
    if (module.spec.stack != target.stack || module.spec.role == detect::ModuleRole::ipcomp) continue;
    if (!module.blacklisted && !module.guarded) continue;
    const std::string name =
        module.spec.name + (module.guarded ? " (blocked by stackmgr's autoload guard)" : "");
    if (module.spec.role == detect::ModuleRole::helper)
      helpers.push_back(name);
    else if (detect::is_present(module.state))
      latent.push_back(name);
    else
      blocking.push_back(name);
  }
  const std::string stack = stack_name(target.stack) + " stack (" + target.source + ")";
  std::string pattern;
  for (const auto* list : {&blocking, &latent}) {
    for (const std::string& name : *list)
      pattern += (pattern.empty() ? "" : "\\|") + name.substr(0, name.find(' '));
  }
  const std::string fix =
      "Remove the 'blacklist' (or 'install ... /bin/false') lines for them: grep -rn '" + pattern +
      "' /etc/modprobe.d /run/modprobe.d /lib/modprobe.d /usr/lib/modprobe.d. A stale stackmgr "
      "guard goes away with 'stackmgr switch " +
      std::string(detect::to_string(target.stack)) + "'.";
  if (!blocking.empty()) {
    result.level = Level::fail;
    result.reason =
        "The " + stack + " needs " + join_list(blocking) + ", which cannot be loaded: blacklisted.";
    result.fix = fix;
  } else if (!latent.empty()) {
    result.level = Level::warn;
    result.reason =
        "The " + stack + " runs with " + join_list(latent) +
        " loaded, but they are blacklisted: once unloaded (a switch, a restart) they cannot come back.";
    result.fix = fix;
  } else {
    result.reason = "No core module of the " + stack + " is blacklisted.";
  }
  if (!helpers.empty()) result.reason += " Blacklisted helpers (optional): " + join_list(helpers) + ".";
  return result;
}

CheckResult check_modules_disabled(const DoctorInputs& inputs, const TargetStack& target) {
  CheckResult result{"modules-disabled", Level::ok, "Module loading allowed (kernel.modules_disabled)", "",
                     ""};
  const detect::ModuleSubsystem& subsystem = inputs.snapshot.subsystem;
  if (subsystem.modules_disabled == detect::Fact::no) {
    result.reason = "kernel.modules_disabled is 0: modules can be loaded and unloaded.";
    return result;
  }
  if (subsystem.modules_disabled == detect::Fact::unknown) {
    result.reason = "kernel.modules_disabled could not be read" +
                    (subsystem.notes.empty() ? std::string() : " (" + join_list(subsystem.notes, 3) + ")") +
                    ".";
    return result;
  }
  const detect::Verdict verdict = inputs.snapshot.report(target.stack).verdict;
  const bool up = verdict == detect::Verdict::active || verdict == detect::Verdict::builtin;
  const std::string stack = stack_name(target.stack) + " stack (" + target.source + ")";
  result.level = up ? Level::warn : Level::fail;
  result.reason =
      up ? "kernel.modules_disabled is 1: the " + stack +
               " stays as it is, but no module can be loaded or unloaded until reboot, so no switch and "
               "no recovery is possible."
         : "kernel.modules_disabled is 1 and the " + stack + " is " +
               std::string(detect::to_string(verdict)) + ": it cannot be loaded until reboot.";
  result.fix =
      "This cannot be undone at run time. Reboot without setting kernel.modules_disabled=1 (look in "
      "/etc/sysctl.conf "
      "and /etc/sysctl.d), or set it only after the stack's modules are loaded at boot.";
  return result;
}

CheckResult check_autoload_guard(const DoctorInputs& inputs) {
  CheckResult result{"autoload-guard", Level::ok, "The autoload guard while KLIPS is active", "", ""};
  const detect::Snapshot& snapshot = inputs.snapshot;
  if (snapshot.active_stack() != detect::Stack::klips) {
    result.reason = "KLIPS is not active; the guard is only needed while it is.";
    return result;
  }
  // A blacklist line also stops alias autoloading (net-pf-15), so it protects as well.
  auto unguarded_loadable = [](const detect::ModuleStatus& m) {
    return !m.guarded && !m.blacklisted &&
           (m.state == detect::ModuleState::available || m.state == detect::ModuleState::unknown);
  };
  const auto open =
      names_where(snapshot, detect::Stack::native, detect::ModuleRole::core, unguarded_loadable);
  if (open.empty()) {
    result.reason = "KLIPS is active and the native stack's modules cannot autoload (stackmgr's guard /" +
                    std::string(detect::kGuardFile) + ", or blacklisted, or not on disk).";
    return result;
  }
  result.level = Level::fail;
  result.reason =
      "KLIPS is active and nothing stops " + join_list(open) + " from autoloading" +
      (snapshot.markers.guard_installed ? " (the guard file exists but does not block them)"
                                        : " (no guard file: /" + std::string(detect::kGuardFile) + ")") +
      ". Any program that opens a PF_KEY socket makes the kernel load af_key (alias net-pf-15) next to "
      "KLIPS: the crash the seed warns about.";
  result.fix =
      "Run 'stackmgr switch klips': it installs the guard. By hand: a modprobe.d file with 'install af_key "
      "/bin/false' (and the same for esp4 and ah4).";
  return result;
}

CheckResult check_keying_daemon(const DoctorInputs& inputs) {
  CheckResult result{"keying-daemon", Level::ok, "The keying daemon", "", ""};
  const DaemonStatus& daemon = inputs.daemon;
  const std::string detail = daemon.detail.empty() ? std::string() : " (" + daemon.detail + ")";
  switch (daemon.state) {
    case DaemonState::running: result.reason = "The keying daemon runs" + detail + "."; return result;
    case DaemonState::unknown:
      result.level = Level::warn;
      result.reason = "Cannot tell whether the keying daemon runs" + detail + ".";
      result.fix = "Run 'stackmgr status' as root.";
      return result;
    case DaemonState::not_running: break;
  }
  const auto active = inputs.snapshot.active_stack();
  result.level = active ? Level::fail : Level::warn;
  result.reason = active ? "The " + stack_name(*active) + " stack is active but no keying daemon runs" +
                               detail + ": no SA gets negotiated, so tunnels and OE are down."
                         : "No keying daemon runs" + detail + ".";
  result.fix =
      "Start it: 'systemctl start stackmgr' (or the init script); 'journalctl -u stackmgr' says why it "
      "stopped.";
  return result;
}

}  // namespace stackmgr::doctor
