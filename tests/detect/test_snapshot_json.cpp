// detect/snapshot_json.cpp: the stackmgr.detect/1 schema.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "detect/snapshot_json.hpp"

namespace {

detect::Snapshot sample() {
  detect::Snapshot snapshot;
  snapshot.overall = detect::Overall::native;
  snapshot.reasons = {"the native stack is active"};
  snapshot.native = {detect::Stack::native, detect::Verdict::active, {"every core module is in the kernel"}};
  snapshot.klips = {detect::Stack::klips, detect::Verdict::loadable, {"ipsec is on disk"}};
  snapshot.subsystem.supported = detect::Fact::yes;
  snapshot.subsystem.modules_disabled = detect::Fact::no;
  snapshot.subsystem.cap_sys_module = detect::Fact::no;
  snapshot.subsystem.cap_sys_module_bounding = detect::Fact::yes;
  snapshot.subsystem.kernel_release = "6.1.0-56-amd64";
  snapshot.subsystem.modules_dir = "/lib/modules/6.1.0-56-amd64";
  snapshot.subsystem.modules_dir_exists = true;
  detect::ModuleStatus af_key;
  af_key.spec = {"af_key", detect::Stack::native, detect::ModuleRole::core};
  af_key.state = detect::ModuleState::live;
  af_key.refcnt = 1;
  af_key.holders = {"xfrm_user"};
  af_key.dependencies = {"xfrm_algo"};
  af_key.path = "/lib/modules/6.1.0-56-amd64/kernel/net/key/af_key.ko";
  af_key.guarded = false;
  detect::ModuleStatus ipsec;
  ipsec.spec = {"ipsec", detect::Stack::klips, detect::ModuleRole::core};
  ipsec.state = detect::ModuleState::unknown;
  ipsec.note = "cannot tell";
  snapshot.modules = {af_key, ipsec};
  snapshot.markers.proc_net_pfkey = true;
  snapshot.markers.xfrm_stat = true;
  snapshot.markers.proc_net_readable = true;
  return snapshot;
}

TEST(SnapshotToJson, SchemaComesFirstAndNamesTheVersion) {
  const auto json = detect::snapshot_to_json(sample());
  EXPECT_EQ(json.begin().key(), "schema");
  EXPECT_EQ(json["schema"], "stackmgr.detect/1");
  EXPECT_EQ(json["overall"], "native");
  EXPECT_EQ(json["reasons"][0], "the native stack is active");
}

TEST(SnapshotToJson, EveryDocumentedTopLevelAndSubsystemField) {
  const auto json = detect::snapshot_to_json(sample());
  for (const char* key : {"schema", "overall", "reasons", "stacks", "subsystem", "modules", "markers"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  const auto& subsystem = json["subsystem"];
  EXPECT_EQ(subsystem["supported"], "yes");
  EXPECT_EQ(subsystem["cap_sys_module"], "no");
  EXPECT_EQ(subsystem["cap_sys_module_bounding"], "yes");
  EXPECT_EQ(subsystem["can_change_modules"], false);
  EXPECT_EQ(subsystem["kernel_release"], "6.1.0-56-amd64");
  EXPECT_EQ(subsystem["modules_dir_exists"], true);
  EXPECT_TRUE(subsystem["notes"].is_array());
  EXPECT_EQ(json["stacks"]["native"]["verdict"], "active");
  EXPECT_EQ(json["stacks"]["klips"]["verdict"], "loadable");
}

TEST(SnapshotToJson, ModulesCarryStateRefcntAndNullsWhereNothingApplies) {
  const auto json = detect::snapshot_to_json(sample());
  const auto& af_key = json["modules"][0];
  EXPECT_EQ(af_key["name"], "af_key");
  EXPECT_EQ(af_key["stack"], "native");
  EXPECT_EQ(af_key["role"], "core");
  EXPECT_EQ(af_key["state"], "live");
  EXPECT_EQ(af_key["refcnt"], 1);
  EXPECT_EQ(af_key["holders"][0], "xfrm_user");
  EXPECT_EQ(af_key["dependencies"][0], "xfrm_algo");
  EXPECT_EQ(af_key["blacklisted"], false);
  EXPECT_EQ(af_key["guarded"], false);
  EXPECT_TRUE(af_key["note"].is_null());
  const auto& ipsec = json["modules"][1];
  EXPECT_EQ(ipsec["state"], "unknown");
  EXPECT_TRUE(ipsec["refcnt"].is_null());
  EXPECT_TRUE(ipsec["path"].is_null());
  EXPECT_EQ(ipsec["note"], "cannot tell");
}

TEST(SnapshotToJson, MarkersIncludeTheDerivedXfrmFramework) {
  const auto json = detect::snapshot_to_json(sample());
  const auto& markers = json["markers"];
  EXPECT_EQ(markers["proc_net_pfkey"], true);
  EXPECT_EQ(markers["xfrm_framework"], true);
  EXPECT_EQ(markers["ipsec_version"], false);
  EXPECT_TRUE(markers["ipsec_version_text"].is_null());
  EXPECT_TRUE(markers["ipsec_interfaces"].is_array());
  EXPECT_EQ(markers["proc_net_readable"], true);
  EXPECT_EQ(markers["initial_netns"], true);
}

TEST(SnapshotToJson, EmbedsInAPlainJsonDocument) {
  nlohmann::json status;
  status["detect"] = detect::snapshot_to_json(sample());
  EXPECT_EQ(status["detect"]["overall"], "native");
}

}  // namespace
