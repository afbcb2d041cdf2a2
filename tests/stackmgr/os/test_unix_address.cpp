// unix_address: absolute paths always, '@' abstract names only when allowed, and a clear
// ENAMETOOLONG for anything else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <string>

#include "stackmgr/os/unix_address.hpp"

namespace {

using stackmgr::os::AbstractNames;
using stackmgr::os::unix_address;
using ::testing::HasSubstr;

TEST(UnixAddress, APathIsCopiedWithItsTerminatingNul) {
  const auto address = unix_address("/run/stackmgr/control.sock", "control socket");
  ASSERT_TRUE(address) << address.error().describe();
  EXPECT_EQ(address->address.sun_family, AF_UNIX);
  EXPECT_STREQ(address->address.sun_path, "/run/stackmgr/control.sock");
  EXPECT_EQ(address->size,
            offsetof(sockaddr_un, sun_path) + std::string("/run/stackmgr/control.sock").size() + 1);
}

TEST(UnixAddress, AnAbstractNameStartsWithANulAndHasNoTerminator) {
  const auto address =
      unix_address("@/org/freedesktop/systemd1/notify", "NOTIFY_SOCKET", AbstractNames::allowed);
  ASSERT_TRUE(address) << address.error().describe();
  EXPECT_EQ(address->address.sun_path[0], '\0');
  EXPECT_EQ(std::string(address->address.sun_path + 1), "/org/freedesktop/systemd1/notify");
  EXPECT_EQ(address->size,
            offsetof(sockaddr_un, sun_path) + std::string("@/org/freedesktop/systemd1/notify").size());
}

TEST(UnixAddress, AnAbstractNameIsRefusedUnlessAllowed) {
  const auto address = unix_address("@name", "control socket");
  ASSERT_FALSE(address);
  EXPECT_EQ(address.error().code, ENAMETOOLONG);
  EXPECT_THAT(address.error().message, HasSubstr("control socket path '@name': must be absolute"));
}

TEST(UnixAddress, EmptyRelativeBareAtAndTooLongAreRefused) {
  const std::string longest_path = "/" + std::string(sizeof(sockaddr_un::sun_path) - 2, 'x');
  EXPECT_TRUE(unix_address(longest_path, "control socket"));
  for (const std::string& name :
       {std::string(), std::string("run/x.sock"), std::string("@"), longest_path + "x"}) {
    const auto address = unix_address(name, "notify socket", AbstractNames::allowed);
    ASSERT_FALSE(address) << name;
    EXPECT_EQ(address.error().code, ENAMETOOLONG) << name;
    EXPECT_THAT(address.error().message,
                HasSubstr("notify socket path '" + name + "': must be absolute (or '@'"));
    EXPECT_THAT(address.error().message, HasSubstr("under 108 bytes"));
  }
}

}  // namespace
