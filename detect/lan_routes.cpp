#include "detect/lan_routes.hpp"

#include <cerrno>
#include <sstream>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

constexpr unsigned kRouteUp = 0x1;  // RTF_UP

// /proc/net/route prints each IPv4 address as 8 hex digits of the 32-bit value in host (little
// endian) byte order, so "0101A8C0" is 192.168.1.1.
bool parse_hex_address(std::string_view text, IpAddress& out) {
  if (text.size() != 8) return false;
  const auto value = stackmgr::base::parse_number<std::uint32_t>(text, 16);
  if (!value) return false;
  out = IpAddress{};
  out.family = Family::ipv4;
  for (std::size_t i = 0; i < 4; ++i) out.bytes[i] = static_cast<std::uint8_t>(*value >> (8 * i));
  return true;
}

}  // namespace

Result<std::vector<LanRoute>> parse_lan_routes(std::string_view text) {
  std::vector<LanRoute> routes;
  std::istringstream lines{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (number == 1) continue;  // the column header
    std::istringstream words(line);
    std::string interface, destination, gateway, flags_text, refcnt, use, metric, mask;
    if (!(words >> interface)) continue;
    if (!(words >> destination >> gateway >> flags_text >> refcnt >> use >> metric >> mask)) {
      return error_from_errno(EBADMSG, "/proc/net/route line " + std::to_string(number) + ": too few fields");
    }
    IpAddress network;
    IpAddress via;
    IpAddress netmask;
    const auto flags = stackmgr::base::parse_number<unsigned>(flags_text, 16);
    if (!parse_hex_address(destination, network) || !parse_hex_address(gateway, via) ||
        !parse_hex_address(mask, netmask) || !flags) {
      return error_from_errno(EBADMSG,
                              "/proc/net/route line " + std::to_string(number) + ": not hex addresses");
    }
    if (interface == "lo" || (*flags & kRouteUp) == 0) continue;
    if (via != IpAddress{Family::ipv4, {}}) continue;  // through a gateway: not on the LAN
    const auto subnet = IpSubnet::parse(network.to_string() + "/" + netmask.to_string());
    if (!subnet || subnet->prefix == 0) continue;  // non-contiguous mask, or a default route
    routes.push_back(LanRoute{interface, *subnet});
  }
  return routes;
}

Result<std::vector<LanRoute>> read_lan_routes(const HostRoot& root) {
  const auto text = root.read("proc/net/route", 1 << 20);
  if (!text) return text.error();
  return parse_lan_routes(*text);
}

}  // namespace detect
