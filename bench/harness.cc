#include "bench/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

extern char** environ;

namespace parley::bench {

double Median(std::vector<double> samples) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2]
                    : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

double Percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(std::ceil(q * samples.size()));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

std::vector<std::vector<double>> MedianOfRounds(
    int rounds, const std::vector<Trial>& trials) {
  // runs[trial][figure][round]
  std::vector<std::vector<std::vector<double>>> runs(trials.size());
  for (int round = 0; round < rounds; ++round) {
    for (size_t t = 0; t < trials.size(); ++t) {
      std::vector<double> figures = trials[t]();
      runs[t].resize(figures.size());
      for (size_t f = 0; f < figures.size(); ++f) {
        runs[t][f].push_back(figures[f]);
      }
    }
  }
  std::vector<std::vector<double>> medians(trials.size());
  // The spread behind each median (of each trial's first figure): on a
  // shared two-core guest one configuration can run at quite different
  // speeds from one run to the next, and a reader should see that.
  std::string spread = "   spread (min-max of the first figure):";
  for (size_t t = 0; t < trials.size(); ++t) {
    for (const std::vector<double>& figure : runs[t]) {
      medians[t].push_back(Median(figure));
    }
    if (!runs[t].empty()) {
      auto [low, high] =
          std::minmax_element(runs[t][0].begin(), runs[t][0].end());
      auto show = [](double v) {
        return v >= 1000 ? absl::StrFormat("%.0f", v)
                         : absl::StrFormat("%.3g", v);
      };
      absl::StrAppend(&spread, " [", show(*low), "-", show(*high), "]");
    }
  }
  std::printf("%s\n", spread.c_str());
  std::fflush(stdout);
  return medians;
}

namespace {

// The closed loop's shared state. Completions may run on any thread, and
// a call may complete before its start() has returned: the loop is over
// once every call completed AND no start() is still running.
class Loop : public std::enable_shared_from_this<Loop> {
 public:
  Loop(const StartCall& start, int64_t warmup, int64_t calls)
      : start_(start), warmup_(warmup), total_(warmup + calls) {
    latencies_.reserve(static_cast<size_t>(calls));
  }

  // Starts the next call, if any is left.
  void Launch() {
    int64_t index;
    {
      absl::MutexLock lock(&mu_);
      if (started_ == total_ || failed_) return;
      index = started_++;
      ++starting_;
    }
    absl::Time begun = absl::Now();
    start_([self = shared_from_this(), index, begun](bool ok) {
      self->Complete(index, ok, absl::Now() - begun);
    });
    absl::MutexLock lock(&mu_);
    --starting_;
  }

  // Waits for the end; false on timeout.
  bool Await(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto over = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return starting_ == 0 && (failed_ || completed_ == total_);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&over), timeout);
  }

  bool failed() {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  std::string Describe() {
    absl::MutexLock lock(&mu_);
    return absl::StrCat(completed_, " of ", total_, " calls completed, ",
                        started_, " started, ", starting_, " starting");
  }
  std::vector<double> TakeLatencies() {
    absl::MutexLock lock(&mu_);
    return std::move(latencies_);
  }

 private:
  void Complete(int64_t index, bool ok, absl::Duration latency) {
    {
      absl::MutexLock lock(&mu_);
      ++completed_;
      failed_ |= !ok;
      if (index >= warmup_) {
        latencies_.push_back(absl::ToDoubleMicroseconds(latency));
      }
    }
    Launch();
  }

  const StartCall& start_;
  const int64_t warmup_;
  const int64_t total_;
  absl::Mutex mu_;
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t starting_ ABSL_GUARDED_BY(mu_) = 0;  // start() calls running
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<double> latencies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::vector<double> ClosedLoop(absl::string_view peer, int concurrency,
                               int64_t warmup, int64_t calls,
                               const StartCall& start, absl::Duration timeout) {
  auto loop = std::make_shared<Loop>(start, warmup, calls);
  for (int i = 0; i < concurrency; ++i) loop->Launch();
  if (!loop->Await(timeout)) {
    Die(absl::StrCat(peer, ": request/reply loop did not finish in ",
                     absl::FormatDuration(timeout), ": ", loop->Describe()));
  }
  if (loop->failed()) Die("a request/reply call failed");
  return loop->TakeLatencies();
}

void Table::Add(Row row) { rows_.push_back(std::move(row)); }

namespace {
std::string Figure(double v, double bytes_per_unit) {
  std::string out = std::fabs(v) >= 100  ? absl::StrFormat("%.0f", v)
                    : std::fabs(v) >= 10 ? absl::StrFormat("%.1f", v)
                                         : absl::StrFormat("%.2f", v);
  if (bytes_per_unit > 0) {
    absl::StrAppendFormat(&out, " (%.1f MB/s)", v * bytes_per_unit / 1e6);
  }
  return out;
}
}  // namespace

void Table::Print() const {
  std::printf(
      "\n| scenario | unit | Parley | peer | peer figure | ratio | "
      "target |\n|---|---|---:|---|---:|---:|---|\n");
  for (const Row& r : rows_) {
    std::string ratio = r.peer != 0 ? absl::StrFormat("%.2f", r.parley / r.peer)
                                    : std::string("-");
    std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.scenario.c_str(),
                r.unit.c_str(), Figure(r.parley, r.bytes_per_unit).c_str(),
                r.peer_name.c_str(), Figure(r.peer, r.bytes_per_unit).c_str(),
                ratio.c_str(), r.target.c_str());
  }
  std::fflush(stdout);
}

IdleFigures MeasureIdle(
    const std::vector<std::string>& server_args, int sessions,
    const std::function<std::shared_ptr<void>(uint16_t port)>& connect_all) {
  Child server(server_args);
  int port = std::stoi(server.ReadLine(absl::Seconds(30)));
  long before = RssKiB(server.pid());
  absl::Time start = absl::Now();
  std::shared_ptr<void> connections = connect_all(static_cast<uint16_t>(port));
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  long after = RssKiB(server.pid());
  connections.reset();
  if (before < 0 || after < 0) Die("cannot read the server's VmRSS");
  return {static_cast<double>(after - before) / sessions, seconds};
}

long RaiseFdLimit() {
  rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  return static_cast<long>(limit.rlim_cur);
}

long RssKiB(pid_t pid) {
  std::ifstream status(pid == 0 ? std::string("/proc/self/status")
                                : absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double ProcessCpuSeconds() {
  rusage usage;
  if (::getrusage(RUSAGE_SELF, &usage) != 0) Die("getrusage failed");
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

Trial WithCpuPerMessage(int64_t messages, std::function<double()> rate) {
  return [messages, rate = std::move(rate)] {
    const double cpu = ProcessCpuSeconds();
    const double r = rate();
    return std::vector<double>{
        r, (ProcessCpuSeconds() - cpu) * 1e6 / static_cast<double>(messages)};
  };
}

void Die(const std::string& message) {
  std::fprintf(stderr, "parley_bench: %s\n", message.c_str());
  std::exit(1);
}

Child::Child(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) Die("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<std::string> argv_storage = {"/proc/self/exe"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawn(&pid_, "/proc/self/exe", &actions, nullptr,
                         argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  out_ = fds[0];
  if (rc != 0) Die(absl::StrCat("posix_spawn failed: ", rc));
}

Child::~Child() {
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  ::close(out_);
}

std::string Child::ReadLine(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    size_t newline = buffered_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    absl::Duration left = deadline - absl::Now();
    pollfd pfd{out_, POLLIN, 0};
    if (left <= absl::ZeroDuration() ||
        ::poll(&pfd, 1,
               static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) {
      Die("child process stayed silent");
    }
    char chunk[256];
    ssize_t n = ::read(out_, chunk, sizeof(chunk));
    if (n <= 0) Die("child process ended early");
    buffered_.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace parley::bench
