// The echo sample, run as a user runs it: echo_server, then echo_client
// against it.
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/samples/sample_processes.h"

namespace parley::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(EchoSample, ClientGetsRepliesAndNoticesAndServerHearsEveryMessage) {
  absl::StatusOr<RunningServer> server = StartServer(ECHO_SERVER);
  ASSERT_TRUE(server.ok()) << server.status();

  auto client = Subprocess::Start({ECHO_CLIENT, server->url});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<int> code = (*client)->Wait(kSampleTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  std::vector<std::string> out = (*client)->Lines();
  EXPECT_EQ(*code, 0) << (*client)->Output();
  EXPECT_THAT(out, Contains("reply #1: HELLO"));
  EXPECT_THAT(out, Contains("reply #2: PARLEY"));
  EXPECT_THAT(out, Contains("reply #3: OVER WEBSOCKETS"));
  EXPECT_THAT(out, Contains("notice from server: server heard \"parley\""));
  EXPECT_THAT(out, Contains("echo_client: all calls succeeded"));

  absl::StatusOr<int> stopped = StopServer(*server);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << server->process->Output();
  std::vector<std::string> server_out = server->process->Lines();
  EXPECT_THAT(server_out, Contains("client says: hello"));
  EXPECT_THAT(server_out, Contains("client says: over websockets"));
  EXPECT_THAT(server_out, Contains(HasSubstr("event: Connected 127.0.0.1:")));
  EXPECT_THAT(server_out, Contains("echo_server stopped"));
}

}  // namespace
}  // namespace parley::testing
