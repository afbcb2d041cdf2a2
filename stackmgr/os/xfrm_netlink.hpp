#pragma once
// The native stack's SAD and SPD through XFRM netlink (libmnl, NETLINK_XFRM): flush, dump and
// count. Never PF_KEY: opening a PF_KEY socket can autoload af_key. Every XFRM netlink message
// needs CAP_NET_ADMIN in the caller's network namespace; without it calls fail with EPERM.
// Everything acts on the calling process's network namespace.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/snapshot.hpp"

namespace stackmgr::os {

enum class XfrmMode { transport, tunnel, route_optimization, in_trigger, beet, unknown };
// socket_in and socket_out: a policy attached to one socket (setsockopt IP_XFRM_POLICY), such
// as the bypass pluto sets on its own IKE sockets; the kernel dumps them as XFRM_POLICY_MAX + dir.
enum class XfrmDirection { in, out, fwd, socket_in, socket_out, unknown };
enum class XfrmAction { allow, block, unknown };
enum class XfrmPolicyType { main, sub };

std::string_view to_string(XfrmMode mode);
std::string_view to_string(XfrmDirection direction);
std::string_view to_string(XfrmAction action);
std::string_view to_string(XfrmPolicyType type);
// "esp", "ah", "comp", "ipip", "ipv6", "route2", "hao"; "proto-N" for anything else.
std::string xfrm_protocol_name(std::uint8_t protocol);

// What traffic a policy or SA applies to. Addresses are canonical text; "" when unset.
struct XfrmSelector {
  std::string source;
  unsigned source_prefix = 0;
  std::string destination;
  unsigned destination_prefix = 0;
  std::uint8_t protocol = 0;                 // IP protocol; 0 means any
  std::optional<std::uint16_t> source_port;  // set when the selector's port mask is
  std::optional<std::uint16_t> destination_port;
};

// NAT traversal: ESP in UDP.
struct XfrmEncap {
  std::uint16_t type = 0;  // UDP_ENCAP_ESPINUDP (2) or _NON_IKE (1)
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
};

struct XfrmSa {
  std::uint32_t spi = 0;
  std::uint8_t protocol = 0;  // IPPROTO_ESP, _AH, _COMP...
  XfrmMode mode = XfrmMode::transport;
  std::string source;  // outer addresses
  std::string destination;
  std::uint32_t reqid = 0;
  std::string encryption;      // kernel crypto names: "cbc(aes)"
  std::string authentication;  // "hmac(sha256)"
  std::optional<unsigned> authentication_truncation_bits;
  std::string aead;  // "rfc4106(gcm(aes))"
  std::optional<unsigned> aead_icv_bits;
  std::string compression;  // "deflate"
  std::uint64_t bytes = 0;
  std::uint64_t packets = 0;
  std::uint64_t add_time = 0;  // seconds since the epoch
  std::uint64_t use_time = 0;  // seconds since the epoch; 0 when unused
  XfrmSelector selector;
  std::optional<XfrmEncap> encap;
};

// The SA a policy asks for.
struct XfrmTemplate {
  std::uint8_t protocol = 0;
  std::optional<std::uint32_t> spi;  // nullopt: any SA that matches
  std::string source;                // tunnel endpoints; "" in transport mode (any)
  std::string destination;
  std::uint32_t reqid = 0;
  XfrmMode mode = XfrmMode::transport;
  bool optional = false;  // "level use": traffic may pass without this SA
};

struct XfrmPolicy {
  XfrmSelector selector;
  XfrmDirection direction = XfrmDirection::unknown;
  XfrmAction action = XfrmAction::allow;
  std::uint32_t priority = 0;
  std::uint32_t index = 0;
  XfrmPolicyType type = XfrmPolicyType::main;
  std::vector<XfrmTemplate> templates;
};

struct XfrmDump {
  std::vector<XfrmSa> sas;
  std::vector<XfrmPolicy> policies;   // main and sub, in the kernel's order
  std::vector<std::string> problems;  // messages that could not be parsed (skipped)
};

struct XfrmCounts {
  std::size_t sas = 0;
  std::size_t main_policies = 0;  // global policies (tunnels, traps, bypasses), not per socket
  std::size_t sub_policies = 0;
  std::size_t socket_policies = 0;  // per-socket policies: a keying daemon's own, not tunnels
};

// Parse one netlink message (header included) of type XFRM_MSG_NEWSA / XFRM_MSG_NEWPOLICY,
// as the kernel sends them in dumps. Any byte string is safe input: a short or inconsistent
// message is an Error (code 0) saying what is wrong, never a read past `length`.
detect::Result<XfrmSa> parse_xfrm_sa(const void* message, std::size_t length);
detect::Result<XfrmPolicy> parse_xfrm_policy(const void* message, std::size_t length);

// Deletes every SA (XFRM_MSG_FLUSHSA, protocol 0: all), then the main policies, then the sub
// policies (XFRM_MSG_FLUSHPOLICY with XFRMA_POLICY_TYPE=SUB; EINVAL there means the kernel
// has no sub policies and is not an error). Each step is acknowledged. Empty tables succeed.
// Errors read like "flushing XFRM policies: Operation not permitted".
detect::Status flush_xfrm();

// Dumps the SAD and the SPD (main and sub policies). A dump the kernel marks interrupted
// (the tables changed meanwhile) is retried.
detect::Result<XfrmDump> dump_xfrm();

// The number of SAs, main policies and sub policies (for `stackmgr status`).
detect::Result<XfrmCounts> count_xfrm();

// True when opening XFRM netlink would make the kernel autoload xfrm_user (a native module):
// it is on disk and not loaded. Code that only looks (status, the switch's tunnels check) must
// not open XFRM netlink then: looking never loads kernel code.
bool xfrm_netlink_would_load_module(const detect::Snapshot& snapshot);

}  // namespace stackmgr::os
