// store_bench: appends/s of the durable store under each sync policy, one
// writer's append latency (median to slowest), the disk's own fdatasync
// rate, and the reopen time of a million pending messages. Prints tables.
// Run from a Release build:
//
//   store_bench [dir]   (default: ./store_bench_data, removed afterwards)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "runtime/store/durable_store.h"

namespace {

using parley::store::DurableStore;
using parley::store::DurableStoreOptions;
using parley::store::Env;
using parley::store::Preallocation;
using parley::store::StoredMessage;
using parley::store::SyncPolicy;

long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// 4 KiB write + fdatasync, in a loop, on a file grown / fallocated /
// zero-filled beforehand.
double FdatasyncRate(const std::string& path, int mode, int n,
                     size_t write_bytes = 4096) {
  std::filesystem::remove(path);
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  std::string block(write_bytes, 'x');
  if (mode == 1) (void)::posix_fallocate(fd, 0, off_t{4096} * n);
  if (mode == 2) {
    std::string zeros(4096, '\0');
    for (int i = 0; i < n; ++i) (void)!::write(fd, zeros.data(), zeros.size());
    ::fdatasync(fd);
    ::lseek(fd, 0, SEEK_SET);
  }
  absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    (void)!::write(fd, block.data(), block.size());
    ::fdatasync(fd);
  }
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  ::close(fd);
  std::filesystem::remove(path);
  return n / secs;
}

const char* PolicyName(SyncPolicy p) {
  switch (p) {
    case SyncPolicy::kEveryWrite:
      return "every-write";
    case SyncPolicy::kInterval:
      return "interval 100ms";
    case SyncPolicy::kNever:
      return "never";
  }
  return "?";
}

// A store under `policy` in `dir`, emptied first; exits on failure.
std::unique_ptr<DurableStore> OpenEmpty(const std::string& dir,
                                        SyncPolicy policy) {
  std::filesystem::remove_all(dir);
  DurableStoreOptions o;
  o.sync = policy;
  o.capacity_bytes = uint64_t{8} << 30;
  auto store = DurableStore::Open(Env::Default(), dir, o);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(store);
}

// Appends for about `budget`, from `threads` threads; returns appends/s.
double AppendRate(const std::string& dir, SyncPolicy policy, int threads,
                  size_t payload, absl::Duration budget) {
  std::unique_ptr<DurableStore> store = OpenEmpty(dir, policy);
  std::atomic<long> appended{0};
  absl::Time deadline = absl::Now() + budget;
  absl::Time start = absl::Now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      StoredMessage m{0, "bench.Svc/Put", std::string(payload, 'p'), 0, false};
      while (absl::Now() < deadline) {
        for (int i = 0; i < 64; ++i) {
          if (!store->Append(m).ok()) std::abort();
          ++appended;
        }
        // Keep the store from filling: ack all but the last few.
        uint64_t next = store->next_seq();
        if (next > 1000) (void)store->MarkAcked(next - 1000);
      }
    });
  }
  for (auto& w : workers) w.join();
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  store.reset();
  std::filesystem::remove_all(dir);
  return appended / secs;
}

// One thread's appends for about `budget`, each timed; prints the median,
// p99, p99.9 and the slowest in µs: what a send waits for the buffer,
// including the appends that start a new segment.
void AppendLatency(const std::string& dir, SyncPolicy policy, size_t payload,
                   absl::Duration budget) {
  std::unique_ptr<DurableStore> store = OpenEmpty(dir, policy);
  StoredMessage m{0, "bench.Svc/Put", std::string(payload, 'p'), 0, false};
  std::vector<int64_t> nanos;
  nanos.reserve(1 << 22);
  const absl::Time deadline = absl::Now() + budget;
  while (absl::Now() < deadline) {
    for (int i = 0; i < 64; ++i) {
      const int64_t start = absl::GetCurrentTimeNanos();
      if (!store->Append(m).ok()) std::abort();
      nanos.push_back(absl::GetCurrentTimeNanos() - start);
    }
    uint64_t next = store->next_seq();
    if (next > 1000) (void)store->MarkAcked(next - 1000);
  }
  store.reset();
  std::filesystem::remove_all(dir);
  std::sort(nanos.begin(), nanos.end());
  auto at = [&](double q) {
    return nanos[std::min(nanos.size() - 1,
                          static_cast<size_t>(q * nanos.size()))] /
           1e3;
  };
  std::printf("%-16s %8zu %10.2f %10.2f %10.1f %10.0f %10zu\n",
              PolicyName(policy), payload, at(0.5), at(0.99), at(0.999),
              nanos.back() / 1e3, nanos.size());
}

}  // namespace

// Reopens the store in `dir` and prints time and RSS; run in a fresh
// process so that the filler's freed heap does not hide the index.
int Reopen(const std::string& dir, int expected) {
  long rss_before = RssKiB();
  absl::Time start = absl::Now();
  DurableStoreOptions o;
  o.capacity_bytes = uint64_t{1} << 30;
  auto store = DurableStore::Open(Env::Default(), dir, o);
  absl::Duration reopen = absl::Now() - start;
  long rss_after = RssKiB();
  if (!store.ok() || (*store)->pending_count() != size_t(expected)) {
    std::fprintf(stderr, "reopen failed\n");
    return 1;
  }
  std::printf("\nreopen, %d pending 64 B messages (%zu segments): %.0f ms\n",
              expected, (*store)->segment_numbers().size(),
              absl::ToDoubleMilliseconds(reopen));
  std::printf("RSS before reopen %ld KiB, after %ld KiB (+%.1f B/message)\n",
              rss_before, rss_after,
              (rss_after - rss_before) * 1024.0 / expected);
  start = absl::Now();
  long n = 0;
  (void)(*store)->ForEachPending(1, [&](const StoredMessage&) {
    ++n;
    return true;
  });
  std::printf(
      "ForEachPending over %ld messages (payloads from disk): %.0f ms\n", n,
      absl::ToDoubleMilliseconds(absl::Now() - start));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--reopen") {
    return Reopen(argv[2], 1000000);
  }
  const std::string dir = argc > 1 ? argv[1] : "store_bench_data";
  std::filesystem::create_directories(dir);
  std::printf("%-34s %14s\n", "disk: 4 KiB write + fdatasync", "ops/s");
  const char* modes[] = {"growing file", "fallocated file", "zero-filled file"};
  for (int mode = 0; mode < 3; ++mode) {
    std::printf("  %-32s %14.0f\n", modes[mode],
                FdatasyncRate(dir + "/raw", mode, 2000));
  }
  std::printf("  %-32s %14.0f\n", "zero-filled, 100 B writes",
              FdatasyncRate(dir + "/raw", 2, 2000, 100));
  std::printf("\n%-16s %8s %8s %14s %12s\n", "policy", "threads", "payload",
              "appends/s", "MB/s");
  struct Case {
    SyncPolicy p;
    int threads;
  };
  for (Case c :
       {Case{SyncPolicy::kEveryWrite, 1}, Case{SyncPolicy::kEveryWrite, 8},
        Case{SyncPolicy::kEveryWrite, 64}, Case{SyncPolicy::kInterval, 1},
        Case{SyncPolicy::kInterval, 8}, Case{SyncPolicy::kNever, 1},
        Case{SyncPolicy::kNever, 8}}) {
    for (size_t payload : {size_t{64}, size_t{1024}}) {
      double rate =
          AppendRate(dir + "/s", c.p, c.threads, payload, absl::Seconds(2));
      std::printf("%-16s %8d %8zu %14.0f %12.1f\n", PolicyName(c.p), c.threads,
                  payload, rate, rate * payload / 1e6);
    }
  }

  std::printf("\none writer's append latency, µs (1 s per row)\n");
  std::printf("%-16s %8s %10s %10s %10s %10s %10s\n", "policy", "payload",
              "p50", "p99", "p99.9", "max", "appends");
  for (SyncPolicy p :
       {SyncPolicy::kEveryWrite, SyncPolicy::kInterval, SyncPolicy::kNever}) {
    AppendLatency(dir + "/l", p, 64, absl::Seconds(1));
  }

  // Reopen with a million pending 64 B messages.
  const int kPending = 1000000;
  std::filesystem::remove_all(dir + "/r");
  {
    DurableStoreOptions o;
    o.sync = SyncPolicy::kNever;
    o.capacity_bytes = uint64_t{1} << 30;
    auto store = DurableStore::Open(Env::Default(), dir + "/r", o);
    StoredMessage m{0, "bench.Svc/Put", std::string(64, 'p'), 0, false};
    for (int i = 0; i < kPending; ++i) {
      if (!(*store)->Append(m).ok()) std::abort();
    }
  }
  const std::string cmd = std::string(argv[0]) + " --reopen " + dir + "/r";
  std::fflush(stdout);
  int rc = std::system(cmd.c_str());
  std::filesystem::remove_all(dir);
  return rc == 0 ? 0 : 1;
}
