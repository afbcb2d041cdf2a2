#include "stackmgr/hook/hook.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/base/strings.hpp"
#include "stackmgr/os/private_directory.hpp"

namespace stackmgr::hook {
namespace {

constexpr std::string_view kPrefix = "stackmgr: ";
constexpr std::string_view kWarning = "stackmgr: WARNING: ";

std::string config_path_of(const config::Config& config) {
  return config.source.empty() ? std::string(config::kDefaultConfigFile) : config.source.string();
}

std::string_view action_of(const std::vector<std::string>& args) {
  return args.empty() ? std::string_view{} : std::string_view{args.front()};
}

bool has_marker(const config::PathsConfig& paths) {
  std::error_code ignored;
  return std::filesystem::exists(package_stopped_marker(paths), ignored);
}

void remove_marker(const config::PathsConfig& paths) {
  std::error_code ignored;
  std::filesystem::remove(package_stopped_marker(paths), ignored);
}

// Leaves the marker that postinst abort-remove reads. Best effort: without it an aborted
// removal leaves the supervisor stopped, which the message below tells the admin.
void write_marker(const HookRun& run, const config::PathsConfig& paths) {
  const auto marker = package_stopped_marker(paths);
  const detect::Status own = os::prepare_private_directory(paths.run_dir, "paths.run_dir");
  const int fd =
      own ? ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
  if (fd < 0) {
    run.out << kPrefix << "could not write " << marker.string() << " ("
            << (own ? std::generic_category().message(errno) : own.error().describe())
            << "); if the removal is aborted, start stackmgr again yourself\n";
    return;
  }
  constexpr std::string_view kContent =
      "stopped by the package's prerm; postinst abort-remove starts it again\n";
  [[maybe_unused]] const auto written = ::write(fd, kContent.data(), kContent.size());
  ::close(fd);
}

// Runs `invoke-rc.d stackmgr ACTION` and says what came of it. Returns the exit code for the
// hook: ok, or daemon_failed when the init system reported a failure.
int invoke_and_report(const HookRun& run, std::string_view action, std::string_view done) {
  const int status = run.host.invoke_rc(action);
  if (status == 0) {
    run.out << kPrefix << done << "\n";
    return code(base::Exit::ok);
  }
  if (status == kInvokeRcdForbidden) {
    run.out << kPrefix << "the local policy (policy-rc.d) forbids '" << action
            << "' for stackmgr now, so nothing was done; run 'invoke-rc.d stackmgr " << action
            << "' when it is allowed\n";
    return code(base::Exit::ok);
  }
  run.out << kWarning << "'invoke-rc.d stackmgr " << action << "' failed with exit status " << status
          << "; see 'stackmgr status' and the system log, fix the cause, then run 'invoke-rc.d stackmgr "
          << action << "'\n";
  return code(base::Exit::daemon_failed);
}

std::vector<std::string> loaded_of(const detect::Snapshot& snapshot, detect::Stack stack) {
  std::vector<std::string> names;
  for (const auto& module : snapshot.modules) {
    if (module.spec.stack == stack && detect::is_loaded(module.state)) names.push_back(module.spec.name);
  }
  return names;
}

// Tells the admin what stays in the kernel once stackmgr is gone: it unloads nothing.
void report_modules_left(const HookRun& run, const detect::Snapshot& snapshot) {
  if (snapshot.subsystem.supported == detect::Fact::no) {
    run.out << kPrefix << "this kernel has no loadable module support; there is nothing to unload\n";
    return;
  }
  const auto native = loaded_of(snapshot, detect::Stack::native);
  const auto klips = loaded_of(snapshot, detect::Stack::klips);
  if (native.empty() && klips.empty()) {
    run.out << kPrefix << "no IPsec stack modules are loaded; nothing is left in the kernel\n";
  } else {
    run.out << kPrefix
            << "the kernel's IPsec modules are left as they are; removing stackmgr unloads nothing\n";
  }
  if (!native.empty()) {
    run.out << kPrefix << "native stack loaded: " << base::join(native, ", ")
            << "; it stays until reboot, or unload it with 'modprobe -r " << base::join(native, " ")
            << "' once nothing uses it\n";
  }
  if (!klips.empty()) {
    run.out << kPrefix << "KLIPS loaded: " << base::join(klips, ", ")
            << "; it stays until reboot (reboot rather than rmmod: unloading KLIPS has crashed kernels)\n";
  }
  if (snapshot.markers.guard_installed) {
    run.out << kPrefix << "the autoload guard /" << detect::kGuardFile
            << " stays too: it keeps the native modules from being autoloaded over KLIPS, until reboot\n";
  }
}

std::string describe_state(const detect::Snapshot& snapshot) {
  std::string text(detect::to_string(snapshot.overall));
  if (!snapshot.reasons.empty()) text += " (" + base::join(snapshot.reasons, "; ") + ")";
  return text;
}

int postinst_configure(const HookRun& run, const std::vector<std::string>& args) {
  auto loaded = run.host.load_config();
  if (!loaded) {
    remove_marker(config::default_config().paths);
    run.out << kWarning << "the configuration is not valid: " << loaded.error().describe() << "\n"
            << kWarning << "stackmgr will refuse to start until it is fixed ('stackmgr doctor' checks it);"
            << " a running supervisor was left as it is\n";
    return code(base::Exit::ok);
  }
  const config::Config& config = loaded.value();
  remove_marker(config.paths);
  const bool fresh_install = args.size() < 2 || args[1].empty();

  switch (run.host.supervisor_state(config)) {
    case SupervisorState::stopped:
      if (fresh_install) {
        run.out << kPrefix
                << "installed and enabled at boot, but not started now: starting loads kernel modules"
                << " and the keying daemon. Review " << config_path_of(config)
                << ", then run 'invoke-rc.d stackmgr start' (or 'systemctl start stackmgr')\n";
      } else {
        run.out << kPrefix << "the supervisor was not running; it stays stopped\n";
      }
      return code(base::Exit::ok);
    case SupervisorState::unknown:
      run.out << kPrefix << "cannot tell whether the supervisor is running, so it was not restarted;"
              << " run 'invoke-rc.d stackmgr restart' to run the new version\n";
      return code(base::Exit::ok);
    case SupervisorState::running: break;
  }
  if (run.services == ServiceActions::skipped_for_dpkg_root) {
    run.out << kPrefix << "DPKG_ROOT is set: not restarting the supervisor of another root\n";
    return code(base::Exit::ok);
  }

  const auto snapshot = run.host.detect_running_kernel(config);
  const auto active = snapshot.active_stack();
  if (!active) {
    run.out << kPrefix << "not restarting the supervisor: the kernel's IPsec state is "
            << describe_state(snapshot)
            << ", and a restart could change it. The supervisor keeps running the old version; run 'stackmgr "
               "doctor', then 'invoke-rc.d stackmgr restart'\n";
    return code(base::Exit::ok);
  }
  const auto choice = run.host.start_choice(config, snapshot);
  if (!choice.stack) {
    run.out << kPrefix << "not restarting the supervisor: a restart would not know which stack to take ("
            << choice.source << "). It keeps running the old version; fix that, then run 'invoke-rc.d "
            << "stackmgr restart'\n";
    return code(base::Exit::ok);
  }
  if (*choice.stack != *active) {
    const auto from = detect::to_string(*active);
    const auto to = detect::to_string(*choice.stack);
    run.out << kPrefix << "not restarting the supervisor: it runs on the " << from
            << " stack, and a restart would make ready " << choice.source
            << ", dropping every tunnel. It keeps running the old version until you decide: 'stackmgr switch "
            << to << "' to switch now, or make " << from
            << " the choice again and run 'invoke-rc.d stackmgr restart'\n";
    return code(base::Exit::ok);
  }
  const std::string stack(detect::to_string(*active));
  run.out << kPrefix << "restarting the supervisor to run the new version; it stays on the " << stack
          << " stack\n";
  return invoke_and_report(run, "restart", "restarted on the " + stack + " stack");
}

// dpkg undoes a prerm remove/deconfigure: start again only what that prerm stopped.
int postinst_abort_remove(const HookRun& run) {
  auto loaded = run.host.load_config();
  const config::PathsConfig paths = loaded ? loaded.value().paths : config::default_config().paths;
  if (!has_marker(paths)) return code(base::Exit::ok);
  remove_marker(paths);
  if (run.services == ServiceActions::skipped_for_dpkg_root) return code(base::Exit::ok);
  run.out << kPrefix << "the removal was aborted: starting the supervisor that prerm stopped\n";
  return invoke_and_report(run, "start", "started again");
}

int prerm_remove(const HookRun& run) {
  auto loaded = run.host.load_config();
  if (!loaded) {
    run.out << kWarning << "the configuration is not valid (" << loaded.error().describe()
            << "); using the default paths\n";
  }
  const config::Config config = loaded ? loaded.value() : config::default_config();
  int result = code(base::Exit::ok);
  switch (run.host.supervisor_state(config)) {
    case SupervisorState::running:
      if (run.services == ServiceActions::skipped_for_dpkg_root) {
        run.out << kPrefix << "DPKG_ROOT is set: not stopping the supervisor of another root\n";
        break;
      }
      run.out << kPrefix << "stopping the supervisor and its keying daemon: the package is being removed\n";
      result = invoke_and_report(run, "stop", "stopped; the tunnels it carried are down");
      if (result == code(base::Exit::ok) && run.host.supervisor_state(config) == SupervisorState::stopped) {
        write_marker(run, config.paths);
      }
      break;
    case SupervisorState::stopped: run.out << kPrefix << "the supervisor is not running\n"; break;
    case SupervisorState::unknown:
      run.out << kWarning << "cannot tell whether the supervisor is running, so it was not stopped;"
              << " stop it yourself with 'invoke-rc.d stackmgr stop'\n";
      break;
  }
  report_modules_left(run, run.host.detect_running_kernel(config));
  return result;
}

std::string_view disk_word(detect::DiskState disk) {
  switch (disk) {
    case detect::DiskState::available: return "module";
    case detect::DiskState::builtin: return "built in";
    case detect::DiskState::absent: return "missing";
    case detect::DiskState::unknown: break;
  }
  return "unknown";
}

void warn_missing(const HookRun& run, std::string_view release, detect::Stack stack,
                  const std::string& source, const std::vector<std::string>& missing,
                  const std::string& modules_dir) {
  const std::string names = base::join(missing, ", ");
  run.out << kWarning << "kernel " << release << " has no " << names << " for the "
          << detect::to_string(stack) << " stack (neither a module in " << modules_dir
          << "/modules.dep nor built in)\n"
          << kWarning << "after booting kernel " << release << ", stackmgr cannot make the "
          << detect::to_string(stack) << " stack ready and the keying daemon will not start; the choice is "
          << source << "\n";
  if (stack == detect::Stack::klips) {
    run.out << kWarning << "KLIPS is built outside the kernel: rebuild it for " << release
            << " (a DKMS package: 'dkms autoinstall -k " << release
            << "') before rebooting, or switch with 'stackmgr switch native'\n";
  } else {
    run.out
        << kWarning << "the native stack comes with the kernel: check that " << release
        << " has CONFIG_NET_KEY, CONFIG_INET_ESP and CONFIG_INET_AH, or keep booting the current kernel\n";
  }
}

}  // namespace

std::filesystem::path package_stopped_marker(const config::PathsConfig& paths) {
  return paths.run_dir / "stopped-by-package";
}

bool is_valid_kernel_release(std::string_view release) {
  if (release.empty() || release.size() > 64 || release.front() == '.' || release.front() == '-')
    return false;
  return std::all_of(release.begin(), release.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '+' || c == '~' || c == '-';
  });
}

int run_postinst_hook(const HookRun& run, const std::vector<std::string>& args) {
  const auto action = action_of(args);
  if (action == "configure") return postinst_configure(run, args);
  if (action == "abort-remove" || action == "abort-deconfigure") return postinst_abort_remove(run);
  // abort-upgrade: prerm upgrade stopped nothing. Unknown actions: ignored, as policy asks.
  return code(base::Exit::ok);
}

int run_prerm_hook(const HookRun& run, const std::vector<std::string>& args) {
  const auto action = action_of(args);
  if (action == "remove" || action == "deconfigure") return prerm_remove(run);
  // upgrade, failed-upgrade: the supervisor keeps running through the unpack (the old binary
  // stays mapped); the new postinst restarts it if that keeps the stack.
  return code(base::Exit::ok);
}

int run_kernel_installed_hook(const HookRun& run, std::string_view release) {
  if (!is_valid_kernel_release(release)) {
    run.out << kWarning << "not checking kernel '" << release << "': not a kernel release name\n";
    return code(base::Exit::ok);
  }
  auto loaded = run.host.load_config();
  if (!loaded) {
    run.out << kWarning << "cannot check kernel " << release
            << " for IPsec modules: the configuration is not valid: " << loaded.error().describe() << "\n";
    return code(base::Exit::ok);
  }
  const config::Config& config = loaded.value();
  if (config.module_mode == config::ModuleMode::external) {
    run.out << kPrefix << "not checking kernel " << release
            << ": modules are managed outside stackmgr (module_mode = external)\n";
    return code(base::Exit::ok);
  }
  const auto choice = run.host.start_choice(config, run.host.detect_running_kernel(config));
  if (!choice.stack) {
    run.out << kWarning << "not checking kernel " << release
            << ": cannot tell which stack stackmgr will make ready (" << choice.source << ")\n";
    return code(base::Exit::ok);
  }
  const detect::Stack stack = *choice.stack;

  const auto index = run.host.kernel_index(std::string(release));
  if (!index.problem.empty()) {
    run.out << kWarning << "cannot check kernel " << release << " for the " << detect::to_string(stack)
            << " stack's modules: " << index.problem << "\n";
    return code(base::Exit::ok);
  }
  std::vector<std::string> missing;
  std::vector<std::string> found;
  for (const auto& spec : config.catalog.of(stack)) {
    if (spec.role != detect::ModuleRole::core) continue;
    const auto lookup = index.modules->lookup(spec.name);
    if (!lookup) {
      run.out << kWarning << "cannot check " << spec.name << " for kernel " << release << ": "
              << lookup.error().describe() << "\n";
      continue;
    }
    if (lookup->disk == detect::DiskState::absent) {
      missing.push_back(spec.name);
      continue;
    }
    if (lookup->disk == detect::DiskState::unknown) {
      run.out << kWarning << "cannot tell whether kernel " << release << " has " << spec.name
              << ": its module index does not say\n";
      continue;
    }
    found.push_back(spec.name + " (" + std::string(disk_word(lookup->disk)) + ")");
    if (lookup->blacklisted) {
      run.out << kWarning << spec.name << " is blacklisted in modprobe.d: stackmgr will refuse to load it\n";
    }
  }
  if (!missing.empty()) {
    warn_missing(run, release, stack, choice.source, missing, index.modules_dir);
    return code(base::Exit::ok);
  }
  run.out << kPrefix << "kernel " << release << " has the " << detect::to_string(stack)
          << " stack's modules: " << base::join(found, ", ") << "\n";
  return code(base::Exit::ok);
}

}  // namespace stackmgr::hook
