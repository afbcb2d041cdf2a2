#pragma once
// The real ModuleBackend: libkmod for the module index, insert and remove; /proc/modules for
// what the kernel has loaded. The one place where module errno values become detect::Error.

#include <memory>
#include <string>
#include <vector>

#include "detect/host.hpp"
#include "modules/module_backend.hpp"

struct kmod_ctx;

namespace modules {

class KmodBackend final : public ModuleBackend {
 public:
  // Opens libkmod on <root>/lib/modules/<release> (or <root>/usr/lib/modules/<release>) with
  // kmod's default modprobe.d for "/" and the root's own modprobe.d directories otherwise.
  // Never fails: without a usable index, lookup() reports DiskState::unknown and says why.
  KmodBackend(detect::HostRoot root, std::string release);
  ~KmodBackend() override;
  KmodBackend(const KmodBackend&) = delete;
  KmodBackend& operator=(const KmodBackend&) = delete;

  // Parses <root>/proc/modules once (state, refcnt and holders of every module, as lsmod
  // does). ENOENT: the kernel has no module support. EBADMSG: a malformed line.
  [[nodiscard]] detect::Result<std::vector<detect::LoadedModule>> loaded_modules() const override;

  // By module name only (modules.dep, then modules.builtin; never modprobe.d aliases): path,
  // built in, blacklisted, install command and dependencies in load order. EINVAL for an
  // invalid name.
  [[nodiscard]] detect::Result<detect::ModuleLookup> lookup(std::string_view name) const override;

  // Loads `name` and its dependencies. Never runs modprobe.d install commands: a dependency
  // that has one fails with EPERM. A blacklisted module fails with EPERM. The init's own
  // -EEXIST (a second PF_KEY provider) is an error here, not kmod's silent success.
  detect::Status insert(std::string_view name) override;

  // Unloads `name` only, without waiting. EAGAIN/EBUSY: in use; ENOENT: not loaded.
  detect::Status remove(std::string_view name) override;

  // Reopens libkmod when its configuration (modprobe.d) or the module index changed since it
  // was read, so a long-running supervisor sees a blacklist added after it started.
  void refresh();

  // Why lookups cannot trust the index ("" when they can), for notes and messages.
  [[nodiscard]] const std::string& index_problem() const { return index_problem_; }
  // The modules directory libkmod reads.
  [[nodiscard]] const std::string& modules_dir() const { return modules_dir_; }

 private:
  struct KmodUnref {
    void operator()(kmod_ctx* ctx) const;
  };
  void open_context();

  detect::HostRoot root_;
  std::string release_;
  std::string modules_dir_;
  std::string index_problem_;         // no index at all: every lookup is unknown
  bool not_found_is_absent_ = false;  // modules.dep.bin and modules.builtin.bin are both readable
  std::vector<std::string> config_dirs_;
  std::unique_ptr<kmod_ctx, KmodUnref> ctx_;
};

}  // namespace modules
