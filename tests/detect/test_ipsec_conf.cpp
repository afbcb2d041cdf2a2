#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "detect/ipsec_conf.hpp"
#include "tests/detect/temp_tree.hpp"

namespace detect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing_support::TempTree;

std::string all_problems(const IpsecConf& conf) {
  std::string out;
  for (const auto& problem : conf.problems) out += problem.describe() + "\n";
  return out;
}

IpsecConf parse(std::string_view text) {
  static const HostRoot nowhere("/nonexistent-stackmgr-test-root");
  return parse_ipsec_conf(text, "/etc/ipsec.conf", nowhere);
}

TEST(IpsecConf, ReadsSetupConnsAndValuesWithTheirLines) {
  const auto conf = parse(
      "# FreeS/WAN 2 config\n"
      "version 2\n"
      "\n"
      "config setup\n"
      "\tinterfaces=%defaultroute\n"
      "\tprotostack=netkey   # the 2.6 native stack\n"
      "\tplutodebug=\"control parsing\"\n"
      "\n"
      "conn net-to-net\n"
      "    left = 192.0.2.1\n"
      "    leftsubnet=10.0.1.0/24\n"
      "    right=198.51.100.1\n"
      "    auto=start\n");
  EXPECT_EQ(all_problems(conf), "");
  EXPECT_EQ(conf.version, "2");
  ASSERT_NE(conf.setup_value("protostack"), nullptr);
  EXPECT_EQ(conf.setup_value("protostack")->value, "netkey");
  EXPECT_EQ(conf.setup_value("protostack")->where.describe(), "/etc/ipsec.conf:6");
  EXPECT_EQ(conf.setup.get("plutodebug"), "control parsing");
  ASSERT_EQ(conf.conns.size(), 1u);
  const ConfSection& conn = conf.conns[0];
  EXPECT_EQ(conn.name, "net-to-net");
  EXPECT_EQ(conn.where.line, 9);
  EXPECT_EQ(conn.get("left"), "192.0.2.1");
  EXPECT_EQ(conn.find("left")->where.line, 10);
  EXPECT_EQ(conn.get("auto"), "start");
  EXPECT_EQ(conn.get("compress", "no"), "no");
}

TEST(IpsecConf, CommentNeedsWhiteSpaceBeforeTheHashAndQuotesProtectIt) {
  const auto conf = parse(
      "conn a\n"
      "\tleftid=@host#1\n"
      "\tx-note=\"keep # this\"  # but not this\n"
      "\t# a whole-line comment inside the section\n"
      "\tright=198.51.100.1\n");
  EXPECT_EQ(all_problems(conf), "");
  EXPECT_EQ(conf.conn("a")->get("leftid"), "@host#1");
  EXPECT_EQ(conf.conn("a")->get("x-note"), "keep # this");
  EXPECT_EQ(conf.conn("a")->get("right"), "198.51.100.1");
}

TEST(IpsecConf, DefaultFillsOnlyWhatAConnLeavesUnset) {
  const auto conf = parse(
      "conn %default\n"
      "\tkeyingtries=0\n"
      "\tcompress=yes\n"
      "conn a\n"
      "\tcompress=no\n"
      "conn b\n"
      "\tright=198.51.100.2\n");
  EXPECT_EQ(all_problems(conf), "");
  ASSERT_EQ(conf.conns.size(), 2u);  // %default is not a conn
  EXPECT_EQ(conf.conn("a")->get("compress"), "no");
  EXPECT_EQ(conf.conn("a")->get("keyingtries"), "0");
  EXPECT_EQ(conf.conn("b")->get("compress"), "yes");
  EXPECT_EQ(conf.conn("b")->find("compress")->where.line, 3);  // says where it came from
  EXPECT_EQ(conf.conn(""), nullptr);
  EXPECT_EQ(conf.conn("%default"), nullptr);
}

TEST(IpsecConf, EmptyValueMeansUnsetSoDefaultStillApplies) {
  const auto conf = parse(
      "conn %default\n"
      "\tauto=add\n"
      "conn a\n"
      "\tauto=\n");
  EXPECT_EQ(conf.conn("a")->get("auto"), "add");
}

TEST(IpsecConf, AlsoAppendsInOrderAndOwnKeysWin) {
  const auto conf = parse(
      "conn a\n"
      "\tleft=192.0.2.1\n"
      "\talso=base\n"
      "\talso=extra\n"
      "conn base\n"
      "\tleft=192.0.2.99\n"
      "\tright=198.51.100.1\n"
      "\talso=deeper\n"
      "conn extra\n"
      "\tright=203.0.113.1\n"
      "\tpfs=no\n"
      "conn deeper\n"
      "\ttype=transport\n");
  EXPECT_EQ(all_problems(conf), "");
  const ConfSection* a = conf.conn("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->get("left"), "192.0.2.1");
  EXPECT_EQ(a->get("right"), "198.51.100.1");  // base comes before extra
  EXPECT_EQ(a->find("right")->where.line, 7);
  EXPECT_EQ(a->get("type"), "transport");  // nested
  EXPECT_EQ(a->get("pfs"), "no");
  EXPECT_TRUE(a->also.empty());
  EXPECT_EQ(a->find("also"), nullptr);
}

TEST(IpsecConf, AlsoflipSwapsLeftAndRight) {
  const auto conf = parse(
      "conn west\n"
      "\tleft=192.0.2.1\n"
      "\tleftsubnet=10.0.1.0/24\n"
      "\tauto=add\n"
      "conn east\n"
      "\talsoflip=west\n");
  EXPECT_EQ(all_problems(conf), "");
  EXPECT_EQ(conf.conn("east")->get("right"), "192.0.2.1");
  EXPECT_EQ(conf.conn("east")->get("rightsubnet"), "10.0.1.0/24");
  EXPECT_EQ(conf.conn("east")->get("auto"), "add");
  EXPECT_EQ(conf.conn("east")->find("left"), nullptr);
}

TEST(IpsecConf, AlsoLoopIsReportedAndStops) {
  const auto conf = parse(
      "conn a\n"
      "\talso=b\n"
      "\tauto=add\n"
      "conn b\n"
      "\talso=a\n"
      "\tright=198.51.100.1\n");
  EXPECT_THAT(all_problems(conf), HasSubstr("/etc/ipsec.conf:5: also= loop: a -> b -> a"));
  EXPECT_EQ(conf.conn("a")->get("right"), "198.51.100.1");
  EXPECT_EQ(conf.conn("b")->get("auto"), "add");
}

TEST(IpsecConf, MissingAlsoTargetAndDoubleAppendAreReported) {
  const auto conf = parse(
      "conn a\n"
      "\talso=nowhere\n"
      "\talso=b\n"
      "\talso=c\n"
      "conn b\n"
      "\talso=c\n"
      "conn c\n"
      "\tpfs=yes\n"
      "conn %default\n"
      "\talso=b\n");
  const std::string problems = all_problems(conf);
  EXPECT_THAT(problems, HasSubstr(":2: also=nowhere: there is no conn nowhere"));
  EXPECT_THAT(problems, HasSubstr(":4: conn c is appended to conn a more than once"));
  EXPECT_THAT(problems, HasSubstr(":10: %default sections may not contain also"));
  EXPECT_EQ(conf.conn("a")->get("pfs"), "yes");
}

TEST(IpsecConf, MalformedLinesAreReportedAndParsingGoesOn) {
  const auto conf = parse(
      "left=192.0.2.1\n"            // 1: not indented, no section
      "\tright=1.2.3.4\n"           // 2: outside any section
      "conn a\n"                    // 3
      "\tnot a parameter\n"         // 4: no '='
      "\tleft=\"unterminated\n"     // 5
      "\tright=two words\n"         // 6
      "\tright=again\n"             // 7: set twice
      "\t9bad=x\n"                  // 8: invalid name
      "bogus line here\n"           // 9
      "\tswallowed=yes\n"           // 10: after a bad header: ignored quietly
      "config other\n"              // 11
      "conn a b\n"                  // 12
      "version 2\n"                 // 13: too late
      "conn fine\n"                 // 14
      "\tauto=route\n"              // 15
      "\tleftid=\"@x\" trailing\n"  // 16
      "conn fine\n"                 // 17: defined twice
      "\tpfs=no\n");
  const std::string problems = all_problems(conf);
  EXPECT_THAT(problems, HasSubstr(":1: parameter 'left=192.0.2.1' is not indented"));
  EXPECT_THAT(problems, HasSubstr(":2: parameter 'right' outside any section"));
  EXPECT_THAT(problems, HasSubstr(":4: expected 'name=value'"));
  EXPECT_THAT(problems, HasSubstr(":5: missing closing double quote"));
  EXPECT_THAT(problems, HasSubstr(":6: value 'two words' contains white space"));
  EXPECT_THAT(problems, HasSubstr(":7: 'right' is set twice in conn a (first at /etc/ipsec.conf:6)"));
  EXPECT_THAT(problems, HasSubstr(":8: invalid parameter name '9bad'"));
  EXPECT_THAT(problems, HasSubstr(":9: unrecognized line starting with 'bogus'"));
  EXPECT_THAT(problems, HasSubstr(":11: unknown section 'config other'"));
  EXPECT_THAT(problems, HasSubstr(":12: conn takes exactly one name"));
  EXPECT_THAT(problems, HasSubstr(":13: 'version' must be the first significant line"));
  EXPECT_THAT(problems, HasSubstr(":16: unexpected text after the closing double quote"));
  EXPECT_THAT(problems, HasSubstr(":17: conn fine is defined twice (first at /etc/ipsec.conf:14)"));
  EXPECT_THAT(problems, ::testing::Not(HasSubstr(":10:")));
  EXPECT_EQ(conf.conn("a")->get("left"), "unterminated");
  EXPECT_EQ(conf.conn("a")->get("right"), "two words");
  EXPECT_EQ(conf.conn("fine")->get("auto"), "route");
  EXPECT_EQ(conf.conn("fine")->get("leftid"), "@x");
  EXPECT_EQ(conf.conn("fine")->get("pfs"), "no");  // merged
}

TEST(IpsecConf, SurvivesCrlfNulAndBinaryJunk) {
  std::string text = "conn a\r\n\tauto=add\r\n";
  text += std::string("\tleft=\0x\n", 9);
  text += "\xff\xfe\x01\n\t=\n\t\"\n";
  const auto conf = parse(text);
  EXPECT_EQ(conf.conn("a")->get("auto"), "add");
  EXPECT_THAT(all_problems(conf), HasSubstr(":3: line contains a NUL byte"));
}

TEST(IpsecConf, MissingMainFileIsNotFoundWithoutProblems) {
  TempTree tree;
  const auto conf = read_ipsec_conf(HostRoot(tree.path()));
  EXPECT_FALSE(conf.found);
  EXPECT_TRUE(conf.problems.empty());
  EXPECT_TRUE(conf.conns.empty());
}

TEST(IpsecConf, UnreadableMainFileIsAProblem) {
  TempTree tree;
  tree.mkdir("etc/ipsec.conf");  // a directory: read fails with EISDIR
  const auto conf = read_ipsec_conf(HostRoot(tree.path()));
  EXPECT_FALSE(conf.found);
  EXPECT_THAT(all_problems(conf), HasSubstr("cannot read /etc/ipsec.conf"));
}

TEST(IpsecConf, IncludesResolveUnderTheRootRelativeToTheIncludingFile) {
  TempTree tree;
  tree.write("etc/ipsec.conf",
             "version 2\n"
             "config setup\n"
             "\tprotostack=klips\n"
             "include ipsec.d/*.conf\n"
             "include /etc/extra/one.conf\n");
  tree.write("etc/ipsec.d/b.conf", "conn b\n\tauto=add\n");
  tree.write("etc/ipsec.d/a.conf", "conn a\n\tauto=route\n\tinclude sub/keys.inc\n");
  tree.write("etc/ipsec.d/sub/keys.inc", "\tleftrsasigkey=%dnsondemand\n");
  tree.write("etc/ipsec.d/ignored.txt", "conn nope\n");
  tree.write("etc/extra/one.conf", "conn one\n\tright=198.51.100.1\n");
  const auto conf = read_ipsec_conf(HostRoot(tree.path()));
  EXPECT_EQ(all_problems(conf), "");
  EXPECT_TRUE(conf.found);
  EXPECT_THAT(conf.files, ElementsAre("/etc/ipsec.conf", "/etc/ipsec.d/a.conf", "/etc/ipsec.d/sub/keys.inc",
                                      "/etc/ipsec.d/b.conf", "/etc/extra/one.conf"));
  ASSERT_EQ(conf.conns.size(), 3u);
  EXPECT_EQ(conf.conns[0].name, "a");  // glob order
  EXPECT_EQ(conf.conn("a")->get("leftrsasigkey"), "%dnsondemand");
  EXPECT_EQ(conf.conn("a")->find("leftrsasigkey")->where.describe(), "/etc/ipsec.d/sub/keys.inc:1");
  EXPECT_EQ(conf.conn("one")->where.describe(), "/etc/extra/one.conf:1");
  EXPECT_EQ(conf.conn("nope"), nullptr);
  EXPECT_EQ(conf.setup.get("protostack"), "klips");
}

TEST(IpsecConf, MissingLiteralIncludeIsAProblemButAnEmptyGlobIsNot) {
  TempTree tree;
  tree.write("etc/ipsec.conf", "include /etc/ipsec.d/*.conf\ninclude missing.conf\nconn a\n\tauto=add\n");
  const auto conf = read_ipsec_conf(HostRoot(tree.path()));
  ASSERT_EQ(conf.problems.size(), 1u);
  EXPECT_EQ(conf.problems[0].describe(), "/etc/ipsec.conf:2: include /etc/missing.conf: no such file");
  EXPECT_EQ(conf.conn("a")->get("auto"), "add");
}

TEST(IpsecConf, IncludeCannotClimbOutOfTheRoot) {
  TempTree tree;
  tree.write("etc/ipsec.conf", "include ../../../../../../etc/hostname\n");
  const auto conf = read_ipsec_conf(HostRoot(tree.path()));
  ASSERT_EQ(conf.problems.size(), 1u);
  EXPECT_EQ(conf.problems[0].message, "include /etc/hostname: no such file");
}

TEST(IpsecConf, IncludeLoopIsReportedNotFollowedForever) {
  TempTree tree;
  tree.write("etc/ipsec.conf", "include a.conf\n");
  tree.write("etc/a.conf", "conn a\n\tauto=add\ninclude b.conf\n");
  tree.write("etc/b.conf", "include a.conf\n");
  const auto conf = read_ipsec_conf(HostRoot(tree.path()));
  EXPECT_THAT(all_problems(conf), HasSubstr("/etc/b.conf:1: include loop: /etc/a.conf includes itself"));
  EXPECT_EQ(conf.conns.size(), 1u);
}

TEST(IpsecConf, IncludeDepthAndFileSizeAreBounded) {
  TempTree tree;
  tree.write("etc/ipsec.conf", "include d1.conf\n");
  tree.write("etc/d1.conf", "include d2.conf\n");
  tree.write("etc/d2.conf", "include d3.conf\n");
  tree.write("etc/d3.conf", "conn deep\n");
  tree.write("etc/big.conf", std::string(300, '#'));
  ConfLimits limits;
  limits.max_include_depth = 2;
  limits.max_file_bytes = 200;
  auto conf = read_ipsec_conf(HostRoot(tree.path()), "/etc/ipsec.conf", limits);
  EXPECT_THAT(all_problems(conf), HasSubstr("/etc/d2.conf:1: include nested deeper than 2 levels"));
  EXPECT_EQ(conf.conn("deep"), nullptr);
  conf = read_ipsec_conf(HostRoot(tree.path()), "/etc/big.conf", limits);
  EXPECT_THAT(all_problems(conf), HasSubstr("skipping /etc/big.conf: larger than 200 bytes"));
}

TEST(IpsecConf, IncludeWithTwoNamesIsRejected) {
  const auto conf = parse("include a.conf b.conf\n");
  EXPECT_THAT(all_problems(conf), HasSubstr(":1: include takes exactly one file name"));
}

}  // namespace
}  // namespace detect
