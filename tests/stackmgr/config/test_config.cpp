// stackmgr.toml: defaults, every key, and the errors an admin sees (file, line, key, message).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "stackmgr/config/config.hpp"
#include "stackmgr/config/loader.hpp"
#include "stackmgr/config/placeholders.hpp"
#include "stackmgr/config/stack_choice.hpp"

namespace stackmgr::config {
namespace {

namespace fs = std::filesystem;
using detect::Stack;
using std::chrono::milliseconds;

const fs::path kSource = "/etc/stackmgr/stackmgr.toml";

Config parsed(std::string_view text) {
  ConfigResult result = parse_config(text, kSource);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
  if (!result.ok()) return Config{};
  return std::move(result).value();
}

ConfigError failed(std::string_view text) {
  ConfigResult result = parse_config(text, kSource);
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << text;
  if (result.ok()) return ConfigError{};
  return result.error();
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST(ConfigDefaults, AnEmptyFileGivesEveryDefault) {
  const Config config = parsed("");
  EXPECT_EQ(config.source, kSource);
  EXPECT_FALSE(config.stack.has_value()) << "auto";
  EXPECT_EQ(config.default_stack, Stack::native);
  EXPECT_EQ(config.module_mode, ModuleMode::manage);
  EXPECT_FALSE(config.allow_ipcomp);
  EXPECT_TRUE(config.load_helpers);
  EXPECT_TRUE(config.use_guard);
  EXPECT_EQ(config.lock_timeout, milliseconds(30000));
  EXPECT_EQ(config.paths.run_dir, "/run/stackmgr");
  EXPECT_EQ(config.paths.state_dir, "/var/lib/stackmgr");
  EXPECT_EQ(config.paths.ipsec_conf, "/etc/ipsec.conf");
  EXPECT_EQ(config.catalog.all().size(), detect::Catalog::defaults().all().size());
  const std::vector<std::string> pluto = {"/usr/libexec/ipsec/pluto", "--nofork", "--stderrlog", "--config",
                                          "/etc/ipsec.conf"};
  EXPECT_EQ(config.daemon.argv.at(Stack::native), pluto);
  EXPECT_EQ(config.daemon.argv.at(Stack::klips), pluto);
  EXPECT_EQ(config.daemon.environment,
            (std::map<std::string, std::string>{{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}}));
  EXPECT_EQ(config.daemon.no_restart_exit_codes, std::vector<int>{12});
  EXPECT_EQ(config.daemon.stop_timeout, milliseconds(10000));
  EXPECT_EQ(config.daemon.drop_capabilities, std::vector<int>{CAP_SYS_MODULE})
      << "only stackmgr loads modules";
}

TEST(ConfigDefaults, DefaultConfigMatchesAnEmptyFile) {
  const Config empty = parsed("");
  const Config defaults = default_config();
  EXPECT_TRUE(defaults.source.empty());
  EXPECT_EQ(defaults.daemon.argv, empty.daemon.argv);
  EXPECT_EQ(defaults.daemon.environment, empty.daemon.environment);
  EXPECT_EQ(defaults.daemon.no_restart_exit_codes, empty.daemon.no_restart_exit_codes);
}

TEST(ConfigKeys, ReadsEveryKey) {
  const Config config = parsed(R"(
stack = "netkey"
default_stack = "klips"
lock_timeout = "5s"

[modules]
mode = "external"
load_helpers = false
allow_ipcomp = true
use_guard = false

[[modules.extra]]
name = "ipsec_serpent"
stack = "klips"

[[modules.extra]]
name = "xfrm_ipcomp"
stack = "xfrm"
role = "ipcomp"

[daemon]
argv.native = ["/usr/sbin/pluto", "--rundir", "{rundir}", "--stack={stack}/{protostack}", "{{literal}}"]
argv.klips = []
environment = { PATH = "/bin", PLUTO_OPTS = "{not expanded}" }
expect_notify = false
ready_timeout = "500ms"
stop_timeout = "2m"
restart_initial = "250ms"
restart_max = "1h"
crash_loop_limit = 3
crash_loop_window = "90s"
no_restart_exit_codes = [6, 12]

[paths]
run_dir = "/run/x/"
state_dir = "/var/lib/x"
ipsec_conf = "/etc/ipsec/../ipsec.conf"
)");
  EXPECT_EQ(config.stack, Stack::native);
  EXPECT_EQ(config.default_stack, Stack::klips);
  EXPECT_EQ(config.lock_timeout, milliseconds(5000));
  EXPECT_EQ(config.module_mode, ModuleMode::external);
  EXPECT_FALSE(config.load_helpers);
  EXPECT_TRUE(config.allow_ipcomp);
  EXPECT_FALSE(config.use_guard);
  const detect::ModuleSpec* serpent = config.catalog.find("ipsec_serpent");
  ASSERT_NE(serpent, nullptr);
  EXPECT_EQ(serpent->stack, Stack::klips);
  EXPECT_EQ(serpent->role, detect::ModuleRole::helper) << "role defaults to helper";
  const detect::ModuleSpec* ipcomp = config.catalog.find("xfrm_ipcomp");
  ASSERT_NE(ipcomp, nullptr);
  EXPECT_EQ(ipcomp->stack, Stack::native);
  EXPECT_EQ(ipcomp->role, detect::ModuleRole::ipcomp);
  EXPECT_EQ(config.daemon.argv.at(Stack::native).at(2), "{rundir}");
  EXPECT_TRUE(config.daemon.argv.at(Stack::klips).empty()) << "an empty argv means no daemon";
  EXPECT_EQ(config.daemon.environment,
            (std::map<std::string, std::string>{{"PATH", "/bin"}, {"PLUTO_OPTS", "{not expanded}"}}))
      << "the table replaces the default environment, values as written";
  EXPECT_FALSE(config.daemon.expect_notify);
  EXPECT_EQ(config.daemon.ready_timeout, milliseconds(500));
  EXPECT_EQ(config.daemon.stop_timeout, milliseconds(120000));
  EXPECT_EQ(config.daemon.restart_initial, milliseconds(250));
  EXPECT_EQ(config.daemon.restart_max, milliseconds(3600000));
  EXPECT_EQ(config.daemon.crash_loop_limit, 3);
  EXPECT_EQ(config.daemon.crash_loop_window, milliseconds(90000));
  EXPECT_EQ(config.daemon.no_restart_exit_codes, (std::vector<int>{6, 12}));
  EXPECT_EQ(config.paths.run_dir, "/run/x") << "trailing slash dropped";
  EXPECT_EQ(config.paths.lock_file(), "/run/x/lock");
  EXPECT_EQ(config.paths.chosen_stack_file(), "/var/lib/x/stack");
  EXPECT_EQ(config.paths.ipsec_conf, "/etc/ipsec.conf") << "normalised";
}

TEST(ConfigKeys, StackNamesAndAliases) {
  EXPECT_EQ(parsed("stack = \"xfrm\"").stack, Stack::native);
  EXPECT_EQ(parsed("stack = \"KLIPS\"").stack, Stack::klips);
  EXPECT_FALSE(parsed("stack = \"auto\"").stack.has_value());
  const ConfigError bad = failed("\nstack = \"openswan\"\n");
  EXPECT_EQ(bad.line, 2);
  EXPECT_EQ(bad.key, "stack");
  EXPECT_TRUE(contains(bad.message, "unknown stack 'openswan'")) << bad.message;
  const ConfigError default_auto = failed("default_stack = \"auto\"");
  EXPECT_EQ(default_auto.key, "default_stack");
  EXPECT_TRUE(contains(default_auto.message, "cannot be auto")) << default_auto.message;
}

TEST(ConfigKeys, TheDefaultArgvFollowsIpsecConf) {
  const Config config = parsed("[paths]\nipsec_conf = \"/etc/ipsec/ipsec.conf\"\n");
  EXPECT_EQ(config.daemon.argv.at(Stack::native).back(), "/etc/ipsec/ipsec.conf");
}

TEST(ConfigKeys, OneStackArgvKeepsTheOtherDefault) {
  const Config config = parsed("[daemon.argv]\nklips = [\"/opt/freeswan/pluto\", \"--nofork\"]\n");
  EXPECT_EQ(config.daemon.argv.at(Stack::klips).front(), "/opt/freeswan/pluto");
  EXPECT_EQ(config.daemon.argv.at(Stack::native).front(), "/usr/libexec/ipsec/pluto");
}

TEST(ConfigErrors, MalformedTomlNamesTheLine) {
  const ConfigError error = failed("stack = \"native\"\n\n[daemon\nstop_timeout = \"1s\"\n");
  EXPECT_EQ(error.file, kSource);
  EXPECT_EQ(error.line, 3);
  EXPECT_TRUE(error.key.empty());
  EXPECT_TRUE(contains(error.describe(), "/etc/stackmgr/stackmgr.toml:3: TOML syntax: ")) << error.describe();
}

TEST(ConfigErrors, ADuplicateKeyIsASyntaxError) {
  const ConfigError error = failed("stack = \"native\"\nstack = \"klips\"\n");
  EXPECT_EQ(error.line, 2);
  EXPECT_TRUE(contains(error.message, "TOML syntax")) << error.message;
}

TEST(ConfigErrors, AnUnknownKeyIsAnErrorWithASuggestion) {
  const ConfigError error = failed("# comment\nstak = \"klips\"\n");
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.key, "stak");
  EXPECT_EQ(error.describe(),
            "/etc/stackmgr/stackmgr.toml:2: key stak: unknown key 'stak'; did you mean 'stack'? (known keys: "
            "stack, "
            "default_stack, lock_timeout, modules, daemon, paths, watch)");
}

TEST(ConfigErrors, AnUnknownKeyInASectionNamesTheDottedKey) {
  const ConfigError error = failed("[daemon]\nstop_timeout = \"1s\"\n\nmax_delay = \"5s\"\n");
  EXPECT_EQ(error.line, 4);
  EXPECT_EQ(error.key, "daemon.max_delay");
  EXPECT_TRUE(contains(error.message, "known keys in [daemon]")) << error.message;
  EXPECT_EQ(failed("[daemon.restart]\ninitial = \"1s\"\n").key, "daemon.restart") << "no such table";
}

TEST(ConfigErrors, AnUnknownStackUnderArgvIsAnUnknownKey) {
  const ConfigError error = failed("[daemon.argv]\nnetkey = [\"/usr/sbin/pluto\"]\n");
  EXPECT_EQ(error.key, "daemon.argv.netkey");
  EXPECT_EQ(error.line, 2);
}

TEST(ConfigErrors, AWrongTypeSaysWhatWasExpectedAndWhatWasFound) {
  const ConfigError error = failed("[modules]\n\nallow_ipcomp = \"yes\"\n");
  EXPECT_EQ(error.describe(),
            "/etc/stackmgr/stackmgr.toml:3: key modules.allow_ipcomp: expected true or false, got the string "
            "\"yes\"");
  const ConfigError table = failed("daemon = 3\n");
  EXPECT_EQ(table.key, "daemon");
  EXPECT_TRUE(contains(table.message, "expected a table, got the integer 3")) << table.message;
}

TEST(ConfigErrors, DurationsNeedAUnit) {
  const ConfigError integer = failed("lock_timeout = 30\n");
  EXPECT_EQ(integer.key, "lock_timeout");
  EXPECT_EQ(integer.line, 1);
  EXPECT_TRUE(contains(integer.message, "durations need a unit")) << integer.message;
  EXPECT_TRUE(contains(failed("lock_timeout = \"30 s\"").message, "is not a duration"));
  EXPECT_TRUE(contains(failed("lock_timeout = \"1.5s\"").message, "is not a duration"));
  EXPECT_TRUE(contains(failed("lock_timeout = \"-1s\"").message, "is not a duration"));
  EXPECT_TRUE(contains(failed("lock_timeout = \"25h\"").message, "longest allowed, 24h"));
  EXPECT_EQ(parsed("lock_timeout = \"0s\"").lock_timeout, milliseconds(0));
}

TEST(ConfigErrors, AnUnknownPlaceholderNamesLineAndKey) {
  const ConfigError error =
      failed("[daemon]\nargv.native = [\"/usr/sbin/pluto\",\n  \"--rundir\", \"{run_dir}\"]\n");
  EXPECT_EQ(error.line, 3) << "the element's own line";
  EXPECT_EQ(error.key, "daemon.argv.native");
  EXPECT_TRUE(contains(error.message,
                       "unknown placeholder {run_dir}; known placeholders: {stack}, {protostack}, "
                       "{rundir}, {notify_socket}, {ipsec_conf}"))
      << error.message;
}

TEST(ConfigErrors, UnbalancedBracesAreRejected) {
  EXPECT_TRUE(contains(failed("[daemon]\nargv.native = [\"/p\", \"{stack\"]").message, "unbalanced '{'"));
  EXPECT_TRUE(contains(failed("[daemon]\nargv.native = [\"/p\", \"stack}\"]").message, "unbalanced '}'"));
}

TEST(ConfigErrors, TheProgramMustBeAnAbsolutePath) {
  const ConfigError relative = failed("[daemon]\nargv.native = [\"pluto\", \"--nofork\"]\n");
  EXPECT_EQ(relative.key, "daemon.argv.native");
  EXPECT_TRUE(contains(relative.message, "must be an absolute path")) << relative.message;
  EXPECT_FALSE(parse_config("[daemon]\nargv.native = [\"{rundir}/pluto\"]\n", kSource).ok());
  EXPECT_FALSE(parse_config("[daemon]\nargv.native = [\"/usr/sbin/pluto\", 3]\n", kSource).ok());
}

TEST(ConfigErrors, PathsMustBeAbsoluteAndPrintable) {
  const ConfigError relative = failed("[paths]\nrun_dir = \"run/stackmgr\"\n");
  EXPECT_EQ(
      relative.describe(),
      "/etc/stackmgr/stackmgr.toml:2: key paths.run_dir: 'run/stackmgr' is not an absolute path; paths must "
      "start with '/'");
  EXPECT_TRUE(contains(failed("[paths]\nstate_dir = \"/var/lib/a\\nb\"\n").message, "NUL or newline"));
  EXPECT_TRUE(contains(failed("[paths]\nstate_dir = \"/var/lib/a\\u0000b\"\n").message, "NUL or newline"));
}

TEST(ConfigErrors, ExtraModulesAreValidated) {
  const ConfigError bad_name = failed("[[modules.extra]]\nname = \"../../evil\"\nstack = \"klips\"\n");
  EXPECT_EQ(bad_name.key, "modules.extra.name");
  EXPECT_EQ(bad_name.line, 2);
  EXPECT_TRUE(contains(bad_name.message, "not a valid kernel module name")) << bad_name.message;
  const ConfigError duplicate = failed("[[modules.extra]]\nname = \"af-key\"\nstack = \"native\"\n");
  EXPECT_TRUE(contains(duplicate.message, "already listed")) << duplicate.message;
  EXPECT_TRUE(contains(failed("[[modules.extra]]\nname = \"x\"\n").message, "needs name and stack"));
  EXPECT_TRUE(
      contains(failed("[[modules.extra]]\nname = \"x\"\nstack = \"klips\"\nrole = \"main\"\n").message,
               "unknown role 'main'"));
  EXPECT_TRUE(
      contains(failed("[[modules.extra]]\nname = \"x\"\nstack = \"auto\"\n").message, "unknown stack"));
  EXPECT_EQ(failed("[modules]\nextra = { name = \"x\" }\n").key, "modules.extra");
  EXPECT_EQ(failed("[[modules.extra]]\nname = \"x\"\nstack = \"klips\"\nrloe = \"core\"\n").key,
            "modules.extra.rloe");
}

TEST(ConfigErrors, TheModuleModeIsManageOrExternal) {
  const ConfigError error = failed("[modules]\nmode = \"none\"\n");
  EXPECT_EQ(error.key, "modules.mode");
  EXPECT_TRUE(contains(error.message, "use manage")) << error.message;
}

TEST(ConfigErrors, EnvironmentNamesAreValidated) {
  const ConfigError error = failed("[daemon.environment]\n\"A-B\" = \"1\"\n");
  EXPECT_EQ(error.key, "daemon.environment.A-B");
  EXPECT_EQ(error.line, 2);
  EXPECT_FALSE(parse_config("[daemon.environment]\nX = 1\n", kSource).ok());
  const ConfigError notify = failed("[daemon.environment]\nPATH = \"/bin\"\nNOTIFY_SOCKET = \"/x\"\n");
  EXPECT_EQ(notify.key, "daemon.environment.NOTIFY_SOCKET");
  EXPECT_EQ(notify.line, 3);
  EXPECT_TRUE(contains(notify.message, "set by stackmgr itself")) << notify.message;
}

TEST(ConfigErrors, RestartPolicyIsChecked) {
  const ConfigError cap = failed("[daemon]\nrestart_initial = \"10s\"\nrestart_max = \"5s\"\n");
  EXPECT_EQ(cap.key, "daemon.restart_max");
  EXPECT_EQ(cap.line, 3);
  EXPECT_TRUE(contains(cap.message, "shorter than the first delay")) << cap.message;
  const ConfigError initial_only = failed("[daemon]\nrestart_initial = \"2m\"\n");
  EXPECT_EQ(initial_only.key, "daemon.restart_initial") << "the default cap is 60s";
  EXPECT_TRUE(contains(failed("[daemon]\ncrash_loop_limit = 0\n").message, "out of range 1..1000"));
  EXPECT_TRUE(contains(failed("[daemon]\nno_restart_exit_codes = [256]\n").message, "out of range 0..255"));
  EXPECT_TRUE(contains(failed("[daemon]\ncrash_loop_window = \"0s\"\n").message, "longer than 0s"));
  EXPECT_TRUE(parsed("[daemon]\nno_restart_exit_codes = []\n").daemon.no_restart_exit_codes.empty());
}

TEST(ConfigKeys, DropCapabilitiesTakesCapabilityNames) {
  EXPECT_EQ(parsed("[daemon]\ndrop_capabilities = [\"CAP_SYS_MODULE\", \"cap_sys_boot\"]\n")
                .daemon.drop_capabilities,
            (std::vector<int>{CAP_SYS_MODULE, CAP_SYS_BOOT}));
  EXPECT_TRUE(parsed("[daemon]\ndrop_capabilities = []\n").daemon.drop_capabilities.empty())
      << "an explicit empty list keeps everything";
}

TEST(ConfigErrors, DropCapabilitiesNamesAreChecked) {
  const ConfigError unknown =
      failed("[daemon]\nstop_timeout = \"5s\"\ndrop_capabilities = [\"CAP_SYS_MODULES\"]\n");
  EXPECT_EQ(
      unknown.describe(),
      "/etc/stackmgr/stackmgr.toml:3: key daemon.drop_capabilities: 'CAP_SYS_MODULES' is not a capability "
      "name; write them as in capabilities(7), e.g. \"CAP_SYS_MODULE\"");
  EXPECT_TRUE(contains(failed("[daemon]\ndrop_capabilities = [\"16\"]\n").message, "not a capability name"));
  EXPECT_TRUE(contains(failed("[daemon]\ndrop_capabilities = \"CAP_SYS_MODULE\"\n").message, "an array"));
  EXPECT_TRUE(contains(failed("[daemon]\ndrop_capabilities = [16]\n").message, "expected a string"));
  const ConfigError twice =
      failed("[daemon]\ndrop_capabilities = [\n  \"CAP_SYS_MODULE\",\n  \"cap_sys_module\",\n]\n");
  EXPECT_EQ(twice.line, 4);
  EXPECT_TRUE(contains(twice.message, "CAP_SYS_MODULE is listed twice")) << twice.message;
}

TEST(ConfigErrors, TheFirstProblemInTheFileIsReported) {
  const ConfigError error = failed("[paths]\nrun_dir = \"relative\"\n[modules]\nmode = \"x\"\n");
  EXPECT_EQ(error.line, 2) << "[paths] is checked after [modules] but comes first in the file";
}

TEST(ConfigErrorDescribe, FormatsFileLineAndKey) {
  EXPECT_EQ((ConfigError{"/f.toml", 12, "daemon.stop_timeout", "bad"}).describe(),
            "/f.toml:12: key daemon.stop_timeout: bad");
  EXPECT_EQ((ConfigError{"/f.toml", 0, "", "bad"}).describe(), "/f.toml: bad");
  EXPECT_EQ((ConfigError{"/f.toml", 0, "", "refusing /f.toml: it is writable"}).describe(),
            "refusing /f.toml: it is writable");
}

TEST(Placeholders, ExpandForTheChosenStack) {
  Config config = default_config();
  config.paths.run_dir = "/run/s";
  const PlaceholderValues values = placeholder_values(config, Stack::klips);
  const auto argv = expand_argv(
      {"/p", "--x={stack}/{protostack}", "{rundir}", "{notify_socket}", "{ipsec_conf}", "{{}}"}, values);
  ASSERT_TRUE(argv.ok()) << argv.error().describe();
  EXPECT_EQ(*argv, (std::vector<std::string>{"/p", "--x=klips/klips", "/run/s", "/run/s/notify.sock",
                                             "/etc/ipsec.conf", "{}"}));
  EXPECT_EQ(placeholder_values(config, Stack::native).protostack, "netkey");
  const auto bad = expand_placeholders("{bogus}", values);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error().message, "unknown placeholder {bogus}"));
}

// The shipped example must parse, and with every default uncommented it must still be the
// defaults: "every key commented with its default" is checked, not promised.
TEST(ExampleConfig, EveryCommentedKeyIsItsDefault) {
  std::stringstream buffer;
  buffer << std::ifstream(std::string(STACKMGR_SOURCE_DIR) + "/packaging/stackmgr.toml").rdbuf();
  const std::string example = buffer.str();
  ASSERT_FALSE(example.empty());
  ASSERT_TRUE(parse_config(example, kSource).ok());

  // "#key = value" lines are defaults; "# key = value" lines (with a space) are examples.
  std::string uncommented;
  std::istringstream lines(example);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > 1 && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
        line.find(" = ") != std::string::npos) {
      line.erase(0, 1);
    }
    uncommented += line + "\n";
  }
  ASSERT_NE(uncommented, example);
  const Config config = parsed(uncommented);
  const Config defaults = default_config();
  for (const char* key : {"stack",
                          "default_stack",
                          "lock_timeout",
                          "mode",
                          "load_helpers",
                          "allow_ipcomp",
                          "use_guard",
                          "argv.native",
                          "argv.klips",
                          "environment",
                          "expect_notify",
                          "ready_timeout",
                          "stop_timeout",
                          "restart_initial",
                          "restart_max",
                          "crash_loop_limit",
                          "crash_loop_window",
                          "no_restart_exit_codes",
                          "drop_capabilities",
                          "run_dir",
                          "state_dir",
                          "ipsec_conf"}) {
    EXPECT_NE(uncommented.find(std::string("\n") + key + " = "), std::string::npos)
        << key << " is not in the example";
  }
  EXPECT_EQ(config.stack, defaults.stack);
  EXPECT_EQ(config.default_stack, defaults.default_stack);
  EXPECT_EQ(config.lock_timeout, defaults.lock_timeout);
  EXPECT_EQ(config.module_mode, defaults.module_mode);
  EXPECT_EQ(config.load_helpers, defaults.load_helpers);
  EXPECT_EQ(config.allow_ipcomp, defaults.allow_ipcomp);
  EXPECT_EQ(config.use_guard, defaults.use_guard);
  EXPECT_EQ(config.catalog.all().size(), defaults.catalog.all().size());
  EXPECT_EQ(config.daemon.argv, defaults.daemon.argv);
  EXPECT_EQ(config.daemon.environment, defaults.daemon.environment);
  EXPECT_EQ(config.daemon.expect_notify, defaults.daemon.expect_notify);
  EXPECT_EQ(config.daemon.ready_timeout, defaults.daemon.ready_timeout);
  EXPECT_EQ(config.daemon.stop_timeout, defaults.daemon.stop_timeout);
  EXPECT_EQ(config.daemon.restart_initial, defaults.daemon.restart_initial);
  EXPECT_EQ(config.daemon.restart_max, defaults.daemon.restart_max);
  EXPECT_EQ(config.daemon.crash_loop_limit, defaults.daemon.crash_loop_limit);
  EXPECT_EQ(config.daemon.crash_loop_window, defaults.daemon.crash_loop_window);
  EXPECT_EQ(config.daemon.no_restart_exit_codes, defaults.daemon.no_restart_exit_codes);
  EXPECT_EQ(config.daemon.drop_capabilities, defaults.daemon.drop_capabilities);
  EXPECT_EQ(config.paths.run_dir, defaults.paths.run_dir);
  EXPECT_EQ(config.paths.state_dir, defaults.paths.state_dir);
  EXPECT_EQ(config.paths.ipsec_conf, defaults.paths.ipsec_conf);
}

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "stackmgr-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path write(const std::string& content, mode_t mode = 0644) {
    const fs::path file = dir_ / "stackmgr.toml";
    std::ofstream(file) << content;
    EXPECT_EQ(chmod(file.c_str(), mode), 0);
    return file;
  }
  fs::path dir_;
};

TEST_F(ConfigFile, AMissingFileAtTheDefaultPathMeansDefaults) {
  const ConfigResult result = load_config(dir_ / "stackmgr.toml", ConfigOrigin::default_path, geteuid());
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_TRUE(result->source.empty()) << "no file was read";
  EXPECT_EQ(result->daemon.argv.at(Stack::native).front(), "/usr/libexec/ipsec/pluto");
}

TEST_F(ConfigFile, AMissingFileTheAdminNamedIsAnError) {
  const ConfigResult result = load_config(dir_ / "stackmgr.toml", ConfigOrigin::named, geteuid());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().describe(), "reading " + (dir_ / "stackmgr.toml").string() +
                                           ": No such file or directory (named with --config)");
}

TEST_F(ConfigFile, ADanglingSymlinkAtTheDefaultPathIsAnError) {
  ASSERT_EQ(symlink((dir_ / "gone.toml").c_str(), (dir_ / "stackmgr.toml").c_str()), 0);
  EXPECT_FALSE(load_config(dir_ / "stackmgr.toml", ConfigOrigin::default_path, geteuid()).ok());
}

TEST_F(ConfigFile, ReadsATrustedFile) {
  const fs::path file = write("stack = \"klips\"\n");
  const ConfigResult result = load_config(file, ConfigOrigin::named, geteuid());
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ(result->stack, Stack::klips);
  EXPECT_EQ(result->source, file);
}

TEST_F(ConfigFile, ErrorsNameTheRealFile) {
  const fs::path file = write("stack = \"klips\"\nbogus = 1\n");
  const ConfigResult result = load_config(file, ConfigOrigin::named, geteuid());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().file, file);
  EXPECT_EQ(result.error().line, 2);
}

TEST_F(ConfigFile, RefusesAWorldWritableConfig) {
  if (geteuid() != 0)
    GTEST_SKIP() << "needs root: the file must be root's for the mode to be what is refused";
  const fs::path file = write("stack = \"klips\"\n", 0666);
  const ConfigResult result = load_config(file, ConfigOrigin::named);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().describe(),
            "refusing " + file.string() +
                ": it is writable by group 'root' and others (mode 0666); run 'chmod go-w " + file.string() +
                "'");
}

TEST_F(ConfigFile, RefusesAConfigOwnedBySomeoneElseEvenAtTheDefaultPath) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown the file to another uid";
  const fs::path file = write("stack = \"klips\"\n");
  ASSERT_EQ(chown(file.c_str(), 4242, 0), 0);
  const ConfigResult result = load_config(file, ConfigOrigin::default_path);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(contains(result.error().describe(), "owned by uid 4242, not root"))
      << result.error().describe();
}

TEST_F(ConfigFile, ReadsProtostackFromIpsecConf) {
  const fs::path conf = dir_ / "ipsec.conf";
  std::ofstream(conf) << "version 2\n\nconfig setup\n\tprotostack=klips\n";
  ASSERT_EQ(chmod(conf.c_str(), 0644), 0);
  const auto setting = read_protostack(conf, geteuid());
  ASSERT_TRUE(setting.ok()) << setting.error().describe();
  ASSERT_TRUE(setting->value.has_value());
  EXPECT_EQ(*setting->value, "klips");
  EXPECT_EQ(setting->where, conf.string() + ":4");
}

TEST_F(ConfigFile, NoIpsecConfIsNoProtostack) {
  const auto setting = read_protostack(dir_ / "ipsec.conf", geteuid());
  ASSERT_TRUE(setting.ok()) << setting.error().describe();
  EXPECT_FALSE(setting->value.has_value());
}

TEST_F(ConfigFile, RefusesAnIpsecConfOthersCanWrite) {
  const fs::path conf = dir_ / "ipsec.conf";
  std::ofstream(conf) << "config setup\n\tprotostack=netkey\n";
  ASSERT_EQ(chmod(conf.c_str(), 0666), 0);
  const auto setting = read_protostack(conf, geteuid());
  ASSERT_FALSE(setting.ok());
  EXPECT_TRUE(contains(setting.error().message, "refusing " + conf.string())) << setting.error().message;
}

TEST_F(ConfigFile, RefusesAnIncludedFileOthersCanWrite) {
  const fs::path conf = dir_ / "ipsec.conf";
  const fs::path included = dir_ / "more.conf";
  std::ofstream(conf) << "config setup\n\tprotostack=netkey\ninclude " << included.string() << "\n";
  std::ofstream(included) << "conn x\n\tleft=1.2.3.4\n";
  ASSERT_EQ(chmod(conf.c_str(), 0644), 0);
  ASSERT_EQ(chmod(included.c_str(), 0646), 0);
  const auto setting = read_protostack(conf, geteuid());
  ASSERT_FALSE(setting.ok());
  EXPECT_TRUE(contains(setting.error().message, "refusing " + included.string())) << setting.error().message;
  EXPECT_TRUE(contains(setting.error().message, "(included from " + conf.string() + ")"))
      << setting.error().message;
  ASSERT_EQ(chmod(included.c_str(), 0644), 0);
  EXPECT_TRUE(read_protostack(conf, geteuid()).ok());
}

// [watch]: the reactions to module changes made behind stackmgr's back.
TEST(ConfigWatch, DefaultsReloadAMissingModuleAndStopTheDaemonOnAConflict) {
  const Config config = parsed("");
  EXPECT_EQ(config.watch.on_missing, MissingReaction::reload);
  EXPECT_EQ(config.watch.on_conflict, ConflictReaction::stop_daemon);
  EXPECT_EQ(config.watch.reload_limit, 3);
  EXPECT_EQ(config.watch.reload_window, milliseconds(60000));
}

TEST(ConfigWatch, ReadsEveryKey) {
  const Config config = parsed(
      "[watch]\non_missing = \"stop-daemon\"\non_conflict = \"report\"\nreload_limit = 5\n"
      "reload_window = \"2m\"\n");
  EXPECT_EQ(config.watch.on_missing, MissingReaction::stop_daemon);
  EXPECT_EQ(config.watch.on_conflict, ConflictReaction::report);
  EXPECT_EQ(config.watch.reload_limit, 5);
  EXPECT_EQ(config.watch.reload_window, milliseconds(120000));
  EXPECT_EQ(parsed("[watch]\non_missing = \"report\"\n").watch.on_missing, MissingReaction::report);
}

TEST(ConfigWatch, AConflictCannotBeAnsweredByLoadingAndBadValuesNameTheKey) {
  const ConfigError reload = failed("[watch]\non_conflict = \"reload\"\n");
  EXPECT_EQ(reload.key, "watch.on_conflict");
  EXPECT_TRUE(contains(reload.message, "never loads a module")) << reload.message;
  EXPECT_EQ(failed("[watch]\non_missing = \"fix\"\n").key, "watch.on_missing");
  EXPECT_EQ(failed("[watch]\nreload_limit = -1\n").key, "watch.reload_limit");
  EXPECT_EQ(failed("[watch]\nreload_window = \"0s\"\n").key, "watch.reload_window");
  EXPECT_EQ(failed("[watch]\nreload = true\n").key, "watch.reload");
}

}  // namespace
}  // namespace stackmgr::config
