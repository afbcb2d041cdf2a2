#pragma once
// What the doctor reasons about and what it finds: its inputs (every host fact, gathered by
// inputs.hpp or built by hand in tests), the checks' results and the report. Data only.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/ipsec_conf.hpp"
#include "detect/lan_routes.hpp"
#include "detect/policy_groups.hpp"
#include "detect/resolv_conf.hpp"
#include "detect/snapshot.hpp"
#include "detect/stack.hpp"

namespace stackmgr::doctor {

enum class Level { ok, warn, fail };
std::string_view to_string(Level level);  // "OK", "WARN", "FAIL"

struct CheckResult {
  std::string id;  // stable, for scripts: "ipcomp-native"
  Level level = Level::ok;
  std::string title;   // what is checked: "IPComp on the native stack"
  std::string reason;  // what was found and why it matters (for OK: why it is fine)
  std::string fix;     // what to do; empty when there is nothing to do
};

// The keying daemon, as far as the doctor can tell (the seam for the control socket).
enum class DaemonState { running, not_running, unknown };
std::string_view to_string(DaemonState state);

struct DaemonStatus {
  DaemonState state = DaemonState::unknown;
  std::string detail;  // how it was found out: "pid 812 in /run/stackmgr/stackmgr.pid is stackmgr"
};

// Whether the keying daemon's ipsec.conf parser reads IPv6 addresses (FreeS/WAN's does not).
enum class ParserIpv6 { supported, unsupported, unknown };

struct DaemonTraits {
  std::string product;  // "FreeS/WAN", "Openswan", "Libreswan", "strongSwan"; empty if unknown
  std::string version;  // "2.06"; empty if unknown
  ParserIpv6 parser_ipv6 = ParserIpv6::unknown;
  // FreeS/WAN and Openswan define the OE policy-group conns implicitly; Libreswan needs them
  // written out. True when unknown, as FreeS/WAN is the daemon this project is about.
  bool implicit_policy_conns = true;
  std::string source;  // where this came from: "/usr/sbin/ipsec", "--daemon-ipv6"
};

// A text the doctor scans (iptables-save output, an _updown script) and how reading it went.
enum class SourceStatus { read, absent, skipped, failed };
std::string_view to_string(SourceStatus status);

struct TextSource {
  std::string name;  // "iptables-save", "/usr/local/lib/ipsec/_updown"
  SourceStatus status = SourceStatus::absent;
  std::string detail;  // why absent, skipped or failed; empty when read
  std::string text;
};

struct DoctorInputs {
  detect::Snapshot snapshot;
  detect::IpsecConf ipsec_conf;
  detect::ResolvConf resolv;
  detect::PolicyGroups policies;
  detect::Result<std::vector<detect::LanRoute>> lan_routes = detect::Error{0, "not read"};
  DaemonStatus daemon;
  DaemonTraits daemon_traits;
  std::vector<TextSource> firewall;        // iptables-save (and ip6tables-save) output
  std::vector<TextSource> updown_scripts;  // leftupdown=/rightupdown= and the default _updown
  // The stack chosen by stackmgr's config or last switch (nullopt = auto), and its source.
  std::optional<detect::Stack> chosen_stack;
  std::string chosen_source;
  detect::Stack default_stack = detect::Stack::native;
  // Why stackmgr's own config could not be loaded (the checks then use its defaults); empty if fine.
  std::string stackmgr_config_error;
};

// The stack the checks reason about, and why: the active one, else the chosen one, else
// ipsec.conf's protostack=, else the default.
struct TargetStack {
  detect::Stack stack = detect::Stack::native;
  std::string source;   // "active in the kernel", "protostack=netkey at /etc/ipsec.conf:4"...
  bool active = false;  // chosen because it is the stack active in the kernel
};

// Whether this host initiates opportunistic encryption, and why (rule: docs/doctor.md).
// Only an initiator traps outgoing packets, which is what the seed's OE pitfalls are about.
struct OeState {
  bool on = false;                   // OE initiates: private/private-or-clear or %opportunistic
  bool responder = false;            // clear-or-private, or %opportunistic with auto=add
  std::vector<std::string> reasons;  // "policy group private-or-clear lists 0.0.0.0/0 (...:3)"
  std::vector<std::string> groups;   // the initiating policy groups in force
  bool covers_everything = false;    // a %opportunistic conn: every destination
};

struct DoctorReport {
  TargetStack stack;
  OeState oe;
  bool conflict = false;            // both stacks are in the kernel (exit code 10)
  std::vector<CheckResult> checks;  // in a fixed order: config files, seed issues 1-6, stack health

  [[nodiscard]] Level worst() const;
  // 0 all OK, 12 a WARN, 13 a FAIL; 10 when the stacks conflict (exit_codes.hpp).
  [[nodiscard]] int exit_code() const;
  // The check with `id`, or nullptr.
  [[nodiscard]] const CheckResult* find(std::string_view id) const;
};

}  // namespace stackmgr::doctor
