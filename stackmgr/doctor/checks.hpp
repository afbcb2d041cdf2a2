#pragma once
// The doctor's individual checks, each a pure function of DoctorInputs (and the facts that
// run_doctor() derives once). run_doctor() calls them in order; tests may call one directly.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/ip_subnet.hpp"
#include "detect/ipsec_conf.hpp"
#include "stackmgr/doctor/model.hpp"

namespace stackmgr::doctor {

// --- config files (doctor_config_checks.cpp) ---
CheckResult check_config_files(const DoctorInputs& inputs);                              // config-files
CheckResult check_ipcomp_native(const DoctorInputs& inputs, const TargetStack& target);  // ipcomp-native
CheckResult check_ipv6_parser(const DoctorInputs& inputs);                               // ipv6-config-parser

// --- opportunistic encryption (doctor_oe.cpp) ---
CheckResult check_oe_local_nameserver(const DoctorInputs& inputs, const OeState& oe);  // oe-local-nameserver
CheckResult check_oe_dns_clear(const DoctorInputs& inputs, const OeState& oe);         // oe-dns-clear
CheckResult check_oe_asymmetric_routing(const DoctorInputs& inputs, const OeState& oe,
                                        const TargetStack& target);  // oe-asymmetric-routing

// --- firewall rules keyed on ipsecN (doctor_firewall.cpp) ---
CheckResult check_ipsec_interface_rules(const DoctorInputs& inputs, const TargetStack& target);

// A line that names a KLIPS interface (ipsec0, ipsec+...).
struct InterfaceReference {
  std::string source;     // "iptables-save", "/usr/local/lib/ipsec/_updown"
  int line = 0;           // 1-based
  std::string interface;  // "ipsec+"
  std::string text;       // the line, trimmed
};
// Rules in iptables-save output whose -i/-o (--in-/--out-interface) is an ipsecN interface.
std::vector<InterfaceReference> find_interface_rules(const TextSource& rules);
// Non-comment lines of a shell script (an _updown) that name an ipsecN interface literally.
std::vector<InterfaceReference> find_interface_in_script(const TextSource& script);

// --- stack health from the Snapshot (doctor_stack_checks.cpp) ---
CheckResult check_both_builtin(const DoctorInputs& inputs);  // stack-both-builtin
CheckResult check_conflict(const DoctorInputs& inputs);      // stack-conflict
CheckResult check_stack_available(const DoctorInputs& inputs, const TargetStack& target);  // stack-available
CheckResult check_blacklist(const DoctorInputs& inputs, const TargetStack& target);        // stack-blacklist
CheckResult check_modules_disabled(const DoctorInputs& inputs,
                                   const TargetStack& target);  // modules-disabled
CheckResult check_autoload_guard(const DoctorInputs& inputs);   // autoload-guard
CheckResult check_keying_daemon(const DoctorInputs& inputs);    // keying-daemon

// --- shared helpers ---
// "conn NAME (/etc/ipsec.conf:12)".
std::string describe_conn(const detect::ConfSection& conn);
// The subnet one side of a conn covers: <side>subnet, else <side> as a host; nullopt for
// names and %-values (%defaultroute, %any...). `side` is "left" or "right".
std::optional<detect::IpSubnet> conn_side_subnet(const detect::ConfSection& conn, std::string_view side);
// True when the conn's auto= makes the daemon install its policy: route, ondemand or start.
bool conn_is_routed(const detect::ConfSection& conn);
// Joins with ", ", at most `limit` items and then "and N more".
std::string join_list(const std::vector<std::string>& items, std::size_t limit = 8);

}  // namespace stackmgr::doctor
