// modules/kmod_backend.cpp: lookups against the real Debian module index (linux-image-amd64) and
// temp roots with their own modprobe.d. insert/remove of real modules run in the qemu suite;
// here only the refusals that happen before any syscall.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "modules/kmod_backend.hpp"
#include "tests/detect/run_process.hpp"

namespace {

namespace fs = std::filesystem;
using detect::DiskState;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

// A temp root whose lib/modules/<release> links to the real Debian index.
class TempRoot {
 public:
  TempRoot() {
    std::string pattern = (fs::temp_directory_path() / "stackmgr-kmod-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempRoot() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  void write(const std::string& relative, const std::string& text) const {
    fs::create_directories((path_ / relative).parent_path());
    std::ofstream(path_ / relative) << text;
  }
  void link_index(const std::string& release) const {
    fs::create_directories(path_ / "lib/modules");
    fs::create_directory_symlink("/lib/modules/" + release, path_ / "lib/modules" / release);
  }
  [[nodiscard]] detect::HostRoot host() const { return detect::HostRoot(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class KmodBackendOnDebianIndex : public testing::Test {
 protected:
  void SetUp() override {
    const auto found = detect_test::debian_kernel_release();
    if (!found) GTEST_SKIP() << "the Debian kernel's module index (linux-image-amd64) is not installed";
    release_ = *found;
  }
  std::string release_;
};

TEST_F(KmodBackendOnDebianIndex, FindsTheNativeModulesWithPathAndDependencies) {
  const modules::KmodBackend backend(detect::HostRoot("/"), release_);
  EXPECT_EQ(backend.index_problem(), "");
  const auto af_key = backend.lookup("af_key");
  ASSERT_TRUE(af_key.ok()) << af_key.error().describe();
  EXPECT_EQ(af_key->disk, DiskState::available);
  EXPECT_EQ(af_key->path, "/lib/modules/" + release_ + "/kernel/net/key/af_key.ko");
  EXPECT_THAT(af_key->dependencies, ElementsAre("xfrm_algo"));
  EXPECT_FALSE(af_key->blacklisted);
}

TEST_F(KmodBackendOnDebianIndex, DependenciesComeInLoadOrder) {
  const modules::KmodBackend backend(detect::HostRoot("/"), release_);
  const auto ipcomp6 = backend.lookup("ipcomp6");
  ASSERT_TRUE(ipcomp6.ok());
  // modules.dep lists them the other way round; modprobe loads xfrm_algo first.
  EXPECT_THAT(ipcomp6->dependencies, ElementsAre("xfrm_algo", "xfrm_ipcomp", "tunnel6", "xfrm6_tunnel"));
  const auto xfrm4_tunnel = backend.lookup("xfrm4_tunnel");
  ASSERT_TRUE(xfrm4_tunnel.ok());
  EXPECT_THAT(xfrm4_tunnel->dependencies, ElementsAre("tunnel4"));
}

TEST_F(KmodBackendOnDebianIndex, BuiltInModulesComeFromModulesBuiltin) {
  // Whatever the first line of the real modules.builtin names is built in, with no path.
  std::ifstream builtin("/lib/modules/" + release_ + "/modules.builtin");
  std::string line;
  ASSERT_TRUE(std::getline(builtin, line));
  std::string name = fs::path(line).filename().string();
  name = name.substr(0, name.find(".ko"));
  std::replace(name.begin(), name.end(), '-', '_');
  const modules::KmodBackend backend(detect::HostRoot("/"), release_);
  const auto found = backend.lookup(name);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->disk, DiskState::builtin) << name;
  EXPECT_EQ(found->path, "");
}

TEST_F(KmodBackendOnDebianIndex, KlipsIsAbsentFromADebianKernel) {
  const modules::KmodBackend backend(detect::HostRoot("/"), release_);
  const auto ipsec = backend.lookup("ipsec");
  ASSERT_TRUE(ipsec.ok());
  EXPECT_EQ(ipsec->disk, DiskState::absent);
}

TEST_F(KmodBackendOnDebianIndex, InvalidNamesNeverReachLibkmod) {
  const modules::KmodBackend backend(detect::HostRoot("/"), release_);
  for (const char* name : {"", "../af_key", "af key", "esp4;reboot", "a/b"}) {
    const auto found = backend.lookup(name);
    ASSERT_FALSE(found.ok()) << name;
    EXPECT_EQ(found.error().code, EINVAL) << name;
  }
  modules::KmodBackend writable(detect::HostRoot("/"), release_);
  EXPECT_EQ(writable.insert("esp4 ah4").error().code, EINVAL);
  EXPECT_EQ(writable.remove("../esp4").error().code, EINVAL);
}

TEST_F(KmodBackendOnDebianIndex, BlacklistAndInstallCommandsComeFromTheRootsModprobeD) {
  TempRoot root;
  root.link_index(release_);
  root.write("etc/modprobe.d/local.conf", "blacklist esp4\ninstall ah4 /bin/false\n");
  root.write("lib/modprobe.d/vendor.conf", "blacklist xfrm_user\n");
  const modules::KmodBackend backend(root.host(), release_);
  const auto esp4 = backend.lookup("esp4");
  ASSERT_TRUE(esp4.ok());
  EXPECT_EQ(esp4->disk, DiskState::available);
  EXPECT_TRUE(esp4->blacklisted);
  EXPECT_TRUE(backend.lookup("xfrm_user")->blacklisted);
  const auto ah4 = backend.lookup("ah4");
  EXPECT_FALSE(ah4->blacklisted);
  EXPECT_EQ(ah4->install_command, "/bin/false");
  EXPECT_FALSE(backend.lookup("af_key")->blacklisted);
}

TEST_F(KmodBackendOnDebianIndex, ABlacklistAddedLaterIsSeenAfterARefresh) {
  TempRoot root;
  root.link_index(release_);
  root.write("etc/modprobe.d/local.conf", "# nothing yet\n");
  modules::KmodBackend backend(root.host(), release_);
  ASSERT_FALSE(backend.lookup("esp4")->blacklisted);
  root.write("etc/modprobe.d/blacklist-esp4.conf", "blacklist esp4\n");
  backend.refresh();
  EXPECT_TRUE(backend.lookup("esp4")->blacklisted) << "a long-running supervisor must see the new blacklist";
  backend.refresh();  // nothing changed since: the same answer
  EXPECT_TRUE(backend.lookup("esp4")->blacklisted);
}

TEST_F(KmodBackendOnDebianIndex, AnAliasCannotHideABlacklistOrRedirectAName) {
  TempRoot root;
  root.link_index(release_);
  root.write("etc/modprobe.d/local.conf", "alias esp4 ah4\nblacklist esp4\n");
  const modules::KmodBackend backend(root.host(), release_);
  const auto esp4 = backend.lookup("esp4");
  ASSERT_TRUE(esp4.ok());
  EXPECT_EQ(esp4->name, "esp4");
  EXPECT_EQ(esp4->path, (root.path() / "lib/modules" / release_ / "kernel/net/ipv4/esp4.ko").string());
  EXPECT_TRUE(esp4->blacklisted);
}

TEST_F(KmodBackendOnDebianIndex, InsertRefusesABlacklistedModuleBeforeAnySyscall) {
  TempRoot root;
  root.link_index(release_);
  root.write("etc/modprobe.d/local.conf", "blacklist esp4\n");
  modules::KmodBackend backend(root.host(), release_);
  const detect::Status status = backend.insert("esp4");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, EPERM);
  EXPECT_THAT(status.error().message, HasSubstr("blacklisted"));
}

TEST_F(KmodBackendOnDebianIndex, InsertNeverRunsADependencysInstallCommand) {
  TempRoot root;
  root.link_index(release_);
  const fs::path marker = root.path() / "install-ran";
  root.write("etc/modprobe.d/local.conf", "install xfrm_algo /usr/bin/touch " + marker.string() + "\n");
  modules::KmodBackend backend(root.host(), release_);
  const detect::Status status = backend.insert("esp4");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, EPERM);
  EXPECT_THAT(status.error().message, HasSubstr("xfrm_algo"));
  EXPECT_THAT(status.error().message, HasSubstr("never runs"));
  EXPECT_FALSE(fs::exists(marker)) << "kmod ran the install command";
}

TEST(KmodBackend, MissingModulesDirectoryMakesLookupsUnknown) {
  TempRoot root;
  const modules::KmodBackend backend(root.host(), "9.9.9-none");
  EXPECT_THAT(backend.index_problem(), HasSubstr("no module index for kernel 9.9.9-none"));
  const auto found = backend.lookup("af_key");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->disk, DiskState::unknown);
}

TEST(KmodBackend, TextOnlyIndexIsUnknownAndSaysRunDepmod) {
  TempRoot root;
  root.write("lib/modules/9.9.9/modules.dep", "kernel/net/key/af_key.ko:\n");
  const modules::KmodBackend backend(root.host(), "9.9.9");
  EXPECT_THAT(backend.index_problem(), HasSubstr("run depmod"));
  EXPECT_EQ(backend.lookup("af_key")->disk, DiskState::unknown);
}

TEST(KmodBackend, UsrLibModulesIsUsedWhenLibModulesIsMissing) {
  TempRoot root;
  root.write("usr/lib/modules/9.9.9/modules.dep", "");
  const modules::KmodBackend backend(root.host(), "9.9.9");
  EXPECT_EQ(backend.modules_dir(), (root.path() / "usr/lib/modules/9.9.9").string());
}

TEST(KmodBackend, LoadedModulesParseTheRootsProcModules) {
  TempRoot root;
  root.write("proc/modules",
             "esp4 28672 0 - Live 0x0000000000000000\n"
             "xfrm_algo 16384 1 esp4, Live 0x0000000000000000\n"
             "ipsec 94208 0 - Loading 0x0000000000000000 (OE)\n");
  const modules::KmodBackend backend(root.host(), "9.9.9");
  const auto loaded = backend.loaded_modules();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 3U);
  EXPECT_EQ((*loaded)[1].name, "xfrm_algo");
  EXPECT_THAT((*loaded)[1].holders, ElementsAre("esp4"));
  EXPECT_EQ((*loaded)[1].refcnt, 1);
  EXPECT_EQ((*loaded)[2].state, detect::InitState::coming);
}

TEST(KmodBackend, NoProcModulesIsEnoentAndGarbageIsEbadmsg) {
  TempRoot root;
  const modules::KmodBackend backend(root.host(), "9.9.9");
  ASSERT_FALSE(backend.loaded_modules().ok());
  EXPECT_EQ(backend.loaded_modules().error().code, ENOENT);
  root.write("proc/modules", "this is not a module table\n");
  ASSERT_FALSE(backend.loaded_modules().ok());
  EXPECT_EQ(backend.loaded_modules().error().code, EBADMSG);
}

}  // namespace
