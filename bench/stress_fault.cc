// stress_fault: exactly-once, in-order delivery both ways through a proxy
// that cuts the link every few milliseconds, at volume.
//
//   stress_fault [--n=1000000] [--seed=1] [--window=1000] [--chunk=512]
//                [--cut_min_ms=5] [--cut_max_ms=50] [--budget_s=900]
//                [--max_message_bytes=16777216]
//
// The client sends n Calc.Note messages (values 0..n-1, ack deadline 120 s)
// while the server sends n Feed.Triple requests to the client, through a
// FaultProxy that cuts every connection at random intervals in
// [cut_min_ms, cut_max_ms] and forwards in random chunks of at most `chunk`
// bytes, so cuts land inside frames. Each side keeps at most `window` calls
// accepted and unacked (FlowOptions::max_pending_messages); a refused
// call is retried once some call completes. max_message_bytes (both sides)
// also bounds the frames the sessions coalesce. When every call is done (or
// the budget is spent) cutting stops and the rest drains.
//
// Prints messages each way, cuts, reconnects (kReconnecting / kResumed /
// kNewSession events), lost / duplicated / reordered deliveries each way,
// callbacks missing / repeated / failed, wall time and messages/s. Exits 1
// if anything was lost, duplicated, reordered or failed. The bookkeeping
// (tests/util/exactly_once.h) is shared with tests/transport/fault_test.cc.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
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
#include "tests/util/fault_proxy.h"

namespace parley {
namespace {

using test::Num;
using testutil::FaultProxy;
using testutil::MakeNum;

struct Flags {
  int64_t n = 1000000;
  uint64_t seed = 1;
  int64_t window = 1000;
  int64_t chunk = 512;
  int64_t cut_min_ms = 5;
  int64_t cut_max_ms = 50;
  int64_t budget_s = 900;
  int64_t max_message_bytes = 16 << 20;
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  int64_t seed = static_cast<int64_t>(flags->seed);
  bool parsed =
      bench::ParseIntFlags(argc, argv,
                           {{"n", &flags->n},
                            {"seed", &seed},
                            {"window", &flags->window},
                            {"chunk", &flags->chunk},
                            {"cut_min_ms", &flags->cut_min_ms},
                            {"cut_max_ms", &flags->cut_max_ms},
                            {"budget_s", &flags->budget_s},
                            {"max_message_bytes", &flags->max_message_bytes}});
  flags->seed = static_cast<uint64_t>(seed);
  return parsed && flags->n > 0 && flags->window > 0;
}

class CalcService : public test::Calc::Service {
 public:
  void Double(CallContext& context, const Num& request,
              Responder<Num> responder) override {
    {
      absl::MutexLock lock(&mu_);
      peer_ = context.peer;
    }
    responder.Finish(MakeNum(request.value() * 2));
  }
  void Note(CallContext&, const Num& request,
            Responder<google::protobuf::Empty> responder) override {
    notes.Add(request.value());
    responder.Finish();
  }
  std::shared_ptr<Channel> peer() {
    absl::MutexLock lock(&mu_);
    return peer_;
  }
  testutil::Recorder notes;

 private:
  absl::Mutex mu_;
  std::shared_ptr<Channel> peer_ ABSL_GUARDED_BY(mu_);
};

class EventCounts {
 public:
  EventCallback Callback() {
    return [this](const Event& event) {
      absl::MutexLock lock(&mu_);
      ++counts_[static_cast<int>(event.type)];
    };
  }
  int64_t count(EventType type) {
    absl::MutexLock lock(&mu_);
    return counts_[static_cast<int>(type)];
  }

 private:
  absl::Mutex mu_;
  int64_t counts_[16] ABSL_GUARDED_BY(mu_) = {};
};

int Run(const Flags& flags) {
  const int64_t n = flags.n;
  const CallOptions ack_within{absl::Seconds(120)};
  const absl::Duration patience = absl::Seconds(120);

  CalcService calc;
  testutil::FeedService feed;
  EventCounts client_events, server_events;

  ServerOptions server_options;
  server_options.flow.max_pending_messages = flags.window;
  server_options.max_message_bytes = flags.max_message_bytes;
  server_options.on_event = server_events.Callback();
  Server server(server_options);
  if (absl::Status s = server.AddService(&calc); !s.ok()) return 2;
  if (absl::Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "server: %s\n", s.ToString().c_str());
    return 2;
  }
  FaultProxy::Options proxy_options;
  proxy_options.seed = flags.seed;
  proxy_options.max_chunk = static_cast<size_t>(flags.chunk);
  proxy_options.cut_every_min = absl::Milliseconds(flags.cut_min_ms);
  proxy_options.cut_every_max = absl::Milliseconds(flags.cut_max_ms);
  FaultProxy proxy(server.port(), proxy_options);
  if (!proxy.status().ok()) return 2;

  ClientOptions client_options;
  client_options.url = absl::StrCat("ws://127.0.0.1:", proxy.port(), "/");
  client_options.flow.max_pending_messages = flags.window;
  client_options.max_message_bytes = flags.max_message_bytes;
  client_options.reconnect.initial_delay = absl::Milliseconds(2);
  client_options.reconnect.max_delay = absl::Milliseconds(40);
  client_options.connect_timeout = absl::Seconds(5);
  client_options.on_event = client_events.Callback();
  Client client(client_options);
  if (!client.AddService(&feed).ok() || !client.Start().ok()) return 2;
  if (absl::Status s = client.WaitConnected(absl::Seconds(30)); !s.ok()) {
    std::fprintf(stderr, "client: %s\n", s.ToString().c_str());
    return 2;
  }
  test::Calc::Stub to_server(client.channel());
  if (!to_server.DoubleBlocking(MakeNum(1)).ok()) return 2;
  test::Feed::Stub to_client(calc.peer());

  std::printf(
      "stress_fault: %lld calls each way, seed %llu, window %lld, cuts every "
      "%lld-%lld ms, chunks <= %lld B\n",
      static_cast<long long>(n), static_cast<unsigned long long>(flags.seed),
      static_cast<long long>(flags.window),
      static_cast<long long>(flags.cut_min_ms),
      static_cast<long long>(flags.cut_max_ms),
      static_cast<long long>(flags.chunk));
  std::fflush(stdout);

  testutil::Progress progress;
  testutil::CallTally notes(n, &progress), triples(n, &progress);
  absl::Status note_refused, triple_refused;
  proxy.SetCutting(true);
  const absl::Time start = absl::Now();
  std::thread server_side([&] {
    for (int64_t i = 0; i < n && triple_refused.ok(); ++i) {
      triple_refused = testutil::SendAccepted(
          [&] {
            return to_client.Triple(MakeNum(i), triples.Request<Num>(i, 3 * i),
                                    ack_within);
          },
          progress, patience);
    }
  });
  for (int64_t i = 0; i < n && note_refused.ok(); ++i) {
    note_refused = testutil::SendAccepted(
        [&] {
          return to_server.Note(MakeNum(i), notes.Message(i), ack_within);
        },
        progress, patience);
  }
  server_side.join();
  const absl::Time sent = absl::Now();

  const absl::Time budget_end = start + absl::Seconds(flags.budget_s);
  bool through = notes.AwaitDone(n, budget_end - absl::Now()) &&
                 triples.AwaitDone(n, budget_end - absl::Now());
  proxy.SetCutting(false);
  const absl::Time cut_end = absl::Now();
  const FaultProxy::Stats stats = proxy.stats();
  bool drained = notes.AwaitDone(n, absl::Seconds(180)) &&
                 triples.AwaitDone(n, absl::Seconds(180));
  const absl::Time end = absl::Now();
  // Barriers: every earlier delivery has happened once these return.
  bool barriers = to_server.DoubleBlocking(MakeNum(2)).ok() &&
                  to_client.TripleBlocking(MakeNum(-1)).ok();

  const double wall = absl::ToDoubleSeconds(end - start);
  testutil::CallTally::Report note_calls = notes.report(),
                              triple_calls = triples.report();
  testutil::OrderReport up = testutil::CheckOrder(calc.notes.values(), n),
                        down = testutil::CheckOrder(feed.triples.values(), n);
  auto print_direction = [](const char* name, const testutil::OrderReport& d,
                            const testutil::CallTally::Report& c) {
    std::printf(
        "  %-15s deliveries %lld: lost %lld, duplicated %lld, reordered %lld, "
        "foreign %lld; callbacks missing %lld, repeated %lld, failed "
        "%lld%s%s\n",
        name, static_cast<long long>(d.deliveries),
        static_cast<long long>(d.lost), static_cast<long long>(d.duplicated),
        static_cast<long long>(d.reordered), static_cast<long long>(d.foreign),
        static_cast<long long>(c.missing), static_cast<long long>(c.repeated),
        static_cast<long long>(c.failed), c.failed ? " first: " : "",
        c.first_failure.c_str());
  };
  print_direction("client->server", up, note_calls);
  print_direction("server->client", down, triple_calls);
  std::printf(
      "  proxy: %llu connections, %llu cuts (%llu mid-stream), %.1f MB up, "
      "%.1f MB down\n",
      static_cast<unsigned long long>(stats.connections_accepted),
      static_cast<unsigned long long>(stats.cuts),
      static_cast<unsigned long long>(stats.cuts_mid_stream),
      stats.bytes_up / 1e6, stats.bytes_down / 1e6);
  std::printf(
      "  client events: %lld kReconnecting, %lld kResumed, %lld kNewSession; "
      "server: %lld kResumed, %lld kNewSession\n",
      static_cast<long long>(client_events.count(EventType::kReconnecting)),
      static_cast<long long>(client_events.count(EventType::kResumed)),
      static_cast<long long>(client_events.count(EventType::kNewSession)),
      static_cast<long long>(server_events.count(EventType::kResumed)),
      static_cast<long long>(server_events.count(EventType::kNewSession)));
  std::printf(
      "  all sent after %.2f s; %s under cuts (cut phase %.2f s); drained %s; "
      "wall %.2f s; %.0f msgs/s each way, %.0f msgs/s both ways\n",
      absl::ToDoubleSeconds(sent - start), through ? "all done" : "NOT done",
      absl::ToDoubleSeconds(cut_end - start), drained ? "yes" : "NO", wall,
      n / wall, 2 * n / wall);

  bool ok = drained && barriers && note_refused.ok() && triple_refused.ok() &&
            up.clean() && down.clean() && note_calls.missing == 0 &&
            note_calls.repeated == 0 && note_calls.failed == 0 &&
            triple_calls.missing == 0 && triple_calls.repeated == 0 &&
            triple_calls.failed == 0 &&
            client_events.count(EventType::kNewSession) == 1;
  if (!note_refused.ok()) {
    std::printf("  note refused: %s\n", note_refused.ToString().c_str());
  }
  if (!triple_refused.ok()) {
    std::printf("  triple refused: %s\n", triple_refused.ToString().c_str());
  }
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace parley

int main(int argc, char** argv) {
  parley::Flags flags;
  if (!parley::ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: %s [--n=1000000] [--seed=1] [--window=1000] "
                 "[--chunk=512] [--cut_min_ms=5] [--cut_max_ms=50] "
                 "[--budget_s=900] [--max_message_bytes=16777216]\n",
                 argv[0]);
    return 2;
  }
  return parley::Run(flags);
}
