// The events sample, run as the demo runs it: events_client sends numbered
// readings through a durable buffer while its events_server is killed and
// started again on the same port and journal.
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/samples/sample_processes.h"

namespace parley::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// A fresh directory for the journal and the client's buffer, removed
// afterwards.
class EventsSample : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  const std::string dir_ =
      absl::StrCat(::testing::TempDir(), "events_sample_", getpid());
  const std::string journal_ = dir_ + "/journal";
  const std::string buffer_ = dir_ + "/buffer";
};

// The numbers after `prefix` in the lines of `process` that start with it.
std::vector<uint64_t> Numbers(const Subprocess& process,
                              absl::string_view prefix) {
  std::vector<uint64_t> numbers;
  for (absl::string_view line : process.Lines()) {
    uint64_t number = 0;
    if (absl::ConsumePrefix(&line, prefix) &&
        absl::SimpleAtoi(line.substr(0, line.find(' ')), &number)) {
      numbers.push_back(number);
    }
  }
  return numbers;
}

std::vector<uint64_t> JournalNumbers(const std::string& path) {
  std::vector<uint64_t> numbers;
  std::ifstream in(path);
  for (uint64_t number = 0; in >> number;) numbers.push_back(number);
  return numbers;
}

std::vector<uint64_t> OneTo(uint64_t n) {
  std::vector<uint64_t> numbers;
  for (uint64_t i = 1; i <= n; ++i) numbers.push_back(i);
  return numbers;
}

// Ends the client's input; it must exit 0 with every reading acked.
// Returns how many it sent.
uint64_t Finish(Subprocess& client) {
  client.CloseStdin();
  absl::StatusOr<int> code = client.Wait(kSampleTimeout);
  EXPECT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(code.value_or(-1), 0) << client.Output();
  std::vector<uint64_t> sent = Numbers(client, "sent #");
  EXPECT_THAT(client.Lines(),
              Contains(absl::StrCat("events_client: ", sent.size(), " sent, ",
                                    sent.size(), " acked by the server")));
  EXPECT_THAT(sent, ElementsAreArray(OneTo(sent.size())));
  return sent.size();
}

TEST_F(EventsSample, EveryReadingIsRecordedOnceAcrossAServerKillAndRestart) {
  absl::StatusOr<RunningServer> first = StartServer(EVENTS_SERVER, {journal_});
  ASSERT_TRUE(first.ok()) << first.status();
  auto client = Subprocess::Start({EVENTS_CLIENT, first->url, buffer_});
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(Prints(*first->process, "recorded #5"));

  // A crash: no GOODBYE, the session dies with the process.
  ASSERT_TRUE(first->process->Signal(SIGKILL).ok());
  absl::StatusOr<int> killed = first->process->Wait(kSampleTimeout);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 128 + SIGKILL);
  ASSERT_TRUE(Prints(**client, "event: Disconnected"));
  ASSERT_TRUE(Prints(**client, "(server away: kept in the durable buffer)"));

  // Started again on the port it had (restarting on port 0 would leave the
  // client dialling the old one) and on the same journal.
  absl::StatusOr<RunningServer> second =
      StartServer(EVENTS_SERVER, {journal_, absl::StrCat(first->port)});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->process->Lines(), Contains(HasSubstr("recorded before")));
  ASSERT_TRUE(Prints(**client, "event: NewSession"));
  // The client went on sending: the new server records readings sent after
  // it started.
  const uint64_t sent_before = Numbers(**client, "sent #").size();
  ASSERT_TRUE(
      Prints(*second->process, absl::StrCat("recorded #", sent_before + 3)));

  const uint64_t sent = Finish(**client);
  absl::StatusOr<int> stopped = StopServer(*second);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << second->process->Output();

  // Every reading once: in the journal, and across what the two servers
  // printed.
  EXPECT_THAT(JournalNumbers(journal_), ElementsAreArray(OneTo(sent)));
  std::vector<uint64_t> recorded = Numbers(*first->process, "recorded #");
  const std::vector<uint64_t> after = Numbers(*second->process, "recorded #");
  recorded.insert(recorded.end(), after.begin(), after.end());
  EXPECT_THAT(recorded, ElementsAreArray(OneTo(sent)))
      << first->process->Output() << "\n---\n"
      << second->process->Output();
}

TEST_F(EventsSample, AReadingAlreadyInTheJournalIsAckedButNotRecordedTwice) {
  // What a restarted server finds when the dead one recorded readings it
  // had not acked yet: the client sends them again.
  std::ofstream(journal_) << "1\n2\n3\n";
  absl::StatusOr<RunningServer> server = StartServer(EVENTS_SERVER, {journal_});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_THAT(
      server->process->Lines(),
      Contains(absl::StrCat("journal ", journal_, ": #1..#3 recorded before")));
  auto client = Subprocess::Start({EVENTS_CLIENT, server->url, buffer_});
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(Prints(*server->process, "recorded #5"));
  const uint64_t sent = Finish(**client);
  absl::StatusOr<int> stopped = StopServer(*server);
  ASSERT_TRUE(stopped.ok()) << stopped.status();

  EXPECT_THAT(Numbers(*server->process, "#"), ElementsAre(1, 2, 3))
      << server->process->Output();
  std::vector<uint64_t> recorded = Numbers(*server->process, "recorded #");
  ASSERT_FALSE(recorded.empty());
  EXPECT_EQ(recorded.front(), 4u);
  EXPECT_EQ(recorded.back(), sent);
  EXPECT_THAT(JournalNumbers(journal_), ElementsAreArray(OneTo(sent)));
}

TEST_F(EventsSample, ADamagedJournalIsRefused) {
  std::ofstream(journal_) << "1\n3\n";
  auto server = Subprocess::Start({EVENTS_SERVER, journal_});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<int> code = (*server)->Wait(kSampleTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1);
  EXPECT_THAT((*server)->Lines(),
              Contains(HasSubstr(journal_ + " line 2: expected 2")));
}

}  // namespace
}  // namespace parley::testing
