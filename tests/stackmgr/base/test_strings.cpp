#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "stackmgr/base/strings.hpp"

namespace stackmgr::base {
namespace {

TEST(Join, PutsTheSeparatorBetweenItemsOnly) {
  EXPECT_EQ(join(std::vector<std::string>{}), "");
  EXPECT_EQ(join(std::vector<std::string>{"af_key"}), "af_key");
  EXPECT_EQ(join(std::vector<std::string>{"af_key", "esp4", "ah4"}), "af_key, esp4, ah4");
  EXPECT_EQ(join(std::set<std::string>{"esp4", "ah4"}, ","), "ah4,esp4");
}

TEST(Trim, DropsBlanksAtBothEndsOnly) {
  EXPECT_EQ(trim("  native \t\r\n"), "native");
  EXPECT_EQ(trim("a b"), "a b");
  EXPECT_EQ(trim(" \t\n"), "");
  EXPECT_EQ(trim(""), "");
}

TEST(ParseNumber, TakesOnlyTextThatIsWhollyANumber) {
  EXPECT_EQ(parse_number<int>("42"), 42);
  EXPECT_EQ(parse_number<int>("-3"), -3);
  EXPECT_EQ(parse_number<std::uint32_t>("0101A8C0", 16), 0x0101A8C0U);
  EXPECT_EQ(parse_number<std::uint64_t>("ffffffffffffffff", 16), UINT64_MAX);
  for (const char* bad : {"", " 42", "42 ", "+42", "4x2", "0x1f", "-"}) {
    EXPECT_FALSE(parse_number<int>(bad).has_value()) << '"' << bad << '"';
  }
  EXPECT_FALSE(parse_number<unsigned>("-1").has_value()) << "a '-' only for a signed type";
  EXPECT_FALSE(parse_number<std::uint8_t>("256").has_value()) << "out of range";
  EXPECT_FALSE(parse_number<std::int64_t>("9223372036854775808").has_value()) << "out of range";
}

}  // namespace
}  // namespace stackmgr::base
