#pragma once
// Where detection reads the host from. Production uses "/"; tests point it at a fixture tree.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"

namespace detect {

class HostRoot {
 public:
  explicit HostRoot(std::filesystem::path root = "/") : root_(std::move(root)) {}

  // `relative` (e.g. "proc/modules") under the root.
  [[nodiscard]] std::filesystem::path path(std::string_view relative) const { return root_ / relative; }
  [[nodiscard]] const std::filesystem::path& root() const { return root_; }
  // True when the root is this process's "/" itself, compared by device and inode ("/.", a
  // symlink to "/" and "/" all are); false for any other tree or a root that does not exist.
  [[nodiscard]] bool is_real_root() const;

  // The whole file, or an Error carrying errno (ENOENT, EACCES...). Reads at most `limit` bytes.
  [[nodiscard]] Result<std::string> read(std::string_view relative, std::size_t limit = 1 << 20) const;
  // True when the path exists (lstat succeeds).
  [[nodiscard]] bool exists(std::string_view relative) const;

 private:
  std::filesystem::path root_;
};

// stackmgr's autoload guard: a runtime modprobe.d file that kmod reads (relative to the root).
inline constexpr std::string_view kGuardFile = "run/modprobe.d/stackmgr-guard.conf";

// Lists network interfaces. The real one enumerates libudev's "net" subsystem.
class NetDeviceSource {
 public:
  virtual ~NetDeviceSource() = default;
  [[nodiscard]] virtual Result<std::vector<std::string>> interfaces() const = 0;
};

// libudev enumeration of subsystem "net" (works without udevd).
class UdevNetDevices final : public NetDeviceSource {
 public:
  [[nodiscard]] Result<std::vector<std::string>> interfaces() const override;
};

// Lists <root>/sys/class/net: for fixture roots, where libudev cannot be pointed.
class SysfsNetDevices final : public NetDeviceSource {
 public:
  explicit SysfsNetDevices(HostRoot root) : root_(std::move(root)) {}
  [[nodiscard]] Result<std::vector<std::string>> interfaces() const override;

 private:
  HostRoot root_;
};

}  // namespace detect
