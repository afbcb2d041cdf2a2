// `stackmgr doctor`: the seed's known issues as checks, read-only, on this host or under --root.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "detect/ipsec_conf.hpp"
#include "detect/lan_routes.hpp"
#include "detect/policy_groups.hpp"
#include "detect/resolv_conf.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/config/loader.hpp"
#include "stackmgr/doctor/doctor.hpp"
#include "stackmgr/doctor/inputs.hpp"
#include "stackmgr/doctor/report.hpp"
#include "stackmgr/os/real_kernel.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kDoctorHelp =
    R"(Reads the host (or the tree under --root) and changes nothing. Each check prints OK, WARN or
FAIL with the reason and the fix; the checks and their rules: docs/doctor.md.
Exit codes:
  0  every check is OK
 12  at least one WARN, no FAIL
 13  at least one FAIL
 10  both stacks are in the kernel (a conflict: the worst FAIL)
  1  internal error;  2  usage error)";

struct DoctorOptions {
  bool json = false;
  std::string daemon_ipv6 = "auto";
  std::string iptables_rules;
};

// A host path (from the config) as a path under the root.
std::filesystem::path under(const detect::HostRoot& root, const std::filesystem::path& host_path) {
  const std::string text = host_path.string();
  return root.path(text.empty() || text.front() != '/' ? text : text.substr(1));
}

config::Config load_doctor_config(const GlobalOptions& global, const detect::HostRoot& root,
                                  std::string& error) {
  const config::ConfigResult loaded =
      global.config_file.empty()
          ? config::load_config(under(root, config::kDefaultConfigFile), config::ConfigOrigin::default_path)
          : config::load_config(global.config_file, config::ConfigOrigin::named);
  if (loaded) return loaded.value();
  error = loaded.error().describe();
  return config::Config{};
}

doctor::DaemonTraits daemon_traits(const detect::HostRoot& root, std::string_view override_value) {
  doctor::DaemonTraits traits = doctor::identify_daemon(root);
  if (override_value == "auto") return traits;
  traits.parser_ipv6 =
      override_value == "yes" ? doctor::ParserIpv6::supported : doctor::ParserIpv6::unsupported;
  traits.source = "--daemon-ipv6=" + std::string(override_value);
  return traits;
}

doctor::DoctorInputs gather(const GlobalOptions& global, const DoctorOptions& options,
                            const detect::HostRoot& root) {
  doctor::DoctorInputs inputs;
  const config::Config config = load_doctor_config(global, root, inputs.stackmgr_config_error);
  inputs.snapshot = os::detect_real_host(root, config.catalog);
  inputs.ipsec_conf = detect::read_ipsec_conf(root, config.paths.ipsec_conf.string());
  // Libreswan moved the policies with ipsecdir=; FreeS/WAN's live in /etc/ipsec.d.
  const std::string ipsecdir(inputs.ipsec_conf.setup.get("ipsecdir", "/etc/ipsec.d"));
  inputs.policies = detect::read_policy_groups(root, ipsecdir + "/policies");
  inputs.resolv = detect::read_resolv_conf(root);
  inputs.lan_routes = detect::read_lan_routes(root);
  // The seam for the supervisor's control socket: until it answers, the pid files say.
  inputs.daemon = doctor::daemon_status_from_pid_files(root, config.paths.pid_file());
  inputs.daemon_traits = daemon_traits(root, options.daemon_ipv6);
  inputs.firewall = doctor::read_firewall_rules(root, options.iptables_rules);
  inputs.updown_scripts = doctor::read_updown_scripts(root, inputs.ipsec_conf);
  inputs.default_stack = config.default_stack;
  const auto state = config::read_chosen_stack(under(root, config.paths.chosen_stack_file()));
  if (state && state->stack) {
    inputs.chosen_stack = state->stack;
    inputs.chosen_source = "the last switch, " + config.paths.chosen_stack_file().string();
  } else if (config.stack) {
    inputs.chosen_stack = config.stack;
    inputs.chosen_source = "stack= in " + (config.source.empty() ? std::string(config::kDefaultConfigFile)
                                                                 : config.source.string());
  }
  return inputs;
}

int run_doctor_command(const GlobalOptions& global, const DoctorOptions& options) {
  const detect::HostRoot root(global.root);
  const doctor::DoctorInputs inputs = gather(global, options, root);
  const doctor::DoctorReport report = doctor::run_doctor(inputs);
  if (options.json) {
    std::cout << doctor::doctor_to_json(report, inputs).dump(2) << '\n';
  } else {
    std::cout << doctor::render_doctor_table(report);
  }
  std::cout.flush();
  return report.exit_code();
}

}  // namespace

void add_doctor_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<DoctorOptions>();
  CLI::App* command =
      app.add_subcommand("doctor", "Check the host against the known FreeS/WAN-on-2.6 issues (read-only)");
  command->add_flag("--json", options->json,
                    "Print the stable JSON schema stackmgr.doctor/1 (docs/doctor.md)");
  command
      ->add_option("--daemon-ipv6", options->daemon_ipv6,
                   "Whether the keying daemon's ipsec.conf parser reads IPv6: yes, no, or auto (identify it "
                   "from the ipsec command)")
      ->check(CLI::IsMember({"yes", "no", "auto"}));
  command
      ->add_option("--iptables-rules", options->iptables_rules,
                   "Scan this saved ruleset (iptables-save format) instead of running iptables-save")
      ->check(CLI::ExistingFile);
  command->footer(kDoctorHelp);
  command->callback([&global, &chosen, options] {
    chosen = [&global, options] { return run_doctor_command(global, *options); };
  });
}

}  // namespace stackmgr::cli
