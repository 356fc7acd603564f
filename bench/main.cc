// parley_bench: Parley side by side with its peers on loopback, every
// figure the median of several interleaved runs; prints one table
// (docs/PERFORMANCE.md explains each scenario). Run from a Release build,
// best through scripts/bench.sh:
//
//   parley_bench [--runs=5] [--only=oneway,acked,durable,latency,idle]
//                [--messages=N]   (per one-way trial; default by size)
//   parley_bench trial oneway|acked|never|raw|grpc PAYLOAD MESSAGES
//                (one trial of scenario 1 or 2 alone, for a profiler: Parley,
//                or raw websocketpp, or gRPC streaming with buffer_hint)
//
// Scenario 5 (the durable buffer alone) is bench/store_bench.
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/harness.h"
#include "bench/peers.h"

namespace parley::bench {
namespace {

struct Flags {
  int runs = 5;
  int64_t messages = 0;           // per one-way trial; 0 = MessagesFor(payload)
  std::vector<std::string> only;  // empty = every scenario
  bool Wants(const std::string& scenario) const {
    if (only.empty()) return true;
    for (const std::string& s : only) {
      if (s == scenario) return true;
    }
    return false;
  }
};

// Enough messages that a trial lasts a good fraction of a second.
int64_t MessagesFor(const Flags& flags, size_t payload) {
  if (flags.messages > 0) return flags.messages;
  return payload <= 64 ? 300000 : payload <= 1024 ? 100000 : 10000;
}

std::string SizeName(size_t payload) {
  return payload >= 1024 ? absl::StrCat(payload / 1024, " KiB")
                         : absl::StrCat(payload, " B");
}

// Scenario 1: one-way, no ack, against the raw transport and gRPC streams.
void OneWayScenario(const Flags& flags, Table& table) {
  for (size_t payload : {size_t{64}, size_t{1024}, size_t{65536}}) {
    OneWay work{payload, MessagesFor(flags, payload)};
    std::printf("1. one-way %s ...\n", SizeName(payload).c_str());
    std::fflush(stdout);
    auto m = MedianOfRounds(
        flags.runs,
        {WithCpuPerMessage(work.count, [&] { return ParleyOneWay(work, {}); }),
         WithCpuPerMessage(work.count, [&] { return RawWsOneWay(work); }),
         WithCpuPerMessage(work.count,
                           [&] { return GrpcStreamOneWay(work, true); }),
         WithCpuPerMessage(work.count,
                           [&] { return GrpcStreamOneWay(work, false); })});
    const std::string name = absl::StrCat("1. one-way ", SizeName(payload));
    const double bytes = static_cast<double>(payload);
    const char* peers[] = {"raw websocketpp, frame/msg",
                           "gRPC bidi, buffer_hint", "gRPC bidi, plain Write"};
    for (int p = 1; p <= 3; ++p) {
      table.Add({name, "msg/s", m[0][0], peers[p - 1], m[p][0],
                 p == 1 ? "ratio >= 1.5" : "ratio >= 3", bytes});
    }
    // The same trials' CPU cost per message (both ends): the figure a
    // profile changes, whatever else runs on the machine.
    for (int p = 1; p <= 3; ++p) {
      table.Add({absl::StrCat(name, ", CPU per message"), "µs", m[0][1],
                 peers[p - 1], m[p][1], ""});
    }
  }
}

// Scenario 2: an ack deadline and callback on every message, against
// Parley without.
void AckedScenario(const Flags& flags, Table& table) {
  for (size_t payload : {size_t{64}, size_t{1024}}) {
    OneWay work{payload, MessagesFor(flags, payload)};
    std::printf("2. acked %s ...\n", SizeName(payload).c_str());
    std::fflush(stdout);
    auto m = MedianOfRounds(
        flags.runs,
        {WithCpuPerMessage(work.count,
                           [&] {
                             return ParleyOneWay(work, {true, absl::nullopt});
                           }),
         WithCpuPerMessage(work.count, [&] {
           return ParleyOneWay(work, {false, absl::nullopt});
         })});
    const std::string name = absl::StrCat("2. acked ", SizeName(payload));
    table.Add({name, "msg/s", m[0][0], "Parley unacked", m[1][0],
               "ratio >= 0.8", static_cast<double>(payload)});
    table.Add({absl::StrCat(name, ", CPU per message"), "µs", m[0][1],
               "Parley unacked", m[1][1], ""});
  }
}

// Scenario 2, durable rows: the client's durable buffer under each sync
// policy, one caller thread, as many messages as the one-way 64 B trial (a
// trial of 100k lasts about 0.1 s, and its figure swung 0.4-1.8 M msg/s
// with where the scheduler put the three threads); with sync=every write
// each Put waits for its own fdatasync, so fewer messages suffice.
void DurableScenario(const Flags& flags, Table& table) {
  struct Durable {
    const char* name;
    SyncPolicy policy;
    int64_t messages;
    const char* target;
  };
  for (Durable d :
       {Durable{"never", SyncPolicy::kNever, 300000, "ratio >= 0.7"},
        Durable{"interval 100 ms", SyncPolicy::kInterval, 300000, ""},
        Durable{"every write", SyncPolicy::kEveryWrite, 5000, ""}}) {
    OneWay work{64, flags.messages > 0 ? flags.messages : d.messages};
    std::printf("2. durable, sync=%s ...\n", d.name);
    std::fflush(stdout);
    ParleySend durable{false, d.policy};
    auto m = MedianOfRounds(
        flags.runs,
        {WithCpuPerMessage(work.count,
                           [&] { return ParleyOneWay(work, durable); }),
         WithCpuPerMessage(work.count,
                           [&] { return ParleyOneWay(work, {}); })});
    const std::string name = absl::StrCat("2. durable 64 B, sync=", d.name);
    table.Add(
        {name, "msg/s", m[0][0], "Parley in-memory", m[1][0], d.target, 64});
    table.Add({absl::StrCat(name, ", CPU per message"), "µs", m[0][1],
               "Parley in-memory", m[1][1], ""});
  }
}

// Scenario 3: request/reply latency against gRPC unary.
void LatencyScenario(const Flags& flags, Table& table) {
  for (int concurrency : {1, 64}) {
    const int64_t calls = concurrency == 1 ? 20000 : 100000;
    std::printf("3. latency, concurrency %d ...\n", concurrency);
    std::fflush(stdout);
    auto figures = [](std::vector<double> latencies) {
      return std::vector<double>{Percentile(latencies, 0.5),
                                 Percentile(latencies, 0.99),
                                 Percentile(latencies, 0.999)};
    };
    auto m = MedianOfRounds(
        flags.runs,
        {[&] { return figures(ParleyLatencies(concurrency, calls, 64)); },
         [&] { return figures(GrpcLatencies(concurrency, calls, 64)); }});
    const std::string name =
        absl::StrCat("3. echo 64 B, concurrency ", concurrency);
    const char* names[] = {"p50", "p99", "p999"};
    for (int p = 0; p < 3; ++p) {
      table.Add({absl::StrCat(name, ", ", names[p]), "µs", m[0][p],
                 absl::StrCat("gRPC unary ", names[p]), m[1][p],
                 p == 0 && concurrency == 1 ? "ratio <= 1" : ""});
    }
    table.Add({absl::StrCat(name, ", p99 / p50"), "µs", m[0][1],
               "Parley's own p50", m[0][0], "ratio <= 3"});
  }
}

// Scenario 4: idle sessions on one server.
void IdleScenario(const Flags& flags, Table& table) {
  for (int sessions : {1000, 10000}) {
    std::printf("4. %d idle sessions ...\n", sessions);
    std::fflush(stdout);
    auto figures = [](IdleFigures f) {
      return std::vector<double>{f.kib_per_session, f.connect_seconds};
    };
    auto m =
        MedianOfRounds(sessions >= 10000 ? std::min(flags.runs, 3) : flags.runs,
                       {[&] { return figures(ParleyIdle(sessions)); },
                        [&] { return figures(RawWsIdle(sessions)); }});
    const std::string name = absl::StrCat("4. ", sessions, " idle sessions");
    table.Add({absl::StrCat(name, ", server RSS"), "KiB/session", m[0][0],
               "raw websocketpp", m[1][0],
               sessions >= 10000 ? "Parley <= 32 KiB" : ""});
    table.Add({absl::StrCat(name, ", connect all"), "s", m[0][1],
               "raw websocketpp", m[1][1], ""});
  }
}

int Main(int argc, char** argv) {
  if (argc >= 2 && absl::StartsWith(argv[1], "idle-")) {
    // A child of the idle-sessions scenario: it goes with its parent.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  }
  if (argc == 4 && std::strcmp(argv[1], "idle-clients") == 0) {
    ConnectParleyIdle(static_cast<uint16_t>(std::stoi(argv[2])),
                      std::stoi(argv[3]));
  }
  if (argc == 3 && std::strcmp(argv[1], "idle-server") == 0) {
    if (std::strcmp(argv[2], "parley") == 0) ServeParleyIdle();
    if (std::strcmp(argv[2], "raw") == 0) ServeRawWsIdle();
    Die(absl::StrCat("unknown server kind ", argv[2]));
  }
  if (argc == 5 && std::strcmp(argv[1], "trial") == 0) {
    // One one-way trial alone, for a profiler: `parley_bench trial
    // oneway|acked|never|raw|grpc PAYLOAD MESSAGES` (raw: the websocketpp
    // pair; grpc: a stream with buffer_hint).
    const OneWay work{std::stoul(argv[3]), std::stoll(argv[4])};
    const std::string mode = argv[2];
    auto trial = [&]() -> double {
      if (mode == "raw") return RawWsOneWay(work);
      if (mode == "grpc") return GrpcStreamOneWay(work, /*buffer_hint=*/true);
      ParleySend send;
      if (mode == "acked") {
        send.acked = true;
      } else if (mode == "never") {
        send.durable = SyncPolicy::kNever;
      } else if (mode != "oneway") {
        Die(absl::StrCat("unknown trial ", mode));
      }
      return ParleyOneWay(work, send);
    };
    const std::vector<double> figures = WithCpuPerMessage(work.count, trial)();
    std::printf("%s %zu B: %.0f msg/s, %.3f us CPU/msg\n", mode.c_str(),
                work.payload, figures[0], figures[1]);
    return 0;
  }
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--runs=")) {
      flags.runs = std::stoi(std::string(arg));
    } else if (absl::ConsumePrefix(&arg, "--messages=")) {
      flags.messages = std::stoll(std::string(arg));
    } else if (absl::ConsumePrefix(&arg, "--only=")) {
      flags.only = absl::StrSplit(arg, ',');
    } else {
      Die(absl::StrCat("unknown flag ", argv[i],
                       "; usage: parley_bench [--runs=5] [--messages=N] "
                       "[--only=oneway,acked,durable,latency,idle]"));
    }
  }
  std::printf("fd limit raised to %ld; %d runs per figure (medians)\n",
              RaiseFdLimit(), flags.runs);
  Table table;
  // The table so far is printed after each scenario, so a scenario that
  // dies does not take the earlier figures with it; the last is complete.
  const std::vector<std::pair<const char*, void (*)(const Flags&, Table&)>>
      scenarios = {{"oneway", OneWayScenario},
                   {"acked", AckedScenario},
                   {"durable", DurableScenario},
                   {"latency", LatencyScenario},
                   {"idle", IdleScenario}};
  for (const auto& [name, run] : scenarios) {
    if (!flags.Wants(name)) continue;
    run(flags, table);
    table.Print();
  }
  return 0;
}

}  // namespace
}  // namespace parley::bench

int main(int argc, char** argv) { return parley::bench::Main(argc, argv); }
