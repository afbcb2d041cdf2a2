#pragma once
// IPv4/IPv6 addresses and subnets as written in ipsec.conf, resolv.conf and policy groups.
// Pure values: parsing never resolves names and never touches the network.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace detect {

enum class Family { ipv4, ipv6 };

struct IpAddress {
  Family family = Family::ipv4;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4

  // "192.0.2.1" or "2001:db8::1" (an IPv6 "%scope" suffix is dropped). nullopt otherwise.
  static std::optional<IpAddress> parse(std::string_view text);
  // The canonical text form (inet_ntop).
  [[nodiscard]] std::string to_string() const;
  // 127.0.0.0/8 or ::1.
  [[nodiscard]] bool is_loopback() const;
  [[nodiscard]] int bits() const { return family == Family::ipv4 ? 32 : 128; }

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct IpSubnet {
  IpAddress network;  // host bits cleared
  int prefix = 0;

  // "10.0.0.0/8", "10.0.0.0/255.0.0.0", "2001:db8::/32", or a bare address (a host subnet).
  // Host bits set in the address are cleared. nullopt for anything else.
  static std::optional<IpSubnet> parse(std::string_view text);
  // A single host: /32 or /128.
  static IpSubnet host(const IpAddress& address);
  [[nodiscard]] std::string to_string() const;  // "10.0.0.0/8"
  [[nodiscard]] bool contains(const IpAddress& address) const;
  // True when every address of `other` is in this subnet.
  [[nodiscard]] bool contains(const IpSubnet& other) const;
  [[nodiscard]] bool overlaps(const IpSubnet& other) const;

  friend bool operator==(const IpSubnet&, const IpSubnet&) = default;
};

}  // namespace detect
