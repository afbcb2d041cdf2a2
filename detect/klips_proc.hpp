#pragma once
// Parsers for KLIPS's /proc tables (FreeS/WAN 2.x format, with the fields Openswan added):
// /proc/net/ipsec_eroute, /proc/net/ipsec_spi and /proc/net/ipsec_spigrp. Read-only and
// total: a malformed or unexpected line becomes a ParseProblem (line number and text) and is
// skipped; nothing here throws on input. Formats: docs/look.md.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/host.hpp"

namespace detect {

// One line a parser skipped, and why.
struct ParseProblem {
  std::string file;      // "/proc/net/ipsec_spi"
  std::size_t line = 0;  // 1-based
  std::string text;      // the line, control bytes shown as '?', cut at kProblemTextLimit
  std::string reason;    // what was wrong ("expected '->' after the source subnet")
};

inline constexpr std::size_t kMaxLineLength = 4096;    // longer lines are reported, not parsed
inline constexpr std::size_t kProblemTextLimit = 160;  // of a line, in a ParseProblem

// The "magic" SA IDs an eroute can point to instead of a real SA.
enum class MagicSa { none, pass, passthrough, drop, reject, hold, trap, trapsubnet };
std::string_view to_string(MagicSa magic);

// An SA ID as KLIPS prints it (satot): "tun0x1002@192.0.2.2", "esp.4a3f@10.0.0.1",
// "ah:f5ed@3049:1::120", "esp1234@10.0.0.1" (decimal), or a magic one such as "%trap".
struct KlipsSaId {
  std::string text;      // as read
  std::string protocol;  // "esp", "ah", "tun", "comp", "int" or "unkNNN"; empty for magic
  std::uint32_t spi = 0;
  std::string destination;  // canonical address text; empty for magic
  MagicSa magic = MagicSa::none;

  [[nodiscard]] bool is_magic() const { return magic != MagicSa::none; }
};

// Parses an SA ID; nullopt when it is not one.
std::optional<KlipsSaId> parse_klips_said(std::string_view text);

// "192.168.1.0/24", with the ":port" Openswan appends when the eroute selects a port.
struct KlipsSubnet {
  std::string address;  // canonical
  unsigned prefix = 0;
  std::optional<std::uint16_t> port;
};

// Parses a subnet; nullopt when it is not one. Dotted masks are accepted when contiguous.
std::optional<KlipsSubnet> parse_klips_subnet(std::string_view text);

// A /proc/net/ipsec_eroute row: "<count> <src> -> <dst> => <SA ID>[:<proto>] [(id) (id)]".
struct KlipsEroute {
  std::uint64_t packets = 0;
  KlipsSubnet source;
  KlipsSubnet destination;
  std::optional<unsigned> protocol;  // Openswan's ":<proto>" after the SA ID
  KlipsSaId said;
  std::optional<std::string> source_identity;  // FreeS/WAN 1.9x "(id)" columns
  std::optional<std::string> destination_identity;
};

// name(current,soft,hard), the life(c,s,h)= groups.
struct KlipsLifetime {
  std::uint64_t current = 0;
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

enum class KlipsDirection { in, out };

// A /proc/net/ipsec_spi row: "<SA ID> <TRANSFORM>: dir=in|out [key=value...]".
struct KlipsSa {
  KlipsSaId said;
  std::string transform;           // "ESP_3DES_HMAC_MD5" (IPS_XFORM_NAME)
  std::string transform_protocol;  // "ESP", "AH", "IPIP", "COMP" or "" when not recognised
  std::string encryption;          // "3DES", "AES", "ID12"...; "DEFLATE" for COMP; empty if none
  std::string authentication;      // "HMAC_MD5", "HMAC_SHA2_256", "ID9"...; empty if none
  KlipsDirection direction = KlipsDirection::out;
  std::optional<std::string> source;                          // src=
  std::optional<std::pair<KlipsSubnet, KlipsSubnet>> policy;  // policy=a->b (inbound tunnels)
  std::optional<unsigned> iv_bits;
  std::optional<std::string> iv;                   // hex digits after 0x
  std::optional<std::uint32_t> replay_window;      // ooowin=
  std::optional<std::uint32_t> sequence;           // seq=
  std::optional<std::uint64_t> replay_bitmap;      // bit=
  std::optional<std::uint32_t> flags;              // flags=0x..<..>
  std::optional<unsigned> auth_bits;               // alen=
  std::optional<unsigned> auth_key_bits;           // aklen=
  std::optional<unsigned> enc_key_bits;            // eklen=
  std::map<std::string, KlipsLifetime> lifetimes;  // alloc, bytes, addtime, usetime, packets
  std::optional<std::uint64_t> idle;               // idle= seconds
  std::optional<std::string> natencap;             // natencap= (Openswan)
  std::map<std::string, std::string> counters;     // error counters and Openswan extras, as text
};

// A /proc/net/ipsec_spigrp row: the SAs KLIPS applies in turn (outermost first as printed).
struct KlipsSaGroup {
  std::vector<KlipsSaId> members;
};

template <typename Row>
struct KlipsTable {
  std::vector<Row> rows;
  std::vector<ParseProblem> problems;
};

// Each parses a whole file's text. `file` names it in problems. Blank lines are skipped.
KlipsTable<KlipsEroute> parse_klips_eroutes(std::string_view text,
                                            std::string_view file = "/proc/net/ipsec_eroute");
KlipsTable<KlipsSa> parse_klips_spis(std::string_view text, std::string_view file = "/proc/net/ipsec_spi");
KlipsTable<KlipsSaGroup> parse_klips_spigrps(std::string_view text,
                                             std::string_view file = "/proc/net/ipsec_spigrp");

// Everything KLIPS shows in /proc.
struct KlipsState {
  std::vector<KlipsEroute> eroutes;
  std::vector<KlipsSa> sas;
  std::vector<KlipsSaGroup> groups;
  bool groups_read = false;  // /proc/net/ipsec_spigrp existed
  std::vector<ParseProblem> problems;
};

// Reads and parses <root>/proc/net/ipsec_{eroute,spi,spigrp}. Fails (with errno: ENOENT,
// EACCES since KLIPS makes them mode 0400) when eroute or spi cannot be read; spigrp is optional.
// A table larger than `limit` bytes is parsed up to the limit and reported as a problem.
Result<KlipsState> read_klips_state(const HostRoot& root, std::size_t limit = 64u << 20);

}  // namespace detect
