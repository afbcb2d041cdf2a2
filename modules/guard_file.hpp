#pragma once
// The autoload guard: while KLIPS is chosen, nothing may pull a native module in (opening a
// PF_KEY socket autoloads af_key through the net-pf-15 alias). The guard is a runtime
// modprobe.d file, <root>/run/modprobe.d/stackmgr-guard.conf (detect::kGuardFile), with an
// `install <module> /bin/false` line per native module; kmod reads /run/modprobe.d.

#include <string>
#include <vector>

#include "detect/catalog.hpp"
#include "detect/error.hpp"
#include "detect/host.hpp"

namespace modules {

// The executor's view of the guard, so tests can inject failures.
class AutoloadGuard {
 public:
  virtual ~AutoloadGuard() = default;
  // Installs (or rewrites) the guard. Idempotent.
  virtual detect::Status set() = 0;
  // Removes the guard. Idempotent: no guard is success.
  virtual detect::Status clear() = 0;
  // True when the guard is installed.
  [[nodiscard]] virtual bool is_set() const = 0;
};

class GuardFile final : public AutoloadGuard {
 public:
  // Guards `modules` (validated names; invalid ones are left out) under `root`.
  GuardFile(detect::HostRoot root, std::vector<std::string> modules);
  // Guards every native module of `catalog`.
  static GuardFile for_catalog(detect::HostRoot root, const detect::Catalog& catalog);

  // Writes the file atomically (temporary file, fsync, rename, fsync of the directory),
  // creating <root>/run/modprobe.d (0755) when missing. Mode 0644: modprobe runs as any user.
  detect::Status set() override;
  detect::Status clear() override;
  [[nodiscard]] bool is_set() const override;

  // The file's text: a header saying who wrote it and why, then the install lines.
  [[nodiscard]] std::string content() const;
  [[nodiscard]] std::string path() const;

 private:
  detect::HostRoot root_;
  std::vector<std::string> modules_;
};

}  // namespace modules
