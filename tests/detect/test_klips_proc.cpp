#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "detect/klips_proc.hpp"

namespace {

using detect::KlipsDirection;
using detect::MagicSa;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::string kFixtures = KLIPS_FIXTURE_DIR;

std::string fixture(const std::string& name) {
  std::ifstream in(kFixtures + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "<line>: <reason>" for each problem, so a test shows every skipped line at once.
std::vector<std::string> problems_of(const std::vector<detect::ParseProblem>& problems) {
  std::vector<std::string> out;
  for (const auto& problem : problems) out.push_back(std::to_string(problem.line) + ": " + problem.reason);
  return out;
}

std::string subnet(const detect::KlipsSubnet& s) {
  std::string text = s.address + "/" + std::to_string(s.prefix);
  if (s.port) text += ":" + std::to_string(*s.port);
  return text;
}

// ---- SA IDs and subnets ----

TEST(KlipsSaId, ParsesEveryFormSatotPrints) {
  const auto x = detect::parse_klips_said("tun0x1002@192.0.2.2");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->protocol, "tun");
  EXPECT_EQ(x->spi, 0x1002u);
  EXPECT_EQ(x->destination, "192.0.2.2");
  EXPECT_FALSE(x->is_magic());

  const auto dotted = detect::parse_klips_said("esp.e6de@192.168.2.120");
  ASSERT_TRUE(dotted);
  EXPECT_EQ(dotted->protocol, "esp");
  EXPECT_EQ(dotted->spi, 0xe6deu);

  const auto v6 = detect::parse_klips_said("ah:f5ed@3049:1::120");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->protocol, "ah");
  EXPECT_EQ(v6->spi, 0xf5edu);
  EXPECT_EQ(v6->destination, "3049:1::120");

  const auto decimal = detect::parse_klips_said("comp507@10.0.0.1");
  ASSERT_TRUE(decimal);
  EXPECT_EQ(decimal->protocol, "comp");
  EXPECT_EQ(decimal->spi, 507u);

  const auto unknown = detect::parse_klips_said("unk77.9@1.2.3.4");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->protocol, "unk77");
}

TEST(KlipsSaId, RecognisesMagicSasByNameAndByInternalSpi) {
  EXPECT_EQ(detect::parse_klips_said("%trap")->magic, MagicSa::trap);
  EXPECT_EQ(detect::parse_klips_said("%pass")->magic, MagicSa::pass);
  EXPECT_EQ(detect::parse_klips_said("%passthrough4")->magic, MagicSa::passthrough);
  EXPECT_EQ(detect::parse_klips_said("%trapsubnet")->magic, MagicSa::trapsubnet);
  EXPECT_EQ(detect::parse_klips_said("int0x101@0.0.0.0")->magic, MagicSa::drop);
  EXPECT_EQ(detect::parse_klips_said("int259@0.0.0.0")->magic, MagicSa::hold);
  EXPECT_EQ(detect::parse_klips_said("int0x999@0.0.0.0")->magic, MagicSa::none);
}

TEST(KlipsSaId, RejectsWhatIsNotAnSaId) {
  for (const char* text :
       {"", "%", "%bogus", "esp@1.2.3.4", "esp0x@1.2.3.4", "esp0x1g@1.2.3.4", "esp0x100000000@1.2.3.4",
        "foo0x1@1.2.3.4", "esp0x1@", "esp0x1@1.2.3", "esp0x1@1.2.3.4.5", "esp-1@1.2.3.4", "esp.+1@1.2.3.4",
        "unk.9@1.2.3.4", "tun0x1002192.0.2.2"}) {
    EXPECT_FALSE(detect::parse_klips_said(text)) << text;
  }
}

TEST(KlipsSubnet, ParsesPrefixesDottedMasksPortsAndIpv6) {
  EXPECT_EQ(subnet(*detect::parse_klips_subnet("192.168.1.0/24")), "192.168.1.0/24");
  EXPECT_EQ(subnet(*detect::parse_klips_subnet("10.0.0.0/255.255.0.0")), "10.0.0.0/16");
  EXPECT_EQ(subnet(*detect::parse_klips_subnet("0.0.0.0/0.0.0.0")), "0.0.0.0/0");
  EXPECT_EQ(subnet(*detect::parse_klips_subnet("10.1.0.0/16:80")), "10.1.0.0/16:80");
  EXPECT_EQ(subnet(*detect::parse_klips_subnet("3049:1:0::/64")), "3049:1::/64");
  EXPECT_EQ(subnet(*detect::parse_klips_subnet("3049:1::/64:443")), "3049:1::/64:443");
  for (const char* text : {"192.168.1.0", "192.168.1.0/33", "3049::/129", "10.0.0.0/255.0.255.0",
                           "3049::/255.0.0.0", "10.0.0.0/", "10.0.0.0/8:", "10.0.0.0/8:65536", "/8"}) {
    EXPECT_FALSE(detect::parse_klips_subnet(text)) << text;
  }
}

// ---- /proc/net/ipsec_eroute ----

TEST(KlipsEroutes, ParsesExactlyWhatTheStandInPrints) {
  const auto table = detect::parse_klips_eroutes(fixture("standin/proc/net/ipsec_eroute"));
  EXPECT_THAT(table.problems, IsEmpty());
  ASSERT_EQ(table.rows.size(), 3u);

  const auto& tunnel = table.rows[0];
  EXPECT_EQ(tunnel.packets, 10u);
  EXPECT_EQ(subnet(tunnel.source), "192.168.1.0/24");
  EXPECT_EQ(subnet(tunnel.destination), "192.168.2.0/24");
  EXPECT_EQ(tunnel.said.text, "tun0x1002@192.0.2.2");
  EXPECT_EQ(tunnel.said.protocol, "tun");
  EXPECT_EQ(tunnel.said.spi, 0x1002u);
  EXPECT_EQ(tunnel.said.destination, "192.0.2.2");
  EXPECT_FALSE(tunnel.protocol);
  EXPECT_FALSE(tunnel.source_identity);

  EXPECT_EQ(table.rows[1].packets, 0u);
  EXPECT_EQ(subnet(table.rows[1].destination), "198.51.100.0/24");
  EXPECT_EQ(table.rows[1].said.magic, MagicSa::trap);
  EXPECT_EQ(table.rows[2].packets, 42u);
  EXPECT_EQ(subnet(table.rows[2].destination), "203.0.113.53/32");
  EXPECT_EQ(table.rows[2].said.magic, MagicSa::pass);
}

TEST(KlipsEroutes, ParsesTheFormsOtherKlipsVersionsPrinted) {
  const auto table = detect::parse_klips_eroutes(fixture("eroute-variants"));
  EXPECT_THAT(problems_of(table.problems), IsEmpty());
  ASSERT_EQ(table.rows.size(), 10u);

  EXPECT_EQ(table.rows[0].packets, 1867u);
  EXPECT_EQ(subnet(table.rows[0].destination), "0.0.0.0/0");
  EXPECT_EQ(table.rows[0].said.spi, 0x130u);

  EXPECT_EQ(subnet(table.rows[1].source), "3049:1::/64");
  EXPECT_EQ(subnet(table.rows[1].destination), "::/0");
  EXPECT_EQ(table.rows[1].said.destination, "3058:4::5");
  EXPECT_EQ(table.rows[1].source_identity, "");
  EXPECT_EQ(table.rows[1].destination_identity, "");

  EXPECT_EQ(table.rows[2].said.magic, MagicSa::hold);
  EXPECT_EQ(table.rows[2].source_identity, "east");

  EXPECT_EQ(table.rows[3].said.protocol, "esp");  // CRLF line ending
  EXPECT_EQ(table.rows[3].said.spi, 0xe6deu);

  EXPECT_EQ(subnet(table.rows[4].source), "10.1.0.0/16:80");
  EXPECT_EQ(subnet(table.rows[4].destination), "10.2.0.0/16:443");
  EXPECT_EQ(table.rows[4].protocol, 6u);
  EXPECT_EQ(table.rows[4].said.text, "tun0x2001@198.51.100.7");

  EXPECT_EQ(table.rows[5].packets, 2147483648u);  // %d of a counter past 2^31
  EXPECT_EQ(table.rows[5].said.magic, MagicSa::drop);

  EXPECT_EQ(table.rows[6].said.magic, MagicSa::trap);  // tab separated, int0x104@0.0.0.0
  EXPECT_EQ(table.rows[7].said.magic, MagicSa::passthrough);
  EXPECT_EQ(table.rows[8].said.magic, MagicSa::reject);
  EXPECT_EQ(table.rows[9].said.magic, MagicSa::trapsubnet);  // no final newline
}

TEST(KlipsEroutes, ReportsEachMalformedLineWithItsNumberAndSkipsIt) {
  const auto table = detect::parse_klips_eroutes(fixture("eroute-bad"));
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0].said.text, "tun0x1002@192.0.2.2");
  EXPECT_EQ(table.rows[1].packets, 42u);
  EXPECT_THAT(
      problems_of(table.problems),
      ElementsAre("1: too few fields: expected '<count> <source> -> <destination> => <SA>'",
                  "3: packet count 'abc' is not a number", "4: source '192.168.1.0/33' is not a subnet",
                  "5: expected '->' after the source subnet", "6: expected '=>' after the destination subnet",
                  "7: SA '%bogus' is not an SA ID", "8: SA 'esp0x1g@1.2.3.4' is not an SA ID",
                  "9: unexpected text after the SA",
                  "10: too few fields: expected '<count> <source> -> <destination> => <SA>'",
                  "11: source '192.168.1.0/255.0.255.0' is not a subnet",
                  "12: source '300.1.1.1/32' is not a subnet",
                  "13: SA 'tun0x1@192.0.2.2:999' is not an SA ID",
                  "14: source '192.168.1.0/24:99999' is not a subnet",
                  "15: line is 5002 bytes long, over the limit of 4096", "16: SA '??%pass' is not an SA ID",
                  "18: packet count '99999999999999999999' is not a number", "19: line contains a NUL byte",
                  "20: unexpected text after the SA", "21: SA 'tun0x100@192.0.2' is not an SA ID"));
  for (const auto& problem : table.problems) EXPECT_EQ(problem.file, "/proc/net/ipsec_eroute");
}

TEST(KlipsEroutes, ShowsTheOffendingLineSafely) {
  const auto table = detect::parse_klips_eroutes(fixture("eroute-bad"));
  ASSERT_GE(table.problems.size(), 15u);
  EXPECT_EQ(table.problems[0].text, "this is not an eroute");
  // Over-long lines are cut, control bytes replaced: the text is safe to print to a terminal.
  EXPECT_EQ(table.problems[13].text, "1 " + std::string(detect::kProblemTextLimit - 2, 'x') + "...");
  EXPECT_EQ(table.problems[14].text, "1          192.168.1.0/24     -> 192.168.2.0/24     => ??%pass");
}

TEST(KlipsEroutes, SurvivesBinaryGarbageAndEmptyInput) {
  const auto garbage = detect::parse_klips_eroutes(fixture("garbage.bin"));
  EXPECT_THAT(garbage.rows, IsEmpty());
  EXPECT_FALSE(garbage.problems.empty());
  for (const auto& problem : garbage.problems) {
    for (const char c : problem.text) EXPECT_TRUE(c == '\t' || (c >= 0x20 && c < 0x7f)) << problem.line;
  }
  const auto empty = detect::parse_klips_eroutes("");
  EXPECT_THAT(empty.rows, IsEmpty());
  EXPECT_THAT(empty.problems, IsEmpty());
}

// ---- /proc/net/ipsec_spi ----

TEST(KlipsSpis, ParsesExactlyWhatTheStandInPrints) {
  const auto table = detect::parse_klips_spis(fixture("standin/proc/net/ipsec_spi"));
  EXPECT_THAT(problems_of(table.problems), IsEmpty());
  ASSERT_EQ(table.rows.size(), 4u);

  const auto& tun_out = table.rows[0];
  EXPECT_EQ(tun_out.said.text, "tun0x1002@192.0.2.2");
  EXPECT_EQ(tun_out.transform, "IPIP");
  EXPECT_EQ(tun_out.transform_protocol, "IPIP");
  EXPECT_EQ(tun_out.encryption, "");
  EXPECT_EQ(tun_out.direction, KlipsDirection::out);
  EXPECT_EQ(tun_out.source, "192.0.2.1");
  EXPECT_EQ(tun_out.lifetimes.at("addtime").current, 60u);
  EXPECT_EQ(tun_out.lifetimes.size(), 1u);

  const auto& esp_out = table.rows[1];
  EXPECT_EQ(esp_out.said.protocol, "esp");
  EXPECT_EQ(esp_out.said.spi, 0x4a3f1b2cu);
  EXPECT_EQ(esp_out.transform_protocol, "ESP");
  EXPECT_EQ(esp_out.encryption, "3DES");
  EXPECT_EQ(esp_out.authentication, "HMAC_MD5");
  EXPECT_EQ(esp_out.iv_bits, 64u);
  EXPECT_EQ(esp_out.iv, "0123456789abcdef");
  EXPECT_EQ(esp_out.replay_window, 64u);
  EXPECT_EQ(esp_out.auth_bits, 128u);
  EXPECT_EQ(esp_out.auth_key_bits, 128u);
  EXPECT_EQ(esp_out.enc_key_bits, 192u);
  EXPECT_EQ(esp_out.lifetimes.at("bytes").current, 1234u);
  EXPECT_EQ(esp_out.lifetimes.at("packets").current, 10u);
  EXPECT_FALSE(esp_out.sequence);

  const auto& tun_in = table.rows[2];
  EXPECT_EQ(tun_in.direction, KlipsDirection::in);  // "dir=in " then " src=": two spaces
  EXPECT_EQ(tun_in.source, "192.0.2.2");
  ASSERT_TRUE(tun_in.policy);
  EXPECT_EQ(subnet(tun_in.policy->first), "192.168.2.0/24");
  EXPECT_EQ(subnet(tun_in.policy->second), "192.168.1.0/24");
  EXPECT_EQ(tun_in.flags, 0x8u);

  const auto& esp_in = table.rows[3];
  EXPECT_EQ(esp_in.sequence, 10u);
  EXPECT_EQ(esp_in.replay_bitmap, 0x3ffu);
  EXPECT_EQ(esp_in.iv, "fedcba9876543210");
}

TEST(KlipsSpis, ParsesTheFormsOtherKlipsVersionsPrinted) {
  const auto table = detect::parse_klips_spis(fixture("spi-variants"));
  EXPECT_THAT(problems_of(table.problems), IsEmpty());
  ASSERT_EQ(table.rows.size(), 9u);

  const auto& old_tun = table.rows[0];  // FreeS/WAN 1.9x: add( and use(
  EXPECT_EQ(old_tun.said.spi, 0x12au);
  EXPECT_EQ(old_tun.lifetimes.at("addtime").current, 269u);
  EXPECT_EQ(old_tun.lifetimes.at("usetime").current, 149u);
  EXPECT_EQ(old_tun.lifetimes.at("bytes").current, 14073u);
  EXPECT_EQ(old_tun.idle, 23u);

  const auto& v6 = table.rows[1];
  EXPECT_EQ(v6.said.destination, "3049:1::1");
  EXPECT_EQ(v6.source, "3049:1::2");
  EXPECT_EQ(v6.sequence, 7149u);
  EXPECT_EQ(v6.replay_bitmap, 0xffffffffu);

  const auto& openswan = table.rows[2];
  EXPECT_EQ(openswan.encryption, "AES");
  EXPECT_EQ(openswan.authentication, "HMAC_SHA2_256");
  EXPECT_EQ(openswan.iv_bits, 128u);
  EXPECT_EQ(openswan.sequence, 4294967291u);  // seq=-5: %d of a large 32-bit value
  EXPECT_EQ(openswan.lifetimes.at("alloc").current, 1u);
  EXPECT_EQ(openswan.lifetimes.at("bytes").soft, 3000000000u);
  EXPECT_EQ(openswan.lifetimes.at("bytes").hard, 4000000000u);
  EXPECT_EQ(openswan.lifetimes.at("addtime").hard, 28800u);
  EXPECT_EQ(openswan.natencap, "nonesp");
  EXPECT_EQ(openswan.counters.at("ooo_errs"), "2");
  EXPECT_EQ(openswan.counters.at("auth_errs"), "1");
  EXPECT_EQ(openswan.counters.at("natsport"), "4500");
  EXPECT_EQ(openswan.counters.at("refcount"), "4");

  const auto& ah = table.rows[3];
  EXPECT_EQ(ah.transform_protocol, "AH");
  EXPECT_EQ(ah.authentication, "HMAC_SHA1");
  EXPECT_EQ(ah.encryption, "");
  EXPECT_THAT(ah.lifetimes, IsEmpty());

  const auto& comp = table.rows[4];
  EXPECT_EQ(comp.transform_protocol, "COMP");
  EXPECT_EQ(comp.encryption, "DEFLATE");
  EXPECT_EQ(comp.counters.at("ratio"), "100:55");

  EXPECT_EQ(table.rows[5].encryption, "ID18");  // algorithms KLIPS had no name for
  EXPECT_EQ(table.rows[5].authentication, "ID9");
  EXPECT_EQ(table.rows[6].encryption, "");  // ESP with null encryption
  EXPECT_EQ(table.rows[6].authentication, "HMAC_MD5");
  EXPECT_EQ(table.rows[7].transform_protocol, "");
  EXPECT_EQ(table.rows[7].said.magic, MagicSa::pass);
  EXPECT_EQ(table.rows[8].encryption, "TWOFISH");  // tabs and a CR
  EXPECT_EQ(table.rows[8].flags, 0x2u);
}

TEST(KlipsSpis, ReportsEachMalformedLineWithItsNumberAndSkipsIt) {
  const auto table = detect::parse_klips_spis(fixture("spi-bad"));
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(table.rows[0].said.spi, 0x8c2d5e71u);
  EXPECT_THAT(
      problems_of(table.problems),
      ElementsAre("1: too few fields: expected '<SA> <TRANSFORM>: dir=in|out ...'",
                  "2: expected '<TRANSFORM>:' after the SA", "3: no dir= field",
                  "4: field dir=sideways is not in or out", "5: field src=192.0.2 is not an address",
                  "6: field iv_bits=64 is not '<n>bits'", "7: field iv=0xzz is not hexadecimal",
                  "8: lifetime 'bytes' does not have three values", "9: unknown lifetime 'bogus'",
                  "10: field alen=lots is not a number", "11: field 'stray' is not key=value",
                  "12: life(c,s,h) value 'bytes(1234,0,0)addtime(6' is not name(c,s,h) groups",
                  "13: transform 'ESP-3DES' has unexpected characters",
                  "14: field bit=123 is not hexadecimal", "15: field flags=0x8< is not '0x<hex><...>'",
                  "16: field policy=10.0.0.0/8 is not '<subnet>-><subnet>'",
                  "17: a field has no name before '='", "18: field seq=99999999999 is not a number",
                  "19: life(c,s,h) value 'bytes(1,2,3)(4,5,6)' is not name(c,s,h) groups",
                  "20: SA 'ESP_3DES_HMAC_MD5:' is not an SA ID"));
}

TEST(KlipsSpis, ReportsALineCutOffByKlipsBufferAndKeepsTheRest) {
  const auto table = detect::parse_klips_spis(fixture("spi-truncated"));
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(table.rows[0].said.text, "tun0x1002@192.0.2.2");
  EXPECT_THAT(problems_of(table.problems),
              ElementsAre("2: life(c,s,h) value 'bytes(1234,0,0)addti' is not name(c,s,h) groups"));
}

TEST(KlipsSpis, SurvivesBinaryGarbage) {
  const auto table = detect::parse_klips_spis(fixture("garbage.bin"));
  EXPECT_THAT(table.rows, IsEmpty());
  EXPECT_FALSE(table.problems.empty());
}

// ---- /proc/net/ipsec_spigrp and the whole state ----

TEST(KlipsSpigrps, ParsesTheStandInsGroups) {
  const auto table = detect::parse_klips_spigrps(fixture("standin/proc/net/ipsec_spigrp"));
  EXPECT_THAT(table.problems, IsEmpty());
  ASSERT_EQ(table.rows.size(), 2u);
  ASSERT_EQ(table.rows[0].members.size(), 2u);
  EXPECT_EQ(table.rows[0].members[0].text, "tun0x1002@192.0.2.2");
  EXPECT_EQ(table.rows[0].members[1].text, "esp0x4a3f1b2c@192.0.2.2");
  EXPECT_EQ(table.rows[1].members[1].spi, 0x8c2d5e71u);
  EXPECT_THAT(problems_of(detect::parse_klips_spigrps("tun0x1@1.2.3.4 junk\n").problems),
              ElementsAre("1: SA 'junk' is not an SA ID"));
}

TEST(KlipsState, ReadsTheThreeTablesUnderARoot) {
  const auto state = detect::read_klips_state(detect::HostRoot(kFixtures + "/standin"));
  ASSERT_TRUE(state) << state.error().describe();
  EXPECT_EQ(state->eroutes.size(), 3u);
  EXPECT_EQ(state->sas.size(), 4u);
  EXPECT_TRUE(state->groups_read);
  EXPECT_EQ(state->groups.size(), 2u);
  EXPECT_THAT(state->problems, IsEmpty());
}

TEST(KlipsState, FailsWithErrnoWhenKlipsHasNoTables) {
  const auto state = detect::read_klips_state(detect::HostRoot(kFixtures));
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().code, ENOENT);
  EXPECT_EQ(state.error().describe(),
            "reading " + kFixtures + "/proc/net/ipsec_eroute: No such file or directory");
}

TEST(KlipsState, ReportsATableLargerThanTheLimit) {
  const auto state = detect::read_klips_state(detect::HostRoot(kFixtures + "/standin"), 100);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->eroutes.size(), 1u);  // 100 bytes hold one whole line and a cut one
  std::vector<std::string> truncations;
  for (const auto& problem : state->problems)
    if (problem.line == 0) truncations.push_back(problem.file + ": " + problem.reason);
  EXPECT_THAT(
      truncations,
      ElementsAre("/proc/net/ipsec_eroute: the table is larger than 100 bytes; only that much was read",
                  "/proc/net/ipsec_spi: the table is larger than 100 bytes; only that much was read"));
}

}  // namespace
