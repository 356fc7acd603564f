// A child process driven through pipes, for tests that run programs the
// way a user does: write lines to its stdin, wait for lines on its output
// (stdout and stderr together), signal it, wait for its exit. Every wait
// has a deadline.
//
//   auto server = Subprocess::Start({"/path/chat_server"});
//   absl::StatusOr<std::string> line =
//       (*server)->WaitForLine("listening on ", absl::Seconds(30));
//   (*server)->Signal(SIGTERM);
//   absl::StatusOr<int> code = (*server)->Wait(absl::Seconds(30));
//
// Thread safety: the methods may be called from any thread; a reader
// thread collects the output.
#ifndef PARLEY_TESTS_UTIL_SUBPROCESS_H_
#define PARLEY_TESTS_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/util/mutex.h"

namespace parley::testing {

class Subprocess {
 public:
  // Runs argv[0] (a path) with `argv`.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      std::vector<std::string> argv);
  // Kills the process if it still runs and reaps it.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Writes `line` and a newline to its stdin.
  absl::Status WriteLine(absl::string_view line);
  // Closes its stdin (it reads end of file).
  void CloseStdin();

  // The first line of output containing `text`, once there is one;
  // DeadlineExceeded (with the output so far) after `timeout`, or
  // NotFound once the output ended without one.
  absl::StatusOr<std::string> WaitForLine(absl::string_view text,
                                          absl::Duration timeout);
  // Every line of output so far.
  std::vector<std::string> Lines() const;
  // Lines() joined, for failure messages.
  std::string Output() const;

  absl::Status Signal(int signal);
  // Waits for the output to end and the process to exit: its exit code, or
  // 128 + the signal that killed it. DeadlineExceeded after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);

 private:
  Subprocess(pid_t pid, int stdin_fd, int output_fd);
  void ReadOutput(int fd);

  const pid_t pid_;
  int stdin_fd_;
  mutable util::Mutex mu_;
  util::CondVar output_;  // lines_ grew or output_ended_ became true
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::string partial_ ABSL_GUARDED_BY(mu_);
  bool output_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool reaped_ = false;
  int exit_code_ = 0;
  std::thread reader_;
};

}  // namespace parley::testing

#endif  // PARLEY_TESTS_UTIL_SUBPROCESS_H_
