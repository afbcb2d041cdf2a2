// The control protocol: request validation and the reply lines, as text.

#include <gtest/gtest.h>

#include "stackmgr/control/protocol.hpp"

namespace stackmgr::control {
namespace {

TEST(ControlRequest, AcceptsEachCommandWithItsFields) {
  auto status = parse_control_request(R"({"v":1,"cmd":"status"})");
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->command, ControlCommand::status);
  auto stop = parse_control_request(R"({"cmd":"stop","unload":true})");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->command, ControlCommand::stop);
  EXPECT_TRUE(stop->unload);
  auto to_klips = parse_control_request(R"({"cmd":"switch","stack":"netkey","dry_run":true})");
  ASSERT_TRUE(to_klips);
  EXPECT_EQ(to_klips->stack, detect::Stack::native);
  EXPECT_TRUE(to_klips->dry_run);
}

TEST(ControlRequest, RoundTripsThroughItsOwnLine) {
  for (const auto& original :
       {ControlRequest{ControlCommand::status, false, std::nullopt, false},
        ControlRequest{ControlCommand::stop, true, std::nullopt, false},
        ControlRequest{ControlCommand::switch_stack, false, detect::Stack::klips, true}}) {
    auto parsed = parse_control_request(control_request_line(original));
    ASSERT_TRUE(parsed) << control_request_line(original);
    EXPECT_EQ(parsed->command, original.command);
    EXPECT_EQ(parsed->unload, original.unload);
    EXPECT_EQ(parsed->stack, original.stack);
    EXPECT_EQ(parsed->dry_run, original.dry_run);
  }
}

TEST(ControlRequest, RejectsEverythingElseWithAReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not one line of JSON"},
      {"garbage", "not one line of JSON"},
      {"\xff\xfe{", "not one line of JSON"},
      {"[1,2]", "expected a JSON object"},
      {R"({"v":2,"cmd":"status"})", "unsupported protocol version"},
      {R"({"v":"1","cmd":"status"})", "unsupported protocol version"},
      {R"({"v":4294967297,"cmd":"status"})", "unsupported protocol version"},  // 2^32 + 1, not 1
      {R"({"v":1.0,"cmd":"status"})", "unsupported protocol version"},
      {R"({"cmd":5})", "\"cmd\" (status, stop or switch) is missing"},
      {R"({})", "is missing"},
      {R"({"cmd":"reboot"})", "unknown command 'reboot'"},
      {R"({"cmd":"status","unload":true})", "unknown field 'unload' for status"},
      {R"({"cmd":"stop","unload":"yes"})", "field 'unload' must be true or false"},
      {R"({"cmd":"switch"})", "switch needs \"stack\""},
      {R"({"cmd":"switch","stack":"openbsd"})", "unknown stack 'openbsd'"},
      {R"({"cmd":"switch","stack":"klips","dry_run":1})", "field 'dry_run' must be true or false"},
  };
  for (const auto& [line, reason] : cases) {
    auto parsed = parse_control_request(line);
    ASSERT_FALSE(parsed) << "accepted: " << line;
    EXPECT_NE(parsed.error().message.find(reason), std::string::npos)
        << line << " -> " << parsed.error().message;
  }
}

TEST(ControlReply, ProgressAndResultLinesParseBack) {
  auto progress = parse_control_reply(progress_reply("warn", "SIGKILL sent"));
  ASSERT_TRUE(progress);
  EXPECT_FALSE(progress->final);
  EXPECT_EQ(progress->level, "warn");
  EXPECT_EQ(progress->message, "SIGKILL sent");
  auto result = parse_control_reply(result_reply(8, "crash loop", nlohmann::json{{"phase", "failed"}}));
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->final);
  EXPECT_FALSE(result->ok);
  EXPECT_EQ(result->exit_code, 8);
  EXPECT_EQ(result->data["phase"], "failed");
  EXPECT_FALSE(parse_control_reply("{\"type\":\"result\"}")) << "a result without an exit code";
  EXPECT_FALSE(parse_control_reply("nonsense"));
}

// A reply line's fields of the wrong type are a protocol error for the client, not an exception
// that ends it, and an exit status never wraps around to 0.
TEST(ControlReply, FieldsOfTheWrongTypeAreRefusedNotThrown) {
  for (const char* line :
       {R"({"type":"progress","message":1})", R"({"type":"progress","level":[]})",
        R"({"type":"result","exit":0,"message":{}})", R"({"type":"result","exit":0,"ok":"yes"})",
        R"({"type":"result","exit":4294967296})", R"({"type":"result","exit":-1})"}) {
    EXPECT_FALSE(parse_control_reply(line)) << line;
  }
}

}  // namespace
}  // namespace stackmgr::control
