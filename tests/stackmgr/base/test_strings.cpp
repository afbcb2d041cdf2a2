#include <gtest/gtest.h>

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

}  // namespace
}  // namespace stackmgr::base
