#include "tests/util/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace parley::testing {
namespace {

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    std::vector<std::string> argv) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  int in[2];
  int out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return ErrnoStatus("pipe");
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return ErrnoStatus("pipe");
  }
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  // A child that exits early must not kill the test with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  return std::unique_ptr<Subprocess>(new Subprocess(pid, in[1], out[0]));
}

Subprocess::Subprocess(pid_t pid, int stdin_fd, int output_fd)
    : pid_(pid), stdin_fd_(stdin_fd) {
  reader_ = std::thread([this, output_fd] { ReadOutput(output_fd); });
}

Subprocess::~Subprocess() {
  CloseStdin();
  if (!reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  reader_.join();  // the output ends once the process is gone
}

void Subprocess::ReadOutput(int fd) {
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    util::MutexLock lock(&mu_);
    if (n <= 0) {
      if (!partial_.empty()) lines_.push_back(std::move(partial_));
      output_ended_ = true;
      output_.SignalAll();
      break;
    }
    partial_.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t end; (end = partial_.find('\n', start)) != std::string::npos;
         start = end + 1) {
      lines_.push_back(partial_.substr(start, end - start));
    }
    partial_.erase(0, start);
    output_.SignalAll();
  }
  close(fd);
}

absl::Status Subprocess::WriteLine(absl::string_view line) {
  std::string bytes = absl::StrCat(line, "\n");
  for (size_t written = 0; written < bytes.size();) {
    ssize_t n =
        write(stdin_fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write to the child's stdin");
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

absl::StatusOr<std::string> Subprocess::WaitForLine(absl::string_view text,
                                                    absl::Duration timeout) {
  util::MutexLock lock(&mu_);
  size_t checked = 0;
  std::string found;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (; checked < lines_.size(); ++checked) {
      if (absl::StrContains(lines_[checked], text)) {
        found = lines_[checked];
        return true;
      }
    }
    return output_ended_;
  };
  if (!output_.WaitFor(&mu_, timeout, ready)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "no line with \"", text, "\" within ", absl::FormatDuration(timeout),
        "; output:\n", absl::StrJoin(lines_, "\n")));
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("output ended without \"", text,
                                            "\"; output:\n",
                                            absl::StrJoin(lines_, "\n")));
  }
  return found;
}

std::vector<std::string> Subprocess::Lines() const {
  util::MutexLock lock(&mu_);
  return lines_;
}

std::string Subprocess::Output() const { return absl::StrJoin(Lines(), "\n"); }

absl::Status Subprocess::Signal(int signal) {
  if (reaped_) return absl::FailedPreconditionError("the process has exited");
  if (kill(pid_, signal) != 0) return ErrnoStatus("kill");
  return absl::OkStatus();
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (reaped_) return exit_code_;
  {
    util::MutexLock lock(&mu_);
    if (!output_.WaitFor(&mu_, timeout,
                         [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                           return output_ended_;
                         })) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the process did not exit within ", absl::FormatDuration(timeout)));
    }
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return ErrnoStatus("waitpid");
  reaped_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

}  // namespace parley::testing
