#pragma once
// The host's directly connected IPv4 subnets (its local LANs), from /proc/net/route.

#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/host.hpp"
#include "detect/ip_subnet.hpp"

namespace detect {

struct LanRoute {
  std::string interface;  // "eth0"
  IpSubnet subnet;        // "192.168.1.0/24"
};

// Parses /proc/net/route text: the routes that are up, have no gateway and are not the
// default route, on any interface except lo. EBADMSG names the first malformed line.
Result<std::vector<LanRoute>> parse_lan_routes(std::string_view text);

// Reads <root>/proc/net/route. ENOENT when there is none (a fixture root without /proc).
Result<std::vector<LanRoute>> read_lan_routes(const HostRoot& root);

}  // namespace detect
