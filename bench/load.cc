// load: many concurrent clients against one server, every message acked.
//
//   load [--clients=1000] [--messages=1000]
//
// Forks: the parent runs one Server (its memory is measured alone), the
// child runs `clients` Clients (one I/O thread each). Every client sends
// `messages` Calc.Note messages (an acked message: the callback runs once
// the server's handler finished), all queued at once, so the server holds
// clients x messages in flight at the start. Both processes raise their
// open-file limit to the hard limit first.
//
// Prints connect time, send-to-last-ack time and messages/s (child), and
// the server's delivery check (every client's values 0..messages-1 exactly
// once, in order), sessions and peak RSS before and after the load
// (parent). Exits 1 if a message was refused, failed, lost, duplicated or
// reordered.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/flags.h"
#include "calc.parley.h"
#include "parley/client.h"
#include "parley/server.h"
#include "tests/util/calc_services.h"
#include "tests/util/exactly_once.h"

namespace parley {
namespace {

using test::Num;
using testutil::MakeNum;

constexpr absl::Duration kBudget = absl::Seconds(900);

// Peak resident set of this process, in MiB ("VmHWM" in /proc/self/status).
double PeakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
    }
  }
  return 0;
}

void RaiseFdLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  std::printf("open-file limit: %llu\n",
              static_cast<unsigned long long>(limit.rlim_cur));
}

// Records each client's Notes (value = client * messages + i).
class NoteService : public test::Calc::Service {
 public:
  NoteService(int64_t clients, int64_t messages)
      : messages_(messages), notes_(static_cast<size_t>(clients)) {}
  void Note(CallContext&, const Num& request,
            Responder<google::protobuf::Empty> responder) override {
    const int64_t client = request.value() / messages_;
    if (client >= 0 && client < static_cast<int64_t>(notes_.size())) {
      notes_[static_cast<size_t>(client)].Add(request.value() % messages_);
    }
    responder.Finish();
  }
  // Every client's log against 0..messages-1; true if all are clean.
  bool Check() {
    testutil::OrderReport total;
    for (testutil::Recorder& recorder : notes_) {
      testutil::OrderReport one =
          testutil::CheckOrder(recorder.values(), messages_);
      total.deliveries += one.deliveries;
      total.lost += one.lost;
      total.duplicated += one.duplicated;
      total.reordered += one.reordered;
      total.foreign += one.foreign;
    }
    std::printf("server: %s\n", total.ToString().c_str());
    return total.clean();
  }

 private:
  const int64_t messages_;
  std::vector<testutil::Recorder> notes_;
};

// The child: connects every client, sends, waits for every ack.
int RunClients(uint16_t port, int64_t clients, int64_t messages) {
  // Before the clients: their destructors may still run callbacks.
  absl::Mutex mu;
  int64_t acked = 0, failed = 0, refused = 0;
  std::vector<std::unique_ptr<Client>> all;
  const absl::Time start = absl::Now();
  for (int64_t c = 0; c < clients; ++c) {
    ClientOptions options;
    options.url = absl::StrCat("ws://127.0.0.1:", port, "/");
    all.push_back(std::make_unique<Client>(options));
    if (!all.back()->Start().ok()) return 1;
  }
  for (auto& client : all) {
    absl::Status connected = client->WaitConnected(kBudget);
    if (!connected.ok()) {
      std::printf("clients: %s\n", connected.ToString().c_str());
      return 1;
    }
  }
  const absl::Time connected = absl::Now();
  std::printf("clients: %lld connected in %s\n",
              static_cast<long long>(clients),
              absl::FormatDuration(connected - start).c_str());

  for (int64_t i = 0; i < messages; ++i) {
    for (int64_t c = 0; c < clients; ++c) {
      absl::Status accepted =
          test::Calc::Stub(all[c]->channel())
              .Note(MakeNum(c * messages + i), [&](absl::Status status) {
                absl::MutexLock lock(&mu);
                ++(status.ok() ? acked : failed);
              });
      if (!accepted.ok()) {
        absl::MutexLock lock(&mu);
        ++refused;
      }
    }
  }
  const int64_t total = clients * messages;
  absl::MutexLock lock(&mu);
  auto done = [&]() { return acked + failed + refused == total; };
  mu.AwaitWithTimeout(absl::Condition(&done), kBudget);
  const absl::Duration elapsed = absl::Now() - connected;
  std::printf(
      "clients: %lld messages, %lld acked, %lld failed, %lld refused in %s: "
      "%.0f acked messages/s; client process peak RSS %.1f MiB\n",
      static_cast<long long>(total), static_cast<long long>(acked),
      static_cast<long long>(failed), static_cast<long long>(refused),
      absl::FormatDuration(elapsed).c_str(),
      static_cast<double>(acked) / absl::ToDoubleSeconds(elapsed),
      PeakRssMiB());
  std::fflush(stdout);
  return acked == total ? 0 : 1;
}

int Main(int argc, char** argv) {
  int64_t clients = 1000, messages = 1000;
  if (!bench::ParseIntFlags(argc, argv,
                            {{"clients", &clients}, {"messages", &messages}}) ||
      clients <= 0 || messages <= 0) {
    std::fprintf(stderr, "usage: load [--clients=1000] [--messages=1000]\n");
    return 2;
  }
  RaiseFdLimit();
  int port_pipe[2];
  if (pipe(port_pipe) != 0) return 2;
  std::fflush(stdout);
  const pid_t child = fork();  // before any thread exists
  if (child == 0) {
    uint16_t port = 0;
    if (read(port_pipe[0], &port, sizeof(port)) != sizeof(port)) _exit(2);
    std::fflush(stdout);
    _exit(RunClients(port, clients, messages));
  }

  NoteService service(clients, messages);
  ServerOptions options;
  Server server(options);
  if (!server.AddService(&service).ok() || !server.Start().ok()) return 2;
  const double idle_rss = PeakRssMiB();
  std::printf("server: peak RSS %.1f MiB before the clients\n", idle_rss);
  const uint16_t port = server.port();
  if (write(port_pipe[1], &port, sizeof(port)) != sizeof(port)) return 2;
  int status = 0;
  waitpid(child, &status, 0);
  const bool clients_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const bool delivered = service.Check();
  std::printf(
      "server: peak RSS %.1f MiB with %lld clients (%.1f KiB each)\n",
      PeakRssMiB(), static_cast<long long>(clients),
      (PeakRssMiB() - idle_rss) * 1024.0 / static_cast<double>(clients));
  server.Stop();
  const bool ok = clients_ok && delivered;
  std::printf("%s\n", ok ? "OK: 0 lost" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace parley

int main(int argc, char** argv) { return parley::Main(argc, argv); }
