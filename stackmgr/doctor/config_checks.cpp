// Checks on what ipsec.conf says: that it parses, IPComp on the native stack, and IPv6
// addresses that FreeS/WAN's parser cannot read.
#include <algorithm>
#include <cctype>
#include <set>

#include "stackmgr/doctor/checks.hpp"

namespace stackmgr::doctor {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string plural(std::size_t count, std::string_view one, std::string_view many) {
  return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

// The IPv6 addresses and subnets in one value: "2001:db8::/64", "{fd00::/8 10.0.0.0/8}",
// "%v6:fd00::/8,!%v4:10.0.0.0/8" (virtual_private) all count.
std::vector<std::string> ipv6_tokens(std::string_view value) {
  std::vector<std::string> found;
  std::string token;
  auto flush = [&] {
    std::string_view candidate = token;
    if (!candidate.empty() && candidate.front() == '!') candidate.remove_prefix(1);
    if (candidate.rfind("%v6:", 0) == 0 || candidate.rfind("%v4:", 0) == 0) candidate.remove_prefix(4);
    if (const auto subnet = detect::IpSubnet::parse(candidate);
        subnet && subnet->network.family == detect::Family::ipv6) {
      found.emplace_back(candidate);
    }
    token.clear();
  };
  for (const char c : value) {
    if (c == ' ' || c == '\t' || c == ',' || c == '{' || c == '}' || c == '"')
      flush();
    else
      token += c;
  }
  flush();
  return found;
}

}  // namespace

CheckResult check_config_files(const DoctorInputs& inputs) {
  CheckResult result{"config-files", Level::ok, "The configuration files parse cleanly", "", ""};
  std::vector<std::string> problems;
  for (const auto& problem : inputs.ipsec_conf.problems) problems.push_back(problem.describe());
  for (const auto& problem : inputs.resolv.problems) problems.push_back(problem.describe());
  for (const auto& problem : inputs.policies.problems) problems.push_back(problem.describe());

  const detect::IpsecConf& conf = inputs.ipsec_conf;
  std::vector<std::string> read;
  if (conf.found) {
    read.push_back(conf.path + " (" + plural(conf.files.size(), "file", "files") + ", " +
                   plural(conf.conns.size(), "conn", "conns") + ")");
  } else {
    read.push_back("no " + (conf.path.empty() ? std::string(detect::kDefaultIpsecConf) : conf.path) +
                   " (the checks on conns had nothing to read)");
  }
  if (inputs.resolv.found) {
    read.push_back(inputs.resolv.path + " (" +
                   plural(inputs.resolv.nameservers.size(), "nameserver", "nameservers") + ")");
  } else {
    read.push_back("no " + inputs.resolv.path);
  }
  std::size_t groups = 0;
  for (const auto& group : inputs.policies.groups) groups += group.found ? 1 : 0;
  read.push_back(plural(groups, "policy group file", "policy group files") + " in " +
                 inputs.policies.directory);
  result.reason = "Read " + join_list(read) + ".";
  if (!inputs.stackmgr_config_error.empty()) {
    result.level = Level::fail;
    result.reason =
        "stackmgr's config cannot be loaded, so stackmgr refuses to start: " + inputs.stackmgr_config_error +
        ". The checks used its defaults. " + result.reason;
    if (!problems.empty()) result.reason += " Also: " + join_list(problems, 10) + ".";
    result.fix = "Correct the config (docs/config.md); it must belong to root and not be writable by others.";
    return result;
  }
  if (problems.empty()) return result;

  result.level = Level::warn;
  result.reason +=
      " " + plural(problems.size(), "problem", "problems") + ": " + join_list(problems, 10) + ".";
  result.fix =
      "Correct these lines. The keying daemon may reject the whole file or read it differently from what was "
      "meant, and the other checks only see what could be parsed.";
  return result;
}

CheckResult check_ipcomp_native(const DoctorInputs& inputs, const TargetStack& target) {
  CheckResult result{"ipcomp-native", Level::ok, "IPComp on the native stack", "", ""};
  if (target.stack != detect::Stack::native) {
    result.reason = "The stack is KLIPS (" + target.source +
                    "); the extra IPIP header in IPComp packets is a native-stack problem.";
    return result;
  }
  std::vector<std::string> conns;
  std::set<std::string> lines;
  for (const detect::ConfSection& conn : inputs.ipsec_conf.conns) {
    const detect::ConfValue* compress = conn.find("compress");
    if (compress == nullptr || lower(compress->value) != "yes") continue;
    conns.push_back("conn " + conn.name + " (compress=yes at " + compress->where.describe() + ")");
    lines.insert(compress->where.describe());
  }
  std::vector<std::string> modules;
  for (const detect::ModuleStatus& module : inputs.snapshot.modules) {
    if (module.spec.role == detect::ModuleRole::ipcomp && detect::is_loaded(module.state)) {
      modules.push_back(module.spec.name);
    }
  }
  if (conns.empty() && modules.empty()) {
    result.reason = "The stack is native (" + target.source +
                    "); no conn sets compress=yes and no IPComp module is loaded.";
    return result;
  }
  result.level = Level::fail;
  result.reason = "The stack is native (" + target.source +
                  "), and the native stack puts an extra IPIP header into IPComp packets: that defeats the "
                  "compression and is a security risk.";
  if (!conns.empty()) result.reason += " compress=yes in " + join_list(conns) + ".";
  if (!modules.empty()) result.reason += " Loaded: " + join_list(modules) + ".";
  std::vector<std::string> fixes;
  if (!lines.empty()) {
    fixes.push_back("set compress=no at " + join_list(std::vector<std::string>(lines.begin(), lines.end())) +
                    " and restart the keying daemon");
  }
  if (!modules.empty()) {
    std::string names;
    for (const std::string& name : modules) names += " " + name;
    fixes.push_back("unload the IPComp modules once no SA uses them (modprobe -r" + names +
                    "); stackmgr loads them only when allow_ipcomp is set in its config");
  }
  result.fix = "On the native stack, " + join_list(fixes) + ". If you need compression, use KLIPS.";
  return result;
}

CheckResult check_ipv6_parser(const DoctorInputs& inputs) {
  CheckResult result{"ipv6-config-parser", Level::ok, "IPv6 addresses in ipsec.conf and the daemon's parser",
                     "", ""};
  std::vector<std::string> found;
  for (const detect::ConfSection& section : inputs.ipsec_conf.sections) {
    for (const auto& [key, value] : section.keys) {
      for (const std::string& token : ipv6_tokens(value.value)) {
        found.push_back(key + "=" + token + " at " + value.where.describe());
      }
    }
  }
  const DaemonTraits& daemon = inputs.daemon_traits;
  const std::string who = daemon.product.empty()
                              ? std::string("the keying daemon")
                              : daemon.product + (daemon.version.empty() ? "" : " " + daemon.version) +
                                    " (from " + daemon.source + ")";
  if (found.empty()) {
    result.reason = "ipsec.conf holds no IPv6 address.";
    return result;
  }
  switch (daemon.parser_ipv6) {
    case ParserIpv6::supported:
      result.reason =
          "ipsec.conf holds IPv6 addresses (" + join_list(found, 3) + "), and " + who + " reads them.";
      return result;
    case ParserIpv6::unknown:
      result.reason =
          "ipsec.conf holds IPv6 addresses (" + join_list(found, 3) +
          "), and the keying daemon could not be identified (" +
          (daemon.source.empty() ? std::string("no 'ipsec' command found") : daemon.source) +
          "). If it is FreeS/WAN, its parser cannot read them: run 'stackmgr doctor --daemon-ipv6=no' to "
          "check as FreeS/WAN.";
      return result;
    case ParserIpv6::unsupported: break;
  }
  result.level = Level::warn;
  result.reason = "ipsec.conf holds IPv6 addresses, but the configuration parser of " + who +
                  " does not support IPv6: " + join_list(found) + ".";
  result.fix =
      "Keep IPv6 conns out of ipsec.conf and add them with 'ipsec whack' instead (Pluto, the native stack "
      "and the "
      "_updown script do handle IPv6), or use a keying daemon whose parser reads IPv6 (Openswan 2, "
      "Libreswan, "
      "strongSwan). If the daemon is not FreeS/WAN, run 'stackmgr doctor --daemon-ipv6=yes'.";
  return result;
}

}  // namespace stackmgr::doctor
