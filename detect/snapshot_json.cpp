#include "detect/snapshot_json.hpp"

namespace detect {
namespace {

using json = nlohmann::ordered_json;

json optional_text(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

json report_to_json(const StackReport& report) {
  return json{{"verdict", to_string(report.verdict)}, {"reasons", report.reasons}};
}

json subsystem_to_json(const ModuleSubsystem& subsystem) {
  return json{
      {"supported", to_string(subsystem.supported)},
      {"modules_disabled", to_string(subsystem.modules_disabled)},
      {"cap_sys_module", to_string(subsystem.cap_sys_module)},
      {"cap_sys_module_bounding", to_string(subsystem.cap_sys_module_bounding)},
      {"can_change_modules", subsystem.can_change_modules()},
      {"kernel_release", optional_text(subsystem.kernel_release)},
      {"modules_dir", optional_text(subsystem.modules_dir)},
      {"modules_dir_exists", subsystem.modules_dir_exists},
      {"notes", subsystem.notes},
  };
}

json markers_to_json(const Markers& markers) {
  return json{
      {"proc_net_pfkey", markers.proc_net_pfkey},
      {"xfrm_stat", markers.xfrm_stat},
      {"xfrm_acq_expires", markers.xfrm_acq_expires},
      {"xfrm_framework", markers.xfrm_framework()},
      {"ipsec_version", markers.ipsec_version},
      {"ipsec_version_text", optional_text(markers.ipsec_version_text)},
      {"ipsec_eroute", markers.ipsec_eroute},
      {"ipsec_spi", markers.ipsec_spi},
      {"proc_sys_net_ipsec", markers.proc_sys_net_ipsec},
      {"ipsec_interfaces", markers.ipsec_interfaces},
      {"guard_installed", markers.guard_installed},
      {"proc_net_readable", markers.proc_net_readable},
      {"initial_netns", markers.initial_netns},
      {"notes", markers.notes},
  };
}

}  // namespace

json module_to_json(const ModuleStatus& status) {
  return json{
      {"name", status.spec.name},
      {"stack", to_string(status.spec.stack)},
      {"role", to_string(status.spec.role)},
      {"state", to_string(status.state)},
      {"refcnt", is_loaded(status.state) && status.refcnt >= 0 ? json(status.refcnt) : json(nullptr)},
      {"holders", status.holders},
      {"dependencies", status.dependencies},
      {"path", optional_text(status.path)},
      {"blacklisted", status.blacklisted},
      {"guarded", status.guarded},
      {"note", optional_text(status.note)},
  };
}

json snapshot_to_json(const Snapshot& snapshot) {
  json modules = json::array();
  for (const ModuleStatus& status : snapshot.modules) modules.push_back(module_to_json(status));
  return json{
      {"schema", kDetectSchema},
      {"overall", to_string(snapshot.overall)},
      {"reasons", snapshot.reasons},
      {"stacks", {{"native", report_to_json(snapshot.native)}, {"klips", report_to_json(snapshot.klips)}}},
      {"subsystem", subsystem_to_json(snapshot.subsystem)},
      {"modules", std::move(modules)},
      {"markers", markers_to_json(snapshot.markers)},
  };
}

}  // namespace detect
