#include "stackmgr/cli/render_snapshot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "stackmgr/base/strings.hpp"

namespace stackmgr::cli {
namespace {

using detect::Fact;
using detect::ModuleStatus;
using detect::Snapshot;

void bullets(std::string& out, const std::vector<std::string>& lines, std::string_view indent = "  ") {
  for (const std::string& line : lines) out += fmt::format("{}- {}\n", indent, line);
}

std::string yes_no(bool value) { return value ? "yes" : "no"; }

std::string supported_text(Fact fact) {
  switch (fact) {
    case Fact::yes: return "supported";
    case Fact::no: return "not supported";
    case Fact::unknown: return "unknown";
  }
  return "unknown";
}

std::string flags_of(const ModuleStatus& status) {
  std::vector<std::string> flags;
  if (status.blacklisted) flags.emplace_back("blacklisted");
  if (status.guarded) flags.emplace_back("guarded");
  return flags.empty() ? "-" : base::join(flags, ",");
}

void render_subsystem(std::string& out, const detect::ModuleSubsystem& subsystem) {
  out += "Module subsystem\n";
  out += fmt::format("  kernel {}   modules {}   modules_disabled {}   CAP_SYS_MODULE {} (bounding {})\n",
                     subsystem.kernel_release.empty() ? "unknown" : subsystem.kernel_release,
                     supported_text(subsystem.supported), to_string(subsystem.modules_disabled),
                     to_string(subsystem.cap_sys_module), to_string(subsystem.cap_sys_module_bounding));
  if (!subsystem.modules_dir.empty()) {
    out += fmt::format("  modules dir {}{}\n", subsystem.modules_dir,
                       subsystem.modules_dir_exists ? "" : " (missing)");
  }
  bullets(out, subsystem.notes, "    ");
}

void render_modules(std::string& out, const Snapshot& snapshot) {
  out += fmt::format("{:<16} {:<7} {:<7} {:<12} {:>6}  {:<24} {}\n", "MODULE", "STACK", "ROLE", "STATE",
                     "REFCNT", "HOLDERS", "FLAGS");
  for (const ModuleStatus& status : snapshot.modules) {
    const bool loaded = is_loaded(status.state);
    out += fmt::format("{:<16} {:<7} {:<7} {:<12} {:>6}  {:<24} {}\n", status.spec.name,
                       to_string(status.spec.stack), to_string(status.spec.role), to_string(status.state),
                       loaded && status.refcnt >= 0 ? std::to_string(status.refcnt) : "-",
                       status.holders.empty() ? "-" : base::join(status.holders, ","), flags_of(status));
  }
  // Identical notes (every module of a host without an index, say) are printed once.
  std::vector<std::pair<std::string, std::vector<std::string>>> notes;
  for (const ModuleStatus& status : snapshot.modules) {
    if (status.note.empty()) continue;
    auto same = std::find_if(notes.begin(), notes.end(),
                             [&](const auto& entry) { return entry.first == status.note; });
    if (same == notes.end()) {
      notes.push_back({status.note, {status.spec.name}});
    } else {
      same->second.push_back(status.spec.name);
    }
  }
  for (const auto& [note, names] : notes) out += fmt::format("  {}: {}\n", base::join(names, ", "), note);
}

void render_markers(std::string& out, const detect::Markers& markers) {
  out += "Markers\n";
  const auto row = [&](std::string_view name, const std::string& value) {
    out += fmt::format("  {:<44} {}\n", name, value);
  };
  row("/proc/net/pfkey (af_key)", yes_no(markers.proc_net_pfkey));
  row("/proc/net/xfrm_stat (XFRM framework)", yes_no(markers.xfrm_stat));
  row("/proc/sys/net/core/xfrm_acq_expires (XFRM)", yes_no(markers.xfrm_acq_expires));
  row("/proc/net/ipsec/version (KLIPS)", markers.ipsec_version_text.empty()
                                             ? yes_no(markers.ipsec_version)
                                             : "yes: " + markers.ipsec_version_text);
  row("/proc/net/ipsec_eroute (KLIPS)", yes_no(markers.ipsec_eroute));
  row("/proc/net/ipsec_spi (KLIPS)", yes_no(markers.ipsec_spi));
  row("/proc/sys/net/ipsec (KLIPS)", yes_no(markers.proc_sys_net_ipsec));
  row("ipsecN interfaces (KLIPS)",
      markers.ipsec_interfaces.empty() ? "none" : base::join(markers.ipsec_interfaces, ", "));
  row("autoload guard", markers.guard_installed ? "installed" : "not installed");
  bullets(out, markers.notes, "    ");
}

}  // namespace

std::string render_snapshot(const Snapshot& snapshot) {
  std::string out;
  out += fmt::format("Overall: {}\n", to_string(snapshot.overall));
  bullets(out, snapshot.reasons);
  out += "\n";
  for (const detect::StackReport* report : {&snapshot.native, &snapshot.klips}) {
    out += fmt::format("{:<7} {}\n", to_string(report->stack), to_string(report->verdict));
    bullets(out, report->reasons);
  }
  out += "\n";
  render_subsystem(out, snapshot.subsystem);
  out += "\n";
  render_modules(out, snapshot);
  out += "\n";
  render_markers(out, snapshot.markers);
  return out;
}

}  // namespace stackmgr::cli
