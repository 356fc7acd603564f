// The benchmark harness shared by bench/parley_bench's scenarios: repeated
// trials reduced to medians, percentiles, a result table, and process
// helpers (fd limit, resident memory, child processes).
//
//   bench::Table table;
//   auto m = bench::MedianOfRounds(5, {parley_trial, peer_trial});
//   table.Add({"1. one-way 64 B", "msg/s", m[0][0], "raw websocketpp",
//              m[1][0], ">= 1.5"});
//   table.Print();
//
// Thread safety: none; the harness runs scenarios one after the other.
#ifndef PARLEY_BENCH_HARNESS_H_
#define PARLEY_BENCH_HARNESS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace parley::bench {

// The median of `samples` (the mean of the middle two for an even count);
// 0 when empty.
double Median(std::vector<double> samples);

// The q-quantile (0 <= q <= 1) of `samples`, nearest rank.
double Percentile(std::vector<double> samples, double q);

// One line of the result table: a scenario's Parley figure next to its
// peer's, measured side by side in the same run.
struct Row {
  std::string scenario;
  std::string unit;
  double parley;
  std::string peer_name;
  double peer;
  // How Parley's figure should compare with the peer's ("ratio >= 1.5").
  std::string target;
  // Payload bytes per unit: when set, MB/s is printed next to each figure.
  double bytes_per_unit = 0;
};

class Table {
 public:
  void Add(Row row);
  // Prints every row as a Markdown table: scenario, Parley, peer, ratio
  // (Parley / peer), target.
  void Print() const;

 private:
  std::vector<Row> rows_;
};

// One measurement: its figures (e.g. {msg/s} or {p50, p99, p999}).
using Trial = std::function<std::vector<double>()>;

// Runs every trial once per round, `rounds` rounds, interleaved so that all
// of them see the same background load; returns, per trial, the median of
// each of its figures over the rounds, and prints each trial's range of
// its first figure.
std::vector<std::vector<double>> MedianOfRounds(
    int rounds, const std::vector<Trial>& trials);

// Starts one request/reply call: `start(done)` must run `done(ok)` exactly
// once, on any thread, when the call completed.
using StartCall = std::function<void(std::function<void(bool ok)> done)>;

// A closed loop of `warmup + calls` request/reply calls with `concurrency`
// outstanding at any time (each completion starts the next call). Returns
// the latency of each of the last `calls` calls in microseconds; Die()s
// (naming `peer` and how far the loop got) when a call fails or the loop
// takes longer than `timeout`.
std::vector<double> ClosedLoop(absl::string_view peer, int concurrency,
                               int64_t warmup, int64_t calls,
                               const StartCall& start, absl::Duration timeout);

// Idle connections: spawns this binary with `server_args` (a server that
// prints its port, then serves), calls `connect_all(port)`, which opens
// `sessions` connections and returns once all are open, holding them in
// what it returns; reports the server's RSS growth per session and the
// time connect_all took.
struct IdleFigures {
  double kib_per_session;
  double connect_seconds;
};
IdleFigures MeasureIdle(
    const std::vector<std::string>& server_args, int sessions,
    const std::function<std::shared_ptr<void>(uint16_t port)>& connect_all);

// Raises RLIMIT_NOFILE to its hard limit; returns the new soft limit.
long RaiseFdLimit();

// VmRSS of process `pid` (0 = this process) in KiB; -1 if unknown.
long RssKiB(pid_t pid = 0);

// CPU time (user + system, all threads) this process has used, in seconds.
double ProcessCpuSeconds();

// A trial whose figures are {`rate()`, the process's CPU time per message
// in µs while it ran}: with both ends in this process, the cost of one
// message on the two cores whatever the load (unlike msg/s).
Trial WithCpuPerMessage(int64_t messages, std::function<double()> rate);

// Prints `message` and the reason to stderr and exits 1: a benchmark that
// cannot run has no figure to report.
[[noreturn]] void Die(const std::string& message);

// A child process running this binary with `args`, its stdout on a pipe.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args);
  // Kills (SIGTERM) and reaps the child.
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The next line the child printed (without the newline); Die()s when the
  // child ended or stayed silent for `timeout`.
  std::string ReadLine(absl::Duration timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffered_;
};

}  // namespace parley::bench

#endif  // PARLEY_BENCH_HARNESS_H_
