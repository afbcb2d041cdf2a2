#pragma once
// Who keeps a module busy from user space: for af_key, the processes with a PF_KEY socket
// open. The executor names them in "busy" failures; the qemu suite drives the real one.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "detect/host.hpp"

namespace modules {

struct ProcessHolder {
  pid_t pid = 0;
  std::string command;  // /proc/<pid>/comm, empty when unreadable
  std::string what;     // "a PF_KEY socket"
};

class ProcessHolderLookup {
 public:
  virtual ~ProcessHolderLookup() = default;
  // Processes holding `module` in use, as far as they can be found; empty when none can be.
  [[nodiscard]] virtual std::vector<ProcessHolder> holders_of(std::string_view module) const = 0;
};

// Reads <root>/proc: for af_key, the socket inodes in /proc/net/pfkey, matched against the
// "socket:[inode]" links in /proc/<pid>/fd. Other modules have no known user-space handle.
class ProcHolderLookup final : public ProcessHolderLookup {
 public:
  explicit ProcHolderLookup(detect::HostRoot root) : root_(std::move(root)) {}
  [[nodiscard]] std::vector<ProcessHolder> holders_of(std::string_view module) const override;

 private:
  detect::HostRoot root_;
};

// The socket inodes listed in /proc/net/pfkey text (header "sk RefCnt Rmem Wmem User Inode",
// then one socket per line, inode last). Malformed lines are skipped.
std::vector<unsigned long> parse_pfkey_inodes(std::string_view text);

// "pid 345 (pluto), pid 400 (setkey) through a PF_KEY socket"; "" for none.
std::string describe_holders(const std::vector<ProcessHolder>& holders);

}  // namespace modules
