// ipsec.conf text into the FreeS/WAN parser, then into the doctor's checks that read conns.
// Includes point under a root that does not exist, so the run never touches real files.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "detect/ipsec_conf.hpp"
#include "stackmgr/doctor/doctor.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

void require_located(const detect::ConfLocation& where, std::size_t lines) {
  fuzz::require(where.file == "/etc/ipsec.conf");
  fuzz::require(where.line >= 1 && static_cast<std::size_t>(where.line) <= lines);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const detect::HostRoot nowhere("/nonexistent-stackmgr-fuzz-root");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const detect::IpsecConf conf = detect::parse_ipsec_conf(text, "/etc/ipsec.conf", nowhere);
  // The parser counts lines split on '\n' only, as a last line without one still counts.
  const std::size_t lines = fuzz::count_lines(text) + (text.empty() || text.back() == '\n' ? 1 : 0);
  for (const auto& problem : conf.problems) {
    require_located(problem.where, lines);
    fuzz::require(!problem.message.empty() && problem.message.size() < 4096);
  }
  fuzz::require(conf.conns.size() + conf.cas.size() <= conf.sections.size());
  for (const auto& conn : conf.conns) {
    fuzz::require(conn.name != "%default" && conn.also.empty());
    fuzz::require(conn.find("also") == nullptr && conn.find("alsoflip") == nullptr);
    for (const auto& [key, value] : conn.keys) {
      require_located(value.where, lines);
      fuzz::require(!value.value.empty());
    }
  }
  // The checks that read conns must cope with whatever the parser lets through.
  stackmgr::doctor::DoctorInputs inputs;
  inputs.ipsec_conf = conf;
  inputs.policies.groups.resize(detect::kPolicyGroupNames.size());
  for (std::size_t i = 0; i < detect::kPolicyGroupNames.size(); ++i) {
    inputs.policies.groups[i].name = std::string(detect::kPolicyGroupNames[i]);
    inputs.policies.groups[i].entries.push_back({*detect::IpSubnet::parse("0.0.0.0/0"), {"/p", 1}, ""});
  }
  inputs.resolv =
      detect::parse_resolv_conf("nameserver 127.0.0.1\nnameserver 192.0.2.1\n", "/etc/resolv.conf");
  inputs.lan_routes = std::vector<detect::LanRoute>{{"eth0", *detect::IpSubnet::parse("192.168.1.0/24")}};
  inputs.daemon_traits.parser_ipv6 = stackmgr::doctor::ParserIpv6::unsupported;
  const auto report = stackmgr::doctor::run_doctor(inputs);
  fuzz::require(report.checks.size() == 14);
  return 0;
}
