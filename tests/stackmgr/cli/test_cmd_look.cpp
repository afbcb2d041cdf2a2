// `stackmgr look` end to end: the real binary against fixture roots (KLIPS's /proc tables) and
// against the kernel's XFRM tables in a network namespace of the test's own.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kStackmgr = STACKMGR_BINARY;
const std::string kLookFixtures = LOOK_FIXTURE_DIR;

struct Ran {
  int status = -1;
  std::string out;
  std::string err;
};

enum class As { root, nobody };

// fork/exec argv (no shell), collecting stdout and stderr apart.
Ran run(std::vector<std::string> args, As as = As::root) {
  Ran ran;
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return ran;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    if (as == As::nobody && (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
                             ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  const auto drain = [](int fd, std::string& into) {
    char buffer[4096];
    ssize_t got = 0;
    while ((got = ::read(fd, buffer, sizeof buffer)) > 0) into.append(buffer, static_cast<std::size_t>(got));
    ::close(fd);
  };
  drain(out_pipe[0], ran.out);  // small outputs: reading one pipe after the other cannot deadlock here
  drain(err_pipe[0], ran.err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ran.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return ran;
}

Ran look(const std::string& root, std::vector<std::string> extra = {}, As as = As::root) {
  std::vector<std::string> args{kStackmgr, "--root", root, "look"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args, as);
}

TEST(LookCommand, KlipsRootShowsTheParsedTablesAsJson) {
  const Ran ran = look(kLookFixtures + "/klips_sample", {"--json"});
  ASSERT_EQ(ran.status, 0) << ran.out << ran.err;
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["schema"], "stackmgr.look/1");
  EXPECT_EQ(json["active"], "klips");
  ASSERT_EQ(json["stacks"].size(), 1u);
  const auto& klips = json["stacks"][0];
  EXPECT_EQ(klips["stack"], "klips");
  std::vector<std::string> eroutes;
  for (const auto& policy : klips["policies"])
    eroutes.push_back(policy["source"].get<std::string>() + " -> " +
                      policy["destination"].get<std::string>() + " " + policy["action"].get<std::string>() +
                      " " + policy["said"].get<std::string>());
  EXPECT_THAT(eroutes, ::testing::ElementsAre("192.168.1.0/24 -> 192.168.2.0/24 ipsec tun0x1002@192.0.2.2",
                                              "192.0.2.1/32 -> 198.51.100.0/24 trap %trap",
                                              "192.0.2.1/32 -> 203.0.113.53/32 pass %pass"));
  std::vector<std::string> sas;
  for (const auto& sa : klips["sas"])
    sas.push_back(sa["said"].get<std::string>() + " " + sa["mode"].get<std::string>());
  EXPECT_THAT(sas, ::testing::ElementsAre("tun0x1002@192.0.2.2 tunnel", "esp0x4a3f1b2c@192.0.2.2 tunnel",
                                          "tun0x1001@192.0.2.1 tunnel", "esp0x8c2d5e71@192.0.2.1 tunnel"));
  EXPECT_TRUE(klips["problems"].empty());
}

TEST(LookCommand, AMalformedLineIsListedAndTheRestStillShown) {
  const Ran ran = look(kLookFixtures + "/klips_damaged");
  ASSERT_EQ(ran.status, 0) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("SAs (4):"));
  EXPECT_THAT(ran.out,
              HasSubstr("Skipped (1 unreadable):\n  /proc/net/ipsec_spi:5: field dir=sideways is not in "
                        "or out: esp0x5@192.0.2.9 ESP_AES: dir=sideways\n"));
}

TEST(LookCommand, NoActiveStackIsAnEmptyStateAndExitZero) {
  const Ran ran = look(kLookFixtures + "/none_sample", {"--json"});
  ASSERT_EQ(ran.status, 0) << ran.out << ran.err;
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["active"], "none");
  EXPECT_TRUE(json["stacks"].empty());
  EXPECT_EQ(json["notes"][0],
            "No IPsec stack is active (detection says 'none'): there is no kernel IPsec state to show.");
}

// look reads the same catalog as plan and switch: the config's, [[modules.extra]] included.
TEST(LookCommand, TheConfigsExtraModulesDecideWhatIsActiveAsForEveryCommand) {
  if (::geteuid() != 0) GTEST_SKIP() << "stackmgr trusts only a root-owned config";
  std::string pattern = "/tmp/stackmgr-look-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path root = pattern;
  std::filesystem::copy(kLookFixtures + "/klips_sample", root, std::filesystem::copy_options::recursive);
  // xt_conntrack is live in the sample; the config calls it a native module.
  std::filesystem::create_directories(root / "etc/stackmgr");
  std::ofstream(root / "etc/stackmgr/stackmgr.toml")
      << "[[modules.extra]]\nname = \"xt_conntrack\"\nstack = \"native\"\nrole = \"core\"\n";
  ::chmod((root / "etc/stackmgr/stackmgr.toml").c_str(), 0644);
  const Ran ran = look(root.string(), {"--json"});
  const auto json = nlohmann::json::parse(ran.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << ran.out << ran.err;
  EXPECT_EQ(json["active"], "conflict") << "KLIPS and a native module are in the kernel: " << ran.err;
  EXPECT_NE(ran.status, 0);
  std::filesystem::remove_all(root);
}

TEST(LookCommand, UnknownSourceIsAUsageError) {
  EXPECT_EQ(look(kLookFixtures + "/none_sample", {"--source", "setkey"}).status, 2);
}

// The XFRM half reads this process's network namespace: give the test one of its own.
class LookInNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/ip", X_OK) != 0 && ::access("/sbin/ip", X_OK) != 0)
      GTEST_SKIP() << "iproute2's ip is not installed (package iproute2)";
    if (::unshare(CLONE_NEWNET) != 0)
      GTEST_SKIP() << "cannot create a network namespace (" << std::strerror(errno)
                   << "): this test needs root and never reads or changes the host's own XFRM tables";
  }
  static std::string ip() { return ::access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip" : "/sbin/ip"; }
  static void seed() {
    ASSERT_EQ(run({ip(), "xfrm", "state", "allocspi", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp",
                   "mode", "tunnel", "reqid", "5", "min", "0x1000", "max", "0x1000"})
                  .status,
              0);
    ASSERT_EQ(run({ip(),          "xfrm",  "policy", "add",   "src", "10.0.0.0/24", "dst",
                   "10.0.1.0/24", "dir",   "out",    "tmpl",  "src", "192.0.2.1",   "dst",
                   "192.0.2.2",   "proto", "esp",    "reqid", "5",   "mode",        "tunnel"})
                  .status,
              0);
    ASSERT_EQ(run({ip(), "xfrm", "policy", "add", "src", "10.0.1.0/24", "dst", "10.0.0.0/24", "dir", "in",
                   "ptype", "sub"})
                  .status,
              0);
  }
};

TEST_F(LookInNamespace, NativeSourceShowsExactlyTheSeededState) {
  seed();
  const Ran ran = look(kLookFixtures + "/none_sample", {"--source", "native", "--json"});
  ASSERT_EQ(ran.status, 0) << ran.out << ran.err;
  const auto native = nlohmann::json::parse(ran.out)["stacks"][0];
  EXPECT_EQ(native["stack"], "native");
  ASSERT_EQ(native["sas"].size(), 1u);
  EXPECT_EQ(native["sas"][0]["spi"], 0x1000);
  EXPECT_EQ(native["sas"][0]["reqid"], 5);
  ASSERT_EQ(native["policies"].size(), 2u);
  std::vector<std::string> policies;
  for (const auto& policy : native["policies"])
    policies.push_back(policy["direction"].get<std::string>() + " " + policy["action"].get<std::string>() +
                       " " + policy["type"].get<std::string>() + " " + std::to_string(policy["uses"].size()));
  std::sort(policies.begin(), policies.end());
  EXPECT_THAT(policies, ::testing::ElementsAre("in pass sub 0", "out ipsec main 1"));
}

TEST_F(LookInNamespace, WithoutCapNetAdminItSaysToRunAsRootAndExitsNine) {
  seed();
  const Ran ran = look(kLookFixtures + "/none_sample", {"--source", "native"}, As::nobody);
  if (ran.status == 127 && ran.out.empty())
    GTEST_SKIP() << "user nobody cannot execute " << kStackmgr << " (a build directory not open to others)";
  EXPECT_EQ(ran.status, 9) << ran.out << ran.err;
  EXPECT_THAT(ran.out,
              HasSubstr("cannot read its state: dumping XFRM SAs: Operation not permitted; run 'stackmgr "
                        "look' as root: XFRM netlink needs CAP_NET_ADMIN"));
}

TEST_F(LookInNamespace, ConflictShowsBothStacksAndExitsTen) {
  seed();
  const Ran ran = look(kLookFixtures + "/conflict_sample", {"--json"});
  EXPECT_EQ(ran.status, 10) << ran.out << ran.err;
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["active"], "conflict");
  ASSERT_EQ(json["stacks"].size(), 2u);
  EXPECT_EQ(json["stacks"][0]["stack"], "native");
  EXPECT_EQ(json["stacks"][0]["policies"].size(), 2u);
  EXPECT_EQ(json["stacks"][1]["stack"], "klips");
  EXPECT_EQ(json["stacks"][1]["sas"].size(), 4u);
  EXPECT_THAT(json["notes"][0].get<std::string>(), HasSubstr("Both stacks are in the kernel (conflict)"));
}

}  // namespace
}  // namespace stackmgr::cli
