#pragma once
// /etc/resolv.conf's nameservers, read under a HostRoot. Read-only; never throws.

#include <string>
#include <string_view>
#include <vector>

#include "detect/host.hpp"
#include "detect/ip_subnet.hpp"
#include "detect/ipsec_conf.hpp"

namespace detect {

struct Nameserver {
  IpAddress address;
  ConfLocation where;
};

struct ResolvConf {
  bool found = false;                   // the file was read
  std::string path;                     // the host path read, after following symlinks
  std::vector<Nameserver> nameservers;  // the ones the resolver uses (the first three), in order
  std::vector<ConfProblem> problems;    // unparsable addresses, nameservers past the third
};

inline constexpr std::string_view kDefaultResolvConf = "/etc/resolv.conf";

// Parses resolv.conf text: `nameserver ADDRESS` lines; `#` and `;` start comments. Like the
// resolver, only the first three nameservers count; later ones are reported as problems.
ResolvConf parse_resolv_conf(std::string_view text, std::string_view name);

// Reads `path` under `root`, following symlinks inside the root (an absolute link target such
// as /run/systemd/resolve/stub-resolv.conf resolves under the root too). A missing file gives
// found == false and no problem.
ResolvConf read_resolv_conf(const HostRoot& root, std::string_view path = kDefaultResolvConf);

}  // namespace detect
