#include "stackmgr/look/kernel_state.hpp"

#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace stackmgr::look {
namespace {

using json = nlohmann::ordered_json;

std::string hex_spi(std::uint32_t spi) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text = "0x00000000";
  for (std::size_t i = 0; i < 8; ++i) text[9 - i] = kDigits[(spi >> (4 * i)) & 0xf];
  return text;
}

// Text from the kernel's tables, made safe for a terminal (control bytes become '?').
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

// KLIPS's transform names for the kernel crypto API's, so both stacks read alike.
std::string crypto_name(std::string_view klips) {
  static const std::map<std::string_view, std::string_view> kNames{
      {"3DES", "cbc(des3_ede)"},         {"AES", "cbc(aes)"},
      {"SERPENT", "cbc(serpent)"},       {"TWOFISH", "cbc(twofish)"},
      {"HMAC_MD5", "hmac(md5)"},         {"HMAC_SHA1", "hmac(sha1)"},
      {"HMAC_SHA2_256", "hmac(sha256)"}, {"HMAC_SHA2_384", "hmac(sha384)"},
      {"HMAC_SHA2_512", "hmac(sha512)"}, {"DEFLATE", "deflate"},
  };
  const auto found = kNames.find(klips);
  return found != kNames.end() ? std::string(found->second) : printable(klips);
}

// KLIPS calls IPIP SAs "tun"; the common view uses the IP protocol's name, as XFRM does.
std::string klips_protocol(const detect::KlipsSaId& said) {
  return said.protocol == "tun" ? "ipip" : said.protocol;
}

bool same_sa(const detect::KlipsSaId& a, const detect::KlipsSaId& b) {
  return a.protocol == b.protocol && a.spi == b.spi && a.destination == b.destination;
}

ViewSubnet subnet_from(const std::string& address, unsigned prefix, std::optional<std::uint16_t> port) {
  return ViewSubnet{address, prefix, port};
}

ViewSubnet subnet_from(const detect::KlipsSubnet& subnet) {
  return ViewSubnet{subnet.address, subnet.prefix, subnet.port};
}

PolicyAction action_from(detect::MagicSa magic) {
  switch (magic) {
    case detect::MagicSa::none: return PolicyAction::ipsec;
    case detect::MagicSa::pass:
    case detect::MagicSa::passthrough: return PolicyAction::pass;
    case detect::MagicSa::drop: return PolicyAction::drop;
    case detect::MagicSa::reject: return PolicyAction::reject;
    case detect::MagicSa::hold: return PolicyAction::hold;
    case detect::MagicSa::trap:
    case detect::MagicSa::trapsubnet: return PolicyAction::trap;
  }
  return PolicyAction::unknown;
}

std::optional<std::uint32_t> nonzero(std::uint32_t value) {
  if (value == 0) return std::nullopt;
  return value;
}

// ---- JSON ----

json optional_number(const std::optional<std::uint64_t>& value) {
  return value ? json(*value) : json(nullptr);
}
json optional_text(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

json subnet_json(const ViewSubnet& subnet) {
  if (subnet.address.empty()) return nullptr;
  return subnet.address + "/" + std::to_string(subnet.prefix);
}

json use_json(const SaUse& use) {
  return json{{"protocol", use.protocol},
              {"spi", use.spi ? json(*use.spi) : json(nullptr)},
              {"source", optional_text(use.source)},
              {"destination", optional_text(use.destination)},
              {"reqid", use.reqid ? json(*use.reqid) : json(nullptr)},
              {"mode", optional_text(use.mode)}};
}

json policy_json(const PolicyView& policy) {
  json uses = json::array();
  for (const auto& use : policy.uses) uses.push_back(use_json(use));
  return json{{"source", subnet_json(policy.source)},
              {"source_port", policy.source.port ? json(*policy.source.port) : json(nullptr)},
              {"destination", subnet_json(policy.destination)},
              {"destination_port", policy.destination.port ? json(*policy.destination.port) : json(nullptr)},
              {"protocol", policy.protocol ? json(*policy.protocol) : json(nullptr)},
              {"direction", to_string(policy.direction)},
              {"action", to_string(policy.action)},
              {"uses", uses},
              {"packets", optional_number(policy.packets)},
              {"priority", policy.priority ? json(*policy.priority) : json(nullptr)},
              {"index", policy.index ? json(*policy.index) : json(nullptr)},
              {"type", optional_text(policy.type)},
              {"said", optional_text(policy.said)}};
}

json sa_json(const SaView& sa) {
  return json{{"protocol", sa.protocol},
              {"spi", sa.spi},
              {"mode", optional_text(sa.mode)},
              {"source", optional_text(sa.source)},
              {"destination", optional_text(sa.destination)},
              {"direction", sa.direction ? json(*sa.direction) : json(nullptr)},
              {"reqid", sa.reqid ? json(*sa.reqid) : json(nullptr)},
              {"algorithms", json{{"encryption", optional_text(sa.algorithms.encryption)},
                                  {"authentication", optional_text(sa.algorithms.authentication)},
                                  {"aead", optional_text(sa.algorithms.aead)},
                                  {"compression", optional_text(sa.algorithms.compression)}}},
              {"bytes", sa.bytes},
              {"packets", sa.packets},
              {"add_time", optional_number(sa.add_time)},
              {"add_time_clock", sa.add_time ? json(to_string(sa.add_time_clock)) : json(nullptr)},
              {"said", optional_text(sa.said)},
              {"transform", optional_text(sa.transform)}};
}

json problem_json(const ViewProblem& problem) {
  return json{{"source", problem.source},
              {"line", problem.line == 0 ? json(nullptr) : json(problem.line)},
              {"text", problem.text},
              {"reason", problem.reason}};
}

// ---- tables ----

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string dash(const std::string& text) { return text.empty() ? "-" : text; }

// Common IP protocols by name in the table (the JSON keeps the number).
std::string protocol_text(const std::optional<unsigned>& protocol) {
  if (!protocol) return "any";
  switch (*protocol) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "ipv6-icmp";
    case 132: return "sctp";
    default: return std::to_string(*protocol);
  }
}

std::string use_text(const SaUse& use) {
  std::string text = use.protocol;
  if (use.spi) text += " " + hex_spi(*use.spi);
  if (!use.mode.empty()) text += " " + use.mode;
  if (!use.source.empty() || !use.destination.empty())
    text += " " + (use.source.empty() ? std::string("any") : use.source) + "->" +
            (use.destination.empty() ? std::string("any") : use.destination);
  if (use.reqid) text += " reqid " + std::to_string(*use.reqid);
  return text;
}

std::string algorithms_text(const Algorithms& algorithms) {
  std::string text;
  for (const std::string* name :
       {&algorithms.aead, &algorithms.encryption, &algorithms.authentication, &algorithms.compression}) {
    if (name->empty()) continue;
    if (!text.empty()) text += " ";
    text += *name;
  }
  return dash(text);
}

std::string render_state(const KernelState& state) {
  std::string out;
  if (state.policies.empty()) {
    out += "Policies: none\n";
  } else {
    out += "Policies (" + std::to_string(state.policies.size()) + "):\n";
    std::vector<std::vector<std::string>> rows{
        {"DIR", "ACTION", "SOURCE", "DESTINATION", "PROTO", "USES", "PACKETS", "PRIORITY", "TYPE"}};
    for (const auto& policy : state.policies) {
      std::string uses;
      for (const auto& use : policy.uses) uses += (uses.empty() ? "" : " + ") + use_text(use);
      if (uses.empty() && !policy.said.empty()) uses = policy.said;
      rows.push_back({std::string(to_string(policy.direction)), std::string(to_string(policy.action)),
                      to_string(policy.source), to_string(policy.destination), protocol_text(policy.protocol),
                      dash(uses), policy.packets ? std::to_string(*policy.packets) : "-",
                      policy.priority ? std::to_string(*policy.priority) : "-", dash(policy.type)});
    }
    out += render_table(rows);
  }
  if (state.sas.empty()) {
    out += "SAs: none\n";
  } else {
    out += "SAs (" + std::to_string(state.sas.size()) + "):\n";
    std::vector<std::vector<std::string>> rows{
        {"PROTO", "SPI", "MODE", "DIR", "SOURCE", "DESTINATION", "REQID", "ALGORITHMS", "BYTES", "PACKETS"}};
    for (const auto& sa : state.sas) {
      rows.push_back({sa.protocol, hex_spi(sa.spi), dash(sa.mode), sa.direction ? *sa.direction : "-",
                      dash(sa.source), dash(sa.destination), sa.reqid ? std::to_string(*sa.reqid) : "-",
                      algorithms_text(sa.algorithms), std::to_string(sa.bytes), std::to_string(sa.packets)});
    }
    out += render_table(rows);
  }
  if (!state.problems.empty()) {
    out += "Skipped (" + std::to_string(state.problems.size()) + " unreadable):\n";
    for (const auto& problem : state.problems) {
      out += "  " + problem.source;
      if (problem.line != 0) out += ":" + std::to_string(problem.line);
      out += ": " + problem.reason;
      if (!problem.text.empty()) out += ": " + problem.text;
      out += "\n";
    }
  }
  return out;
}

std::string stack_heading(detect::Stack stack) {
  return stack == detect::Stack::native ? "native stack (XFRM netlink)" : "KLIPS (/proc/net/ipsec_*)";
}

// What to do about an error reading a stack's state.
std::string advice_for(detect::Stack stack, const detect::Error& error) {
  if (error.code == EPERM || error.code == EACCES) {
    return stack == detect::Stack::native
               ? "run 'stackmgr look' as root: XFRM netlink needs CAP_NET_ADMIN"
               : "run 'stackmgr look' as root: KLIPS makes its /proc tables readable by root only";
  }
  if (stack == detect::Stack::native && error.code == EPROTONOSUPPORT)
    return "the kernel has no XFRM netlink interface: load xfrm_user";
  if (stack == detect::Stack::klips && error.code == ENOENT)
    return "KLIPS's /proc tables are missing although detection reports KLIPS: see 'stackmgr detect'";
  return "see 'stackmgr detect'";
}

// What the admin should know about what `look` reads, given detection's verdict.
std::vector<std::string> look_notes(const detect::Snapshot& snapshot, LookSource source,
                                    const std::vector<detect::Stack>& stacks) {
  std::vector<std::string> notes;
  const std::string active(detect::to_string(snapshot.overall));
  if (source != LookSource::automatic) {
    const auto forced = source == LookSource::native ? detect::Stack::native : detect::Stack::klips;
    const auto detected = snapshot.active_stack();
    if (!detected || *detected != forced)
      notes.push_back("--source " + std::string(to_string(source)) + ": reading the " +
                      std::string(detect::to_string(forced)) +
                      " stack's interface although detection says '" + active + "'");
    return notes;
  }
  switch (snapshot.overall) {
    case detect::Overall::none:
      notes.emplace_back(
          "No IPsec stack is active (detection says 'none'): there is no kernel IPsec state to show.");
      if (snapshot.markers.xfrm_framework())
        notes.emplace_back(
            "The kernel has the XFRM framework; 'stackmgr look --source native' dumps its tables anyway.");
      break;
    case detect::Overall::conflict:
      notes.emplace_back(
          "Both stacks are in the kernel (conflict): showing each stack's state where it can be read; "
          "see 'stackmgr detect'.");
      break;
    case detect::Overall::broken:
      notes.emplace_back(
          "The kernel's markers disagree with the module states (broken): showing what each stack's "
          "interface returns; see 'stackmgr detect'.");
      if (stacks.empty()) notes.emplace_back("Neither stack's interface is there to read.");
      break;
    case detect::Overall::native:
    case detect::Overall::klips: break;
  }
  return notes;
}

}  // namespace

std::string to_string(const ViewSubnet& subnet) {
  if (subnet.address.empty()) return "any";
  std::string text = subnet.address + "/" + std::to_string(subnet.prefix);
  if (subnet.port) text += " port " + std::to_string(*subnet.port);
  return text;
}

std::string_view to_string(PolicyDirection direction) {
  switch (direction) {
    case PolicyDirection::in: return "in";
    case PolicyDirection::out: return "out";
    case PolicyDirection::fwd: return "fwd";
    case PolicyDirection::socket_in: return "socket in";
    case PolicyDirection::socket_out: return "socket out";
    case PolicyDirection::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(PolicyAction action) {
  switch (action) {
    case PolicyAction::ipsec: return "ipsec";
    case PolicyAction::pass: return "pass";
    case PolicyAction::drop: return "drop";
    case PolicyAction::reject: return "reject";
    case PolicyAction::trap: return "trap";
    case PolicyAction::hold: return "hold";
    case PolicyAction::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(AddTimeClock clock) { return clock == AddTimeClock::unix_epoch ? "unix" : "boot"; }

std::string_view to_string(LookSource source) {
  switch (source) {
    case LookSource::automatic: return "auto";
    case LookSource::native: return "native";
    case LookSource::klips: return "klips";
  }
  return "auto";
}

KernelState state_from_xfrm(const os::XfrmDump& dump) {
  KernelState state;
  state.stack = detect::Stack::native;
  for (const auto& policy : dump.policies) {
    PolicyView view;
    view.source =
        subnet_from(policy.selector.source, policy.selector.source_prefix, policy.selector.source_port);
    view.destination = subnet_from(policy.selector.destination, policy.selector.destination_prefix,
                                   policy.selector.destination_port);
    if (policy.selector.protocol != 0) view.protocol = policy.selector.protocol;
    switch (policy.direction) {
      case os::XfrmDirection::in: view.direction = PolicyDirection::in; break;
      case os::XfrmDirection::out: view.direction = PolicyDirection::out; break;
      case os::XfrmDirection::fwd: view.direction = PolicyDirection::fwd; break;
      case os::XfrmDirection::socket_in: view.direction = PolicyDirection::socket_in; break;
      case os::XfrmDirection::socket_out: view.direction = PolicyDirection::socket_out; break;
      case os::XfrmDirection::unknown: view.direction = PolicyDirection::unknown; break;
    }
    if (policy.action == os::XfrmAction::block)
      view.action = PolicyAction::drop;
    else if (policy.action == os::XfrmAction::allow)
      view.action = policy.templates.empty() ? PolicyAction::pass : PolicyAction::ipsec;
    for (const auto& tmpl : policy.templates) {
      view.uses.push_back(SaUse{os::xfrm_protocol_name(tmpl.protocol), tmpl.spi, tmpl.source,
                                tmpl.destination, nonzero(tmpl.reqid), std::string(to_string(tmpl.mode))});
    }
    view.priority = policy.priority;
    view.index = policy.index;
    view.type = std::string(to_string(policy.type));
    state.policies.push_back(std::move(view));
  }
  for (const auto& sa : dump.sas) {
    SaView view;
    view.protocol = os::xfrm_protocol_name(sa.protocol);
    view.spi = sa.spi;
    view.mode = std::string(to_string(sa.mode));
    view.source = sa.source;
    view.destination = sa.destination;
    view.reqid = sa.reqid;
    view.algorithms = Algorithms{sa.encryption, sa.authentication, sa.aead, sa.compression};
    view.bytes = sa.bytes;
    view.packets = sa.packets;
    view.add_time = sa.add_time;
    view.add_time_clock = AddTimeClock::unix_epoch;
    state.sas.push_back(std::move(view));
  }
  for (const auto& problem : dump.problems)
    state.problems.push_back(ViewProblem{"XFRM netlink", 0, "", problem});
  return state;
}

KernelState state_from_klips(const detect::KlipsState& klips) {
  KernelState state;
  state.stack = detect::Stack::klips;

  // Which group an SA belongs to, and whether that group tunnels (has an IPIP SA).
  const auto group_of = [&klips](const detect::KlipsSaId& said) -> const detect::KlipsSaGroup* {
    for (const auto& group : klips.groups)
      for (const auto& member : group.members)
        if (same_sa(member, said)) return &group;
    return nullptr;
  };
  const auto tunnels = [](const detect::KlipsSaGroup& group) {
    for (const auto& member : group.members)
      if (member.protocol == "tun") return true;
    return false;
  };
  const auto mode_of = [&](const detect::KlipsSaId& said) -> std::string {
    if (said.protocol == "tun") return "tunnel";
    if (const auto* group = group_of(said)) return tunnels(*group) ? "tunnel" : "transport";
    return klips.groups_read ? "transport" : "";
  };
  const auto source_of = [&klips](const detect::KlipsSaId& said) -> std::string {
    for (const auto& sa : klips.sas)
      if (same_sa(sa.said, said) && sa.source) return *sa.source;
    return "";
  };
  const auto use_of = [&](const detect::KlipsSaId& said) {
    return SaUse{klips_protocol(said), said.spi,     source_of(said),
                 said.destination,     std::nullopt, mode_of(said)};
  };

  for (const auto& eroute : klips.eroutes) {
    PolicyView view;
    view.source = subnet_from(eroute.source);
    view.destination = subnet_from(eroute.destination);
    view.protocol = eroute.protocol;
    view.direction = PolicyDirection::out;
    view.action = action_from(eroute.said.magic);
    view.packets = eroute.packets;
    view.said = printable(eroute.said.text);
    if (!eroute.said.is_magic()) {
      const auto* group = group_of(eroute.said);
      if (group != nullptr && !group->members.empty() && same_sa(group->members.front(), eroute.said)) {
        for (const auto& member : group->members) view.uses.push_back(use_of(member));
      } else {
        view.uses.push_back(use_of(eroute.said));
      }
    }
    state.policies.push_back(std::move(view));
  }

  for (const auto& sa : klips.sas) {
    SaView view;
    view.protocol = klips_protocol(sa.said);
    view.spi = sa.said.spi;
    view.mode = mode_of(sa.said);
    view.source = sa.source.value_or("");
    view.destination = sa.said.destination;
    view.direction = sa.direction == detect::KlipsDirection::in ? "in" : "out";
    if (sa.transform_protocol == "COMP") {
      view.algorithms.compression = crypto_name(sa.encryption);
    } else {
      if (!sa.encryption.empty()) view.algorithms.encryption = crypto_name(sa.encryption);
      if (!sa.authentication.empty()) view.algorithms.authentication = crypto_name(sa.authentication);
    }
    if (const auto bytes = sa.lifetimes.find("bytes"); bytes != sa.lifetimes.end())
      view.bytes = bytes->second.current;
    if (const auto packets = sa.lifetimes.find("packets"); packets != sa.lifetimes.end())
      view.packets = packets->second.current;
    if (const auto added = sa.lifetimes.find("addtime"); added != sa.lifetimes.end()) {
      view.add_time = added->second.current;
      view.add_time_clock = AddTimeClock::since_boot;
    }
    view.said = printable(sa.said.text);
    view.transform = sa.transform;
    state.sas.push_back(std::move(view));
  }

  for (const auto& problem : klips.problems)
    state.problems.push_back(
        ViewProblem{problem.file, problem.line, problem.text, printable(problem.reason)});
  return state;
}

std::vector<detect::Stack> stacks_to_show(const detect::Snapshot& snapshot, LookSource source) {
  if (source == LookSource::native) return {detect::Stack::native};
  if (source == LookSource::klips) return {detect::Stack::klips};
  switch (snapshot.overall) {
    case detect::Overall::none: return {};
    case detect::Overall::native: return {detect::Stack::native};
    case detect::Overall::klips: return {detect::Stack::klips};
    case detect::Overall::conflict: return {detect::Stack::native, detect::Stack::klips};
    case detect::Overall::broken: {
      std::vector<detect::Stack> stacks;
      if (snapshot.markers.any_native() || snapshot.markers.xfrm_framework())
        stacks.push_back(detect::Stack::native);
      if (snapshot.markers.ipsec_eroute || snapshot.markers.ipsec_spi) stacks.push_back(detect::Stack::klips);
      return stacks;
    }
  }
  return {};
}

LookReport build_look_report(const detect::Snapshot& snapshot, LookSource source,
                             const LookReaders& readers) {
  LookReport report;
  report.active = snapshot.overall;
  report.source = source;
  const auto stacks = stacks_to_show(snapshot, source);
  report.notes = look_notes(snapshot, source, stacks);
  for (const auto stack : stacks) {
    StackRead read;
    read.stack = stack;
    if (stack == detect::Stack::native) {
      auto dump = readers.native();
      if (dump)
        read.state = state_from_xfrm(*dump);
      else
        read.error = dump.error();
    } else {
      auto klips = readers.klips();
      if (!klips) {
        read.error = klips.error();
      } else {
        read.state = state_from_klips(*klips);
        if (!klips->groups_read)
          report.notes.push_back(
              "KLIPS has no /proc/net/ipsec_spigrp: which SAs are grouped into tunnels is "
              "unknown, so ESP and AH SAs show no mode");
      }
    }
    report.stacks.push_back(std::move(read));
  }
  return report;
}

json look_to_json(const LookReport& report) {
  json stacks = json::array();
  for (const auto& read : report.stacks) {
    json entry{{"stack", detect::to_string(read.stack)}};
    if (read.error) {
      entry["error"] = json{{"errno", read.error->code},
                            {"message", read.error->describe()},
                            {"advice", advice_for(read.stack, *read.error)}};
    } else {
      entry["error"] = nullptr;
    }
    json policies = json::array();
    json sas = json::array();
    json problems = json::array();
    if (read.state) {
      for (const auto& policy : read.state->policies) policies.push_back(policy_json(policy));
      for (const auto& sa : read.state->sas) sas.push_back(sa_json(sa));
      for (const auto& problem : read.state->problems) problems.push_back(problem_json(problem));
    }
    entry["policies"] = policies;
    entry["sas"] = sas;
    entry["problems"] = problems;
    stacks.push_back(entry);
  }
  return json{{"schema", "stackmgr.look/1"},
              {"active", detect::to_string(report.active)},
              {"source", to_string(report.source)},
              {"stacks", stacks},
              {"notes", report.notes}};
}

std::string render_look(const LookReport& report) {
  std::ostringstream out;
  for (const auto& note : report.notes) out << note << "\n";
  for (const auto& read : report.stacks) {
    if (out.tellp() > 0) out << "\n";
    out << "== " << stack_heading(read.stack) << " ==\n";
    if (read.error) {
      out << "cannot read its state: " << read.error->describe() << "; "
          << advice_for(read.stack, *read.error) << "\n";
      continue;
    }
    out << render_state(*read.state);
  }
  return out.str();
}

}  // namespace stackmgr::look
