// What the host refused (exit 15) against what is a bug (exit 1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "stackmgr/base/host_failure.hpp"

namespace stackmgr::base {
namespace {

TEST(ExitForError, AFileSystemThatRefusesIsNotABug) {
  for (int error : {EROFS, ENOSPC, EDQUOT, EACCES, ENOENT, ENOTDIR, EIO}) {
    EXPECT_EQ(exit_for_error(error), Exit::filesystem) << errno_name(error);
    EXPECT_EQ(code(exit_for_error(error)), 15);
  }
}

TEST(ExitForError, TheOtherCodesKeepTheirMeaning) {
  EXPECT_EQ(exit_for_error(0), Exit::config) << "no errno: an untrusted file";
  EXPECT_EQ(exit_for_error(EPERM), Exit::permission);
  EXPECT_EQ(exit_for_error(EINVAL), Exit::internal);
  EXPECT_EQ(exit_for_error(EBADF), Exit::internal);
}

TEST(FilesystemAdvice, NamesTheErrnoAndWhatToDo) {
  EXPECT_EQ(errno_name(EROFS), "EROFS");
  EXPECT_EQ(errno_name(100000), "errno 100000");
  EXPECT_THAT(filesystem_advice(ENOSPC), ::testing::StartsWith("(ENOSPC: the host's file system refused it"));
}

}  // namespace
}  // namespace stackmgr::base
