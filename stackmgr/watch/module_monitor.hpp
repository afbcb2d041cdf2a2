#pragma once
// Kernel module and net device uevents as a file descriptor for the event loop. The
// libudev monitor listens to the "kernel" netlink source (without udevd the "udev" source
// carries no module events: REFERENCE.md section 3), filtered on subsystems "module" and "net".

#include <memory>
#include <vector>

#include "detect/error.hpp"
#include "stackmgr/watch/reaction.hpp"

namespace stackmgr::watch {

// A source of WatchEvents behind a pollable fd (libudev in production, a fake in tests).
class ModuleMonitor {
 public:
  virtual ~ModuleMonitor() = default;
  // Readable (EPOLLIN) when events are pending. Owned by the monitor.
  [[nodiscard]] virtual int fd() const = 0;
  // Every pending event, without blocking; empty when none.
  virtual std::vector<WatchEvent> receive() = 0;
};

// The libudev monitor on the "kernel" source, receiving. Fails with errno and what failed.
detect::Result<std::unique_ptr<ModuleMonitor>> open_udev_module_monitor();

}  // namespace stackmgr::watch
