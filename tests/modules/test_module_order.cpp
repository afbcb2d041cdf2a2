// Load and removal order from modules.dep lists and holders.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "modules/module_order.hpp"

namespace {

using modules::OrderNode;
using ::testing::ElementsAre;

TEST(ModuleOrder, IndependentModulesKeepInputOrderToLoadAndReverseToRemove) {
  const std::vector<OrderNode> nodes{{"af_key", {}, {}}, {"esp4", {}, {}}, {"ah4", {}, {}}};
  EXPECT_THAT(modules::load_order(nodes), ElementsAre("af_key", "esp4", "ah4"));
  EXPECT_THAT(modules::removal_order(nodes), ElementsAre("ah4", "esp4", "af_key"));
}

TEST(ModuleOrder, AModuleLoadsAfterItsDependenciesAndGoesBeforeThem) {
  // Listed in the "wrong" order on purpose: ipcomp6 needs xfrm6_tunnel.
  const std::vector<OrderNode> nodes{{"ipcomp6", {"tunnel6", "xfrm6_tunnel", "xfrm_ipcomp"}, {}},
                                     {"xfrm6_tunnel", {"tunnel6"}, {"ipcomp6"}}};
  EXPECT_THAT(modules::load_order(nodes), ElementsAre("xfrm6_tunnel", "ipcomp6"));
  EXPECT_THAT(modules::removal_order(nodes), ElementsAre("ipcomp6", "xfrm6_tunnel"));
}

TEST(ModuleOrder, HoldersAloneAlsoOrder) {
  const std::vector<OrderNode> nodes{{"ipsec", {}, {"ipsec_aes"}}, {"ipsec_aes", {}, {}}};
  EXPECT_THAT(modules::removal_order(nodes), ElementsAre("ipsec_aes", "ipsec"));
}

TEST(ModuleOrder, DependencyListsOrderModulesWeKnowNothingElseAbout) {
  // xfrm_ipcomp needs xfrm_algo: modules.dep lists xfrm_algo first in ipcomp's line.
  const std::vector<OrderNode> nodes{
      {"ipcomp", {"xfrm_algo", "xfrm_ipcomp"}, {}}, {"xfrm_algo", {}, {}}, {"xfrm_ipcomp", {}, {}}};
  EXPECT_THAT(modules::removal_order(nodes), ElementsAre("ipcomp", "xfrm_ipcomp", "xfrm_algo"));
}

TEST(ModuleOrder, ContradictingListsAreIgnoredNotFatal) {
  const std::vector<OrderNode> nodes{
      {"m1", {"a", "b"}, {}}, {"m2", {"b", "a"}, {}}, {"a", {}, {}}, {"b", {}, {}}};
  const auto order = modules::removal_order(nodes);
  ASSERT_EQ(order.size(), 4U);
  // Both dependents go before both dependencies.
  const auto at = [&](const char* name) {
    return std::find(order.begin(), order.end(), name) - order.begin();
  };
  EXPECT_LT(at("m1"), at("a"));
  EXPECT_LT(at("m2"), at("b"));
}

TEST(ModuleOrder, ACycleInHolderDataFallsBackToInputOrder) {
  const std::vector<OrderNode> nodes{{"a", {"b"}, {}}, {"b", {"a"}, {}}};
  EXPECT_THAT(modules::load_order(nodes), ElementsAre("a", "b"));
}

}  // namespace
