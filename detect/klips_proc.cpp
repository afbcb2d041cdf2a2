#include "detect/klips_proc.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

using stackmgr::base::parse_number;

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// "0x1f" -> 0x1f; the digits must follow the prefix.
template <typename T>
std::optional<T> parse_hex_prefixed(std::string_view text) {
  if (!starts_with(text, "0x") && !starts_with(text, "0X")) return std::nullopt;
  text.remove_prefix(2);
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  return parse_number<T>(text, 16);
}

// KLIPS prints some 32-bit counters with %d, so a large one shows up negative: undo that.
std::optional<std::uint32_t> parse_counter32(std::string_view text) {
  if (!text.empty() && text.front() == '-') {
    const auto value = parse_number<std::int64_t>(text);
    if (!value || *value < std::numeric_limits<std::int32_t>::min()) return std::nullopt;
    return static_cast<std::uint32_t>(static_cast<std::int32_t>(*value));
  }
  return parse_number<std::uint32_t>(text);
}

std::optional<std::string> canonical_address(std::string_view text, int* family = nullptr) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy(text);
  std::array<unsigned char, 16> bytes{};
  std::array<char, INET6_ADDRSTRLEN> out{};
  const int af = copy.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (::inet_pton(af, copy.c_str(), bytes.data()) != 1) return std::nullopt;
  if (::inet_ntop(af, bytes.data(), out.data(), out.size()) == nullptr) return std::nullopt;
  if (family != nullptr) *family = af;
  return std::string(out.data());
}

std::optional<unsigned> prefix_from_dotted_mask(std::string_view text) {
  const std::string copy(text);
  in_addr mask{};
  if (::inet_pton(AF_INET, copy.c_str(), &mask) != 1) return std::nullopt;
  const std::uint32_t bits = ntohl(mask.s_addr);
  unsigned prefix = 0;
  while (prefix < 32 && (bits & (0x80000000u >> prefix)) != 0) ++prefix;
  const std::uint32_t expected = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  if (bits != expected) return std::nullopt;  // not contiguous
  return prefix;
}

std::string shown_text(std::string_view line) {
  std::string text;
  const std::size_t n = std::min(line.size(), kProblemTextLimit);
  text.reserve(n + 3);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    text.push_back(c == '\t' || (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?');
  }
  if (line.size() > n) text += "...";
  return text;
}

struct Magic {
  std::string_view name;
  MagicSa magic;
};
constexpr std::array<Magic, 9> kMagic{{
    {"%pass", MagicSa::pass},
    {"%passthrough", MagicSa::passthrough},
    {"%passthrough4", MagicSa::passthrough},
    {"%passthrough6", MagicSa::passthrough},
    {"%drop", MagicSa::drop},
    {"%reject", MagicSa::reject},
    {"%hold", MagicSa::hold},
    {"%trap", MagicSa::trap},
    {"%trapsubnet", MagicSa::trapsubnet},
}};

// KLIPS's internal SPIs for the magic SAs ("int256@0.0.0.0" is %pass).
MagicSa magic_from_internal_spi(std::uint32_t spi) {
  switch (spi) {
    case 256: return MagicSa::pass;
    case 257: return MagicSa::drop;
    case 258: return MagicSa::reject;
    case 259: return MagicSa::hold;
    case 260: return MagicSa::trap;
    case 261: return MagicSa::trapsubnet;
    default: return MagicSa::none;
  }
}

// The problem a line has, or nullopt when it parsed into `row`.
using LineError = std::optional<std::string>;

LineError parse_eroute_line(std::string_view line, KlipsEroute& row) {
  const auto fields = split_fields(line);
  if (fields.size() < 6) return "too few fields: expected '<count> <source> -> <destination> => <SA>'";
  if (fields[0].front() == '-') {
    const auto wrapped = parse_counter32(fields[0]);
    if (!wrapped) return "packet count '" + std::string(fields[0]) + "' is not a number";
    row.packets = *wrapped;
  } else {
    const auto count = parse_number<std::uint64_t>(fields[0]);
    if (!count) return "packet count '" + std::string(fields[0]) + "' is not a number";
    row.packets = *count;
  }
  const auto source = parse_klips_subnet(fields[1]);
  if (!source) return "source '" + std::string(fields[1]) + "' is not a subnet";
  row.source = *source;
  if (fields[2] != "->") return "expected '->' after the source subnet";
  const auto destination = parse_klips_subnet(fields[3]);
  if (!destination) return "destination '" + std::string(fields[3]) + "' is not a subnet";
  row.destination = *destination;
  if (fields[4] != "=>") return "expected '=>' after the destination subnet";

  std::string_view said_text = fields[5];
  auto said = parse_klips_said(said_text);
  if (!said) {
    // Openswan appends ":<protocol>" to the SA ID when the eroute selects a protocol.
    const std::size_t colon = said_text.rfind(':');
    if (colon != std::string_view::npos) {
      const auto protocol = parse_number<unsigned>(said_text.substr(colon + 1));
      said = parse_klips_said(said_text.substr(0, colon));
      if (said && protocol && *protocol <= 255)
        row.protocol = *protocol;
      else
        said.reset();
    }
  }
  if (!said) return "SA '" + std::string(said_text) + "' is not an SA ID";
  row.said = *said;

  if (fields.size() == 6) return std::nullopt;
  if (fields.size() != 8) return "unexpected text after the SA";
  const auto identity = [](std::string_view text) -> std::optional<std::string> {
    if (text.size() < 2 || text.front() != '(' || text.back() != ')') return std::nullopt;
    return std::string(text.substr(1, text.size() - 2));
  };
  row.source_identity = identity(fields[6]);
  row.destination_identity = identity(fields[7]);
  if (!row.source_identity || !row.destination_identity) return "unexpected text after the SA";
  return std::nullopt;
}

// "bytes(1234,0,0)addtime(60,0,0)..." into `out`.
LineError parse_lifetimes(std::string_view text, std::map<std::string, KlipsLifetime>& out) {
  const std::string_view whole = text;
  while (!text.empty()) {
    const std::size_t open = text.find('(');
    const std::size_t close = text.find(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open || open == 0)
      return "life(c,s,h) value '" + std::string(whole) + "' is not name(c,s,h) groups";
    const std::string name(text.substr(0, open));
    static constexpr std::array<std::string_view, 7> kNames{"alloc",   "bytes", "addtime", "usetime",
                                                            "packets", "add",   "use"};
    bool known = false;
    for (const auto known_name : kNames) known = known || name == known_name;
    if (!known) return "unknown lifetime '" + name + "'";
    const auto numbers = text.substr(open + 1, close - open - 1);
    const std::size_t c1 = numbers.find(',');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : numbers.find(',', c1 + 1);
    if (c2 == std::string_view::npos) return "lifetime '" + name + "' does not have three values";
    const auto current = parse_number<std::uint64_t>(numbers.substr(0, c1));
    const auto soft = parse_number<std::uint64_t>(numbers.substr(c1 + 1, c2 - c1 - 1));
    const auto hard = parse_number<std::uint64_t>(numbers.substr(c2 + 1));
    if (!current || !soft || !hard) return "lifetime '" + name + "' has a value that is not a number";
    // FreeS/WAN 1.x wrote add( and use( for addtime( and usetime(.
    const std::string key = name == "add" ? "addtime" : name == "use" ? "usetime" : name;
    out[key] = KlipsLifetime{*current, *soft, *hard};
    text.remove_prefix(close + 1);
  }
  return std::nullopt;
}

// "ESP_3DES_HMAC_MD5" -> ESP, 3DES, HMAC_MD5 (IPS_XFORM_NAME: protocol, cipher, then auth).
void split_transform(KlipsSa& sa) {
  std::string_view rest = sa.transform;
  for (const std::string_view protocol : {"ESP", "AH", "IPIP", "COMP", "UNKNOWN_proto"}) {
    if (starts_with(rest, protocol) && (rest.size() == protocol.size() || rest[protocol.size()] == '_')) {
      sa.transform_protocol = std::string(protocol == "UNKNOWN_proto" ? "" : protocol);
      rest.remove_prefix(protocol.size());
      break;
    }
  }
  if (sa.transform_protocol.empty()) return;
  if (!rest.empty()) rest.remove_prefix(1);  // the '_'
  if (sa.transform_protocol == "COMP") {
    sa.encryption = std::string(rest);  // DEFLATE or UNKNOWN_comp: the compression algorithm
    return;
  }
  if (sa.transform_protocol == "AH" || starts_with(rest, "HMAC_")) {
    sa.authentication = std::string(rest);
    return;
  }
  const std::size_t underscore = rest.find('_');
  sa.encryption = std::string(rest.substr(0, underscore));
  if (underscore != std::string_view::npos) sa.authentication = std::string(rest.substr(underscore + 1));
}

LineError parse_spi_field(std::string_view key, std::string_view value, KlipsSa& sa, bool& saw_direction) {
  const auto bad = [&](std::string_view what) {
    return LineError("field " + std::string(key) + "=" + std::string(value) + " is not " + std::string(what));
  };
  const auto small = [&](std::optional<unsigned>& field) -> LineError {
    field = parse_number<unsigned>(value);
    return field ? LineError{} : bad("a number");
  };
  if (key == "dir") {
    if (value == "in")
      sa.direction = KlipsDirection::in;
    else if (value == "out")
      sa.direction = KlipsDirection::out;
    else
      return bad("in or out");
    saw_direction = true;
    return std::nullopt;
  }
  if (key == "src") {
    sa.source = canonical_address(value);
    return sa.source ? LineError{} : bad("an address");
  }
  if (key == "policy") {
    const std::size_t arrow = value.find("->");
    if (arrow == std::string_view::npos) return bad("'<subnet>-><subnet>'");
    const auto from = parse_klips_subnet(value.substr(0, arrow));
    const auto to = parse_klips_subnet(value.substr(arrow + 2));
    if (!from || !to) return bad("'<subnet>-><subnet>'");
    sa.policy = std::make_pair(*from, *to);
    return std::nullopt;
  }
  if (key == "iv_bits") {
    if (value.size() < 5 || value.substr(value.size() - 4) != "bits") return bad("'<n>bits'");
    sa.iv_bits = parse_number<unsigned>(value.substr(0, value.size() - 4));
    return sa.iv_bits ? LineError{} : bad("'<n>bits'");
  }
  if (key == "iv") {
    if (!starts_with(value, "0x")) return bad("hexadecimal");
    const auto digits = value.substr(2);
    for (const char c : digits)
      if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return bad("hexadecimal");
    sa.iv = std::string(digits);
    return std::nullopt;
  }
  if (key == "ooowin") {
    sa.replay_window = parse_counter32(value);
    return sa.replay_window ? LineError{} : bad("a number");
  }
  if (key == "seq") {
    sa.sequence = parse_counter32(value);
    return sa.sequence ? LineError{} : bad("a number");
  }
  if (key == "bit") {
    sa.replay_bitmap = parse_hex_prefixed<std::uint64_t>(value);
    return sa.replay_bitmap ? LineError{} : bad("hexadecimal");
  }
  if (key == "flags") {
    const std::size_t angle = value.find('<');
    if (angle != std::string_view::npos && value.back() != '>') return bad("'0x<hex><...>'");
    sa.flags = parse_hex_prefixed<std::uint32_t>(value.substr(0, angle));
    return sa.flags ? LineError{} : bad("'0x<hex><...>'");
  }
  if (key == "alen") return small(sa.auth_bits);
  if (key == "aklen") return small(sa.auth_key_bits);
  if (key == "eklen") return small(sa.enc_key_bits);
  if (key == "life(c,s,h)") return parse_lifetimes(value, sa.lifetimes);
  if (key == "idle") {
    sa.idle = parse_number<std::uint64_t>(value);
    return sa.idle ? LineError{} : bad("a number");
  }
  if (key == "natencap") {
    sa.natencap = std::string(value);
    return std::nullopt;
  }
  // Error counters (ooo_errs, auth_errs, encr_size_errs, encr_pad_errs), ratio=, and what
  // later KLIPS versions added (natsport, natdport, refcount, ref...): kept as text.
  if (key.empty()) return "a field has no name before '='";
  sa.counters[std::string(key)] = std::string(value);
  return std::nullopt;
}

LineError parse_spi_line(std::string_view line, KlipsSa& row) {
  const auto fields = split_fields(line);
  if (fields.size() < 3) return "too few fields: expected '<SA> <TRANSFORM>: dir=in|out ...'";
  const auto said = parse_klips_said(fields[0]);
  if (!said) return "SA '" + std::string(fields[0]) + "' is not an SA ID";
  row.said = *said;
  if (fields[1].size() < 2 || fields[1].back() != ':') return "expected '<TRANSFORM>:' after the SA";
  row.transform = std::string(fields[1].substr(0, fields[1].size() - 1));
  for (const char c : row.transform)
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_')
      return "transform '" + row.transform + "' has unexpected characters";
  split_transform(row);

  bool saw_direction = false;
  for (std::size_t i = 2; i < fields.size(); ++i) {
    const std::size_t equals = fields[i].find('=');
    if (equals == std::string_view::npos) return "field '" + std::string(fields[i]) + "' is not key=value";
    if (auto error =
            parse_spi_field(fields[i].substr(0, equals), fields[i].substr(equals + 1), row, saw_direction))
      return error;
  }
  if (!saw_direction) return "no dir= field";
  return std::nullopt;
}

LineError parse_spigrp_line(std::string_view line, KlipsSaGroup& row) {
  for (const auto field : split_fields(line)) {
    const auto said = parse_klips_said(field);
    if (!said) return "SA '" + std::string(field) + "' is not an SA ID";
    row.members.push_back(*said);
  }
  return std::nullopt;
}

template <typename Row, typename LineParser>
KlipsTable<Row> parse_lines(std::string_view text, std::string_view file, LineParser parse_line) {
  KlipsTable<Row> table;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.find_first_not_of(" \t\r\v\f") == std::string_view::npos) continue;
    const auto report = [&](const std::string& reason) {
      // Reasons quote fields of the line: they get the same care as the line itself.
      table.problems.push_back(ParseProblem{std::string(file), number, shown_text(line), shown_text(reason)});
    };
    if (line.size() > kMaxLineLength) {
      report("line is " + std::to_string(line.size()) + " bytes long, over the limit of " +
             std::to_string(kMaxLineLength));
      continue;
    }
    if (line.find('\0') != std::string_view::npos) {
      report("line contains a NUL byte");
      continue;
    }
    Row row;
    if (auto error = parse_line(line, row)) {
      report(*error);
      continue;
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace

std::string_view to_string(MagicSa magic) {
  switch (magic) {
    case MagicSa::none: return "none";
    case MagicSa::pass: return "pass";
    case MagicSa::passthrough: return "passthrough";
    case MagicSa::drop: return "drop";
    case MagicSa::reject: return "reject";
    case MagicSa::hold: return "hold";
    case MagicSa::trap: return "trap";
    case MagicSa::trapsubnet: return "trapsubnet";
  }
  return "unknown";
}

std::optional<KlipsSaId> parse_klips_said(std::string_view text) {
  KlipsSaId said;
  said.text = std::string(text);
  if (!text.empty() && text.front() == '%') {
    for (const auto& entry : kMagic) {
      if (entry.name == text) {
        said.magic = entry.magic;
        return said;
      }
    }
    return std::nullopt;
  }
  const std::size_t at = text.find('@');
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view head = text.substr(0, at);
  for (const std::string_view protocol : {"esp", "ah", "tun", "comp", "int"}) {
    if (starts_with(head, protocol)) {
      said.protocol = std::string(protocol);
      break;
    }
  }
  if (said.protocol.empty() && starts_with(head, "unk")) {
    std::size_t digits = 3;
    while (digits < head.size() && digits < 6 && std::isdigit(static_cast<unsigned char>(head[digits])) != 0)
      ++digits;
    if (digits == 3) return std::nullopt;
    said.protocol = std::string(head.substr(0, digits));
  }
  if (said.protocol.empty()) return std::nullopt;
  head.remove_prefix(said.protocol.size());
  std::optional<std::uint32_t> spi;
  if (!head.empty() && (head.front() == '.' || head.front() == ':')) {
    if (head.size() > 1 && head[1] != '+' && head[1] != '-')
      spi = parse_number<std::uint32_t>(head.substr(1), 16);
  } else if (starts_with(head, "0x")) {
    spi = parse_hex_prefixed<std::uint32_t>(head);
  } else if (!head.empty() && head.front() != '+' && head.front() != '-') {
    spi = parse_number<std::uint32_t>(head);
  }
  if (!spi) return std::nullopt;
  said.spi = *spi;
  const auto destination = canonical_address(text.substr(at + 1));
  if (!destination) return std::nullopt;
  said.destination = *destination;
  if (said.protocol == "int" && (said.destination == "0.0.0.0" || said.destination == "::")) {
    said.magic = magic_from_internal_spi(said.spi);
  }
  return said;
}

std::optional<KlipsSubnet> parse_klips_subnet(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  int family = 0;
  const auto address = canonical_address(text.substr(0, slash), &family);
  if (!address) return std::nullopt;
  KlipsSubnet subnet;
  subnet.address = *address;
  std::string_view mask = text.substr(slash + 1);
  // Openswan: "/24:80" when the eroute selects a port (the address may contain ':' too).
  if (const std::size_t colon = mask.find(':'); colon != std::string_view::npos) {
    const auto port = parse_number<std::uint16_t>(mask.substr(colon + 1));
    if (!port) return std::nullopt;
    subnet.port = *port;
    mask = mask.substr(0, colon);
  }
  const unsigned max_prefix = family == AF_INET6 ? 128 : 32;
  if (mask.find('.') != std::string_view::npos) {
    if (family != AF_INET) return std::nullopt;
    const auto prefix = prefix_from_dotted_mask(mask);
    if (!prefix) return std::nullopt;
    subnet.prefix = *prefix;
    return subnet;
  }
  const auto prefix = parse_number<unsigned>(mask);
  if (!prefix || *prefix > max_prefix) return std::nullopt;
  subnet.prefix = *prefix;
  return subnet;
}

KlipsTable<KlipsEroute> parse_klips_eroutes(std::string_view text, std::string_view file) {
  return parse_lines<KlipsEroute>(text, file, parse_eroute_line);
}

KlipsTable<KlipsSa> parse_klips_spis(std::string_view text, std::string_view file) {
  return parse_lines<KlipsSa>(text, file, parse_spi_line);
}

KlipsTable<KlipsSaGroup> parse_klips_spigrps(std::string_view text, std::string_view file) {
  return parse_lines<KlipsSaGroup>(text, file, parse_spigrp_line);
}

Result<KlipsState> read_klips_state(const HostRoot& root, std::size_t limit) {
  KlipsState state;
  const auto truncated = [&](const std::string& content, std::string_view file) {
    if (content.size() < limit) return;
    state.problems.push_back(ParseProblem{
        std::string(file), 0, "",
        "the table is larger than " + std::to_string(limit) + " bytes; only that much was read"});
  };

  auto eroute = root.read("proc/net/ipsec_eroute", limit);
  if (!eroute) return eroute.error();
  auto spi = root.read("proc/net/ipsec_spi", limit);
  if (!spi) return spi.error();

  auto eroutes = parse_klips_eroutes(*eroute);
  state.eroutes = std::move(eroutes.rows);
  state.problems = std::move(eroutes.problems);
  truncated(*eroute, "/proc/net/ipsec_eroute");

  auto sas = parse_klips_spis(*spi);
  state.sas = std::move(sas.rows);
  state.problems.insert(state.problems.end(), sas.problems.begin(), sas.problems.end());
  truncated(*spi, "/proc/net/ipsec_spi");

  auto spigrp = root.read("proc/net/ipsec_spigrp", limit);
  if (spigrp) {
    auto groups = parse_klips_spigrps(*spigrp);
    state.groups = std::move(groups.rows);
    state.groups_read = true;
    state.problems.insert(state.problems.end(), groups.problems.begin(), groups.problems.end());
    truncated(*spigrp, "/proc/net/ipsec_spigrp");
  }
  return state;
}

}  // namespace detect
