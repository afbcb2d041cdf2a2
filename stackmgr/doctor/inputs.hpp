#pragma once
// Gathering the doctor's inputs from a host: everything run_doctor() needs besides the
// Snapshot and the parsed files. Read-only; the only program run is iptables-save (argv, no
// shell, and only on the real root).

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "detect/host.hpp"
#include "detect/ipsec_conf.hpp"
#include "stackmgr/doctor/model.hpp"

namespace stackmgr::doctor {

// The keying daemon's state, from pid files until the supervisor's control socket answers:
// `supervisor_pid_file` (stackmgr's, a host path) naming a live "stackmgr" process, else
// Pluto's own pid files (/run/pluto/pluto.pid, /var/run/pluto.pid) naming a live "pluto".
// Liveness is <root>/proc/<pid>/comm, so fixture roots work.
DaemonStatus daemon_status_from_pid_files(const detect::HostRoot& root,
                                          const std::filesystem::path& supervisor_pid_file);

// Identifies the daemon from the text of FreeS/WAN's `ipsec` command script (never run):
// the product it names and its IPSEC_VERSION. `source` is recorded as where it came from.
DaemonTraits classify_ipsec_script(std::string_view text, std::string source);

// classify_ipsec_script() of the first of /usr/local/sbin/ipsec, /usr/sbin/ipsec, /sbin/ipsec
// under `root`; unknown traits (and the paths tried) when there is none.
DaemonTraits identify_daemon(const detect::HostRoot& root);

// The _updown scripts the conns use: each leftupdown=/rightupdown= command's program, and the
// default ones (_updown, _updown.netkey, _updown.xfrm in /usr/local/lib/ipsec, /usr/lib/ipsec,
// /usr/libexec/ipsec) that exist. A configured script that is missing is `failed`.
std::vector<TextSource> read_updown_scripts(const detect::HostRoot& root, const detect::IpsecConf& conf);

// The firewall rules: iptables-save and ip6tables-save output when `root` is the real root and
// the binary exists; `skipped` (saying why) otherwise. `rules_file`, when not empty, replaces
// them with a saved ruleset read from that file (a real path, not under the root).
std::vector<TextSource> read_firewall_rules(const detect::HostRoot& root,
                                            const std::filesystem::path& rules_file);

}  // namespace stackmgr::doctor
