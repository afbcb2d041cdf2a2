// Which stack `start` makes ready, from which source, and what it tells the admin.
#include <gtest/gtest.h>

#include "detect/host.hpp"
#include "detect/ipsec_conf.hpp"
#include "stackmgr/config/stack_choice.hpp"

namespace stackmgr::config {
namespace {

using detect::Overall;
using detect::Stack;

ChoiceInputs base() {
  ChoiceInputs inputs;
  inputs.state_file_path = "/var/lib/stackmgr/stack";
  inputs.config_path = "/etc/stackmgr/stackmgr.toml";
  return inputs;
}

ProtostackSetting protostack(const std::string& value) { return {value, "/etc/ipsec.conf:3"}; }

TEST(StackChoice, TheCommandLineOutranksEverything) {
  ChoiceInputs inputs = base();
  inputs.command_line = Stack::klips;
  inputs.state_file = Stack::native;
  inputs.config = Stack::native;
  inputs.protostack = protostack("netkey");
  inputs.overall = Overall::native;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::klips);
  EXPECT_EQ(choice.source, ChoiceSource::command_line);
  EXPECT_EQ(
      choice.explanation,
      "klips (from the command line; overrides the last switch to native (/var/lib/stackmgr/stack), stack = "
      "\"native\" in /etc/stackmgr/stackmgr.toml and protostack=netkey in /etc/ipsec.conf:3)");
}

TEST(StackChoice, TheLastSwitchOutranksTheConfigAndIpsecConf) {
  ChoiceInputs inputs = base();
  inputs.state_file = Stack::klips;
  inputs.protostack = protostack("netkey");
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::klips);
  EXPECT_EQ(choice.source, ChoiceSource::state_file);
  EXPECT_EQ(choice.explanation,
            "klips (from the last switch, /var/lib/stackmgr/stack; overrides protostack=netkey in "
            "/etc/ipsec.conf:3)");

  inputs.config = Stack::native;
  EXPECT_EQ(choose_stack(inputs).explanation,
            "klips (from the last switch, /var/lib/stackmgr/stack; overrides stack = \"native\" in "
            "/etc/stackmgr/stackmgr.toml and protostack=netkey in /etc/ipsec.conf:3)");
}

TEST(StackChoice, TheConfigOutranksIpsecConf) {
  ChoiceInputs inputs = base();
  inputs.config = Stack::native;
  inputs.protostack = protostack("klips");
  inputs.overall = Overall::klips;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::native);
  EXPECT_EQ(choice.source, ChoiceSource::config);
  EXPECT_EQ(choice.explanation,
            "native (from stack = \"native\" in /etc/stackmgr/stackmgr.toml; overrides protostack=klips in "
            "/etc/ipsec.conf:3)");
}

TEST(StackChoice, AgreeingSourcesAreNotCalledOverridden) {
  ChoiceInputs inputs = base();
  inputs.state_file = Stack::klips;
  inputs.config = Stack::klips;
  inputs.protostack = protostack("klips");
  EXPECT_EQ(choose_stack(inputs).explanation, "klips (from the last switch, /var/lib/stackmgr/stack)");
}

TEST(StackChoice, IpsecConfOutranksAuto) {
  ChoiceInputs inputs = base();
  inputs.overall = Overall::klips;
  for (const std::string native : {"netkey", "xfrm", "native", "NETKEY"}) {
    inputs.protostack = protostack(native);
    const StackChoice choice = choose_stack(inputs);
    EXPECT_EQ(choice.stack, Stack::native) << native;
    EXPECT_EQ(choice.source, ChoiceSource::ipsec_conf) << native;
  }
  inputs.overall = Overall::native;
  for (const std::string klips : {"klips", "mast"}) {
    inputs.protostack = protostack(klips);
    EXPECT_EQ(choose_stack(inputs).stack, Stack::klips) << klips;
  }
  inputs.protostack = protostack("netkey");
  EXPECT_EQ(choose_stack(inputs).explanation, "native (from protostack=netkey in /etc/ipsec.conf:3)");
}

TEST(StackChoice, AutoKeepsTheActiveStack) {
  ChoiceInputs inputs = base();
  inputs.default_stack = Stack::native;
  inputs.overall = Overall::klips;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::klips) << "not the default: KLIPS is in the kernel";
  EXPECT_EQ(choice.source, ChoiceSource::automatic);
  EXPECT_EQ(choice.explanation,
            "klips (auto: no stack named on the command line, by a switch, in stackmgr.toml or in "
            "ipsec.conf; keeps "
            "the stack already in the kernel)");
  inputs.overall = Overall::native;
  EXPECT_EQ(choose_stack(inputs).stack, Stack::native);
}

TEST(StackChoice, AutoWithNothingActiveTakesTheDefault) {
  ChoiceInputs inputs = base();
  inputs.default_stack = Stack::klips;
  inputs.overall = Overall::none;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::klips);
  EXPECT_NE(
      choice.explanation.find("no stack is in the kernel, so default_stack in /etc/stackmgr/stackmgr.toml"),
      std::string::npos)
      << choice.explanation;
  inputs.config_path.clear();
  EXPECT_NE(choose_stack(inputs).explanation.find("the built-in default_stack"), std::string::npos);
}

TEST(StackChoice, ProtostackAutoIsAuto) {
  ChoiceInputs inputs = base();
  inputs.protostack = protostack("auto");
  inputs.overall = Overall::klips;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::klips);
  EXPECT_EQ(choice.source, ChoiceSource::automatic);
  EXPECT_EQ(choice.explanation,
            "klips (auto, from protostack=auto in /etc/ipsec.conf:3; keeps the stack already in the kernel)");
}

TEST(StackChoice, AutoRefusesToGuessOnAConflict) {
  ChoiceInputs inputs = base();
  inputs.overall = Overall::conflict;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_FALSE(choice.stack.has_value());
  EXPECT_EQ(choice.source, ChoiceSource::automatic);
  EXPECT_EQ(choice.explanation.rfind("refusing to guess the stack: both stacks are in the kernel", 0), 0u)
      << choice.explanation;
  EXPECT_NE(choice.explanation.find("'stackmgr switch native|klips'"), std::string::npos);
}

TEST(StackChoice, AutoRefusesToGuessOnABrokenKernel) {
  ChoiceInputs inputs = base();
  inputs.overall = Overall::broken;
  inputs.protostack = protostack("auto");
  const StackChoice choice = choose_stack(inputs);
  EXPECT_FALSE(choice.stack.has_value());
  EXPECT_NE(choice.explanation.find("markers disagree"), std::string::npos) << choice.explanation;
}

TEST(StackChoice, ANamedStackIsChosenEvenOnAConflict) {
  ChoiceInputs inputs = base();
  inputs.overall = Overall::conflict;
  inputs.config = Stack::native;
  EXPECT_EQ(choose_stack(inputs).stack, Stack::native) << "the planner, not the choice, handles the conflict";
}

TEST(StackChoice, AnInvalidProtostackThatWouldDecideIsRefused) {
  ChoiceInputs inputs = base();
  inputs.protostack = protostack("klipsng");
  inputs.overall = Overall::native;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_FALSE(choice.stack.has_value());
  EXPECT_EQ(choice.source, ChoiceSource::ipsec_conf);
  EXPECT_NE(choice.explanation.find("protostack=klipsng in /etc/ipsec.conf:3 is not a stack stackmgr knows"),
            std::string::npos)
      << choice.explanation;
}

TEST(StackChoice, AnInvalidProtostackThatIsOutrankedIsAWarning) {
  ChoiceInputs inputs = base();
  inputs.protostack = protostack("klipsng");
  inputs.config = Stack::klips;
  const StackChoice choice = choose_stack(inputs);
  EXPECT_EQ(choice.stack, Stack::klips);
  ASSERT_EQ(choice.warnings.size(), 1u);
  EXPECT_EQ(choice.warnings[0].rfind("ignoring protostack=klipsng in /etc/ipsec.conf:3", 0), 0u)
      << choice.warnings[0];
}

TEST(SwitchDisagreements, NamesEachLowerSourceThatDisagrees) {
  ChoiceInputs inputs = base();
  inputs.config = Stack::native;
  inputs.protostack = protostack("netkey");
  const auto notes = switch_disagreements(Stack::klips, inputs);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0],
            "stack = \"native\" in /etc/stackmgr/stackmgr.toml names the other stack; the switch to klips is "
            "recorded "
            "in /var/lib/stackmgr/stack, which outranks it, so klips stays after a reboot. To make the "
            "config agree, "
            "set stack = \"klips\" there; to go back, run 'stackmgr switch native'");
  EXPECT_NE(notes[1].find("protostack=netkey in /etc/ipsec.conf:3 names the other stack"), std::string::npos);
  EXPECT_NE(notes[1].find("set protostack=klips there"), std::string::npos);
  EXPECT_TRUE(switch_disagreements(Stack::native, inputs).empty());
}

TEST(ChoiceInputs, TakesTheConfigAndSnapshotParts) {
  Config config;
  config.source = "/etc/stackmgr/stackmgr.toml";
  config.stack = Stack::klips;
  config.default_stack = Stack::klips;
  config.paths.state_dir = "/srv/state";
  detect::Snapshot snapshot;
  snapshot.overall = Overall::conflict;
  const ChoiceInputs inputs = choice_inputs(config, snapshot);
  EXPECT_EQ(inputs.config, Stack::klips);
  EXPECT_EQ(inputs.config_path, "/etc/stackmgr/stackmgr.toml");
  EXPECT_EQ(inputs.default_stack, Stack::klips);
  EXPECT_EQ(inputs.state_file_path, "/srv/state/stack");
  EXPECT_EQ(inputs.overall, Overall::conflict);
  EXPECT_FALSE(inputs.command_line.has_value());
  EXPECT_FALSE(inputs.state_file.has_value());
}

TEST(ProtostackFrom, ReadsConfigSetup) {
  const detect::IpsecConf conf = detect::parse_ipsec_conf(
      "version 2\n\nconfig setup\n\tprotostack=netkey\n\nconn x\n\tprotostack=klips\n", "/etc/ipsec.conf",
      detect::HostRoot("/"));
  const ProtostackSetting setting = protostack_from(conf);
  ASSERT_TRUE(setting.value.has_value());
  EXPECT_EQ(*setting.value, "netkey");
  EXPECT_EQ(setting.where, "/etc/ipsec.conf:4");
}

TEST(ProtostackFrom, UnsetWithoutTheKeyOrTheFile) {
  const detect::IpsecConf without = detect::parse_ipsec_conf("config setup\n\tinterfaces=%defaultroute\n",
                                                             "/etc/ipsec.conf", detect::HostRoot("/"));
  EXPECT_FALSE(protostack_from(without).value.has_value());
  EXPECT_FALSE(protostack_from(detect::IpsecConf{}).value.has_value());
  EXPECT_EQ(interpret_protostack({}).meaning, ProtostackMeaning::unset);
}

}  // namespace
}  // namespace stackmgr::config
