// Fault tests of reliable delivery: a Parley Client talks to a Parley Server
// through a FaultProxy that cuts the link (mid-frame), eats bytes like a
// dead peer, or refuses connections like a server that is down.
//
// The proxy's seed is 1 unless PARLEY_FAULT_SEED says otherwise; each test
// prints it. PARLEY_FAULT_N and PARLEY_FAULT_WINDOW change the calls each way
// and the send window of the exactly-once test. Every wait has a deadline;
// nothing sleeps.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "calc.parley.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "runtime/util/mutex.h"
#include "tests/util/calc_services.h"
#include "tests/util/exactly_once.h"
#include "tests/util/fault_proxy.h"

namespace parley {
namespace {

using test::Num;
using testutil::CallTally;
using testutil::CheckOrder;
using testutil::FaultProxy;
using testutil::FeedService;
using testutil::MakeNum;
using testutil::OrderReport;
using testutil::Progress;
using testutil::Recorder;
using testutil::SendAccepted;

constexpr absl::Duration kWait = absl::Seconds(30);
// Generous ack deadline for every call: under cuts a call may need many
// connections, but never this long.
const CallOptions kAckWithin{absl::Seconds(30)};

int64_t EnvInt(const char* name, int64_t otherwise) {
  const char* env = std::getenv(name);
  return env != nullptr ? std::strtoll(env, nullptr, 10) : otherwise;
}

uint64_t Seed() { return EnvInt("PARLEY_FAULT_SEED", 1); }

// Every event with its arrival time (absl::Now() in the callback).
class EventLog {
 public:
  struct Entry {
    Event event;
    absl::Time at;
  };

  EventCallback Callback() {
    return [this](const Event& event) {
      util::MutexLock lock(&mu_);
      entries_.push_back({event, absl::Now()});
      added_.SignalAll();
    };
  }
  int Count(EventType type) {
    util::MutexLock lock(&mu_);
    return CountLocked(type);
  }
  // Waits until `n` events of `type` have arrived.
  bool AwaitCount(EventType type, int n, absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    auto enough = [this, type, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return CountLocked(type) >= n;
    };
    return added_.WaitFor(&mu_, timeout, enough);
  }
  // The `n`th (from 1) event of `type`.
  absl::optional<Entry> Nth(EventType type, int n) {
    util::MutexLock lock(&mu_);
    for (const Entry& entry : entries_) {
      if (entry.event.type == type && --n == 0) return entry;
    }
    return absl::nullopt;
  }
  std::vector<Entry> entries() {
    util::MutexLock lock(&mu_);
    return entries_;
  }
  // "kConnected kNewSession kDisconnected(...) ..." for failure messages
  // (at most the last 40).
  std::string Summary() {
    util::MutexLock lock(&mu_);
    std::vector<std::string> parts;
    size_t from = entries_.size() > 40 ? entries_.size() - 40 : 0;
    for (size_t i = from; i < entries_.size(); ++i) {
      const Event& e = entries_[i].event;
      std::string part(EventTypeName(e.type));
      if (e.type == EventType::kReconnecting) {
        absl::StrAppend(&part, "#", e.attempt, "/",
                        absl::FormatDuration(e.delay));
      }
      if (!e.status.ok()) absl::StrAppend(&part, "(", e.status.ToString(), ")");
      parts.push_back(part);
    }
    return absl::StrCat(entries_.size(),
                        " events, last: ", absl::StrJoin(parts, " "));
  }

 private:
  int CountLocked(EventType type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int n = 0;
    for (const Entry& entry : entries_) n += entry.event.type == type;
    return n;
  }
  util::Mutex mu_;
  util::CondVar added_;  // entries_ grew
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

class CalcService : public test::Calc::Service {
 public:
  void Double(CallContext& context, const Num& request,
              Responder<Num> responder) override {
    RememberPeer(context);
    responder.Finish(MakeNum(request.value() * 2));
  }
  void Note(CallContext& context, const Num& request,
            Responder<google::protobuf::Empty> responder) override {
    RememberPeer(context);
    notes.Add(request.value());
    {
      util::MutexLock lock(&mu_);
      if (request.value() == hold_value_ && !held_once_) {
        held_once_ = true;
        held_.emplace(std::move(responder));
        return;
      }
    }
    responder.Finish();
  }

  // The channel back to the client of the latest session that called.
  std::shared_ptr<Channel> AwaitPeer() {
    util::MutexLock lock(&mu_);
    auto has_peer = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return peer_ != nullptr;
    };
    peer_known_.WaitFor(&mu_, kWait, has_peer);
    return peer_;
  }
  // The first Note of `value` is held unfinished (never acked) until
  // ReleaseHeld.
  void HoldFirstNote(int64_t value) {
    util::MutexLock lock(&mu_);
    hold_value_ = value;
  }
  // Finishes the held Note, if any; true if there was one.
  bool ReleaseHeld() {
    absl::optional<Responder<google::protobuf::Empty>> held;
    {
      util::MutexLock lock(&mu_);
      if (!held_.has_value() || held_->finished()) return false;
      held.emplace(std::move(*held_));
      held_.reset();
    }
    held->Finish();
    return true;
  }

  Recorder notes;

 private:
  void RememberPeer(CallContext& context) {
    util::MutexLock lock(&mu_);
    peer_ = context.peer;
    peer_known_.SignalAll();
  }
  util::Mutex mu_;
  util::CondVar peer_known_;  // peer_ was set
  std::shared_ptr<Channel> peer_ ABSL_GUARDED_BY(mu_);
  int64_t hold_value_ ABSL_GUARDED_BY(mu_) = -1;
  bool held_once_ ABSL_GUARDED_BY(mu_) = false;
  absl::optional<Responder<google::protobuf::Empty>> held_ ABSL_GUARDED_BY(mu_);
};

// Server <- proxy <- client, each with an event log. Members are declared
// so that the client goes first, then the proxy, then the server, and the
// services and logs outlive all three.
struct Rig {
  CalcService calc;
  FeedService feed;
  EventLog server_events;
  EventLog client_events;
  std::unique_ptr<Server> server;
  std::unique_ptr<FaultProxy> proxy;
  std::unique_ptr<Client> client;

  // Starts the server and the proxy; the client is created (not started)
  // with its url pointing at the proxy.
  absl::Status Build(ServerOptions server_options,
                     FaultProxy::Options proxy_options,
                     ClientOptions client_options) {
    server_options.on_event = server_events.Callback();
    server = std::make_unique<Server>(server_options);
    if (absl::Status s = server->AddService(&calc); !s.ok()) return s;
    if (absl::Status s = server->Start(); !s.ok()) return s;
    proxy = std::make_unique<FaultProxy>(server->port(), proxy_options);
    if (!proxy->status().ok()) return proxy->status();
    client_options.url = absl::StrCat("ws://127.0.0.1:", proxy->port(), "/");
    client_options.on_event = client_events.Callback();
    client = std::make_unique<Client>(client_options);
    return client->AddService(&feed);
  }
  absl::Status StartClient() {
    if (absl::Status s = client->Start(); !s.ok()) return s;
    return client->WaitConnected(kWait);
  }
  std::string Describe() {
    FaultProxy::Stats s = proxy->stats();
    std::string text = absl::StrCat(
        "proxy: ", s.connections_accepted, " connections, ", s.cuts, " cuts (",
        s.cuts_mid_stream, " mid-stream), ", s.bytes_up, " B up, ",
        s.bytes_down, " B down, ", s.bytes_swallowed, " B swallowed\nclient ",
        client_events.Summary(), "\nserver ", server_events.Summary());
    absl::StrAppend(&text, "\nclient session: ", Counters(client->stats()));
    for (const SessionStats& stats : server->stats()) {
      absl::StrAppend(&text, "\nserver session: ", Counters(stats));
    }
    return text;
  }
  static std::string Counters(const SessionStats& s) {
    return absl::StrCat(
        "open=", s.open, " next_seq=", s.next_seq,
        " peer_acked=", s.peer_acked_through,
        " outstanding=", s.outstanding_messages, " queued=", s.queued_messages,
        " peer_window=", s.peer_window, " unacked=", s.unacked_envelopes,
        " pending=", s.pending_calls, " received=", s.received_through,
        " processed=", s.processed_through, " running=", s.handlers_running,
        " buffered=", s.buffered_bytes);
  }
};

ReconnectOptions FastReconnect() {
  ReconnectOptions reconnect;
  reconnect.initial_delay = absl::Milliseconds(2);
  reconnect.max_delay = absl::Milliseconds(40);
  reconnect.multiplier = 2;
  reconnect.jitter = 0.2;
  return reconnect;
}

// Calls each way (PARLEY_FAULT_N overrides). The stress target
// (bench/stress_fault.cc) runs a million each way.
constexpr int kCallsEachWay = 20000;
// Calls each side keeps accepted and unacked, in the peer's window or
// queued for it (flow.max_pending_messages; PARLEY_FAULT_WINDOW
// overrides), so producers feel backpressure and wait for completions.
constexpr int kWindow = 1000;

TEST(Fault, ExactlyOnceInOrderBothWaysUnderCuts) {
  const uint64_t seed = Seed();
  const int n = EnvInt("PARLEY_FAULT_N", kCallsEachWay);
  std::cout << "seed " << seed << ", " << n << " calls each way\n";
  FaultProxy::Options proxy_options;
  proxy_options.seed = seed;
  proxy_options.max_chunk = 512;
  proxy_options.cut_every_min = absl::Milliseconds(5);
  proxy_options.cut_every_max = absl::Milliseconds(50);
  ClientOptions client_options;
  client_options.reconnect = FastReconnect();
  client_options.connect_timeout = absl::Seconds(5);
  // A bounded window, as a producer under backpressure has (see
  // kWindow).
  ServerOptions server_options;
  client_options.flow.max_pending_messages =
      EnvInt("PARLEY_FAULT_WINDOW", kWindow);
  server_options.flow.max_pending_messages =
      client_options.flow.max_pending_messages;
  // Declared before the rig, so they outlive the clients whose callbacks
  // refer to them even when an assertion ends the test early.
  Progress progress;
  CallTally notes(n, &progress), triples(n, &progress);
  Rig rig;
  ASSERT_TRUE(rig.Build(server_options, proxy_options, client_options).ok());
  ASSERT_TRUE(rig.StartClient().ok());

  test::Calc::Stub to_server(rig.client->channel());
  ASSERT_TRUE(to_server.DoubleBlocking(MakeNum(1)).ok());  // server learns peer
  std::shared_ptr<Channel> peer = rig.calc.AwaitPeer();
  ASSERT_NE(peer, nullptr);
  test::Feed::Stub to_client(peer);

  rig.proxy->SetCutting(true);
  const absl::Time start = absl::Now();
  absl::Status triple_refused, note_refused;
  std::thread server_side([&] {
    for (int i = 0; i < n && triple_refused.ok(); ++i) {
      triple_refused = SendAccepted(
          [&] {
            return to_client.Triple(MakeNum(i), triples.Request<Num>(i, 3 * i),
                                    kAckWithin);
          },
          progress, kWait);
    }
  });
  for (int i = 0; i < n && note_refused.ok(); ++i) {
    note_refused = SendAccepted(
        [&] {
          return to_server.Note(MakeNum(i), notes.Message(i), kAckWithin);
        },
        progress, kWait);
  }
  server_side.join();
  ASSERT_TRUE(note_refused.ok()) << note_refused << "\n" << rig.Describe();
  ASSERT_TRUE(triple_refused.ok()) << triple_refused << "\n" << rig.Describe();

  // Cut until everything is through or the cut phase's budget is spent,
  // then drain in calm.
  const absl::Time cut_phase_end = start + absl::Seconds(40);
  bool through_under_cuts = notes.AwaitAll(cut_phase_end - absl::Now()) &&
                            triples.AwaitAll(cut_phase_end - absl::Now());
  rig.proxy->SetCutting(false);
  const absl::Duration cut_phase = absl::Now() - start;
  const FaultProxy::Stats cut_stats = rig.proxy->stats();
  ASSERT_TRUE(notes.AwaitAll(kWait)) << notes.Problems() << "\n"
                                     << rig.Describe();
  ASSERT_TRUE(triples.AwaitAll(kWait)) << triples.Problems() << "\n"
                                       << rig.Describe();
  const absl::Duration elapsed = absl::Now() - start;

  // Barriers: a request after all others in each direction. Once its reply
  // is in, every earlier call's deliveries have happened.
  ASSERT_TRUE(to_server.DoubleBlocking(MakeNum(2)).ok());
  ASSERT_TRUE(to_client.TripleBlocking(MakeNum(-1)).ok());

  EXPECT_EQ(notes.Problems(), "") << rig.Describe();
  EXPECT_EQ(triples.Problems(), "") << rig.Describe();
  OrderReport to_server_report = CheckOrder(rig.calc.notes.values(), n);
  OrderReport to_client_report = CheckOrder(rig.feed.triples.values(), n);
  EXPECT_TRUE(to_server_report.clean())
      << "client->server: " << to_server_report.ToString() << "\n"
      << rig.Describe();
  EXPECT_TRUE(to_client_report.clean())
      << "server->client: " << to_client_report.ToString() << "\n"
      << rig.Describe();

  // Every reconnect resumed the one session.
  EXPECT_EQ(rig.client_events.Count(EventType::kNewSession), 1)
      << rig.Describe();
  int reconnects = rig.client_events.Count(EventType::kReconnecting);
  int resumes = rig.client_events.Count(EventType::kResumed);
  std::cout << "through under cuts: " << (through_under_cuts ? "yes" : "no")
            << "; cut phase " << absl::FormatDuration(cut_phase) << ", total "
            << absl::FormatDuration(elapsed) << "; " << cut_stats.cuts
            << " cuts (" << cut_stats.cuts_mid_stream << " mid-stream), "
            << reconnects << " kReconnecting, " << resumes << " kResumed\n";
  // The faults really happened, and in the middle of traffic.
  EXPECT_GE(cut_stats.cuts, 5u) << rig.Describe();
  EXPECT_GE(cut_stats.cuts_mid_stream, 1u) << rig.Describe();
  EXPECT_GE(resumes, 3) << rig.Describe();
}

TEST(Fault, DeadPeerIsNoticedWithinIntervalPlusTimeoutThenResumes) {
  const uint64_t seed = Seed();
  std::cout << "seed " << seed << "\n";
  const absl::Duration interval = absl::Milliseconds(200);
  const absl::Duration timeout = absl::Milliseconds(300);
  // The liveness timer fires on the I/O thread; under ASan on a busy
  // 2-vCPU VM (three I/O threads plus the test) its wake-up and the event's
  // delivery can lag by tens of ms. 150 ms is 30% of the bound and well
  // below a second missed ping interval.
  const absl::Duration margin = absl::Milliseconds(150);
  FaultProxy::Options proxy_options;
  proxy_options.seed = seed;
  ServerOptions server_options;
  server_options.liveness.ping_interval = interval;
  server_options.liveness.ping_timeout = timeout;
  ClientOptions client_options;
  client_options.liveness.ping_interval = interval;
  client_options.liveness.ping_timeout = timeout;
  client_options.reconnect = FastReconnect();
  client_options.reconnect.max_delay = absl::Milliseconds(200);
  // Dials during the blackhole hang in the opening handshake.
  client_options.connect_timeout = absl::Seconds(1);
  constexpr int kBefore = 100, kTotal = 200;
  CallTally notes(kTotal), triples(kTotal);  // outlive the rig's clients
  Rig rig;
  ASSERT_TRUE(rig.Build(server_options, proxy_options, client_options).ok());
  ASSERT_TRUE(rig.StartClient().ok());

  test::Calc::Stub to_server(rig.client->channel());
  ASSERT_TRUE(to_server.DoubleBlocking(MakeNum(1)).ok());
  test::Feed::Stub to_client(rig.calc.AwaitPeer());
  for (int i = 0; i < kBefore; ++i) {
    ASSERT_TRUE(to_server.Note(MakeNum(i), notes.Message(i), kAckWithin).ok());
    ASSERT_TRUE(
        to_client.Triple(MakeNum(i), triples.Request<Num>(i, 3 * i), kAckWithin)
            .ok());
  }
  ASSERT_TRUE(notes.AwaitFirst(kBefore, kWait));
  ASSERT_TRUE(triples.AwaitFirst(kBefore, kWait));

  const int client_lost = rig.client_events.Count(EventType::kDisconnected);
  const int server_lost = rig.server_events.Count(EventType::kDisconnected);
  const int resumed = rig.client_events.Count(EventType::kResumed);
  const absl::Time before_blackhole = absl::Now();
  rig.proxy->Blackhole(true);
  const absl::Time blackholed = absl::Now();
  // Sent into the blackhole: these must survive it.
  for (int i = kBefore; i < kTotal; ++i) {
    ASSERT_TRUE(to_server.Note(MakeNum(i), notes.Message(i), kAckWithin).ok());
    ASSERT_TRUE(
        to_client.Triple(MakeNum(i), triples.Request<Num>(i, 3 * i), kAckWithin)
            .ok());
  }

  ASSERT_TRUE(rig.client_events.AwaitCount(EventType::kDisconnected,
                                           client_lost + 1, kWait))
      << rig.Describe();
  ASSERT_TRUE(rig.server_events.AwaitCount(EventType::kDisconnected,
                                           server_lost + 1, kWait))
      << rig.Describe();
  absl::Time client_saw =
      rig.client_events.Nth(EventType::kDisconnected, client_lost + 1)->at;
  absl::Time server_saw =
      rig.server_events.Nth(EventType::kDisconnected, server_lost + 1)->at;
  const absl::Duration bound = interval + timeout + margin;
  std::cout << "dead peer noticed after: client "
            << absl::FormatDuration(client_saw - blackholed) << ", server "
            << absl::FormatDuration(server_saw - blackholed) << " (bound "
            << absl::FormatDuration(bound) << ")\n";
  EXPECT_LE(client_saw - blackholed, bound) << rig.Describe();
  EXPECT_LE(server_saw - blackholed, bound) << rig.Describe();
  // And not before a ping could have gone unanswered (50 ms for the
  // round trip of a ping sent just before the blackhole).
  EXPECT_GE(client_saw - before_blackhole, timeout - absl::Milliseconds(50));
  EXPECT_GE(server_saw - before_blackhole, timeout - absl::Milliseconds(50));

  rig.proxy->Blackhole(false);
  ASSERT_TRUE(
      rig.client_events.AwaitCount(EventType::kResumed, resumed + 1, kWait))
      << rig.Describe();
  ASSERT_TRUE(notes.AwaitAll(kWait)) << notes.Problems();
  ASSERT_TRUE(triples.AwaitAll(kWait)) << triples.Problems();
  ASSERT_TRUE(to_server.DoubleBlocking(MakeNum(2)).ok());
  ASSERT_TRUE(to_client.TripleBlocking(MakeNum(-1)).ok());
  EXPECT_EQ(notes.Problems(), "");
  EXPECT_EQ(triples.Problems(), "");
  OrderReport up = CheckOrder(rig.calc.notes.values(), kTotal);
  OrderReport down = CheckOrder(rig.feed.triples.values(), kTotal);
  EXPECT_TRUE(up.clean()) << up.ToString() << "\n" << rig.Describe();
  EXPECT_TRUE(down.clean()) << down.ToString() << "\n" << rig.Describe();
  EXPECT_EQ(rig.client_events.Count(EventType::kNewSession), 1)
      << rig.Describe();
}

TEST(Fault, ReconnectBackoffFollowsTheScheduleThenStops) {
  ServerOptions server_options;
  Server gone(server_options);
  ASSERT_TRUE(gone.Start().ok());
  const uint16_t port = gone.port();
  gone.Stop();  // nothing listens there now

  EventLog events;
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", port, "/");
  options.reconnect.initial_delay = absl::Milliseconds(100);
  options.reconnect.multiplier = 2;
  options.reconnect.max_delay = absl::Milliseconds(400);
  options.reconnect.jitter = 0.2;
  options.reconnect.max_attempts = 5;
  options.on_event = events.Callback();
  CallTally pending(1);  // outlives the client, which holds its callback
  Client client(options);
  test::Calc::Stub stub(client.channel());
  // Accepted while not connected: queued, then failed when the client
  // gives up.
  ASSERT_TRUE(stub.Note(MakeNum(1), pending.Message(0), kAckWithin).ok());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(events.AwaitCount(EventType::kStopped, 1, kWait))
      << events.Summary();
  ASSERT_TRUE(pending.AwaitAll(kWait));

  std::vector<EventLog::Entry> log = events.entries();
  std::vector<EventLog::Entry> redials;
  for (const EventLog::Entry& entry : log) {
    if (entry.event.type == EventType::kReconnecting) redials.push_back(entry);
  }
  ASSERT_EQ(redials.size(), 5u) << events.Summary();
  EXPECT_EQ(log.back().event.type, EventType::kStopped) << events.Summary();
  const double jitter = options.reconnect.jitter;
  // Time from a kReconnecting event to the next event (the next attempt's
  // failure) is the delay plus a refused dial on loopback; allow 200 ms for
  // that and for scheduling under ASan.
  const absl::Duration slack = absl::Milliseconds(200);
  absl::Duration base = options.reconnect.initial_delay;
  for (size_t n = 0; n < redials.size(); ++n) {
    const Event& e = redials[n].event;
    EXPECT_EQ(e.attempt, static_cast<int>(n + 1)) << events.Summary();
    EXPECT_GE(e.delay, base * (1 - jitter) - absl::Microseconds(1))
        << "attempt " << n + 1;
    EXPECT_LE(e.delay, base * (1 + jitter) + absl::Microseconds(1))
        << "attempt " << n + 1;
    absl::Time next =
        n + 1 < redials.size() ? redials[n + 1].at : log.back().at;  // kStopped
    absl::Duration gap = next - redials[n].at;
    EXPECT_GE(gap, e.delay - absl::Milliseconds(1)) << "attempt " << n + 1;
    EXPECT_LE(gap, e.delay + slack) << "attempt " << n + 1;
    std::cout << "attempt " << e.attempt << ": delay "
              << absl::FormatDuration(e.delay) << " (base "
              << absl::FormatDuration(base) << "), next event after "
              << absl::FormatDuration(gap) << "\n";
    base = std::min(base * options.reconnect.multiplier,
                    options.reconnect.max_delay);
  }

  absl::Status outcome = pending.status(0);
  std::cout << "pending call failed with: " << outcome << "\n";
  EXPECT_EQ(pending.runs(0), 1);
  EXPECT_TRUE(absl::IsUnavailable(outcome)) << outcome;
  EXPECT_FALSE(outcome.message().empty());
  EXPECT_FALSE(log.back().event.status.ok()) << "kStopped carries why";
  EXPECT_FALSE(client.WaitConnected(absl::Seconds(1)).ok());
  EXPECT_FALSE(stub.Note(MakeNum(2)).ok()) << "a stopped client refuses";
}

TEST(Fault, GraceExpiryGivesANewSessionAndResendsUnackedCalls) {
  const uint64_t seed = Seed();
  std::cout << "seed " << seed << "\n";
  const absl::Duration grace = absl::Milliseconds(300);
  FaultProxy::Options proxy_options;
  proxy_options.seed = seed;
  ServerOptions server_options;
  server_options.session_grace = grace;
  ClientOptions client_options;
  client_options.reconnect = FastReconnect();
  client_options.reconnect.max_delay = absl::Milliseconds(50);
  constexpr int kFirst = 10, kTotal = 15;
  CallTally notes(kTotal), doomed(1);  // outlive the rig's clients
  Rig rig;
  ASSERT_TRUE(rig.Build(server_options, proxy_options, client_options).ok());
  ASSERT_TRUE(rig.StartClient().ok());

  // Note 5 is delivered but never acked in the first session, so the
  // cumulative ack stops at 4 and 5..9 stay unacked.
  rig.calc.HoldFirstNote(5);
  test::Calc::Stub to_server(rig.client->channel());
  ASSERT_TRUE(to_server.DoubleBlocking(MakeNum(1)).ok());
  test::Feed::Stub old_peer(rig.calc.AwaitPeer());
  for (int i = 0; i < kFirst; ++i) {
    ASSERT_TRUE(to_server.Note(MakeNum(i), notes.Message(i), kAckWithin).ok());
  }
  ASSERT_TRUE(rig.calc.notes.AwaitSize(kFirst, kWait));
  ASSERT_TRUE(notes.AwaitFirst(5, kWait)) << notes.Problems();

  // Down for longer than the grace: refuse redials, cut the link.
  rig.proxy->SetRefusing(true);
  const absl::Time cut = absl::Now();
  ASSERT_EQ(rig.proxy->CutNow(), 1);
  // A call the server makes into the lost session fails when it ends.
  ASSERT_TRUE(
      old_peer.Triple(MakeNum(7), doomed.Request<Num>(0, 21), kAckWithin).ok());
  for (int i = kFirst; i < kTotal; ++i) {  // queued while down
    ASSERT_TRUE(to_server.Note(MakeNum(i), notes.Message(i), kAckWithin).ok());
  }
  ASSERT_TRUE(doomed.AwaitAll(kWait)) << rig.Describe();
  const absl::Duration ended_after = absl::Now() - cut;
  std::cout << "server ended the session " << absl::FormatDuration(ended_after)
            << " after the cut (grace " << absl::FormatDuration(grace)
            << "): " << doomed.status(0) << "\n";
  EXPECT_TRUE(absl::IsUnavailable(doomed.status(0))) << doomed.status(0);
  EXPECT_GE(ended_after, grace);
  EXPECT_EQ(rig.client_events.Count(EventType::kNewSession), 1);

  rig.proxy->SetRefusing(false);
  ASSERT_TRUE(rig.client_events.AwaitCount(EventType::kNewSession, 2, kWait))
      << rig.Describe();
  ASSERT_TRUE(notes.AwaitAll(kWait)) << notes.Problems() << "\n"
                                     << rig.Describe();
  // The old session's held call, finished late, must not complete anything.
  EXPECT_TRUE(rig.calc.ReleaseHeld());
  ASSERT_TRUE(to_server.DoubleBlocking(MakeNum(2)).ok());
  EXPECT_EQ(notes.Problems(), "") << rig.Describe();
  EXPECT_EQ(rig.client_events.Count(EventType::kResumed), 0) << rig.Describe();

  // First session: 0..9 once each. New session: every call not acked,
  // again, in order: some suffix of 0..4, then 5..14.
  std::vector<int64_t> seen = rig.calc.notes.values();
  ASSERT_GE(seen.size(), static_cast<size_t>(kTotal))
      << absl::StrJoin(seen, ",");
  std::vector<int64_t> first(seen.begin(), seen.begin() + kFirst);
  std::vector<int64_t> second(seen.begin() + kFirst, seen.end());
  std::vector<int64_t> want_first;
  for (int i = 0; i < kFirst; ++i) want_first.push_back(i);
  EXPECT_EQ(first, want_first);
  ASSERT_FALSE(second.empty());
  const int64_t resent_from = second.front();
  EXPECT_LE(resent_from, 5) << "note 5 was never acked: it must come again";
  std::vector<int64_t> want_second;
  for (int64_t i = resent_from; i < kTotal; ++i) want_second.push_back(i);
  EXPECT_EQ(second, want_second) << "deliveries: " << absl::StrJoin(seen, ",");
  std::cout << "new session redelivered from " << resent_from << ": "
            << absl::StrJoin(second, ",") << "\n";
}

}  // namespace
}  // namespace parley
