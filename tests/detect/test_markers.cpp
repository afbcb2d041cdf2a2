// detect/markers.cpp: /proc markers and ipsecN devices.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "detect/markers.hpp"
#include "tests/detect/fixture_root.hpp"

namespace {

using detect_test::FixtureRoot;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

class FailingNet final : public detect::NetDeviceSource {
 public:
  [[nodiscard]] detect::Result<std::vector<std::string>> interfaces() const override {
    return detect::Error{EACCES, "listing interfaces"};
  }
};

std::string notes_of(const detect::Markers& markers) {
  std::string text;
  for (const std::string& note : markers.notes) text += note + "\n";
  return text;
}

TEST(ReadMarkers, CleanHostHasOnlyTheXfrmFramework) {
  const FixtureRoot fixture("clean");
  const detect::SysfsNetDevices net(fixture.host());
  const auto markers = detect::read_markers(fixture.host(), net);
  EXPECT_TRUE(markers.proc_net_readable);
  EXPECT_TRUE(markers.xfrm_framework());
  EXPECT_FALSE(markers.any_native());
  EXPECT_FALSE(markers.any_klips());
  EXPECT_FALSE(markers.guard_installed);
}

TEST(ReadMarkers, KlipsMarkersAndVersionText) {
  const FixtureRoot fixture("klips_live");
  const detect::SysfsNetDevices net(fixture.host());
  const auto markers = detect::read_markers(fixture.host(), net);
  EXPECT_TRUE(markers.ipsec_version);
  EXPECT_EQ(markers.ipsec_version_text, "FreeS/WAN version: 2.06 (stackmgr test fixture)");
  EXPECT_TRUE(markers.ipsec_eroute);
  EXPECT_TRUE(markers.ipsec_spi);
  EXPECT_TRUE(markers.proc_sys_net_ipsec);
  EXPECT_THAT(markers.ipsec_interfaces, ElementsAre("ipsec0"));
}

TEST(ReadMarkers, XfrmInterfacesAreNotKlips) {
  const FixtureRoot fixture("xfrm_interface");
  const detect::SysfsNetDevices net(fixture.host());
  const auto markers = detect::read_markers(fixture.host(), net);
  EXPECT_THAT(markers.ipsec_interfaces, IsEmpty());
  EXPECT_THAT(notes_of(markers), HasSubstr("ipsec1 is an XFRM interface"));
}

TEST(ReadMarkers, UnmountedProcMakesMissingMarkersMeaningless) {
  const FixtureRoot fixture("proc_unmounted");
  const detect::SysfsNetDevices net(fixture.host());
  const auto markers = detect::read_markers(fixture.host(), net);
  EXPECT_FALSE(markers.proc_net_readable);
  EXPECT_THAT(notes_of(markers), HasSubstr("a missing marker proves nothing"));
}

TEST(ReadMarkers, InterfaceListingFailureIsANote) {
  const FixtureRoot fixture("clean");
  const auto markers = detect::read_markers(fixture.host(), FailingNet{});
  EXPECT_THAT(notes_of(markers), HasSubstr("cannot list network interfaces"));
}

TEST(IsIpsecInterfaceName, OnlyIpsecAndDigits) {
  EXPECT_TRUE(detect::is_ipsec_interface_name("ipsec0"));
  EXPECT_TRUE(detect::is_ipsec_interface_name("ipsec12"));
  EXPECT_FALSE(detect::is_ipsec_interface_name("ipsec"));
  EXPECT_FALSE(detect::is_ipsec_interface_name("ipsec0a"));
  EXPECT_FALSE(detect::is_ipsec_interface_name("xfrm0"));
}

}  // namespace
