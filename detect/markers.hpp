#pragma once
// The kernel's own markers of each stack under /proc, and ipsecN devices. Read-only.

#include <string>
#include <string_view>

#include "detect/host.hpp"
#include "detect/snapshot.hpp"

namespace detect {

// True for "ipsec" followed by one or more digits: KLIPS's virtual interface names.
bool is_ipsec_interface_name(std::string_view name);

// Reads every marker under the root and the ipsecN devices from `net`. ipsecN devices of type
// ARPHRD_NONE (65534) are XFRM interfaces (libreswan's ipsec-interface=), not KLIPS: they are
// left out and named in `notes`, as is anything that could not be read.
Markers read_markers(const HostRoot& root, const NetDeviceSource& net);

}  // namespace detect
