// One-way throughput against where the scheduler puts Parley's threads.
//
//   placement_bench [--runs=5] [--n=300000] [--payload=64]
//
// A one-way trial has three busy threads: the caller, the client's I/O
// thread and the server's I/O thread. On a two-core machine two of them
// share a core, and which two decides the rate. Each run starts a server
// and a client in this process, pins the threads (the ones each Start
// added, found in /proc/self/task) as the placement says, sends n
// messages of `payload` bytes (Calc.Note, no callback) and times them
// until the server's handler has seen the last; placements are
// interleaved over the runs. Prints, per placement, the median and the
// range of the runs in messages/s.
#include <dirent.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/flags.h"
#include "calc.parley.h"
#include "parley/client.h"
#include "parley/server.h"

namespace parley {
namespace {

class NoteService : public test::Calc::Service {
 public:
  explicit NoteService(int64_t expected) : expected_(expected) {}
  void Note(CallContext&, const test::Num&,
            Responder<google::protobuf::Empty> responder) override {
    responder.Finish();
    if (++received_ == expected_) all_.Notify();
  }
  bool Await(absl::Duration timeout) {
    return all_.WaitForNotificationWithTimeout(timeout);
  }

 private:
  const int64_t expected_;
  std::atomic<int64_t> received_{0};
  absl::Notification all_;
};

std::vector<int> ThreadIds() {
  std::vector<int> ids;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ids.push_back(std::atoi(entry->d_name));
    }
    closedir(dir);
  }
  return ids;
}

// The threads in `after` that are not in `before`.
std::vector<int> Added(const std::vector<int>& before,
                       const std::vector<int>& after) {
  std::vector<int> added;
  for (int id : after) {
    if (std::find(before.begin(), before.end(), id) == before.end()) {
      added.push_back(id);
    }
  }
  return added;
}

void Pin(int thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(thread, sizeof(set), &set);  // best effort
}

// A placement: the CPU of the caller, of the server's threads and of the
// client's (digits), or empty for the scheduler's choice.
struct Placement {
  const char* name;
  std::string cpus;
};

// Messages per second, or 0 if the run failed.
double RunOnce(const Placement& placement, int64_t n, int64_t payload) {
  NoteService service(n);
  cpu_set_t caller_cpus;
  sched_getaffinity(0, sizeof(caller_cpus), &caller_cpus);
  const std::vector<int> at_start = ThreadIds();
  Server server{ServerOptions()};
  if (!server.AddService(&service).ok() || !server.Start().ok()) return 0;
  const std::vector<int> with_server = ThreadIds();
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
  Client client(options);
  if (!client.Start().ok() || !client.WaitConnected(absl::Seconds(10)).ok()) {
    return 0;
  }
  const std::vector<int> with_client = ThreadIds();
  if (!placement.cpus.empty()) {
    Pin(0, placement.cpus[0] - '0');  // 0: the calling thread
    for (int id : Added(at_start, with_server)) {
      Pin(id, placement.cpus[1] - '0');
    }
    for (int id : Added(with_server, with_client)) {
      Pin(id, placement.cpus[2] - '0');
    }
  }
  test::Num request;
  request.set_value(1);
  if (payload > 8) {  // padded with an unknown field, as window_bench does
    request.GetReflection()->MutableUnknownFields(&request)->AddLengthDelimited(
        99, std::string(payload - 8, 'x'));
  }
  test::Calc::Stub stub(client.channel());
  const absl::Time start = absl::Now();
  for (int64_t i = 0; i < n; ++i) {
    // Refused while the send buffer is full: wait for acks to make room.
    while (!stub.Note(request, nullptr).ok()) {
      absl::SleepFor(absl::Microseconds(50));
    }
  }
  if (!service.Await(absl::Seconds(120))) return 0;
  const double rate = n / absl::ToDoubleSeconds(absl::Now() - start);
  sched_setaffinity(0, sizeof(caller_cpus), &caller_cpus);  // for the next
  client.Stop();
  server.Stop();
  return rate;
}

int Main(int argc, char** argv) {
  int64_t runs = 5, n = 300000, payload = 64;
  if (!bench::ParseIntFlags(
          argc, argv, {{"runs", &runs}, {"n", &n}, {"payload", &payload}}) ||
      runs < 1 || n < 1 || payload < 0) {
    std::fprintf(stderr,
                 "usage: placement_bench [--runs=5] [--n=300000] "
                 "[--payload=64]\n");
    return 2;
  }
  const std::vector<Placement> placements = {
      {"scheduler's choice", ""},          {"caller + server | client", "001"},
      {"caller + client | server", "010"}, {"caller | server + client", "011"},
      {"all on one core", "000"},
  };
  std::vector<std::vector<double>> rates(placements.size());
  for (int64_t run = 0; run < runs; ++run) {
    for (size_t p = 0; p < placements.size(); ++p) {
      const double rate = RunOnce(placements[p], n, payload);
      if (rate == 0) {
        std::fprintf(stderr, "%s: the run failed\n", placements[p].name);
        return 1;
      }
      rates[p].push_back(rate);
    }
  }
  std::printf("%lld one-way messages of %lld bytes, %lld runs\n",
              static_cast<long long>(n), static_cast<long long>(payload),
              static_cast<long long>(runs));
  std::printf("%-28s %12s %12s %12s\n", "placement (cpu 0 | cpu 1)", "median",
              "min", "max");
  for (size_t p = 0; p < placements.size(); ++p) {
    std::vector<double>& r = rates[p];
    std::sort(r.begin(), r.end());
    std::printf("%-28s %12.0f %12.0f %12.0f\n", placements[p].name,
                r[r.size() / 2], r.front(), r.back());
  }
  return 0;
}

}  // namespace
}  // namespace parley

int main(int argc, char** argv) { return parley::Main(argc, argv); }
