#pragma once
// The module subsystem's facts: support, modules_disabled, CAP_SYS_MODULE, release, directory.

#include <string>

#include "detect/host.hpp"
#include "detect/snapshot.hpp"

namespace detect {

struct KernelRelease {
  std::string release;  // "6.1.0-56-amd64"; empty when it could not be found
  std::string note;     // where it came from when not <root>/proc/sys/kernel/osrelease
};

// The running kernel's release from <root>/proc/sys/kernel/osrelease, else uname(). A value
// that is not a safe single path component (it is used in paths) is rejected with a note.
KernelRelease read_kernel_release(const HostRoot& root);

// <root>/lib/modules/<release>, else <root>/usr/lib/modules/<release> when only that exists.
// The first is returned when neither exists (the caller reports it as missing).
std::filesystem::path modules_dir_for(const HostRoot& root, const std::string& release);

// True when /proc looks mounted under the root (proc/sys or proc/self exists), so that a
// missing /proc file is evidence and not just an unmounted /proc.
bool proc_mounted(const HostRoot& root);

// Bit `capability` of a "CapEff:"-style hex mask line in /proc/<pid>/status text.
Fact capability_in(std::string_view status_text, std::string_view field, int capability);

// Reads every ModuleSubsystem fact; facts it cannot read are Fact::unknown with a note.
ModuleSubsystem read_subsystem(const HostRoot& root);

}  // namespace detect
