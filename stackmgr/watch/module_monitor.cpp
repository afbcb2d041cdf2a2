#include "stackmgr/watch/module_monitor.hpp"

#include <libudev.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace stackmgr::watch {
namespace {

constexpr int kReceiveBuffer = 1024 * 1024;     // a burst of uevents must not overflow it
constexpr std::size_t kMaxEventsPerRead = 256;  // then let the loop serve other fds

struct UdevUnref {
  void operator()(udev* handle) const { udev_unref(handle); }
  void operator()(udev_monitor* handle) const { udev_monitor_unref(handle); }
  void operator()(udev_device* handle) const { udev_device_unref(handle); }
};

WatchAction action_of(const char* action) {
  if (action == nullptr) return WatchAction::other;
  const std::string_view text(action);
  if (text == "add") return WatchAction::add;
  if (text == "remove") return WatchAction::remove;
  return WatchAction::other;
}

class UdevModuleMonitor final : public ModuleMonitor {
 public:
  UdevModuleMonitor(std::unique_ptr<udev, UdevUnref> context,
                    std::unique_ptr<udev_monitor, UdevUnref> monitor)
      : context_(std::move(context)), monitor_(std::move(monitor)) {}

  [[nodiscard]] int fd() const override { return udev_monitor_get_fd(monitor_.get()); }

  std::vector<WatchEvent> receive() override {
    std::vector<WatchEvent> events;
    while (events.size() < kMaxEventsPerRead) {
      const std::unique_ptr<udev_device, UdevUnref> device(udev_monitor_receive_device(monitor_.get()));
      if (!device) break;  // EAGAIN (nothing left) or a message libudev dropped
      const char* subsystem = udev_device_get_subsystem(device.get());
      const char* name = udev_device_get_sysname(device.get());
      if (subsystem == nullptr || name == nullptr) continue;
      WatchEvent event;
      if (std::strcmp(subsystem, "module") == 0) {
        event.subsystem = WatchSubsystem::module;
      } else if (std::strcmp(subsystem, "net") == 0) {
        event.subsystem = WatchSubsystem::net;
      } else {
        continue;
      }
      event.action = action_of(udev_device_get_action(device.get()));
      event.name = name;
      events.push_back(std::move(event));
    }
    return events;
  }

 private:
  std::unique_ptr<udev, UdevUnref> context_;
  std::unique_ptr<udev_monitor, UdevUnref> monitor_;
};

detect::Error udev_error(int rc, const std::string& what) {
  const int code = rc < 0 ? -rc : (errno != 0 ? errno : ENOMEM);
  return detect::error_from_errno(code, what + " (the supervisor cannot watch kernel modules)");
}

}  // namespace

detect::Result<std::unique_ptr<ModuleMonitor>> open_udev_module_monitor() {
  errno = 0;
  std::unique_ptr<udev, UdevUnref> context(udev_new());
  if (!context) return udev_error(0, "starting libudev");
  std::unique_ptr<udev_monitor, UdevUnref> monitor(udev_monitor_new_from_netlink(context.get(), "kernel"));
  if (!monitor) return udev_error(0, "opening the kernel uevent netlink socket");
  for (const char* subsystem : {"module", "net"}) {
    if (const int rc = udev_monitor_filter_add_match_subsystem_devtype(monitor.get(), subsystem, nullptr);
        rc < 0) {
      return udev_error(rc, std::string("filtering uevents on subsystem ") + subsystem);
    }
  }
  // Best effort: the default buffer suffices for a handful of module events.
  static_cast<void>(udev_monitor_set_receive_buffer_size(monitor.get(), kReceiveBuffer));
  if (const int rc = udev_monitor_enable_receiving(monitor.get()); rc < 0) {
    return udev_error(rc, "binding the kernel uevent netlink socket");
  }
  return std::unique_ptr<ModuleMonitor>(new UdevModuleMonitor(std::move(context), std::move(monitor)));
}

}  // namespace stackmgr::watch
