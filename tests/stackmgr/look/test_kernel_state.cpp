#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "stackmgr/look/kernel_state.hpp"

namespace stackmgr::look {
namespace {

using detect::Overall;
using detect::Stack;
using stackmgr::look::LookSource;
using stackmgr::look::PolicyAction;
using stackmgr::look::PolicyDirection;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::string kLookFixtures = LOOK_FIXTURE_DIR;

stackmgr::os::XfrmDump sample_dump() {
  stackmgr::os::XfrmDump dump;
  stackmgr::os::XfrmPolicy out;
  out.selector = {"10.0.0.0", 24, "10.0.1.0", 24, 0, std::nullopt, std::nullopt};
  out.direction = stackmgr::os::XfrmDirection::out;
  out.priority = 2000;
  out.index = 8;
  out.templates.push_back({IPPROTO_COMP, std::nullopt, "", "", 0, stackmgr::os::XfrmMode::transport, true});
  out.templates.push_back(
      {IPPROTO_ESP, 0x1000, "192.0.2.1", "192.0.2.2", 5, stackmgr::os::XfrmMode::tunnel, false});
  dump.policies.push_back(out);

  stackmgr::os::XfrmPolicy blocked;
  blocked.selector = {"10.0.0.5", 32, "10.0.1.0", 24, IPPROTO_TCP, std::nullopt, 443};
  blocked.direction = stackmgr::os::XfrmDirection::fwd;
  blocked.action = stackmgr::os::XfrmAction::block;
  blocked.index = 10;
  dump.policies.push_back(blocked);

  stackmgr::os::XfrmPolicy bypass;  // a sub policy without a selector family: any to any
  bypass.direction = stackmgr::os::XfrmDirection::in;
  bypass.type = stackmgr::os::XfrmPolicyType::sub;
  bypass.index = 16;
  dump.policies.push_back(bypass);

  stackmgr::os::XfrmSa sa;
  sa.spi = 0x1000;
  sa.protocol = IPPROTO_ESP;
  sa.mode = stackmgr::os::XfrmMode::tunnel;
  sa.source = "192.0.2.1";
  sa.destination = "192.0.2.2";
  sa.reqid = 5;
  sa.aead = "rfc4106(gcm(aes))";
  sa.bytes = 4096;
  sa.packets = 32;
  sa.add_time = 1750000000;
  dump.sas.push_back(sa);
  dump.problems.push_back("XFRM SA message: unexpected message type 3");
  return dump;
}

TEST(StateFromXfrm, MapsPoliciesTemplatesAndSas) {
  const auto state = stackmgr::look::state_from_xfrm(sample_dump());
  EXPECT_EQ(state.stack, Stack::native);
  ASSERT_EQ(state.policies.size(), 3u);

  const auto& out = state.policies[0];
  EXPECT_EQ(to_string(out.source), "10.0.0.0/24");
  EXPECT_EQ(out.direction, look::PolicyDirection::out);
  EXPECT_EQ(out.action, look::PolicyAction::ipsec);  // allow with templates
  EXPECT_FALSE(out.protocol);
  ASSERT_EQ(out.uses.size(), 2u);
  EXPECT_EQ(out.uses[0].protocol, "comp");
  EXPECT_FALSE(out.uses[0].spi);
  EXPECT_FALSE(out.uses[0].reqid);  // reqid 0 means any
  EXPECT_EQ(out.uses[1].protocol, "esp");
  EXPECT_EQ(out.uses[1].spi, 0x1000u);
  EXPECT_EQ(out.uses[1].reqid, 5u);
  EXPECT_EQ(out.uses[1].mode, "tunnel");
  EXPECT_EQ(out.priority, 2000u);
  EXPECT_EQ(out.type, "main");
  EXPECT_EQ(out.said, "");

  EXPECT_EQ(state.policies[1].action, look::PolicyAction::drop);
  EXPECT_EQ(state.policies[1].protocol, 6u);
  EXPECT_EQ(to_string(state.policies[1].destination), "10.0.1.0/24 port 443");
  EXPECT_EQ(state.policies[2].action, look::PolicyAction::pass);  // allow without templates
  EXPECT_EQ(to_string(state.policies[2].source), "any");
  EXPECT_EQ(state.policies[2].type, "sub");

  ASSERT_EQ(state.sas.size(), 1u);
  EXPECT_EQ(state.sas[0].protocol, "esp");
  EXPECT_EQ(state.sas[0].algorithms.aead, "rfc4106(gcm(aes))");
  EXPECT_EQ(state.sas[0].reqid, 5u);
  EXPECT_FALSE(state.sas[0].direction);
  EXPECT_EQ(state.sas[0].add_time_clock, stackmgr::look::AddTimeClock::unix_epoch);
  ASSERT_EQ(state.problems.size(), 1u);
  EXPECT_EQ(state.problems[0].source, "XFRM netlink");
}

TEST(StateFromKlips, FollowsEroutesIntoTheirSaGroups) {
  const auto klips = detect::read_klips_state(detect::HostRoot(kLookFixtures + "/klips_sample"));
  ASSERT_TRUE(klips) << klips.error().describe();
  const auto state = stackmgr::look::state_from_klips(*klips);
  EXPECT_EQ(state.stack, Stack::klips);
  ASSERT_EQ(state.policies.size(), 3u);

  const auto& tunnel = state.policies[0];
  EXPECT_EQ(tunnel.direction, look::PolicyDirection::out);
  EXPECT_EQ(tunnel.action, look::PolicyAction::ipsec);
  EXPECT_EQ(tunnel.packets, 10u);
  EXPECT_EQ(tunnel.said, "tun0x1002@192.0.2.2");
  ASSERT_EQ(tunnel.uses.size(), 2u);  // the spigrp group: IPIP, then ESP
  EXPECT_EQ(tunnel.uses[0].protocol, "ipip");
  EXPECT_EQ(tunnel.uses[0].spi, 0x1002u);
  EXPECT_EQ(tunnel.uses[0].source, "192.0.2.1");  // from the SA's src=
  EXPECT_EQ(tunnel.uses[1].protocol, "esp");
  EXPECT_EQ(tunnel.uses[1].spi, 0x4a3f1b2cu);
  EXPECT_EQ(tunnel.uses[1].mode, "tunnel");
  EXPECT_EQ(state.policies[1].action, look::PolicyAction::trap);
  EXPECT_THAT(state.policies[1].uses, IsEmpty());
  EXPECT_EQ(state.policies[2].action, look::PolicyAction::pass);
  EXPECT_EQ(state.policies[2].packets, 42u);

  ASSERT_EQ(state.sas.size(), 4u);
  const auto& esp = state.sas[1];
  EXPECT_EQ(esp.protocol, "esp");
  EXPECT_EQ(esp.spi, 0x4a3f1b2cu);
  EXPECT_EQ(esp.mode, "tunnel");
  EXPECT_EQ(esp.direction, "out");
  EXPECT_EQ(esp.source, "192.0.2.1");
  EXPECT_EQ(esp.destination, "192.0.2.2");
  EXPECT_EQ(esp.algorithms.encryption, "cbc(des3_ede)");
  EXPECT_EQ(esp.algorithms.authentication, "hmac(md5)");
  EXPECT_EQ(esp.bytes, 1234u);
  EXPECT_EQ(esp.packets, 10u);
  EXPECT_EQ(esp.add_time, 60u);
  EXPECT_EQ(esp.add_time_clock, stackmgr::look::AddTimeClock::since_boot);
  EXPECT_EQ(esp.transform, "ESP_3DES_HMAC_MD5");
  EXPECT_EQ(state.sas[2].direction, "in");
  EXPECT_FALSE(state.sas[2].reqid);
  EXPECT_THAT(state.problems, IsEmpty());
}

TEST(StateFromKlips, WithoutGroupsEspModeIsUnknownAndProblemsCarryOver) {
  detect::KlipsState klips;
  klips.sas = detect::parse_klips_spis(
                  "esp0x10@10.0.0.2 ESP_AES_HMAC_SHA2_512: dir=in src=10.0.0.1 life(c,s,h)=\n"
                  "comp0x20@10.0.0.2 COMP_DEFLATE: dir=out src=10.0.0.1 life(c,s,h)=\n"
                  "tun0x30@10.0.0.2 IPIP: dir=out src=10.0.0.1 life(c,s,h)=\n")
                  .rows;
  klips.eroutes = detect::parse_klips_eroutes("5 10.1.0.0/16 -> 10.2.0.0/16 => esp0x10@10.0.0.2\n").rows;
  klips.problems.push_back({"/proc/net/ipsec_spi", 4, "junk\x01", "too few fields"});
  const auto state = stackmgr::look::state_from_klips(klips);
  ASSERT_EQ(state.sas.size(), 3u);
  EXPECT_EQ(state.sas[0].mode, "");
  EXPECT_EQ(state.sas[0].algorithms.authentication, "hmac(sha512)");
  EXPECT_EQ(state.sas[1].algorithms.compression, "deflate");
  EXPECT_EQ(state.sas[1].algorithms.encryption, "");
  EXPECT_EQ(state.sas[2].mode, "tunnel");
  ASSERT_EQ(state.policies.size(), 1u);
  ASSERT_EQ(state.policies[0].uses.size(), 1u);  // no group: the eroute's own SA
  EXPECT_EQ(state.policies[0].uses[0].source, "10.0.0.1");
  ASSERT_EQ(state.problems.size(), 1u);
  EXPECT_EQ(state.problems[0].line, 4u);
}

// ---- which stacks look reads ----

detect::Snapshot snapshot(Overall overall) {
  detect::Snapshot s;
  s.overall = overall;
  return s;
}

TEST(StacksToShow, FollowsDetectionUnlessASourceIsForced) {
  using V = std::vector<Stack>;
  EXPECT_EQ(stackmgr::look::stacks_to_show(snapshot(Overall::none), look::LookSource::automatic), V{});
  EXPECT_EQ(stackmgr::look::stacks_to_show(snapshot(Overall::native), look::LookSource::automatic),
            V{Stack::native});
  EXPECT_EQ(stackmgr::look::stacks_to_show(snapshot(Overall::klips), look::LookSource::automatic),
            V{Stack::klips});
  EXPECT_EQ(stackmgr::look::stacks_to_show(snapshot(Overall::conflict), look::LookSource::automatic),
            (V{Stack::native, Stack::klips}));
  EXPECT_EQ(stackmgr::look::stacks_to_show(snapshot(Overall::none), look::LookSource::native),
            V{Stack::native});
  EXPECT_EQ(stackmgr::look::stacks_to_show(snapshot(Overall::native), look::LookSource::klips),
            V{Stack::klips});

  auto broken = snapshot(Overall::broken);
  EXPECT_EQ(stackmgr::look::stacks_to_show(broken, look::LookSource::automatic), V{});
  broken.markers.ipsec_eroute = true;
  EXPECT_EQ(stackmgr::look::stacks_to_show(broken, look::LookSource::automatic), V{Stack::klips});
  broken.markers.xfrm_stat = true;
  EXPECT_EQ(stackmgr::look::stacks_to_show(broken, look::LookSource::automatic),
            (V{Stack::native, Stack::klips}));
}

struct CountingReaders {
  int native_calls = 0;
  int klips_calls = 0;
  detect::Result<stackmgr::os::XfrmDump> native_result = sample_dump();
  detect::Result<detect::KlipsState> klips_result = detect::KlipsState{};

  stackmgr::look::LookReaders readers() {
    return {[this] {
              ++native_calls;
              return native_result;
            },
            [this] {
              ++klips_calls;
              return klips_result;
            }};
  }
};

TEST(LookReport, NoActiveStackReadsNothingAndSaysSo) {
  CountingReaders fake;
  auto none = snapshot(Overall::none);
  none.markers.xfrm_stat = true;
  const auto report = stackmgr::look::build_look_report(none, look::LookSource::automatic, fake.readers());
  EXPECT_EQ(fake.native_calls + fake.klips_calls, 0);
  EXPECT_THAT(report.stacks, IsEmpty());
  EXPECT_THAT(
      report.notes,
      ElementsAre("No IPsec stack is active (detection says 'none'): there is no kernel IPsec state to show.",
                  "The kernel has the XFRM framework; 'stackmgr look --source native' dumps its tables "
                  "anyway."));
  EXPECT_EQ(stackmgr::look::render_look(report), report.notes[0] + "\n" + report.notes[1] + "\n");
}

TEST(LookReport, ConflictShowsBothStacksAndKeepsGoingPastAnError) {
  CountingReaders fake;
  fake.native_result = detect::Error{EPERM, "dumping XFRM SAs"};
  const auto report = stackmgr::look::build_look_report(snapshot(Overall::conflict),
                                                        look::LookSource::automatic, fake.readers());
  EXPECT_EQ(fake.native_calls, 1);
  EXPECT_EQ(fake.klips_calls, 1);
  ASSERT_EQ(report.stacks.size(), 2u);
  ASSERT_TRUE(report.stacks[0].error);
  EXPECT_FALSE(report.stacks[0].state);
  ASSERT_TRUE(report.stacks[1].state);
  EXPECT_THAT(
      report.notes,
      ElementsAre("Both stacks are in the kernel (conflict): showing each stack's state where it can be "
                  "read; see 'stackmgr detect'.",
                  "KLIPS has no /proc/net/ipsec_spigrp: which SAs are grouped into tunnels is unknown, so "
                  "ESP and AH SAs show no mode"));
  const auto json = stackmgr::look::look_to_json(report);
  EXPECT_EQ(json["stacks"][0]["error"]["errno"], EPERM);
  EXPECT_EQ(json["stacks"][0]["error"]["message"], "dumping XFRM SAs: Operation not permitted");
  EXPECT_EQ(json["stacks"][0]["error"]["advice"],
            "run 'stackmgr look' as root: XFRM netlink needs CAP_NET_ADMIN");
  EXPECT_EQ(json["stacks"][1]["error"], nullptr);
  EXPECT_THAT(
      stackmgr::look::render_look(report),
      ::testing::HasSubstr("== native stack (XFRM netlink) ==\ncannot read its state: dumping XFRM SAs: "
                           "Operation not permitted; run 'stackmgr look' as root: XFRM netlink needs "
                           "CAP_NET_ADMIN\n"));
}

TEST(LookReport, AForcedSourceSaysItOverrodeDetection) {
  CountingReaders fake;
  const auto report =
      stackmgr::look::build_look_report(snapshot(Overall::klips), look::LookSource::native, fake.readers());
  EXPECT_EQ(fake.native_calls, 1);
  EXPECT_EQ(fake.klips_calls, 0);
  EXPECT_THAT(
      report.notes,
      ElementsAre("--source native: reading the native stack's interface although detection says 'klips'"));
}

TEST(LookJson, FollowsTheDocumentedSchema) {
  CountingReaders fake;
  const auto report = stackmgr::look::build_look_report(snapshot(Overall::native),
                                                        look::LookSource::automatic, fake.readers());
  const auto expected = nlohmann::ordered_json::parse(R"json({
    "schema": "stackmgr.look/1",
    "active": "native",
    "source": "auto",
    "stacks": [{
      "stack": "native",
      "error": null,
      "policies": [
        {"source": "10.0.0.0/24", "source_port": null, "destination": "10.0.1.0/24", "destination_port": null,
         "protocol": null, "direction": "out", "action": "ipsec",
         "uses": [
           {"protocol": "comp", "spi": null, "source": null, "destination": null, "reqid": null, "mode": "transport"},
           {"protocol": "esp", "spi": 4096, "source": "192.0.2.1", "destination": "192.0.2.2", "reqid": 5,
            "mode": "tunnel"}],
         "packets": null, "priority": 2000, "index": 8, "type": "main", "said": null},
        {"source": "10.0.0.5/32", "source_port": null, "destination": "10.0.1.0/24", "destination_port": 443,
         "protocol": 6, "direction": "fwd", "action": "drop", "uses": [], "packets": null, "priority": 0,
         "index": 10, "type": "main", "said": null},
        {"source": null, "source_port": null, "destination": null, "destination_port": null,
         "protocol": null, "direction": "in", "action": "pass", "uses": [], "packets": null, "priority": 0,
         "index": 16, "type": "sub", "said": null}],
      "sas": [
        {"protocol": "esp", "spi": 4096, "mode": "tunnel", "source": "192.0.2.1", "destination": "192.0.2.2",
         "direction": null, "reqid": 5,
         "algorithms": {"encryption": null, "authentication": null, "aead": "rfc4106(gcm(aes))",
                        "compression": null},
         "bytes": 4096, "packets": 32, "add_time": 1750000000, "add_time_clock": "unix", "said": null,
         "transform": null}],
      "problems": [
        {"source": "XFRM netlink", "line": null, "text": "", "reason": "XFRM SA message: unexpected message type 3"}]
    }],
    "notes": []
  })json");
  EXPECT_EQ(stackmgr::look::look_to_json(report), expected) << stackmgr::look::look_to_json(report).dump(2);
}

TEST(LookTable, ShowsPoliciesSasAndSkippedLines) {
  detect::KlipsState klips;
  klips.eroutes = detect::parse_klips_eroutes("7 10.1.0.0/16:80 -> 10.2.0.0/16 => %hold\n").rows;
  klips.sas =
      detect::parse_klips_spis(
          "ah0x2000@10.0.0.2 AH_HMAC_SHA1: dir=in  src=10.0.0.1 life(c,s,h)=bytes(10,0,0)packets(1,0,0)\n")
          .rows;
  klips.groups_read = true;
  klips.problems.push_back({"/proc/net/ipsec_spi", 2, "garbage", "too few fields"});
  CountingReaders fake;
  fake.klips_result = klips;
  const auto report = stackmgr::look::build_look_report(snapshot(Overall::klips), look::LookSource::automatic,
                                                        fake.readers());
  EXPECT_EQ(stackmgr::look::render_look(report),
            "== KLIPS (/proc/net/ipsec_*) ==\n"
            "Policies (1):\n"
            "  DIR  ACTION  SOURCE               DESTINATION  PROTO  USES   PACKETS  PRIORITY  TYPE\n"
            "  out  hold    10.1.0.0/16 port 80  10.2.0.0/16  any    %hold  7        -         -\n"
            "SAs (1):\n"
            "  PROTO  SPI         MODE       DIR  SOURCE    DESTINATION  REQID  ALGORITHMS  BYTES  PACKETS\n"
            "  ah     0x00002000  transport  in   10.0.0.1  10.0.0.2     -      hmac(sha1)  10     1\n"
            "Skipped (1 unreadable):\n"
            "  /proc/net/ipsec_spi:2: too few fields: garbage\n");
}

}  // namespace
}  // namespace stackmgr::look
