#include "modules/kmod_backend.hpp"

#include <libkmod.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "detect/catalog.hpp"
#include "detect/proc_modules.hpp"
#include "detect/subsystem.hpp"

namespace modules {
namespace {

using detect::DiskState;
using detect::Error;
using detect::error_from_errno;

struct ModuleUnref {
  void operator()(kmod_module* module) const { kmod_module_unref(module); }
};
using ModulePtr = std::unique_ptr<kmod_module, ModuleUnref>;

struct ListUnref {
  void operator()(kmod_list* list) const { kmod_module_unref_list(list); }
};
using ListPtr = std::unique_ptr<kmod_list, ListUnref>;

void log_to_spdlog(void* /*data*/, int priority, const char* file, int line, const char* function,
                   const char* format, va_list args) {
  char message[1024];
  if (std::vsnprintf(message, sizeof message, format, args) < 0) return;
  std::string text(message);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  spdlog::debug("libkmod[{}] {}:{} {}: {}", priority, file != nullptr ? file : "?", line,
                function != nullptr ? function : "?", text);
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

std::vector<std::string> names_of(kmod_list* list) {
  std::vector<std::string> names;
  kmod_list* entry = nullptr;
  kmod_list_foreach(entry, list) {
    const ModulePtr module(kmod_module_get_module(entry));
    names.emplace_back(kmod_module_get_name(module.get()));
  }
  return names;
}

// Whether the config blacklists `name`: kmod's own filter over the name's lookup list, or the
// config's blacklist entries when a modprobe.d alias redirects the name elsewhere.
bool is_blacklisted(kmod_ctx* ctx, const std::string& name) {
  kmod_list* raw = nullptr;
  if (kmod_module_new_from_lookup(ctx, name.c_str(), &raw) == 0 && raw != nullptr) {
    const ListPtr list(raw);
    const std::vector<std::string> found = names_of(list.get());
    if (std::find(found.begin(), found.end(), name) != found.end()) {
      kmod_list* filtered_raw = nullptr;
      if (kmod_module_apply_filter(ctx, KMOD_FILTER_BLACKLIST, list.get(), &filtered_raw) == 0) {
        const ListPtr filtered(filtered_raw);
        const std::vector<std::string> kept = names_of(filtered.get());
        return std::find(kept.begin(), kept.end(), name) == kept.end();
      }
    }
  }
  kmod_config_iter* iter = kmod_config_get_blacklists(ctx);
  bool listed = false;
  while (iter != nullptr && kmod_config_iter_next(iter)) {
    if (detect::normal_module_name(kmod_config_iter_get_key(iter)) == name) listed = true;
  }
  kmod_config_iter_free_iter(iter);
  return listed;
}

// kmod calls this for a dependency's modprobe.d install command; running it would mean a shell.
int refuse_install_command(kmod_module* module, const char* command, void* data) {
  auto* refused = static_cast<std::string*>(data);
  *refused = std::string(kmod_module_get_name(module)) + " (install " + command + ")";
  return -EPERM;
}

bool in_kernel(const kmod_module* module) {
  const int state = kmod_module_get_initstate(module);
  return state == KMOD_MODULE_LIVE || state == KMOD_MODULE_COMING || state == KMOD_MODULE_BUILTIN;
}

}  // namespace

void KmodBackend::KmodUnref::operator()(kmod_ctx* ctx) const { kmod_unref(ctx); }

KmodBackend::KmodBackend(detect::HostRoot root, std::string release)
    : root_(std::move(root)), release_(std::move(release)) {
  if (release_.empty()) {
    index_problem_ = "the kernel release is unknown, so is its module directory";
    return;
  }
  modules_dir_ = detect::modules_dir_for(root_, release_).string();
  if (!is_directory(modules_dir_)) {
    index_problem_ = "no module index for kernel " + release_ + " (" + modules_dir_ + " is missing)";
    return;
  }
  if (!readable(modules_dir_ + "/modules.dep.bin")) {
    index_problem_ = modules_dir_ + "/modules.dep.bin is missing or unreadable (run depmod " + release_ + ")";
    return;
  }
  not_found_is_absent_ = readable(modules_dir_ + "/modules.builtin.bin");
  if (!root_.is_real_root()) {
    for (const char* dir : {"etc/modprobe.d", "run/modprobe.d", "usr/local/lib/modprobe.d", "lib/modprobe.d",
                            "usr/lib/modprobe.d"}) {
      config_dirs_.push_back(root_.path(dir).string());
    }
  }
  open_context();
}

void KmodBackend::open_context() {
  std::vector<const char*> config;
  for (const std::string& dir : config_dirs_) config.push_back(dir.c_str());
  if (!config.empty()) config.push_back(nullptr);
  ctx_.reset(kmod_new(modules_dir_.c_str(), config.empty() ? nullptr : config.data()));
  if (!ctx_) {
    index_problem_ = "libkmod could not open " + modules_dir_;
    return;
  }
  kmod_set_log_fn(ctx_.get(), log_to_spdlog, nullptr);
  kmod_set_log_priority(ctx_.get(), spdlog::should_log(spdlog::level::debug) ? LOG_INFO : LOG_ERR);
  // Map the indexes once, as modprobe does: without it every lookup opens and reads
  // modules.dep.bin (and modules.builtin.bin) again, and a switch looks up the catalog before
  // every insert. When it fails, lookups read the files themselves, as before.
  (void)kmod_load_resources(ctx_.get());
}

void KmodBackend::refresh() {
  if (ctx_ && kmod_validate_resources(ctx_.get()) != KMOD_RESOURCES_OK) open_context();
}

KmodBackend::~KmodBackend() = default;

detect::Result<std::vector<detect::LoadedModule>> KmodBackend::loaded_modules() const {
  // One read of /proc/modules gives state, refcnt and holders for every module at once, as
  // lsmod shows them; libkmod would read three /sys/module files per module instead, and
  // /sys/module cannot be pointed at a root for tests.
  const auto text = root_.read("proc/modules", std::size_t{4} << 20);
  if (!text) return text.error();
  return detect::parse_proc_modules(*text);
}

detect::Result<detect::ModuleLookup> KmodBackend::lookup(std::string_view name_view) const {
  const std::string name(name_view);
  if (!detect::is_valid_module_name(name)) {
    return Error{EINVAL, "looking up module '" + name.substr(0, 64) + "': not a valid module name"};
  }
  detect::ModuleLookup result;
  result.name = detect::normal_module_name(name);
  if (!ctx_) return result;  // DiskState::unknown: index_problem() says why

  kmod_module* raw = nullptr;
  if (const int rc = kmod_module_new_from_name_lookup(ctx_.get(), name.c_str(), &raw); rc < 0) {
    return error_from_errno(rc, "looking up " + name + " in " + modules_dir_);
  }
  if (raw == nullptr) {
    result.disk = not_found_is_absent_ ? DiskState::absent : DiskState::unknown;
    return result;
  }
  const ModulePtr module(raw);
  result.name = kmod_module_get_name(module.get());
  result.blacklisted = is_blacklisted(ctx_.get(), result.name);
  if (const char* install = kmod_module_get_install_commands(module.get())) result.install_command = install;
  if (kmod_module_get_initstate(module.get()) == KMOD_MODULE_BUILTIN) {
    // kmod 30 answers built in from modules.builtin.bin before it looks at /sys/module.
    result.disk = DiskState::builtin;
    return result;
  }
  const char* path = kmod_module_get_path(module.get());
  if (path == nullptr || !readable(path)) {
    // modules.dep names a file that is gone: a stale index. Nothing can load it.
    result.disk = DiskState::absent;
    return result;
  }
  result.disk = DiskState::available;
  result.path = path;
  const ListPtr dependencies(kmod_module_get_dependencies(module.get()));
  result.dependencies = names_of(dependencies.get());
  return result;
}

detect::Status KmodBackend::insert(std::string_view name_view) {
  const std::string name(name_view);
  if (!detect::is_valid_module_name(name)) {
    return Error{EINVAL, "inserting module '" + name.substr(0, 64) + "': not a valid module name"};
  }
  if (!ctx_) return Error{ENOENT, "inserting " + name + ": " + index_problem_};
  kmod_module* raw = nullptr;
  if (const int rc = kmod_module_new_from_name_lookup(ctx_.get(), name.c_str(), &raw); rc < 0) {
    return error_from_errno(rc, "inserting " + name + ": looking it up in " + modules_dir_);
  }
  if (raw == nullptr) {
    return Error{ENOENT,
                 "inserting " + name + ": no such module in " + modules_dir_ + " for kernel " + release_};
  }
  const ModulePtr module(raw);
  std::string refused;
  // IGNORE_COMMAND skips the module's own install command; the callback refuses its
  // dependencies' (kmod would otherwise run them with system(3)). FAIL_ON_LOADED makes the
  // module's own -EEXIST visible instead of kmod's silent 0.
  const unsigned flags = KMOD_PROBE_IGNORE_COMMAND | KMOD_PROBE_APPLY_BLACKLIST | KMOD_PROBE_FAIL_ON_LOADED;
  const int rc = kmod_module_probe_insert_module(module.get(), flags, nullptr, refuse_install_command,
                                                 &refused, nullptr);
  if (rc == 0) return {};
  if (rc == KMOD_PROBE_APPLY_BLACKLIST) {
    return Error{EPERM, "inserting " + name +
                            ": it is blacklisted in modprobe.d; stackmgr does not load "
                            "blacklisted modules (remove the 'blacklist " +
                            name + "' line to allow it)"};
  }
  if (rc > 0)
    return Error{EPERM, "inserting " + name + ": refused by libkmod (probe flag " + std::to_string(rc) + ")"};
  if (rc == -EEXIST && in_kernel(module.get())) return {};  // already live or built in
  if (rc == -EEXIST) {
    return error_from_errno(rc, "inserting " + name +
                                    ": its init refused to start (another PF_KEY provider or "
                                    "protocol handler is loaded?)");
  }
  if (!refused.empty()) {
    return error_from_errno(rc, "inserting " + name + ": dependency " + refused +
                                    " has a modprobe.d install command, and stackmgr never runs those");
  }
  return error_from_errno(rc, "inserting " + name);
}

detect::Status KmodBackend::remove(std::string_view name_view) {
  const std::string name(name_view);
  if (!detect::is_valid_module_name(name)) {
    return Error{EINVAL, "removing module '" + name.substr(0, 64) + "': not a valid module name"};
  }
  kmod_ctx* ctx = ctx_.get();
  std::unique_ptr<kmod_ctx, KmodUnref> fallback;
  if (ctx == nullptr) {
    // Removing needs no index: a bare context is enough for delete_module(2).
    fallback.reset(kmod_new(nullptr, nullptr));
    ctx = fallback.get();
    if (ctx == nullptr) return Error{ENOMEM, "removing " + name + ": libkmod could not start"};
  }
  kmod_module* raw = nullptr;
  if (const int rc = kmod_module_new_from_name(ctx, name.c_str(), &raw); rc < 0) {
    return error_from_errno(rc, "removing " + name);
  }
  const ModulePtr module(raw);
  const int rc = kmod_module_remove_module(module.get(), 0);
  if (rc == 0) return {};
  if (rc == -EAGAIN || rc == -EBUSY) {
    return error_from_errno(rc, "removing " + name + ": it is in use (holders or open sockets)");
  }
  if (rc == -ENOENT) return error_from_errno(rc, "removing " + name + ": it is not loaded");
  return error_from_errno(rc, "removing " + name);
}

}  // namespace modules
