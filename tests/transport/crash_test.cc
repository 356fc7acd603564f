// The durable buffer's promise under SIGKILL: a child process (crash_child)
// sends numbered messages through a client with a durable buffer to this
// process's server and is killed at random moments, then restarted on the
// same directory, many times. Every message whose send returned OK reaches
// the server's handler exactly once, in order.
//
//   PARLEY_CRASH_KILLS=300 crash_test   # the stress run (default 25 kills)
//   PARLEY_CRASH_SEED=N crash_test      # replay a kill schedule
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/server.h"
#include "tests/util/calc_services.h"

extern char** environ;

namespace parley {
namespace {

constexpr int64_t kPerIncarnation = 1000000;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  int64_t parsed;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) ? parsed
                                                              : fallback;
}

// Records every Note value in arrival order.
// One run of crash_child, its stdout read line by line.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv;
    for (const std::string& arg : args) {
      argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) !=
        0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) Kill();
    if (fd_ >= 0) close(fd_);
  }

  bool started() const { return pid_ > 0; }
  // The next line, or "" at end of output or after `timeout`.
  std::string ReadLine(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      int ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(deadline - absl::Now())));
      if (poll(&p, 1, ms) <= 0) return "";
      char chunk[4096];
      ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buffer_.append(chunk, n);
    }
  }
  // SIGKILL, then reap. Returns the wait status.
  int Kill() {
    kill(pid_, SIGKILL);
    return Wait();
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

// "ok N" -> N; -1 otherwise.
int64_t OkIndex(const std::string& line) {
  int64_t n;
  if (line.rfind("ok ", 0) != 0 || !absl::SimpleAtoi(line.substr(3), &n)) {
    return -1;
  }
  return n;
}

class Crash : public ::testing::TestWithParam<const char*> {};

TEST_P(Crash, EveryAcceptedMessageArrivesExactlyOnceInOrderAcrossKills) {
  const uint64_t seed = EnvInt("PARLEY_CRASH_SEED", std::random_device()());
  const int kills = EnvInt("PARLEY_CRASH_KILLS", 25);
  std::mt19937_64 rng(seed);
  std::cout << "seed " << seed << " (PARLEY_CRASH_SEED), " << kills
            << " kills, sync " << GetParam() << "\n";
  const std::string dir = absl::StrCat(::testing::TempDir(), "crash_buffer_",
                                       GetParam(), "_", getpid());
  std::filesystem::remove_all(dir);

  testutil::NoteRecorder recorder;
  Server server(ServerOptions{});
  ASSERT_TRUE(server.AddService(&recorder).ok());
  ASSERT_TRUE(server.Start().ok());
  const std::string url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");

  // Per incarnation: the highest i whose send returned OK (-1: none).
  std::vector<int64_t> last_ok;
  int64_t accepted = 0;
  for (int k = 0; k < kills; ++k) {
    Child child({PARLEY_CRASH_CHILD, url, dir, absl::StrCat(k), GetParam()});
    ASSERT_TRUE(child.started());
    // Kill after a random number of accepted sends (0 = right at start).
    const int64_t wanted = std::uniform_int_distribution<int64_t>(0, 120)(rng);
    int64_t last = -1;
    while (last + 1 < wanted) {
      std::string line = child.ReadLine(absl::Seconds(60));
      ASSERT_NE(line, "") << "child " << k << " stalled after ok " << last;
      ASSERT_EQ(OkIndex(line), last + 1) << line;
      last = OkIndex(line);
    }
    int status = child.Kill();
    ASSERT_TRUE(WIFSIGNALED(status)) << "child " << k << " exited " << status;
    // Lines printed before it died are accepted sends too.
    for (std::string line = child.ReadLine(absl::ZeroDuration()); !line.empty();
         line = child.ReadLine(absl::ZeroDuration())) {
      ASSERT_EQ(OkIndex(line), last + 1) << line;
      last = OkIndex(line);
    }
    last_ok.push_back(last);
    accepted += last + 1;
  }
  // A last run sends nothing new and waits until its buffer is drained.
  Child drain(
      {PARLEY_CRASH_CHILD, url, dir, absl::StrCat(kills), GetParam(), "0"});
  ASSERT_TRUE(drain.started());
  EXPECT_EQ(drain.ReadLine(absl::Seconds(120)), "drained");
  int status = drain.Wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  // Every incarnation's messages arrive as 0, 1, 2, ... (once each, in
  // order), incarnations in order, through at least its last accepted send
  // and at most one more (sent, but killed before it could print "ok").
  std::vector<int64_t> values = recorder.notes.values();
  std::vector<int64_t> delivered(kills, -1);  // highest i per incarnation
  int64_t previous_incarnation = 0;
  for (int64_t value : values) {
    int64_t incarnation = value / kPerIncarnation;
    int64_t i = value % kPerIncarnation;
    ASSERT_LT(incarnation, kills) << value;
    ASSERT_GE(incarnation, previous_incarnation)
        << "message " << value << " after incarnation " << previous_incarnation
        << "'s";
    previous_incarnation = incarnation;
    ASSERT_EQ(i, delivered[incarnation] + 1)
        << "incarnation " << incarnation << ": got " << i << " after "
        << delivered[incarnation] << " (lost, duplicated or reordered)";
    delivered[incarnation] = i;
  }
  int64_t unconfirmed = 0;
  for (int k = 0; k < kills; ++k) {
    EXPECT_GE(delivered[k], last_ok[k]) << "incarnation " << k << " lost";
    EXPECT_LE(delivered[k], last_ok[k] + 1) << "incarnation " << k;
    unconfirmed += delivered[k] - last_ok[k];
  }
  std::cout << kills << " kills; " << accepted
            << " sends returned OK, all delivered once in order; "
            << values.size() << " delivered in all (" << unconfirmed
            << " accepted by a child killed before it printed OK)\n";
  server.Stop();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(SyncPolicies, Crash,
                         ::testing::Values("every", "never"));

}  // namespace
}  // namespace parley
