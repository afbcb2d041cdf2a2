#pragma once
// A fake kernel for unit tests: a ModuleBackend that models PF_KEY ownership, dependencies,
// refcounts, built-ins, the blacklist, and injected errors per module (as kmod's testsuite
// injects init_module return codes). An unsafe insert is recorded as a "kernel crash".

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "modules/module_backend.hpp"

namespace fake {

class FakeKernel final : public modules::ModuleBackend {
 public:
  explicit FakeKernel(detect::Catalog catalog = detect::Catalog::defaults());

  // Builds a fake kernel from a fixture root: proc/sys/kernel/osrelease, proc/modules,
  // lib/modules/<release>/modules.dep and modules.builtin, etc/ and run/modprobe.d/*.conf.
  static FakeKernel from_fixture(const detect::HostRoot& root,
                                 detect::Catalog catalog = detect::Catalog::defaults());

  // --- setting up the world ---
  void add_module(const std::string& name, detect::DiskState disk, std::vector<std::string> deps = {});
  void set_loaded(const std::string& name, detect::InitState state = detect::InitState::live);
  void set_blacklisted(const std::string& name, bool blacklisted = true);
  void set_module_support(bool supported) { module_support_ = supported; }
  void set_index_readable(bool readable) { index_readable_ = readable; }
  // loaded_modules() fails with `errnum` (EACCES: /proc/modules unreadable) while the kernel
  // itself keeps working; 0 clears it.
  void fail_loaded_modules(int errnum) { loaded_errno_ = errnum; }
  // A user-space reference (an open PF_KEY socket, say): remove() fails with EAGAIN while held.
  void hold(const std::string& name);
  void release(const std::string& name);

  // --- fault injection ---
  void fail_insert(const std::string& name, int errnum);  // insert returns -errnum
  void fail_remove(const std::string& name, int errnum);  // remove returns -errnum
  void fail_insert_silently(const std::string& name);     // insert "succeeds", nothing loads
  void stay_coming(const std::string& name, int polls);   // live only after `polls` reads
  void stay_going(const std::string& name, int polls);    // gone only after `polls` reads
  void clear_faults();

  // --- observing ---
  [[nodiscard]] bool crashed() const { return !crash_reason_.empty(); }
  [[nodiscard]] const std::string& crash_reason() const { return crash_reason_; }
  [[nodiscard]] bool is_loaded(const std::string& name) const;
  [[nodiscard]] std::set<std::string> loaded_names() const;
  [[nodiscard]] int insert_calls() const { return insert_calls_; }
  [[nodiscard]] int remove_calls() const { return remove_calls_; }
  [[nodiscard]] const std::vector<std::string>& call_log() const { return call_log_; }

  // --- modules::ModuleBackend ---
  [[nodiscard]] detect::Result<std::vector<detect::LoadedModule>> loaded_modules() const override;
  [[nodiscard]] detect::Result<detect::ModuleLookup> lookup(std::string_view name) const override;
  detect::Status insert(std::string_view name) override;
  detect::Status remove(std::string_view name) override;

 private:
  struct Module {
    detect::DiskState disk = detect::DiskState::absent;
    std::vector<std::string> deps;
    bool blacklisted = false;
    std::string install_command;
    bool loaded = false;
    detect::InitState state = detect::InitState::live;
    int user_refs = 0;
    int insert_errno = 0;
    int remove_errno = 0;
    bool silent_failure = false;
    int coming_polls = 0;
    int going_polls = 0;
  };

  detect::Status insert_one(const std::string& name, int depth);
  [[nodiscard]] std::vector<std::string> holders_of(const std::string& name) const;
  [[nodiscard]] bool in_stack(const std::string& name, detect::Stack stack) const;
  [[nodiscard]] std::optional<std::string> loaded_member_of(detect::Stack stack) const;
  void advance_transitions() const;
  Module& module(const std::string& name);

  detect::Catalog catalog_;
  mutable std::map<std::string, Module> modules_;
  bool module_support_ = true;
  bool index_readable_ = true;
  int loaded_errno_ = 0;
  std::string loaded_problem_;  // from_fixture: why proc/modules did not parse (EBADMSG)
  std::string crash_reason_;
  int insert_calls_ = 0;
  int remove_calls_ = 0;
  std::vector<std::string> call_log_;
};

}  // namespace fake
