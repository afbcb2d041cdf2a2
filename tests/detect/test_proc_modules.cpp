// detect/proc_modules.cpp: the /proc/modules parser.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "detect/proc_modules.hpp"

namespace {

using detect::InitState;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

TEST(ParseProcModules, ReadsEveryColumnAnAdminSeesInLsmod) {
  const auto parsed = detect::parse_proc_modules(
      "esp4 28672 0 - Live 0xffffffffc0a1e000\n"
      "xfrm_algo 16384 3 esp4,ah4,af_key, Live 0xffffffffc0a0b000\n"
      "ipsec 94208 1 - Loading 0x0000000000000000 (OE)\n"
      "dummy 16384 0 - Unloading 0x0000000000000000\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  ASSERT_EQ(parsed->size(), 4U);
  EXPECT_EQ((*parsed)[0].name, "esp4");
  EXPECT_EQ((*parsed)[0].state, InitState::live);
  EXPECT_THAT((*parsed)[0].holders, IsEmpty());
  EXPECT_EQ((*parsed)[1].refcnt, 3);
  EXPECT_THAT((*parsed)[1].holders, ElementsAre("esp4", "ah4", "af_key"));
  EXPECT_EQ((*parsed)[2].state, InitState::coming);
  EXPECT_EQ((*parsed)[3].state, InitState::going);
}

TEST(ParseProcModules, PermanentModulesAndUnknownRefcounts) {
  const auto parsed = detect::parse_proc_modules("ipv6 589824 - [permanent], Live 0x0000000000000000\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)[0].refcnt, -1);
  EXPECT_THAT((*parsed)[0].holders, IsEmpty());
}

TEST(ParseProcModules, EmptyTextIsNoModulesAndAMissingFinalNewlineIsFine) {
  EXPECT_THAT(detect::parse_proc_modules("").value(), IsEmpty());
  EXPECT_EQ(detect::parse_proc_modules("esp4 28672 0 - Live 0x0").value().size(), 1U);
}

TEST(ParseProcModules, TruncatedLineIsAnErrorNamingTheLine) {
  const auto parsed = detect::parse_proc_modules("af_key 45056 0 - Live 0x0\nesp4 28672 0 - Li");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, EBADMSG);
  EXPECT_THAT(parsed.error().message, HasSubstr("line 2"));
}

TEST(ParseProcModules, GarbageIsAnErrorNeverAnEmptyList) {
  for (const char* text :
       {"\x01\x02 garbage\n", "esp4 lots 0 - Live 0x0\n", "esp4 1 x - Live 0x0\n",
        "esp4 1 0 bad/holder, Live 0x0\n", "es/p4 1 0 - Live 0x0\n", "esp4 1 0 - Live nowhere\n"}) {
    const auto parsed = detect::parse_proc_modules(text);
    EXPECT_FALSE(parsed.ok()) << text;
  }
}

}  // namespace
