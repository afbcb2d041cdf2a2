#include "detect/ip_subnet.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

bool prefix_bits_equal(const IpAddress& a, const IpAddress& b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), static_cast<std::size_t>(whole)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (a.bytes[static_cast<std::size_t>(whole)] & mask) ==
         (b.bytes[static_cast<std::size_t>(whole)] & mask);
}

IpAddress clear_host_bits(IpAddress address, int prefix) {
  for (int bit = prefix; bit < address.bits(); ++bit) {
    address.bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return address;
}

// A dotted IPv4 netmask ("255.255.255.0") as a prefix length, or nullopt if not contiguous.
std::optional<int> netmask_prefix(const IpAddress& mask) {
  int prefix = 0;
  bool ended = false;
  for (int i = 0; i < 4; ++i) {
    for (int bit = 7; bit >= 0; --bit) {
      const bool set = (mask.bytes[static_cast<std::size_t>(i)] >> bit) & 1u;
      if (set && ended) return std::nullopt;
      if (set)
        ++prefix;
      else
        ended = true;
    }
  }
  return prefix;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string copy(text);
  IpAddress address;
  if (copy.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
    address.family = Family::ipv4;
    return address;
  }
  if (const auto scope = copy.find('%'); scope != std::string::npos) copy.resize(scope);
  if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) != 1) return std::nullopt;
  address.family = Family::ipv6;
  return address;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::ipv4 ? AF_INET : AF_INET6, bytes.data(), buffer, sizeof buffer);
  return buffer;
}

bool IpAddress::is_loopback() const {
  if (family == Family::ipv4) return bytes[0] == 127;
  static constexpr std::array<std::uint8_t, 16> kLoopback6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kLoopback6;
}

std::optional<IpSubnet> IpSubnet::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return host(*address);
  const std::string_view length = text.substr(slash + 1);
  int prefix = -1;
  if (const auto number = stackmgr::base::parse_number<int>(length)) {
    prefix = *number;
    if (prefix < 0 || prefix > address->bits()) return std::nullopt;
  } else {
    // FreeS/WAN also accepts a dotted netmask for IPv4.
    if (address->family != Family::ipv4) return std::nullopt;
    const auto mask = IpAddress::parse(length);
    if (!mask || mask->family != Family::ipv4) return std::nullopt;
    const auto bits = netmask_prefix(*mask);
    if (!bits) return std::nullopt;
    prefix = *bits;
  }
  return IpSubnet{clear_host_bits(*address, prefix), prefix};
}

IpSubnet IpSubnet::host(const IpAddress& address) { return IpSubnet{address, address.bits()}; }

std::string IpSubnet::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

bool IpSubnet::contains(const IpAddress& address) const {
  return address.family == network.family && prefix_bits_equal(network, address, prefix);
}

bool IpSubnet::contains(const IpSubnet& other) const {
  return other.network.family == network.family && other.prefix >= prefix && contains(other.network);
}

bool IpSubnet::overlaps(const IpSubnet& other) const { return contains(other) || other.contains(*this); }

}  // namespace detect
