// The chat sample, run as users run it: one chat_server, three chat_client
// processes typing lines.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/samples/sample_processes.h"

namespace parley::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class ChatSample : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RunningServer> server = StartServer(CHAT_SERVER);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // Starts a client named `name` and returns once it is in the room.
  std::unique_ptr<Subprocess> Join(const std::string& name) {
    auto client = Subprocess::Start({CHAT_CLIENT, server_.url, name});
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    absl::StatusOr<std::string> joined =
        (*client)->WaitForLine("joined as " + name, kSampleTimeout);
    EXPECT_TRUE(joined.ok()) << joined.status();
    return std::move(*client);
  }

  // Ends `client`'s input: it leaves the room and must exit 0.
  void Leave(Subprocess& client) {
    client.CloseStdin();
    absl::StatusOr<int> code = client.Wait(kSampleTimeout);
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << client.Output();
  }

  RunningServer server_;
};

TEST_F(ChatSample, LinesReachEveryOtherMemberWithNamesAndPresence) {
  std::unique_ptr<Subprocess> alice = Join("alice");
  ASSERT_NE(alice, nullptr);
  std::unique_ptr<Subprocess> bob = Join("bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_THAT(bob->Lines(), Contains("joined as bob; in the room: alice, bob"));
  EXPECT_TRUE(Prints(*alice, "* bob joined"));

  ASSERT_TRUE(alice->WriteLine("hello bob").ok());
  EXPECT_TRUE(Prints(*bob, "<alice> hello bob"));
  ASSERT_TRUE(bob->WriteLine("hi alice").ok());
  EXPECT_TRUE(Prints(*alice, "<bob> hi alice"));

  // A late joiner sees the recent lines, then the new ones.
  std::unique_ptr<Subprocess> carol = Join("carol");
  ASSERT_NE(carol, nullptr);
  EXPECT_TRUE(Prints(*carol, "(earlier) <bob> hi alice"));
  EXPECT_TRUE(Prints(*alice, "* carol joined"));
  EXPECT_TRUE(Prints(*bob, "* carol joined"));
  ASSERT_TRUE(carol->WriteLine("hey all").ok());
  EXPECT_TRUE(Prints(*alice, "<carol> hey all"));
  EXPECT_TRUE(Prints(*bob, "<carol> hey all"));

  Leave(*bob);
  EXPECT_TRUE(Prints(*alice, "* bob left (left)"));
  EXPECT_TRUE(Prints(*carol, "* bob left (left)"));
  ASSERT_TRUE(alice->WriteLine("bye carol").ok());
  EXPECT_TRUE(Prints(*carol, "<alice> bye carol"));

  Leave(*alice);
  EXPECT_TRUE(Prints(*carol, "* alice left (left)"));
  Leave(*carol);

  // Nobody hears their own lines; bob heard nothing after he left.
  EXPECT_THAT(alice->Lines(), Not(Contains(HasSubstr("<alice>"))));
  EXPECT_THAT(carol->Lines(), Not(Contains(HasSubstr("<carol> hey all"))));
  EXPECT_THAT(bob->Lines(), Not(Contains(HasSubstr("bye carol"))));
  absl::StatusOr<int> stopped = StopServer(server_);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << server_.process->Output();
  EXPECT_THAT(server_.process->Lines(), Contains("<carol> hey all"));
}

TEST_F(ChatSample, ATakenNameIsRefused) {
  std::unique_ptr<Subprocess> alice = Join("alice");
  ASSERT_NE(alice, nullptr);
  auto second = Subprocess::Start({CHAT_CLIENT, server_.url, "alice"});
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<int> code = (*second)->Wait(kSampleTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1);
  EXPECT_THAT((*second)->Lines(),
              Contains(HasSubstr("cannot join: ALREADY_EXISTS")));
  Leave(*alice);
}

}  // namespace
}  // namespace parley::testing
