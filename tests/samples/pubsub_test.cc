// The pubsub sample, run as users run it: one pubsub_server, subscribers
// and publishers as pubsub_client processes fed commands on stdin.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/samples/sample_processes.h"

namespace parley::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAreArray;

// The "<topic> #<n>: <text>" lines a subscriber printed, in order.
std::vector<std::pair<uint64_t, std::string>> Received(
    const Subprocess& client, const std::string& topic) {
  std::vector<std::pair<uint64_t, std::string>> received;
  for (const std::string& line : client.Lines()) {
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::MaxSplits(": ", 1));
    uint64_t number = 0;
    if (parts.size() == 2 && absl::StartsWith(parts[0], topic + " #") &&
        absl::SimpleAtoi(parts[0].substr(topic.size() + 2), &number)) {
      received.emplace_back(number, parts[1]);
    }
  }
  return received;
}

std::unique_ptr<Subprocess> StartClient(const RunningServer& server) {
  auto client = Subprocess::Start({PUBSUB_CLIENT, server.url});
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

// Sends `command` and waits for the line that confirms it.
::testing::AssertionResult Command(Subprocess& client,
                                   const std::string& command,
                                   const std::string& confirmation) {
  if (absl::Status written = client.WriteLine(command); !written.ok()) {
    return ::testing::AssertionFailure() << written;
  }
  return Prints(client, confirmation);
}

// Ends `client`'s input; it must exit 0, having seen every delivery in
// order.
void Finish(Subprocess& client) {
  client.CloseStdin();
  absl::StatusOr<int> code = client.Wait(kSampleTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << client.Output();
  EXPECT_THAT(client.Lines(),
              Contains("pubsub_client: 0 failed calls, 0 out-of-order "
                       "deliveries"));
}

TEST(PubsubSample, EverySubscriberGetsEveryPublicationOnceInPublishOrder) {
  absl::StatusOr<RunningServer> server = StartServer(PUBSUB_SERVER);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Subprocess> first = StartClient(*server);
  std::unique_ptr<Subprocess> second = StartClient(*server);
  std::unique_ptr<Subprocess> pub_a = StartClient(*server);
  std::unique_ptr<Subprocess> pub_b = StartClient(*server);
  ASSERT_TRUE(first && second && pub_a && pub_b);
  ASSERT_TRUE(Command(*first, "sub news", "subscribed to news from #1"));
  ASSERT_TRUE(Command(*second, "sub news", "subscribed to news from #1"));
  ASSERT_TRUE(Command(*second, "sub sports", "subscribed to sports from #1"));

  // Two publishers at once: the server's numbering is the publish order.
  constexpr int kEach = 100;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(pub_a->WriteLine(absl::StrCat("pub news a", i)).ok());
    ASSERT_TRUE(pub_b->WriteLine(absl::StrCat("pub news b", i)).ok());
  }
  ASSERT_TRUE(Command(*pub_a, "pub sports goal", "published sports #1 to 1"));
  EXPECT_TRUE(Prints(*first, absl::StrCat("news #", 2 * kEach, ":")));
  EXPECT_TRUE(Prints(*second, absl::StrCat("news #", 2 * kEach, ":")));
  EXPECT_TRUE(Prints(*second, "sports #1: goal"));

  std::vector<std::pair<uint64_t, std::string>> news = Received(*first, "news");
  ASSERT_EQ(news.size(), 2u * kEach) << first->Output();
  int next_a = 0;
  int next_b = 0;
  for (size_t i = 0; i < news.size(); ++i) {
    EXPECT_EQ(news[i].first, i + 1);  // once each, in number order
    // Each publisher's publications keep the order it published them in.
    if (news[i].second == absl::StrCat("a", next_a)) {
      ++next_a;
    } else {
      EXPECT_EQ(news[i].second, absl::StrCat("b", next_b++));
    }
  }
  EXPECT_EQ(next_a, kEach);
  EXPECT_EQ(next_b, kEach);
  // Both subscribers saw the same publications under the same numbers.
  EXPECT_THAT(Received(*second, "news"), ElementsAreArray(news));
  EXPECT_TRUE(Received(*first, "sports").empty());

  // After its unsubscribe, a subscriber gets nothing published later.
  ASSERT_TRUE(Command(*second, "unsub news", "unsubscribed from news"));
  ASSERT_TRUE(Command(*pub_b, "pub news late", "published news #201 to 1 "));
  EXPECT_TRUE(Prints(*first, "news #201: late"));

  for (Subprocess* client :
       {first.get(), second.get(), pub_a.get(), pub_b.get()}) {
    Finish(*client);
  }
  // Its output is complete now: still the first 2 * kEach, no more.
  EXPECT_THAT(Received(*second, "news"), ElementsAreArray(news));
  absl::StatusOr<int> stopped = StopServer(*server);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << server->process->Output();
}

TEST(PubsubSample, ABadCommandIsReportedAndFailsTheClient) {
  absl::StatusOr<RunningServer> server = StartServer(PUBSUB_SERVER);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Subprocess> client = StartClient(*server);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->WriteLine("shout news").ok());
  client->CloseStdin();
  absl::StatusOr<int> code = client->Wait(kSampleTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1);
  EXPECT_THAT(client->Lines(),
              Contains("pubsub_client: 1 failed calls, 0 out-of-order "
                       "deliveries"));
}

}  // namespace
}  // namespace parley::testing
