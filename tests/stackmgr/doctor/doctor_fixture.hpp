#pragma once
// Building DoctorInputs by hand for the doctor's unit tests: a host with the native stack (or
// KLIPS) up, a FreeS/WAN daemon running, and config texts given inline.

#include <map>
#include <stdexcept>
#include <string>

#include "detect/catalog.hpp"
#include "detect/ipsec_conf.hpp"
#include "detect/policy_groups.hpp"
#include "detect/resolv_conf.hpp"
#include "stackmgr/doctor/doctor.hpp"

namespace doctor_fixture {

inline detect::Snapshot snapshot_with(detect::Stack active) {
  detect::Snapshot snapshot;
  snapshot.subsystem.supported = detect::Fact::yes;
  snapshot.subsystem.modules_disabled = detect::Fact::no;
  snapshot.subsystem.cap_sys_module = detect::Fact::yes;
  const detect::Catalog catalog = detect::Catalog::defaults();
  for (const detect::ModuleSpec& spec : catalog.all()) {
    detect::ModuleStatus status;
    status.spec = spec;
    const bool up = spec.stack == active && spec.role != detect::ModuleRole::ipcomp;
    status.state = up ? detect::ModuleState::live : detect::ModuleState::available;
    status.guarded = active == detect::Stack::klips && spec.stack == detect::Stack::native;
    snapshot.modules.push_back(status);
  }
  snapshot.overall = active == detect::Stack::native ? detect::Overall::native : detect::Overall::klips;
  snapshot.native.stack = detect::Stack::native;
  snapshot.klips.stack = detect::Stack::klips;
  (active == detect::Stack::native ? snapshot.native : snapshot.klips).verdict = detect::Verdict::active;
  (active == detect::Stack::native ? snapshot.klips : snapshot.native).verdict = detect::Verdict::loadable;
  if (active == detect::Stack::native) {
    snapshot.markers.proc_net_pfkey = true;
    snapshot.markers.xfrm_stat = true;
  } else {
    snapshot.markers.ipsec_version = true;
    snapshot.markers.ipsec_interfaces = {"ipsec0"};
    snapshot.markers.guard_installed = true;
  }
  return snapshot;
}

inline detect::ModuleStatus& module(detect::Snapshot& snapshot, std::string_view name) {
  for (detect::ModuleStatus& status : snapshot.modules) {
    if (status.spec.name == name) return status;
  }
  throw std::runtime_error("no module " + std::string(name));
}

inline detect::IpsecConf conf(std::string_view text) {
  static const detect::HostRoot nowhere("/nonexistent-stackmgr-doctor-test");
  return detect::parse_ipsec_conf(text, "/etc/ipsec.conf", nowhere);
}

inline detect::PolicyGroups groups(const std::map<std::string, std::string>& files) {
  detect::PolicyGroups result;
  result.directory = "/etc/ipsec.d/policies";
  for (const std::string_view name : detect::kPolicyGroupNames) {
    const std::string path = result.directory + "/" + std::string(name);
    const auto file = files.find(std::string(name));
    if (file == files.end()) {
      detect::PolicyGroup missing;
      missing.name = std::string(name);
      missing.path = path;
      result.groups.push_back(missing);
      continue;
    }
    result.groups.push_back(detect::parse_policy_group(name, file->second, path, result.problems));
  }
  return result;
}

inline detect::LanRoute lan(std::string_view interface, std::string_view subnet) {
  return detect::LanRoute{std::string(interface), *detect::IpSubnet::parse(subnet)};
}

// The native stack up, FreeS/WAN 2.06 running, no OE, a remote nameserver, one LAN.
inline stackmgr::doctor::DoctorInputs native_host() {
  stackmgr::doctor::DoctorInputs inputs;
  inputs.snapshot = snapshot_with(detect::Stack::native);
  inputs.ipsec_conf = conf("version 2\nconfig setup\n\tinterfaces=%defaultroute\n");
  inputs.resolv = detect::parse_resolv_conf("nameserver 192.0.2.53\n", "/etc/resolv.conf");
  inputs.policies = groups({});
  inputs.lan_routes = std::vector<detect::LanRoute>{lan("eth0", "192.168.1.0/24")};
  inputs.daemon = {stackmgr::doctor::DaemonState::running,
                   "pid 812 in /run/stackmgr/stackmgr.pid is stackmgr"};
  inputs.daemon_traits.product = "FreeS/WAN";
  inputs.daemon_traits.version = "2.06";
  inputs.daemon_traits.parser_ipv6 = stackmgr::doctor::ParserIpv6::unsupported;
  inputs.daemon_traits.implicit_policy_conns = true;
  inputs.daemon_traits.source = "/usr/local/sbin/ipsec";
  return inputs;
}

inline stackmgr::doctor::DoctorInputs klips_host() {
  stackmgr::doctor::DoctorInputs inputs = native_host();
  inputs.snapshot = snapshot_with(detect::Stack::klips);
  return inputs;
}

// OE as FreeS/WAN 2.x ships it: private-or-clear lists the whole Internet.
inline void turn_on_oe(stackmgr::doctor::DoctorInputs& inputs) {
  inputs.policies = groups({{"private-or-clear", "# OE everywhere\n0.0.0.0/0\n"}, {"clear", "# nothing\n"}});
}

}  // namespace doctor_fixture
