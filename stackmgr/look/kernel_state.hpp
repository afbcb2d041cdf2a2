#pragma once
// The common view of the kernel's IPsec state that `stackmgr look` shows: policies (eroutes)
// and SAs, built from either stack (XFRM netlink dumps or KLIPS's /proc tables), with what
// could not be parsed. JSON schema stackmgr.look/1 and the table: docs/look.md.

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/klips_proc.hpp"
#include "detect/snapshot.hpp"
#include "detect/stack.hpp"
#include "stackmgr/os/xfrm_netlink.hpp"

namespace stackmgr::look {

// An address with its prefix and, when the policy selects one, a port. address "" means any
// address of any family (an XFRM selector without a family).
struct ViewSubnet {
  std::string address;
  unsigned prefix = 0;
  std::optional<std::uint16_t> port;
};
// "10.0.0.0/24", "10.0.0.0/24 port 80", "any".
std::string to_string(const ViewSubnet& subnet);

// KLIPS eroutes are all outbound; socket_in/socket_out are XFRM policies of one socket (a keying
// daemon's bypass for its own IKE traffic).
enum class PolicyDirection { in, out, fwd, socket_in, socket_out, unknown };
enum class PolicyAction {
  ipsec,   // protect with the SAs in `uses`
  pass,    // let through in the clear (XFRM allow without templates; %pass, %passthrough)
  drop,    // XFRM block; %drop
  reject,  // %reject: drop and send ICMP
  trap,    // %trap, %trapsubnet: ask the keying daemon for an SA
  hold,    // %hold: keep packets while the keying daemon negotiates
  unknown,
};
std::string_view to_string(PolicyDirection direction);
std::string_view to_string(PolicyAction action);

// One SA a policy applies, outermost first.
struct SaUse {
  std::string protocol;              // "esp", "ah", "comp", "ipip"...
  std::optional<std::uint32_t> spi;  // nullopt: any matching SA (XFRM templates)
  std::string source;                // tunnel endpoints; "" when not fixed
  std::string destination;
  std::optional<std::uint32_t> reqid;  // XFRM; nullopt when 0 (any)
  std::string mode;                    // "tunnel", "transport", "beet"; "" when unknown
};

struct PolicyView {
  ViewSubnet source;
  ViewSubnet destination;
  std::optional<unsigned> protocol;  // IP protocol selected; nullopt for any
  PolicyDirection direction = PolicyDirection::unknown;
  PolicyAction action = PolicyAction::unknown;
  std::vector<SaUse> uses;
  std::optional<std::uint64_t> packets;   // KLIPS counts packets per eroute
  std::optional<std::uint32_t> priority;  // XFRM
  std::optional<std::uint32_t> index;     // XFRM
  std::string type;                       // XFRM "main" or "sub"; "" for KLIPS
  std::string said;  // KLIPS's SA ID as printed ("tun0x1002@192.0.2.2", "%trap"); "" for XFRM
};

struct Algorithms {  // kernel crypto API names ("cbc(aes)", "hmac(sha256)") where known
  std::string encryption;
  std::string authentication;
  std::string aead;
  std::string compression;
};

enum class AddTimeClock { unix_epoch, since_boot };  // XFRM vs KLIPS
std::string_view to_string(AddTimeClock clock);

struct SaView {
  std::string protocol;  // "esp", "ah", "comp", "ipip"...
  std::uint32_t spi = 0;
  std::string mode;  // "tunnel", "transport", "beet"; "" when unknown
  std::string source;
  std::string destination;
  std::optional<std::string> direction;  // KLIPS "in"/"out"
  std::optional<std::uint32_t> reqid;    // XFRM
  Algorithms algorithms;
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::optional<std::uint64_t> add_time;
  AddTimeClock add_time_clock = AddTimeClock::unix_epoch;
  std::string said;       // KLIPS's SA ID as printed
  std::string transform;  // KLIPS's transform name ("ESP_3DES_HMAC_MD5")
};

// A line or message that could not be read, and was skipped.
struct ViewProblem {
  std::string source;    // "/proc/net/ipsec_spi" or "XFRM netlink"
  std::size_t line = 0;  // 0 when not line based
  std::string text;
  std::string reason;
};

// One stack's state.
struct KernelState {
  detect::Stack stack = detect::Stack::native;
  std::vector<PolicyView> policies;
  std::vector<SaView> sas;
  std::vector<ViewProblem> problems;
};

KernelState state_from_xfrm(const os::XfrmDump& dump);
// KLIPS's tunnel-mode SAs are groups (spigrp) of an IPIP SA and ESP/AH; an eroute uses the group.
KernelState state_from_klips(const detect::KlipsState& klips);

// ---- the `look` report ----

enum class LookSource { automatic, native, klips };  // --source
std::string_view to_string(LookSource source);

// The stacks `look` reads: the active one, both on conflict or broken (where their markers
// show), none when no stack is in the kernel. A forced source is read whatever detection says.
std::vector<detect::Stack> stacks_to_show(const detect::Snapshot& snapshot, LookSource source);

struct LookReaders {
  std::function<detect::Result<os::XfrmDump>()> native;
  std::function<detect::Result<detect::KlipsState>()> klips;
};

struct StackRead {
  detect::Stack stack = detect::Stack::native;
  std::optional<KernelState> state;  // when it could be read
  std::optional<detect::Error> error;
};

struct LookReport {
  detect::Overall active = detect::Overall::none;  // what detection found
  LookSource source = LookSource::automatic;
  std::vector<StackRead> stacks;
  std::vector<std::string> notes;  // what the admin should know about this view
};

// Detection's verdict decides which stacks to read; the readers do the reading.
LookReport build_look_report(const detect::Snapshot& snapshot, LookSource source, const LookReaders& readers);

// The JSON document (schema "stackmgr.look/1").
nlohmann::ordered_json look_to_json(const LookReport& report);
// The readable tables.
std::string render_look(const LookReport& report);

}  // namespace stackmgr::look
