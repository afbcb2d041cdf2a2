#include "stackmgr/os/xfrm_netlink.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <utility>

namespace stackmgr::os {
namespace {

constexpr std::size_t kReceiveBufferSize = 32768;  // what newer libmnl calls MNL_SOCKET_DUMP_SIZE
constexpr int kDumpAttempts = 3;                   // a dump interrupted by changes is retried
constexpr std::time_t kReplyTimeoutSeconds = 5;    // the kernel answers at once; never hang

detect::Error parse_error(std::string message) { return detect::Error{0, std::move(message)}; }

// Reads a T out of a byte buffer whatever its alignment.
template <typename T>
T load(const unsigned char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// Kernel strings (algorithm names) are fixed arrays that need not end in NUL; keep them
// printable ASCII so they are safe in a terminal and in JSON.
std::string printable(const char* text, std::size_t max) {
  std::string out(text, ::strnlen(text, max));
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

bool is_zero(const xfrm_address_t& address) {
  for (const auto word : address.a6)
    if (word != 0) return false;
  return true;
}

std::string address_text(std::uint16_t family, const xfrm_address_t& address) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (family == AF_INET) {
    if (::inet_ntop(AF_INET, &address.a4, text.data(), text.size()) == nullptr) return "";
  } else if (family == AF_INET6) {
    if (::inet_ntop(AF_INET6, address.a6, text.data(), text.size()) == nullptr) return "";
  } else {
    return "";
  }
  return text.data();
}

XfrmMode mode_from(std::uint8_t mode) {
  switch (mode) {
    case XFRM_MODE_TRANSPORT: return XfrmMode::transport;
    case XFRM_MODE_TUNNEL: return XfrmMode::tunnel;
    case XFRM_MODE_ROUTEOPTIMIZATION: return XfrmMode::route_optimization;
    case XFRM_MODE_IN_TRIGGER: return XfrmMode::in_trigger;
    case XFRM_MODE_BEET: return XfrmMode::beet;
    default: return XfrmMode::unknown;
  }
}

XfrmSelector selector_from(const xfrm_selector& sel) {
  XfrmSelector selector;
  selector.source = address_text(sel.family, sel.saddr);
  selector.source_prefix = sel.prefixlen_s;
  selector.destination = address_text(sel.family, sel.daddr);
  selector.destination_prefix = sel.prefixlen_d;
  selector.protocol = sel.proto;
  if (sel.sport_mask != 0) selector.source_port = ntohs(sel.sport);
  if (sel.dport_mask != 0) selector.destination_port = ntohs(sel.dport);
  return selector;
}

// One attribute's type and payload, bounds already checked.
struct Attribute {
  std::uint16_t type = 0;
  const unsigned char* payload = nullptr;
  std::size_t length = 0;
};

// Validates the netlink header and the fixed part, then hands the fixed struct and each
// attribute to the caller. Never reads outside [message, message + length).
template <typename Info, typename OnAttribute>
detect::Result<Info> walk_message(const void* message, std::size_t length, std::uint16_t expected_type,
                                  std::string_view what, OnAttribute&& on_attribute) {
  const auto* bytes = static_cast<const unsigned char*>(message);
  if (bytes == nullptr || length < NLMSG_HDRLEN)
    return parse_error(std::string(what) + ": " + std::to_string(length) +
                       " bytes is shorter than a netlink header");
  const auto header = load<nlmsghdr>(bytes);
  if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > length)
    return parse_error(std::string(what) + ": netlink length " + std::to_string(header.nlmsg_len) +
                       " does not fit the " + std::to_string(length) + " bytes received");
  if (header.nlmsg_type != expected_type)
    return parse_error(std::string(what) + ": unexpected message type " + std::to_string(header.nlmsg_type));
  const std::size_t end = header.nlmsg_len;
  if (end < NLMSG_HDRLEN + sizeof(Info))
    return parse_error(std::string(what) + ": " + std::to_string(end) +
                       " bytes is too short for its fixed part");
  const auto info = load<Info>(bytes + NLMSG_HDRLEN);

  std::size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(Info));
  while (offset + NLA_HDRLEN <= end) {
    const auto attribute = load<nlattr>(bytes + offset);
    if (attribute.nla_len < NLA_HDRLEN || attribute.nla_len > end - offset)
      return parse_error(std::string(what) + ": attribute at byte " + std::to_string(offset) +
                         " overruns the message");
    const Attribute view{static_cast<std::uint16_t>(attribute.nla_type & NLA_TYPE_MASK),
                         bytes + offset + NLA_HDRLEN, attribute.nla_len - std::size_t{NLA_HDRLEN}};
    if (auto error = on_attribute(view)) return parse_error(std::string(what) + ": " + *error);
    offset += NLA_ALIGN(attribute.nla_len);
  }
  return info;
}

using AttributeError = std::optional<std::string>;

template <typename T>
AttributeError need(const Attribute& attribute, std::string_view name) {
  if (attribute.length >= sizeof(T)) return std::nullopt;
  return std::string(name) + " attribute has " + std::to_string(attribute.length) + " bytes, expected " +
         std::to_string(sizeof(T));
}

// ---- talking to the kernel ----

using MessageHandler = std::function<void(const nlmsghdr* message)>;

int dispatch(const nlmsghdr* message, void* data) {
  (*static_cast<MessageHandler*>(data))(message);
  return MNL_CB_OK;
}

class XfrmSocket {
 public:
  static detect::Result<XfrmSocket> open() {
    mnl_socket* socket = ::mnl_socket_open2(NETLINK_XFRM, SOCK_CLOEXEC);
    if (socket == nullptr) return detect::error_from_errno(errno, "opening an XFRM netlink socket");
    XfrmSocket result(socket);
    if (::mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0)
      return detect::error_from_errno(errno, "binding an XFRM netlink socket");
    const timeval timeout{kReplyTimeoutSeconds, 0};
    if (::setsockopt(::mnl_socket_get_fd(socket), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0)
      return detect::error_from_errno(errno, "setting a timeout on an XFRM netlink socket");
    result.port_id_ = ::mnl_socket_get_portid(socket);
    return result;
  }

  XfrmSocket(XfrmSocket&& other) noexcept
      : socket_(std::exchange(other.socket_, nullptr)),
        port_id_(other.port_id_),
        sequence_(other.sequence_) {}
  XfrmSocket& operator=(XfrmSocket&&) = delete;
  XfrmSocket(const XfrmSocket&) = delete;
  XfrmSocket& operator=(const XfrmSocket&) = delete;
  ~XfrmSocket() {
    if (socket_ != nullptr) ::mnl_socket_close(socket_);
  }

  // A fresh request header in `buffer` with the next sequence number.
  nlmsghdr* start(char* buffer, std::uint16_t type, std::uint16_t flags) {
    nlmsghdr* request = ::mnl_nlmsg_put_header(buffer);
    request->nlmsg_type = type;
    request->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
    request->nlmsg_seq = ++sequence_;
    return request;
  }

  // Sends `request`, then feeds each reply message to `on_message` until the ACK or the end of
  // the dump. A kernel error (NLMSG_ERROR) or an interrupted dump (EINTR) becomes the Error.
  detect::Status exchange(const nlmsghdr* request, MessageHandler on_message, const std::string& context) {
    if (::mnl_socket_sendto(socket_, request, request->nlmsg_len) < 0)
      return detect::error_from_errno(errno, context);
    std::vector<char> buffer(kReceiveBufferSize);
    for (;;) {
      const ssize_t got = ::mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
      if (got < 0) {
        if (errno == EINTR) continue;
        return detect::error_from_errno(errno, context);
      }
      const int result = ::mnl_cb_run(buffer.data(), static_cast<std::size_t>(got), request->nlmsg_seq,
                                      port_id_, dispatch, &on_message);
      if (result == MNL_CB_ERROR) return detect::error_from_errno(errno, context);
      if (result == MNL_CB_STOP) return {};
    }
  }

 private:
  explicit XfrmSocket(mnl_socket* socket)
      : socket_(socket), sequence_(static_cast<unsigned>(std::time(nullptr))) {}

  mnl_socket* socket_ = nullptr;
  unsigned port_id_ = 0;
  unsigned sequence_ = 0;
};

const MessageHandler kIgnoreReplies = [](const nlmsghdr*) {};

struct alignas(NLMSG_ALIGNTO) RequestBuffer {
  std::array<char, 512> bytes{};
};

detect::Status flush_sas(XfrmSocket& socket) {
  RequestBuffer buffer;
  nlmsghdr* request = socket.start(buffer.bytes.data(), XFRM_MSG_FLUSHSA, NLM_F_ACK);
  auto* flush =
      static_cast<xfrm_usersa_flush*>(::mnl_nlmsg_put_extra_header(request, sizeof(xfrm_usersa_flush)));
  flush->proto = 0;  // every protocol, not only IPSEC_PROTO_ANY's AH/ESP/IPComp
  return socket.exchange(request, kIgnoreReplies, "flushing XFRM SAs");
}

detect::Status flush_policies(XfrmSocket& socket, XfrmPolicyType type) {
  RequestBuffer buffer;
  nlmsghdr* request = socket.start(buffer.bytes.data(), XFRM_MSG_FLUSHPOLICY, NLM_F_ACK);
  if (type == XfrmPolicyType::sub) {
    xfrm_userpolicy_type policy_type{};
    policy_type.type = XFRM_POLICY_TYPE_SUB;
    ::mnl_attr_put(request, XFRMA_POLICY_TYPE, sizeof policy_type, &policy_type);
  }
  return socket.exchange(
      request, kIgnoreReplies,
      type == XfrmPolicyType::sub ? "flushing XFRM sub policies" : "flushing XFRM policies");
}

// Old kernels answered a flush of an empty table with ESRCH.
detect::Status empty_is_fine(detect::Status status) {
  if (!status && status.error().code == ESRCH) return {};
  return status;
}

detect::Status dump_into(XfrmDump& dump) {
  auto socket = XfrmSocket::open();
  if (!socket) return socket.error();

  RequestBuffer buffer;
  const nlmsghdr* sa_request = socket.value().start(buffer.bytes.data(), XFRM_MSG_GETSA, NLM_F_DUMP);
  const MessageHandler on_sa = [&dump](const nlmsghdr* message) {
    auto sa = parse_xfrm_sa(message, message->nlmsg_len);
    if (sa)
      dump.sas.push_back(std::move(sa).value());
    else
      dump.problems.push_back(sa.error().message);
  };
  if (auto status = socket.value().exchange(sa_request, on_sa, "dumping XFRM SAs"); !status) return status;

  const nlmsghdr* policy_request = socket.value().start(buffer.bytes.data(), XFRM_MSG_GETPOLICY, NLM_F_DUMP);
  const MessageHandler on_policy = [&dump](const nlmsghdr* message) {
    auto policy = parse_xfrm_policy(message, message->nlmsg_len);
    if (policy)
      dump.policies.push_back(std::move(policy).value());
    else
      dump.problems.push_back(policy.error().message);
  };
  return socket.value().exchange(policy_request, on_policy, "dumping XFRM policies");
}

}  // namespace

std::string_view to_string(XfrmMode mode) {
  switch (mode) {
    case XfrmMode::transport: return "transport";
    case XfrmMode::tunnel: return "tunnel";
    case XfrmMode::route_optimization: return "ro";
    case XfrmMode::in_trigger: return "in_trigger";
    case XfrmMode::beet: return "beet";
    case XfrmMode::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(XfrmDirection direction) {
  switch (direction) {
    case XfrmDirection::in: return "in";
    case XfrmDirection::out: return "out";
    case XfrmDirection::fwd: return "fwd";
    case XfrmDirection::socket_in: return "socket in";
    case XfrmDirection::socket_out: return "socket out";
    case XfrmDirection::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(XfrmAction action) {
  switch (action) {
    case XfrmAction::allow: return "allow";
    case XfrmAction::block: return "block";
    case XfrmAction::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(XfrmPolicyType type) { return type == XfrmPolicyType::sub ? "sub" : "main"; }

std::string xfrm_protocol_name(std::uint8_t protocol) {
  switch (protocol) {
    case IPPROTO_ESP: return "esp";
    case IPPROTO_AH: return "ah";
    case IPPROTO_COMP: return "comp";
    case IPPROTO_IPIP: return "ipip";
    case IPPROTO_IPV6: return "ipv6";
    case IPPROTO_ROUTING: return "route2";
    case IPPROTO_DSTOPTS: return "hao";
    default: return "proto-" + std::to_string(protocol);
  }
}

detect::Result<XfrmSa> parse_xfrm_sa(const void* message, std::size_t length) {
  XfrmSa sa;
  const auto on_attribute = [&sa](const Attribute& attribute) -> AttributeError {
    switch (attribute.type) {
      case XFRMA_ALG_CRYPT:
      case XFRMA_ALG_AUTH:
      case XFRMA_ALG_COMP: {
        if (auto error = need<xfrm_algo>(attribute, "algorithm")) return error;
        const auto algo = load<xfrm_algo>(attribute.payload);
        const std::string name = printable(algo.alg_name, sizeof algo.alg_name);
        if (attribute.type == XFRMA_ALG_CRYPT)
          sa.encryption = name;
        else if (attribute.type == XFRMA_ALG_COMP)
          sa.compression = name;
        else if (sa.authentication.empty())
          sa.authentication = name;
        return std::nullopt;
      }
      case XFRMA_ALG_AUTH_TRUNC: {
        if (auto error = need<xfrm_algo_auth>(attribute, "truncated authentication")) return error;
        const auto algo = load<xfrm_algo_auth>(attribute.payload);
        sa.authentication = printable(algo.alg_name, sizeof algo.alg_name);
        sa.authentication_truncation_bits = algo.alg_trunc_len;
        return std::nullopt;
      }
      case XFRMA_ALG_AEAD: {
        if (auto error = need<xfrm_algo_aead>(attribute, "AEAD")) return error;
        const auto algo = load<xfrm_algo_aead>(attribute.payload);
        sa.aead = printable(algo.alg_name, sizeof algo.alg_name);
        sa.aead_icv_bits = algo.alg_icv_len;
        return std::nullopt;
      }
      case XFRMA_ENCAP: {
        if (auto error = need<xfrm_encap_tmpl>(attribute, "encapsulation")) return error;
        const auto encap = load<xfrm_encap_tmpl>(attribute.payload);
        sa.encap = XfrmEncap{encap.encap_type, ntohs(encap.encap_sport), ntohs(encap.encap_dport)};
        return std::nullopt;
      }
      default: return std::nullopt;  // marks, offload, replay state...: not part of the view
    }
  };
  auto info =
      walk_message<xfrm_usersa_info>(message, length, XFRM_MSG_NEWSA, "XFRM SA message", on_attribute);
  if (!info) return info.error();
  const xfrm_usersa_info& fixed = info.value();
  sa.spi = ntohl(fixed.id.spi);
  sa.protocol = fixed.id.proto;
  sa.mode = mode_from(fixed.mode);
  sa.source = address_text(fixed.family, fixed.saddr);
  sa.destination = address_text(fixed.family, fixed.id.daddr);
  sa.reqid = fixed.reqid;
  sa.bytes = fixed.curlft.bytes;
  sa.packets = fixed.curlft.packets;
  sa.add_time = fixed.curlft.add_time;
  sa.use_time = fixed.curlft.use_time;
  sa.selector = selector_from(fixed.sel);
  return sa;
}

detect::Result<XfrmPolicy> parse_xfrm_policy(const void* message, std::size_t length) {
  XfrmPolicy policy;
  std::vector<xfrm_user_tmpl> templates;
  const auto on_attribute = [&](const Attribute& attribute) -> AttributeError {
    switch (attribute.type) {
      case XFRMA_TMPL: {
        if (attribute.length % sizeof(xfrm_user_tmpl) != 0)
          return "template attribute has " + std::to_string(attribute.length) + " bytes, not a multiple of " +
                 std::to_string(sizeof(xfrm_user_tmpl));
        for (std::size_t at = 0; at < attribute.length; at += sizeof(xfrm_user_tmpl))
          templates.push_back(load<xfrm_user_tmpl>(attribute.payload + at));
        return std::nullopt;
      }
      case XFRMA_POLICY_TYPE: {
        if (auto error = need<xfrm_userpolicy_type>(attribute, "policy type")) return error;
        const auto type = load<xfrm_userpolicy_type>(attribute.payload);
        if (type.type == XFRM_POLICY_TYPE_MAIN)
          policy.type = XfrmPolicyType::main;
        else if (type.type == XFRM_POLICY_TYPE_SUB)
          policy.type = XfrmPolicyType::sub;
        else
          return "unknown policy type " + std::to_string(type.type);
        return std::nullopt;
      }
      default: return std::nullopt;
    }
  };
  auto info = walk_message<xfrm_userpolicy_info>(message, length, XFRM_MSG_NEWPOLICY, "XFRM policy message",
                                                 on_attribute);
  if (!info) return info.error();
  const xfrm_userpolicy_info& fixed = info.value();
  policy.selector = selector_from(fixed.sel);
  switch (fixed.dir) {
    case XFRM_POLICY_IN: policy.direction = XfrmDirection::in; break;
    case XFRM_POLICY_OUT: policy.direction = XfrmDirection::out; break;
    case XFRM_POLICY_FWD: policy.direction = XfrmDirection::fwd; break;
    case XFRM_POLICY_MAX + XFRM_POLICY_IN: policy.direction = XfrmDirection::socket_in; break;
    case XFRM_POLICY_MAX + XFRM_POLICY_OUT: policy.direction = XfrmDirection::socket_out; break;
    default: policy.direction = XfrmDirection::unknown; break;
  }
  policy.action = fixed.action == XFRM_POLICY_ALLOW   ? XfrmAction::allow
                  : fixed.action == XFRM_POLICY_BLOCK ? XfrmAction::block
                                                      : XfrmAction::unknown;
  policy.priority = fixed.priority;
  policy.index = fixed.index;
  for (const auto& tmpl : templates) {
    XfrmTemplate entry;
    entry.protocol = tmpl.id.proto;
    if (tmpl.id.spi != 0) entry.spi = ntohl(tmpl.id.spi);
    const std::uint16_t family = tmpl.family != 0 ? tmpl.family : fixed.sel.family;
    if (!is_zero(tmpl.saddr)) entry.source = address_text(family, tmpl.saddr);
    if (!is_zero(tmpl.id.daddr)) entry.destination = address_text(family, tmpl.id.daddr);
    entry.reqid = tmpl.reqid;
    entry.mode = mode_from(tmpl.mode);
    entry.optional = tmpl.optional != 0;
    policy.templates.push_back(std::move(entry));
  }
  return policy;
}

detect::Status flush_xfrm() {
  auto socket = XfrmSocket::open();
  if (!socket) return socket.error();
  if (auto status = empty_is_fine(flush_sas(socket.value())); !status) return status;
  if (auto status = empty_is_fine(flush_policies(socket.value(), XfrmPolicyType::main)); !status)
    return status;
  auto status = empty_is_fine(flush_policies(socket.value(), XfrmPolicyType::sub));
  if (!status && status.error().code == EINVAL) return {};  // no CONFIG_XFRM_SUB_POLICY: nothing to flush
  return status;
}

detect::Result<XfrmDump> dump_xfrm() {
  for (int attempt = 1;; ++attempt) {
    XfrmDump dump;
    const auto status = dump_into(dump);
    if (status) return dump;
    if (status.error().code != EINTR || attempt == kDumpAttempts) return status.error();
  }
}

bool xfrm_netlink_would_load_module(const detect::Snapshot& snapshot) {
  const detect::ModuleStatus* xfrm_user = snapshot.module("xfrm_user");
  if (xfrm_user == nullptr) return false;
  return xfrm_user->state == detect::ModuleState::available ||
         xfrm_user->state == detect::ModuleState::blacklisted;
}

detect::Result<XfrmCounts> count_xfrm() {
  auto dump = dump_xfrm();
  if (!dump) return dump.error();
  XfrmCounts counts;
  counts.sas = dump->sas.size();
  for (const auto& policy : dump->policies) {
    if (policy.direction == XfrmDirection::socket_in || policy.direction == XfrmDirection::socket_out)
      ++counts.socket_policies;
    else if (policy.type == XfrmPolicyType::sub)
      ++counts.sub_policies;
    else
      ++counts.main_policies;
  }
  return counts;
}

}  // namespace stackmgr::os
