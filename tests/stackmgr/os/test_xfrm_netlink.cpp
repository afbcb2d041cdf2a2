// XFRM netlink against the real kernel, each test in a network namespace of its own (so the
// host's own SAD/SPD is never touched and the tests can run in parallel), plus the message
// parsers on hand-built messages.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "stackmgr/os/xfrm_netlink.hpp"

namespace stackmgr::os {
namespace {

using stackmgr::os::XfrmAction;
using stackmgr::os::XfrmDirection;
using stackmgr::os::XfrmMode;
using stackmgr::os::XfrmPolicyType;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ---- running `ip` (fork/exec, no shell) ----

struct Ran {
  int status = -1;
  std::string output;
};

const char* ip_binary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(path, X_OK) == 0) return path;
  return nullptr;
}

Ran run_ip(std::vector<std::string> args) {
  Ran ran;
  const char* ip = ip_binary();
  if (ip == nullptr) return ran;
  args.insert(args.begin(), ip);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ran;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0)
    ran.output.append(buffer, static_cast<std::size_t>(got));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ran.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return ran;
}

#define IP(...)                                                              \
  do {                                                                       \
    const Ran ran = run_ip({__VA_ARGS__});                                   \
    ASSERT_EQ(ran.status, 0) << "ip " << #__VA_ARGS__ << ": " << ran.output; \
  } while (false)

// Each test gets a fresh, empty network namespace; without one it is skipped, never run on the host.
class XfrmNamespace : public ::testing::Test {
 protected:
  void SetUp() override {
    if (ip_binary() == nullptr) GTEST_SKIP() << "iproute2's ip is not installed (package iproute2)";
    if (::unshare(CLONE_NEWNET) != 0)
      GTEST_SKIP() << "cannot create a network namespace (" << std::strerror(errno)
                   << "): these tests need root and never fall back to the host's own XFRM tables";
    const auto empty = stackmgr::os::dump_xfrm();
    ASSERT_TRUE(empty) << empty.error().describe();
    ASSERT_THAT(empty->sas, IsEmpty());
    ASSERT_THAT(empty->policies, IsEmpty());
  }

  // The host kernel has XFRM but no ESP/AH: allocspi makes placeholder SAs, with a fixed SPI.
  static void seed() {
    IP("xfrm", "state", "allocspi", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "mode", "tunnel",
       "reqid", "5", "min", "0x1000", "max", "0x1000");
    IP("xfrm", "state", "allocspi", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "ah", "min", "0x2000",
       "max", "0x2000");
    IP("xfrm", "state", "allocspi", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "comp", "min", "0x300",
       "max", "0x300");
    IP("xfrm", "state", "allocspi", "src", "2001:db8::1", "dst", "2001:db8::2", "proto", "esp", "mode",
       "tunnel", "reqid", "7", "min", "0x4000", "max", "0x4000");

    IP("xfrm", "policy", "add", "src", "10.0.0.0/24", "dst", "10.0.1.0/24", "dir", "out", "priority", "2000",
       "tmpl", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "reqid", "5", "mode", "tunnel");
    IP("xfrm", "policy", "add", "src", "10.0.0.5/32", "dst", "10.0.1.0/24", "proto", "tcp", "dport", "443",
       "dir", "fwd", "action", "block", "priority", "100");
    IP("xfrm", "policy", "add", "src", "198.51.100.0/24", "dst", "203.0.113.0/24", "dir", "in", "tmpl",
       "proto", "ah", "spi", "0x2000", "mode", "transport", "level", "use");
    IP("xfrm", "policy", "add", "src", "2001:db8:1::/48", "dst", "2001:db8:2::/48", "dir", "out", "tmpl",
       "src", "2001:db8::1", "dst", "2001:db8::2", "proto", "esp", "reqid", "7", "mode", "tunnel");
    IP("xfrm", "policy", "add", "src", "10.0.1.0/24", "dst", "10.0.0.0/24", "dir", "in", "ptype", "sub",
       "tmpl", "src", "192.0.2.2", "dst", "192.0.2.1", "proto", "esp", "mode", "tunnel");
  }
};

const stackmgr::os::XfrmSa* find_sa(const stackmgr::os::XfrmDump& dump, std::uint32_t spi) {
  for (const auto& sa : dump.sas)
    if (sa.spi == spi) return &sa;
  return nullptr;
}

const stackmgr::os::XfrmPolicy* find_policy(const stackmgr::os::XfrmDump& dump, const std::string& source,
                                            os::XfrmDirection direction) {
  for (const auto& policy : dump.policies)
    if (policy.selector.source == source && policy.direction == direction) return &policy;
  return nullptr;
}

TEST_F(XfrmNamespace, DumpShowsExactlyTheSeededSasAndPolicies) {
  seed();
  const auto dump = stackmgr::os::dump_xfrm();
  ASSERT_TRUE(dump) << dump.error().describe();
  EXPECT_THAT(dump->problems, IsEmpty());

  std::vector<std::string> sas;
  for (const auto& sa : dump->sas)
    sas.push_back(stackmgr::os::xfrm_protocol_name(sa.protocol) + " " + std::to_string(sa.spi) + " " +
                  sa.source + "->" + sa.destination + " " + std::string(to_string(sa.mode)) + " reqid " +
                  std::to_string(sa.reqid));
  std::sort(sas.begin(), sas.end());
  EXPECT_THAT(sas, ElementsAre("ah 8192 192.0.2.1->192.0.2.2 transport reqid 0",
                               "comp 768 192.0.2.1->192.0.2.2 transport reqid 0",
                               "esp 16384 2001:db8::1->2001:db8::2 tunnel reqid 7",
                               "esp 4096 192.0.2.1->192.0.2.2 tunnel reqid 5"));
  const auto* esp = find_sa(*dump, 0x1000);
  ASSERT_NE(esp, nullptr);
  EXPECT_EQ(esp->bytes, 0u);
  EXPECT_EQ(esp->packets, 0u);
  EXPECT_EQ(esp->encryption, "");  // a placeholder SA has no algorithms yet
  EXPECT_GT(esp->add_time, 1700000000u);

  ASSERT_EQ(dump->policies.size(), 5u);
  const auto* out = find_policy(*dump, "10.0.0.0", os::XfrmDirection::out);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->selector.source_prefix, 24u);
  EXPECT_EQ(out->selector.destination, "10.0.1.0");
  EXPECT_EQ(out->selector.destination_prefix, 24u);
  EXPECT_EQ(out->selector.protocol, 0u);
  EXPECT_EQ(out->action, os::XfrmAction::allow);
  EXPECT_EQ(out->priority, 2000u);
  EXPECT_EQ(out->type, os::XfrmPolicyType::main);
  ASSERT_EQ(out->templates.size(), 1u);
  EXPECT_EQ(out->templates[0].protocol, IPPROTO_ESP);
  EXPECT_FALSE(out->templates[0].spi);
  EXPECT_EQ(out->templates[0].source, "192.0.2.1");
  EXPECT_EQ(out->templates[0].destination, "192.0.2.2");
  EXPECT_EQ(out->templates[0].reqid, 5u);
  EXPECT_EQ(out->templates[0].mode, os::XfrmMode::tunnel);
  EXPECT_FALSE(out->templates[0].optional);

  const auto* blocked = find_policy(*dump, "10.0.0.5", os::XfrmDirection::fwd);
  ASSERT_NE(blocked, nullptr);
  EXPECT_EQ(blocked->action, os::XfrmAction::block);
  EXPECT_EQ(blocked->selector.protocol, IPPROTO_TCP);
  EXPECT_EQ(blocked->selector.destination_port, 443u);
  EXPECT_FALSE(blocked->selector.source_port);
  EXPECT_THAT(blocked->templates, IsEmpty());

  const auto* transport = find_policy(*dump, "198.51.100.0", os::XfrmDirection::in);
  ASSERT_NE(transport, nullptr);
  ASSERT_EQ(transport->templates.size(), 1u);
  EXPECT_EQ(transport->templates[0].spi, 0x2000u);
  EXPECT_EQ(transport->templates[0].source, "");  // transport mode: any endpoints
  EXPECT_EQ(transport->templates[0].destination, "");
  EXPECT_TRUE(transport->templates[0].optional);

  const auto* v6 = find_policy(*dump, "2001:db8:1::", os::XfrmDirection::out);
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->selector.source_prefix, 48u);
  EXPECT_EQ(v6->templates.at(0).destination, "2001:db8::2");

  const auto* sub = find_policy(*dump, "10.0.1.0", os::XfrmDirection::in);
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->type, os::XfrmPolicyType::sub);
  EXPECT_EQ(sub->templates.at(0).source, "192.0.2.2");
}

TEST_F(XfrmNamespace, CountAgreesWithWhatWasSeeded) {
  seed();
  const auto counts = stackmgr::os::count_xfrm();
  ASSERT_TRUE(counts) << counts.error().describe();
  EXPECT_EQ(counts->sas, 4u);
  EXPECT_EQ(counts->main_policies, 4u);
  EXPECT_EQ(counts->sub_policies, 1u);
}

TEST_F(XfrmNamespace, ASocketsOwnPolicyIsShownAsSuchAndIsNotATunnel) {
  // What pluto does to its IKE sockets: a per-socket bypass, dumped as XFRM_POLICY_MAX + dir.
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  xfrm_userpolicy_info bypass{};
  bypass.sel.family = AF_INET;
  bypass.lft.soft_byte_limit = XFRM_INF;
  bypass.lft.hard_byte_limit = XFRM_INF;
  bypass.lft.soft_packet_limit = XFRM_INF;
  bypass.lft.hard_packet_limit = XFRM_INF;
  bypass.dir = XFRM_POLICY_OUT;
  bypass.action = XFRM_POLICY_ALLOW;
  ASSERT_EQ(::setsockopt(fd, IPPROTO_IP, IP_XFRM_POLICY, &bypass, sizeof bypass), 0) << std::strerror(errno);
  const auto dump = stackmgr::os::dump_xfrm();
  const auto counts = stackmgr::os::count_xfrm();
  ::close(fd);
  ASSERT_TRUE(dump) << dump.error().describe();
  ASSERT_EQ(dump->policies.size(), 1u);
  EXPECT_EQ(dump->policies[0].direction, os::XfrmDirection::socket_out);
  EXPECT_EQ(stackmgr::os::to_string(dump->policies[0].direction), "socket out");
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->socket_policies, 1u);
  EXPECT_EQ(counts->main_policies, 0u) << "a daemon's own socket bypass is no tunnel";
}

TEST_F(XfrmNamespace, FlushRemovesSasMainAndSubPolicies) {
  seed();
  const auto flushed = stackmgr::os::flush_xfrm();
  ASSERT_TRUE(flushed) << flushed.error().describe();

  const auto dump = stackmgr::os::dump_xfrm();
  ASSERT_TRUE(dump) << dump.error().describe();
  EXPECT_THAT(dump->sas, IsEmpty());
  EXPECT_THAT(dump->policies, IsEmpty());
  const auto counts = stackmgr::os::count_xfrm();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->sas + counts->main_policies + counts->sub_policies, 0u);
  // iproute2 agrees that nothing is left.
  EXPECT_EQ(run_ip({"xfrm", "state", "list"}).output, "");
  EXPECT_EQ(run_ip({"xfrm", "policy", "list"}).output, "");
}

TEST_F(XfrmNamespace, FlushOfEmptyTablesSucceeds) {
  const auto first = stackmgr::os::flush_xfrm();
  ASSERT_TRUE(first) << first.error().describe();
  const auto second = stackmgr::os::flush_xfrm();
  ASSERT_TRUE(second) << second.error().describe();
  const auto counts = stackmgr::os::count_xfrm();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->sas + counts->main_policies + counts->sub_policies, 0u);
}

TEST_F(XfrmNamespace, SubPolicyFlushLeavesNothingBehindWhenOnlySubPoliciesExist) {
  IP("xfrm", "policy", "add", "src", "10.9.0.0/16", "dst", "10.8.0.0/16", "dir", "out", "ptype", "sub");
  ASSERT_EQ(stackmgr::os::count_xfrm()->sub_policies, 1u);
  ASSERT_TRUE(stackmgr::os::flush_xfrm());
  EXPECT_EQ(stackmgr::os::count_xfrm()->sub_policies, 0u);
}

// What a caller without CAP_NET_ADMIN sees, run as nobody in a child process.
std::string as_nobody(const std::function<std::string()>& what) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string result = "could not drop privileges";
    if (::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
        ::setresuid(65534, 65534, 65534) == 0)
      result = what();
    const ssize_t wrote = ::write(pipe_fds[1], result.data(), result.size());
    ::_exit(wrote == static_cast<ssize_t>(result.size()) ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[512];
  ssize_t got = 0;
  while ((got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0)
    output.append(buffer, static_cast<std::size_t>(got));
  ::close(pipe_fds[0]);
  ::waitpid(pid, nullptr, 0);
  return output;
}

TEST_F(XfrmNamespace, WithoutCapNetAdminErrorsSayWhatFailedAndWhy) {
  seed();
  EXPECT_EQ(as_nobody([] {
              const auto status = stackmgr::os::flush_xfrm();
              return status ? std::string("flushed") : status.error().describe();
            }),
            "flushing XFRM SAs: Operation not permitted");
  EXPECT_EQ(as_nobody([] {
              const auto dump = stackmgr::os::dump_xfrm();
              return dump ? std::string("dumped") : dump.error().describe();
            }),
            "dumping XFRM SAs: Operation not permitted");
  EXPECT_EQ(as_nobody([] {
              const auto counts = stackmgr::os::count_xfrm();
              return counts ? std::string("counted") : std::to_string(counts.error().code);
            }),
            std::to_string(EPERM));
  // Nothing was flushed by the failed attempt.
  EXPECT_EQ(stackmgr::os::count_xfrm()->sas, 4u);
}

// ---- the parsers, on hand-built messages ----

class Message {
 public:
  template <typename Fixed>
  Message(std::uint16_t type, const Fixed& fixed) {
    bytes_.resize(NLMSG_HDRLEN);
    append(&fixed, sizeof fixed);
    pad();
    header().nlmsg_type = type;
  }
  Message& attribute(std::uint16_t type, const void* data, std::size_t length) {
    nlattr attr{};
    attr.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + length);
    attr.nla_type = type;
    append(&attr, sizeof attr);
    append(data, length);
    pad();
    return *this;
  }
  template <typename T>
  Message& attribute(std::uint16_t type, const T& value) {
    return attribute(type, &value, sizeof value);
  }
  [[nodiscard]] std::vector<unsigned char> bytes() {
    header().nlmsg_len = static_cast<std::uint32_t>(bytes_.size());
    return bytes_;
  }

 private:
  nlmsghdr& header() { return *reinterpret_cast<nlmsghdr*>(bytes_.data()); }
  void append(const void* data, std::size_t length) {
    const auto* p = static_cast<const unsigned char*>(data);
    bytes_.insert(bytes_.end(), p, p + length);
  }
  void pad() { bytes_.resize(NLMSG_ALIGN(bytes_.size())); }
  std::vector<unsigned char> bytes_;
};

xfrm_usersa_info esp_tunnel_sa() {
  xfrm_usersa_info info{};
  info.family = AF_INET;
  ::inet_pton(AF_INET, "192.0.2.1", &info.saddr.a4);
  ::inet_pton(AF_INET, "192.0.2.2", &info.id.daddr.a4);
  info.id.spi = htonl(0xc0ffee01);
  info.id.proto = IPPROTO_ESP;
  info.mode = XFRM_MODE_TUNNEL;
  info.reqid = 16389;
  info.curlft.bytes = 123456;
  info.curlft.packets = 789;
  info.curlft.add_time = 1750000000;
  info.sel.family = AF_INET;
  ::inet_pton(AF_INET, "10.0.0.0", &info.sel.saddr.a4);
  info.sel.prefixlen_s = 8;
  info.sel.proto = IPPROTO_UDP;
  info.sel.dport = htons(53);
  info.sel.dport_mask = 0xffff;
  return info;
}

template <typename Algo>
Algo algorithm(const char* name) {
  Algo algo{};
  std::strncpy(algo.alg_name, name, sizeof algo.alg_name - 1);
  return algo;
}

TEST(XfrmParse, ReadsAnSaWithItsAlgorithmsCountersAndEncapsulation) {
  auto auth = algorithm<xfrm_algo_auth>("hmac(sha256)");
  auth.alg_trunc_len = 128;
  xfrm_encap_tmpl encap{};
  encap.encap_type = 2;
  encap.encap_sport = htons(4500);
  encap.encap_dport = htons(4501);
  auto bytes = Message(XFRM_MSG_NEWSA, esp_tunnel_sa())
                   .attribute(XFRMA_ALG_CRYPT, algorithm<xfrm_algo>("cbc(aes)"))
                   .attribute(XFRMA_ALG_AUTH, algorithm<xfrm_algo>("hmac(sha256)"))
                   .attribute(XFRMA_ALG_AUTH_TRUNC, auth)
                   .attribute(XFRMA_ALG_COMP, algorithm<xfrm_algo>("deflate"))
                   .attribute(XFRMA_ENCAP, encap)
                   .attribute(XFRMA_MARK, std::uint64_t{42})  // ignored
                   .bytes();
  const auto sa = stackmgr::os::parse_xfrm_sa(bytes.data(), bytes.size());
  ASSERT_TRUE(sa) << sa.error().describe();
  EXPECT_EQ(sa->spi, 0xc0ffee01u);
  EXPECT_EQ(stackmgr::os::xfrm_protocol_name(sa->protocol), "esp");
  EXPECT_EQ(sa->mode, os::XfrmMode::tunnel);
  EXPECT_EQ(sa->source, "192.0.2.1");
  EXPECT_EQ(sa->destination, "192.0.2.2");
  EXPECT_EQ(sa->reqid, 16389u);
  EXPECT_EQ(sa->encryption, "cbc(aes)");
  EXPECT_EQ(sa->authentication, "hmac(sha256)");
  EXPECT_EQ(sa->authentication_truncation_bits, 128u);
  EXPECT_EQ(sa->compression, "deflate");
  EXPECT_EQ(sa->aead, "");
  EXPECT_EQ(sa->bytes, 123456u);
  EXPECT_EQ(sa->packets, 789u);
  EXPECT_EQ(sa->add_time, 1750000000u);
  ASSERT_TRUE(sa->encap);
  EXPECT_EQ(sa->encap->type, 2u);
  EXPECT_EQ(sa->encap->source_port, 4500u);
  EXPECT_EQ(sa->encap->destination_port, 4501u);
  EXPECT_EQ(sa->selector.source, "10.0.0.0");
  EXPECT_EQ(sa->selector.source_prefix, 8u);
  EXPECT_EQ(sa->selector.protocol, IPPROTO_UDP);
  EXPECT_EQ(sa->selector.destination_port, 53u);
  EXPECT_FALSE(sa->selector.source_port);
}

TEST(XfrmParse, ReadsAeadAndKeepsHostileNamesPrintable) {
  auto aead = algorithm<xfrm_algo_aead>("rfc4106(gcm(aes))");
  aead.alg_icv_len = 128;
  auto crypt = algorithm<xfrm_algo>("");
  std::memset(crypt.alg_name, '\x1b', sizeof crypt.alg_name);  // no NUL at all, escape bytes
  auto bytes = Message(XFRM_MSG_NEWSA, esp_tunnel_sa())
                   .attribute(XFRMA_ALG_AEAD, aead)
                   .attribute(XFRMA_ALG_CRYPT, crypt)
                   .bytes();
  const auto sa = stackmgr::os::parse_xfrm_sa(bytes.data(), bytes.size());
  ASSERT_TRUE(sa) << sa.error().describe();
  EXPECT_EQ(sa->aead, "rfc4106(gcm(aes))");
  EXPECT_EQ(sa->aead_icv_bits, 128u);
  EXPECT_EQ(sa->encryption, std::string(64, '?'));
}

TEST(XfrmParse, ReadsAPolicyWithTemplatesAndItsType) {
  xfrm_userpolicy_info info{};
  info.sel.family = AF_INET6;
  ::inet_pton(AF_INET6, "2001:db8:1::", &info.sel.saddr.a6);
  info.sel.prefixlen_s = 48;
  ::inet_pton(AF_INET6, "2001:db8:2::", &info.sel.daddr.a6);
  info.sel.prefixlen_d = 64;
  info.dir = XFRM_POLICY_FWD;
  info.action = XFRM_POLICY_ALLOW;
  info.priority = 1757;
  info.index = 0x1a;
  std::array<xfrm_user_tmpl, 2> templates{};
  templates[0].id.proto = IPPROTO_COMP;
  templates[0].mode = XFRM_MODE_TUNNEL;
  templates[0].optional = 1;
  templates[1].id.proto = IPPROTO_ESP;
  templates[1].id.spi = htonl(0x1234);
  templates[1].family = AF_INET6;
  ::inet_pton(AF_INET6, "2001:db8::1", &templates[1].saddr.a6);
  ::inet_pton(AF_INET6, "2001:db8::2", &templates[1].id.daddr.a6);
  templates[1].reqid = 9;
  templates[1].mode = XFRM_MODE_BEET;
  xfrm_userpolicy_type type{};
  type.type = XFRM_POLICY_TYPE_SUB;
  auto bytes = Message(XFRM_MSG_NEWPOLICY, info)
                   .attribute(XFRMA_TMPL, templates.data(), sizeof templates)
                   .attribute(XFRMA_POLICY_TYPE, type)
                   .bytes();
  const auto policy = stackmgr::os::parse_xfrm_policy(bytes.data(), bytes.size());
  ASSERT_TRUE(policy) << policy.error().describe();
  EXPECT_EQ(policy->selector.source, "2001:db8:1::");
  EXPECT_EQ(policy->selector.destination_prefix, 64u);
  EXPECT_EQ(policy->direction, os::XfrmDirection::fwd);
  EXPECT_EQ(policy->priority, 1757u);
  EXPECT_EQ(policy->index, 0x1au);
  EXPECT_EQ(policy->type, os::XfrmPolicyType::sub);
  ASSERT_EQ(policy->templates.size(), 2u);
  EXPECT_EQ(policy->templates[0].protocol, IPPROTO_COMP);
  EXPECT_TRUE(policy->templates[0].optional);
  EXPECT_EQ(policy->templates[0].source, "");
  EXPECT_EQ(policy->templates[1].spi, 0x1234u);
  EXPECT_EQ(policy->templates[1].source, "2001:db8::1");  // family from the template
  EXPECT_EQ(policy->templates[1].destination, "2001:db8::2");
  EXPECT_EQ(policy->templates[1].mode, os::XfrmMode::beet);
}

std::string parse_failure(std::vector<unsigned char> bytes, std::size_t length) {
  const auto policy = stackmgr::os::parse_xfrm_policy(bytes.data(), length);
  return policy ? "parsed" : policy.error().message;
}

TEST(XfrmParse, ReportsMalformedMessagesInsteadOfReadingPastThem) {
  xfrm_userpolicy_info info{};
  auto good = Message(XFRM_MSG_NEWPOLICY, info).bytes();
  EXPECT_EQ(parse_failure(good, good.size()), "parsed");
  EXPECT_EQ(parse_failure(good, 8), "XFRM policy message: 8 bytes is shorter than a netlink header");
  EXPECT_EQ(parse_failure(good, good.size() - 4), "XFRM policy message: netlink length " +
                                                      std::to_string(good.size()) + " does not fit the " +
                                                      std::to_string(good.size() - 4) + " bytes received");

  auto wrong_type = Message(XFRM_MSG_NEWSA, info).bytes();
  EXPECT_EQ(parse_failure(wrong_type, wrong_type.size()), "XFRM policy message: unexpected message type 16");

  auto short_fixed = good;
  short_fixed.resize(NLMSG_HDRLEN + 8);
  reinterpret_cast<nlmsghdr*>(short_fixed.data())->nlmsg_len = static_cast<std::uint32_t>(short_fixed.size());
  EXPECT_EQ(parse_failure(short_fixed, short_fixed.size()),
            "XFRM policy message: 24 bytes is too short for its fixed part");

  auto overrun = Message(XFRM_MSG_NEWPOLICY, info).attribute(XFRMA_TMPL, std::uint32_t{0}).bytes();
  reinterpret_cast<nlattr*>(overrun.data() + overrun.size() - 8)->nla_len = 200;
  EXPECT_THAT(parse_failure(overrun, overrun.size()), ::testing::EndsWith("overruns the message"));

  auto odd_templates = Message(XFRM_MSG_NEWPOLICY, info).attribute(XFRMA_TMPL, std::uint32_t{0}).bytes();
  EXPECT_EQ(parse_failure(odd_templates, odd_templates.size()),
            "XFRM policy message: template attribute has 4 bytes, not a multiple of " +
                std::to_string(sizeof(xfrm_user_tmpl)));

  xfrm_userpolicy_type bad_type{};
  bad_type.type = 7;
  auto unknown_type = Message(XFRM_MSG_NEWPOLICY, info).attribute(XFRMA_POLICY_TYPE, bad_type).bytes();
  EXPECT_EQ(parse_failure(unknown_type, unknown_type.size()), "XFRM policy message: unknown policy type 7");

  auto short_algo =
      Message(XFRM_MSG_NEWSA, esp_tunnel_sa()).attribute(XFRMA_ALG_CRYPT, std::uint32_t{0}).bytes();
  const auto sa = stackmgr::os::parse_xfrm_sa(short_algo.data(), short_algo.size());
  ASSERT_FALSE(sa);
  EXPECT_EQ(sa.error().message, "XFRM SA message: algorithm attribute has 4 bytes, expected 68");
  EXPECT_EQ(sa.error().code, 0);
}

}  // namespace
}  // namespace stackmgr::os
