// Opportunistic encryption: whether it is on, and the seed's three OE pitfalls (a local
// nameserver, DNS servers outside the clear group, asymmetric routing on the native stack).
#include <algorithm>
#include <cctype>

#include "stackmgr/doctor/checks.hpp"
#include "stackmgr/doctor/doctor.hpp"

namespace stackmgr::doctor {
namespace {

constexpr std::string_view kExcludeLo =
    "conn exclude-lo\n"
    "\tauthby=never\n"
    "\tleft=127.0.0.1\n"
    "\tleftsubnet=127.0.0.0/8\n"
    "\tright=127.0.0.2\n"
    "\trightsubnet=127.0.0.0/8\n"
    "\ttype=passthrough\n"
    "\tauto=route\n";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_passthrough(const detect::ConfSection& conn) { return lower(conn.get("type")) == "passthrough"; }

bool is_loaded_at_all(const detect::ConfSection& conn) {
  const std::string value = lower(conn.get("auto", "ignore"));
  return value == "route" || value == "ondemand" || value == "start" || value == "add";
}

std::string describe_entry(const detect::PolicyGroup& group) {
  std::string first =
      group.entries.empty()
          ? group.names.front().value + " (" + group.names.front().where.describe() + ")"
          : group.entries.front().subnet.to_string() + " (" + group.entries.front().where.describe() + ")";
  const std::size_t more = group.entries.size() + group.names.size() - 1;
  if (more > 0) first += " and " + std::to_string(more) + " more";
  return "policy group " + group.name + " lists " + first;
}

// Conn sides covering `source` and `destination` in either direction.
bool covers_pair(const detect::ConfSection& conn, const detect::IpAddress& source,
                 const detect::IpAddress& destination) {
  const auto left = conn_side_subnet(conn, "left");
  const auto right = conn_side_subnet(conn, "right");
  if (!left || !right) return false;
  return (left->contains(source) && right->contains(destination)) ||
         (right->contains(source) && left->contains(destination));
}

detect::IpAddress loopback_source(const detect::IpAddress& address) {
  return *detect::IpAddress::parse(address.family == detect::Family::ipv4 ? "127.0.0.1" : "::1");
}

std::string clear_group_path(const DoctorInputs& inputs) {
  const detect::PolicyGroup* clear = inputs.policies.group("clear");
  return clear != nullptr ? clear->path : inputs.policies.directory + "/clear";
}

std::string oe_because(const OeState& oe) {
  return oe.reasons.empty() ? std::string() : " (" + oe.reasons.front() + ")";
}

std::string oe_off_reason(const OeState& oe) {
  if (oe.responder)
    return "This host only answers OE (" + join_list(oe.reasons, 2) + "); it never traps its own packets.";
  return "Opportunistic encryption is off: no initiating policy group lists anything and no conn uses "
         "%opportunistic.";
}

}  // namespace

OeState find_oe(const detect::IpsecConf& conf, const detect::PolicyGroups& policies,
                const DaemonTraits& daemon) {
  OeState oe;
  for (const std::string_view name : {"private", "private-or-clear", "clear-or-private"}) {
    const detect::PolicyGroup* group = policies.group(name);
    if (group == nullptr || group->empty()) continue;
    const detect::ConfSection* conn = conf.conn(name);
    const bool in_force =
        conn != nullptr
            ? (daemon.implicit_policy_conns ? lower(conn->get("auto")) != "ignore" : is_loaded_at_all(*conn))
            : daemon.implicit_policy_conns;
    if (!in_force) continue;
    oe.reasons.push_back(describe_entry(*group));
    if (name == "clear-or-private") {
      oe.responder = true;
      continue;
    }
    oe.on = true;
    oe.groups.emplace_back(name);
  }
  for (const detect::ConfSection& conn : conf.conns) {
    for (const std::string_view side : {"left", "right"}) {
      const std::string value = lower(conn.get(side));
      if (value != "%opportunistic" || !is_loaded_at_all(conn)) continue;
      const bool initiates = conn_is_routed(conn);
      oe.reasons.push_back(describe_conn(conn) + " has " + std::string(side) +
                           "=%opportunistic and auto=" + std::string(conn.get("auto")));
      if (initiates) {
        oe.on = true;
        oe.covers_everything = true;
      } else {
        oe.responder = true;
      }
    }
  }
  return oe;
}

CheckResult check_oe_local_nameserver(const DoctorInputs& inputs, const OeState& oe) {
  CheckResult result{"oe-local-nameserver", Level::ok, "OE with a local nameserver", "", ""};
  if (!oe.on) {
    result.reason = oe_off_reason(oe);
    return result;
  }
  std::vector<std::string> exempted;
  std::vector<std::string> missing;
  std::vector<std::string> unrouted;
  bool ipv6 = false;
  for (const detect::Nameserver& server : inputs.resolv.nameservers) {
    if (!server.address.is_loopback()) continue;
    const detect::IpAddress source = loopback_source(server.address);
    const detect::ConfSection* routed = nullptr;
    for (const detect::ConfSection& conn : inputs.ipsec_conf.conns) {
      if (!is_passthrough(conn) || !covers_pair(conn, source, server.address)) continue;
      if (conn_is_routed(conn)) {
        routed = &conn;
        break;
      }
      unrouted.push_back(describe_conn(conn) + " has auto=" + std::string(conn.get("auto", "ignore")));
    }
    const std::string name = server.address.to_string() + " (" + server.where.describe() + ")";
    if (routed != nullptr) {
      exempted.push_back(name + " by " + describe_conn(*routed));
    } else {
      missing.push_back(name);
      ipv6 = ipv6 || server.address.family == detect::Family::ipv6;
    }
  }
  if (missing.empty()) {
    result.reason = exempted.empty()
                        ? "OE is on, and resolv.conf names no local nameserver."
                        : "OE is on, and the local nameserver is exempted: " + join_list(exempted) + ".";
    return result;
  }
  result.level = Level::fail;
  result.reason =
      "OE is on" + oe_because(oe) + " and resolv.conf uses the local nameserver " + join_list(missing) +
      ". OE considers packets on every interface, loopback included, so DNS queries to it stall and OE "
      "connections then fail; the clear policy group cannot exempt them, because their source is "
      "127.0.0.1.";
  if (!unrouted.empty())
    result.reason += " A matching passthrough conn exists but is not routed: " + join_list(unrouted) + ".";
  const std::string conf =
      inputs.ipsec_conf.path.empty() ? std::string(detect::kDefaultIpsecConf) : inputs.ipsec_conf.path;
  result.fix =
      (ipv6 ? std::string("Make the local resolver listen on 127.0.0.1 and name that in resolv.conf instead "
                          "of ::1 (FreeS/WAN's parser cannot express an IPv6 passthrough); then add")
            : std::string("Add")) +
      " this conn to " + conf + " and restart the keying daemon:\n\n" + std::string(kExcludeLo);
  return result;
}

CheckResult check_oe_dns_clear(const DoctorInputs& inputs, const OeState& oe) {
  CheckResult result{"oe-dns-clear", Level::ok, "DNS servers in the clear policy group", "", ""};
  if (!oe.on) {
    result.reason = oe_off_reason(oe);
    return result;
  }
  const detect::PolicyGroup* clear = inputs.policies.group("clear");
  std::vector<std::string> exempt;
  std::vector<const detect::Nameserver*> missing;
  for (const detect::Nameserver& server : inputs.resolv.nameservers) {
    if (server.address.is_loopback()) continue;  // the local-nameserver check covers these
    const std::string name = server.address.to_string();
    if (const detect::PolicyEntry* entry = clear != nullptr ? clear->covering(server.address) : nullptr) {
      exempt.push_back(name + " (clear: " + entry->where.describe() + ")");
      continue;
    }
    const auto conn =
        std::find_if(inputs.ipsec_conf.conns.begin(), inputs.ipsec_conf.conns.end(), [&](const auto& c) {
          const auto left = conn_side_subnet(c, "left");
          const auto right = conn_side_subnet(c, "right");
          return is_passthrough(c) && conn_is_routed(c) &&
                 ((left && left->contains(server.address)) || (right && right->contains(server.address)));
        });
    if (conn != inputs.ipsec_conf.conns.end()) {
      exempt.push_back(name + " (" + describe_conn(*conn) + ")");
      continue;
    }
    missing.push_back(&server);
  }
  if (missing.empty()) {
    result.reason = exempt.empty() ? "OE is on; resolv.conf names no remote nameserver."
                                   : "OE is on, and every nameserver is exempt: " + join_list(exempt) + ".";
    return result;
  }
  std::vector<std::string> names;
  std::string lines;
  for (const detect::Nameserver* server : missing) {
    names.push_back(server->address.to_string() + " (" + server->where.describe() + ")");
    lines += server->address.to_string() + "\n";
  }
  result.level = Level::warn;
  result.reason =
      "OE is on" + oe_because(oe) +
      " and these nameservers are not in the clear policy group: " + join_list(names) +
      ". The first packet to a new host is held while OE is tried, the first DNS query with it; Pluto "
      "then installs the pass policy for the destination before the one for the DNS server, and OE "
      "connections fail to rekey.";
  if (clear != nullptr && !clear->names.empty()) {
    result.reason += " (The clear group also lists host names, which the doctor does not resolve.)";
  }
  result.fix = "Add them to " + clear_group_path(inputs) + ", one per line:\n\n" + lines +
               "\nthen run 'ipsec auto --rereadgroups'.";
  return result;
}

CheckResult check_oe_asymmetric_routing(const DoctorInputs& inputs, const OeState& oe,
                                        const TargetStack& target) {
  CheckResult result{"oe-asymmetric-routing", Level::ok,
                     "OE on the native stack: gateway-protected hosts on the LAN", "", ""};
  if (target.stack != detect::Stack::native) {
    result.reason =
        "The stack is KLIPS (" + target.source +
        "): its policies follow routing through ipsecN, so replies from a LAN host behind an OE gateway "
        "are not dropped.";
    return result;
  }
  if (!oe.on) {
    result.reason = oe_off_reason(oe);
    return result;
  }
  const std::string clear_path = clear_group_path(inputs);
  const std::string explain =
      "On the native stack IPsec policy is independent of routing: a LAN host protected by an OE gateway is "
      "reached directly while its replies come through the gateway (or the other way round); with this "
      "asymmetric routing the native stack drops the returning packets.";
  const std::string fix =
      "Give each such host a clear policy: add its address to " + clear_path +
      " and run 'ipsec auto --rereadgroups'. If no host on your LAN sits behind an OE gateway, "
      "nothing is broken; an entry for the LAN's hosts (or the LAN itself) in the clear group "
      "silences this warning.";
  if (!inputs.lan_routes.ok()) {
    result.level = Level::warn;
    result.reason = "OE is on with the native stack, and the local LANs could not be read (" +
                    inputs.lan_routes.error().describe() + "). " + explain;
    result.fix = fix;
    return result;
  }
  const detect::PolicyGroup* clear = inputs.policies.group("clear");
  std::vector<std::string> affected;
  std::vector<std::string> fine;
  for (const detect::LanRoute& lan : *inputs.lan_routes) {
    const std::string name = lan.subnet.to_string() + " (" + lan.interface + ")";
    std::string covered_by;
    if (oe.covers_everything) covered_by = "a %opportunistic conn";
    for (const std::string& group_name : oe.groups) {
      const detect::PolicyGroup* group = inputs.policies.group(group_name);
      if (group == nullptr || !covered_by.empty()) continue;
      for (const detect::PolicyEntry& entry : group->entries) {
        if (!entry.subnet.overlaps(lan.subnet)) continue;
        covered_by = group_name + " " + entry.subnet.to_string() + " (" + entry.where.describe() + ")";
        break;
      }
    }
    if (covered_by.empty()) {
      fine.push_back(name + ": no OE policy covers it");
      continue;
    }
    const detect::PolicyEntry* exempted = nullptr;
    if (clear != nullptr) {
      const auto match = std::find_if(
          clear->entries.begin(), clear->entries.end(),
          [&](const detect::PolicyEntry& e) { return e.narrowing.empty() && e.subnet.overlaps(lan.subnet); });
      if (match != clear->entries.end()) exempted = &*match;
    }
    if (exempted != nullptr) {
      fine.push_back(name + ": clear policy for " + exempted->subnet.to_string() + " (" +
                     exempted->where.describe() + ")");
      continue;
    }
    affected.push_back(name + " through " + covered_by);
  }
  if (affected.empty()) {
    result.reason = "OE is on with the native stack; " +
                    (fine.empty() ? std::string("no LAN is directly connected") : join_list(fine)) + ".";
    return result;
  }
  result.level = Level::warn;
  result.reason = "OE covers your directly connected LAN " + join_list(affected) + ". " + explain;
  result.fix = fix;
  return result;
}

}  // namespace stackmgr::doctor
