#pragma once
// FreeS/WAN's opportunistic-encryption policy groups: /etc/ipsec.d/policies/{clear,
// clear-or-private, private-or-clear, private, block}. Each file lists one address or subnet
// per line; `#` starts a comment. Libreswan lets the address be followed by a protocol and
// ports ("10.0.1.0/24 tcp 0 22"). Read-only; never throws; names are kept, never resolved.

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "detect/host.hpp"
#include "detect/ip_subnet.hpp"
#include "detect/ipsec_conf.hpp"

namespace detect {

// The five base policy groups, in FreeS/WAN's order of precedence (most specific policy first).
inline constexpr std::array<std::string_view, 5> kPolicyGroupNames = {"clear", "clear-or-private",
                                                                      "private-or-clear", "private", "block"};
inline constexpr std::string_view kDefaultPolicyDirectory = "/etc/ipsec.d/policies";

struct PolicyEntry {
  IpSubnet subnet;
  ConfLocation where;
  std::string narrowing;  // Libreswan's "tcp 0 22" after the subnet; empty: all traffic
};

struct PolicyGroup {
  std::string name;                  // "clear", "private-or-clear"...
  std::string path;                  // the host path of its file
  bool found = false;                // the file exists and was read
  std::vector<PolicyEntry> entries;  // addresses and subnets, in file order
  std::vector<ConfValue> names;      // host names: the daemon resolves them, the doctor cannot

  // True when the group lists nothing (no address, subnet or name).
  [[nodiscard]] bool empty() const { return entries.empty() && names.empty(); }
  // The first entry without narrowing that contains `address` (all its traffic), or nullptr.
  [[nodiscard]] const PolicyEntry* covering(const IpAddress& address) const;
};

struct PolicyGroups {
  std::string directory;              // host path of the policies directory
  std::vector<PolicyGroup> groups;    // always the five, in kPolicyGroupNames order
  std::vector<ConfProblem> problems;  // unreadable files, lines that are neither address nor name

  // The group called `name`, or nullptr for a name that is not one of the five.
  [[nodiscard]] const PolicyGroup* group(std::string_view name) const;
};

// Parses one group file's text; problems are appended to `problems`.
PolicyGroup parse_policy_group(std::string_view name, std::string_view text, std::string_view path,
                               std::vector<ConfProblem>& problems);

// Reads the five group files from `directory` (a host path) under `root`. A missing file is an
// empty group with found == false, not a problem.
PolicyGroups read_policy_groups(const HostRoot& root, std::string_view directory = kDefaultPolicyDirectory);

}  // namespace detect
