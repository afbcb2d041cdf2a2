#include "detect/markers.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

constexpr std::string_view kArphrdNone = "65534";  // XFRM interfaces (xfrmi)

std::string first_line(std::string_view text) {
  const std::string_view line = text.substr(0, text.find('\n'));
  std::string clean;
  for (const char c : line.substr(0, 200)) clean += (c >= 0x20 && c < 0x7f) ? c : '?';
  return clean;
}

void read_ipsec_version(const HostRoot& root, Markers& markers) {
  for (const std::string_view file : {"proc/net/ipsec/version", "proc/net/ipsec_version"}) {
    if (!root.exists(file)) continue;
    markers.ipsec_version = true;
    const auto text = root.read(file, 4096);
    if (text) {
      markers.ipsec_version_text = first_line(*text);
      return;
    }
    if (text.error().code == EACCES) {
      markers.notes.push_back("/" + std::string(file) +
                              " exists but is readable by root only (mode 0400, as in KLIPS)");
    } else {
      markers.notes.push_back("/" + std::string(file) +
                              " exists but cannot be read: " + text.error().describe());
    }
    return;
  }
}

void read_ipsec_interfaces(const HostRoot& root, const NetDeviceSource& net, Markers& markers) {
  const auto names = net.interfaces();
  if (!names) {
    markers.notes.push_back("cannot list network interfaces: " + names.error().describe());
    return;
  }
  for (const std::string& name : *names) {
    if (!is_ipsec_interface_name(name)) continue;
    const auto type = root.read("sys/class/net/" + name + "/type", 64);
    if (type && stackmgr::base::trim(*type) == kArphrdNone) {
      markers.notes.push_back(name + " is an XFRM interface (type ARPHRD_NONE), not a KLIPS device");
      continue;
    }
    markers.ipsec_interfaces.push_back(name);
  }
}

// /proc/net shows the reading process's network namespace; KLIPS lived in the initial one.
void note_network_namespace(const HostRoot& root, Markers& markers) {
  if (!root.is_real_root()) return;
  char own[PATH_MAX] = {};
  char init[PATH_MAX] = {};
  const ssize_t own_len = ::readlink("/proc/self/ns/net", own, sizeof own - 1);
  const ssize_t init_len = ::readlink("/proc/1/ns/net", init, sizeof init - 1);
  if (own_len <= 0 || init_len <= 0) return;
  if (std::string_view(own, static_cast<std::size_t>(own_len)) !=
      std::string_view(init, static_cast<std::size_t>(init_len))) {
    markers.initial_netns = false;
    markers.notes.push_back(
        "this process is not in the initial network namespace: /proc/net and the interfaces "
        "are its own, and KLIPS's markers live in the initial one");
  }
}

}  // namespace

bool is_ipsec_interface_name(std::string_view name) {
  constexpr std::string_view prefix = "ipsec";
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
  for (const char c : name.substr(prefix.size())) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

Markers read_markers(const HostRoot& root, const NetDeviceSource& net) {
  Markers markers;
  markers.proc_net_readable =
      root.exists("proc/net/dev") || root.exists("proc/net/protocols") || root.exists("proc/net/netlink");
  if (!markers.proc_net_readable) {
    markers.notes.push_back("/proc/net is not readable (is /proc mounted?): a missing marker proves nothing");
  }
  markers.proc_net_pfkey = root.exists("proc/net/pfkey");
  markers.xfrm_stat = root.exists("proc/net/xfrm_stat");
  markers.xfrm_acq_expires = root.exists("proc/sys/net/core/xfrm_acq_expires");
  read_ipsec_version(root, markers);
  markers.ipsec_eroute = root.exists("proc/net/ipsec_eroute") || root.exists("proc/net/ipsec/eroute");
  markers.ipsec_spi = root.exists("proc/net/ipsec_spi") || root.exists("proc/net/ipsec/spi");
  markers.proc_sys_net_ipsec = root.exists("proc/sys/net/ipsec");
  read_ipsec_interfaces(root, net, markers);
  markers.guard_installed = root.exists(kGuardFile);
  note_network_namespace(root, markers);
  return markers;
}

}  // namespace detect
