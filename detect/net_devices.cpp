// The two NetDeviceSource implementations declared in detect/host.hpp.
#include <libudev.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "detect/host.hpp"

namespace detect {
namespace {

struct UdevDeleter {
  void operator()(udev* handle) const { udev_unref(handle); }
  void operator()(udev_enumerate* handle) const { udev_enumerate_unref(handle); }
};

}  // namespace

Result<std::vector<std::string>> UdevNetDevices::interfaces() const {
  // libudev reads /sys directly: this works without udevd (REFERENCE.md section 3).
  const std::unique_ptr<udev, UdevDeleter> context(udev_new());
  if (!context)
    return error_from_errno(errno ? errno : ENOMEM, "starting libudev to list network interfaces");
  const std::unique_ptr<udev_enumerate, UdevDeleter> enumerate(udev_enumerate_new(context.get()));
  if (!enumerate)
    return error_from_errno(errno ? errno : ENOMEM, "enumerating network interfaces with libudev");
  if (const int rc = udev_enumerate_add_match_subsystem(enumerate.get(), "net"); rc < 0) {
    return error_from_errno(rc, "enumerating network interfaces with libudev");
  }
  if (const int rc = udev_enumerate_scan_devices(enumerate.get()); rc < 0) {
    return error_from_errno(rc, "scanning /sys/class/net with libudev");
  }
  std::vector<std::string> names;
  for (udev_list_entry* entry = udev_enumerate_get_list_entry(enumerate.get()); entry != nullptr;
       entry = udev_list_entry_get_next(entry)) {
    // The syspath's last component is the interface name (/sys/devices/virtual/net/ipsec0).
    const std::string syspath = udev_list_entry_get_name(entry);
    names.push_back(syspath.substr(syspath.find_last_of('/') + 1));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<std::string>> SysfsNetDevices::interfaces() const {
  const std::filesystem::path dir = root_.path("sys/class/net");
  std::error_code error;
  std::filesystem::directory_iterator entries(dir, error);
  if (error) return error_from_errno(error.value(), "listing " + dir.string());
  std::vector<std::string> names;
  for (auto it = std::filesystem::begin(entries); it != std::filesystem::end(entries); it.increment(error)) {
    if (error) return error_from_errno(error.value(), "listing " + dir.string());
    names.push_back(it->path().filename().string());
  }
  if (error) return error_from_errno(error.value(), "listing " + dir.string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace detect
