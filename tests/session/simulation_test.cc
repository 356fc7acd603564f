// A deterministic simulation of two session cores over a lossy link: the
// proof that the delivery guarantees of DESIGN.md hold under thousands of
// random fault schedules. Everything is driven by one seeded generator, a
// fake clock and a fake link (sim_link.h); no threads, no real time.
//
// The model: a client core and a server core (fixed session id) exchange
// calls both ways (messages and requests, with and without callbacks and
// ack deadlines, made while connected and while not), handlers finish at
// random later times, out of order, some with errors. Faults: cuts at any
// moment (mid-burst, mid-handshake, while handlers run) that lose every
// frame in flight and every frame a half-open side still writes; duplicated
// data-only frames within a connection; stalls that trip liveness (a close
// with `abort` counts as a cut by that side); a server that restarts and
// forgets the session (then calls are owed at least once, PROTOCOL.md).
// After the fault phase a calm phase must drain everything.
//
// Checked for every seed: each accepted call is delivered exactly once per
// session, in send order, and at least once overall; each callback runs
// exactly once with its handler's outcome (OK, its error, its reply
// payload) or DeadlineExceeded at/after its deadline, never late; a failed
// call without a callback raises exactly one kAckFailed; no protocol error
// or kError ever; every frame fits max_frame_bytes; the drain ends with
// nothing unacked, pending or running, within bounded steps and time.
//
//   PARLEY_SIM_SEED=1234 simulation_test     # one seed, with a full trace
//   PARLEY_SIM_SEEDS=200000 simulation_test  # a longer soak (default 2000)
//   PARLEY_SIM_FIRST_SEED=5000               # where the seeds start
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/session/session.h"
#include "tests/session/sim_link.h"

namespace parley::session {
namespace {

using sim::SimLink;

const absl::Time kStart = absl::FromUnixSeconds(1000000);
constexpr int kClient = 0;  // a side; also the direction of its calls
constexpr int kServer = 1;
constexpr char kMethodPrefix[] = "sim.S/";

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* value = std::getenv(name);
  int64_t parsed;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) ? parsed
                                                              : fallback;
}

// What one seed's schedule looks like.
struct Config {
  absl::Duration fault_phase;
  absl::Duration mean_call_gap;
  absl::Duration mean_cut_gap;
  absl::Duration max_delay;      // per frame, normal
  double stall_chance = 0;       // a frame held up for long (liveness)
  double dup_chance = 0;         // a data-only frame delivered twice
  double forget_chance = 0;      // a cut that is a server restart
  double error_chance = 0.2;     // a handler fails
  double deadline_chance = 0.3;  // a call with an ack deadline
  bool liveness = false;
  size_t max_pending_messages = 1 << 16;
  size_t max_frame_bytes = 1 << 20;
  // Credit windows, often small enough to shut during the faults.
  uint32_t receive_window[2] = {1024, 1024};
  uint64_t receive_window_bytes[2] = {16 << 20, 16 << 20};
  BackpressurePolicy policy = BackpressurePolicy::kQueue;

  std::string Describe() const {
    return absl::StrCat(
        "fault_phase=", absl::FormatDuration(fault_phase),
        " call_gap=", absl::FormatDuration(mean_call_gap),
        " cut_gap=", absl::FormatDuration(mean_cut_gap),
        " max_delay=", absl::FormatDuration(max_delay), " stall=", stall_chance,
        " dup=", dup_chance, " forget=", forget_chance, " liveness=", liveness,
        " max_pending=", max_pending_messages, " max_frame=", max_frame_bytes,
        " windows=", receive_window[0], "/", receive_window_bytes[0], ",",
        receive_window[1], "/", receive_window_bytes[1],
        " policy=", policy == BackpressurePolicy::kQueue ? "queue" : "reject");
  }
};

// One run of a handler for a call.
struct HandlerRun {
  int incarnation = 0;  // of the server in session when delivered
  bool finished = false;
  absl::StatusOr<std::string> result = absl::UnknownError("running");
  absl::Time finished_at = absl::InfiniteFuture();
};

// One call made through Session::Call, and everything seen of it.
struct CallRecord {
  int dir;          // kClient: client -> server; kServer: server -> client
  int id;           // per direction, in Call order
  int incarnation;  // the server incarnation current when it was made
  bool accepted = false;
  bool reply_wanted = false;
  bool has_callback = false;
  absl::Time deadline = absl::InfiniteFuture();
  std::string payload;
  // A call of a server incarnation that was forgotten: it died with it.
  bool dead = false;
  // Its deadline passed while it waited for credit (so it was never sent).
  bool never_sent = false;
  int deliveries = 0;
  std::vector<HandlerRun> runs;
  int outcomes = 0;      // callbacks + kAckFailed events
  int acked_ok_in = -1;  // a message whose callback saw OK: incarnation
  std::string method() const {
    return absl::StrCat(kMethodPrefix, dir == kClient ? "C" : "S", id);
  }
};

// What a run exercised, summed over seeds to show the coverage.
struct Totals {
  int64_t steps = 0, calls = 0, refused = 0, deliveries = 0, cuts = 0,
          mid_handshake_cuts = 0, forgets = 0, dups = 0, liveness_closes = 0,
          deadline_exceeded = 0, handler_errors = 0, ack_failed = 0,
          resumed = 0, new_sessions = 0, lost_frames = 0,
          backpressure_waits = 0;
  void Add(const Totals& o) {
    steps += o.steps, calls += o.calls, refused += o.refused;
    deliveries += o.deliveries, cuts += o.cuts;
    mid_handshake_cuts += o.mid_handshake_cuts, forgets += o.forgets;
    dups += o.dups, liveness_closes += o.liveness_closes;
    deadline_exceeded += o.deadline_exceeded;
    handler_errors += o.handler_errors, ack_failed += o.ack_failed;
    resumed += o.resumed, new_sessions += o.new_sessions;
    lost_frames += o.lost_frames, backpressure_waits += o.backpressure_waits;
  }
  std::string Describe() const {
    return absl::StrCat(
        steps, " steps, ", calls, " calls (", refused, " refused), ",
        deliveries, " deliveries, ", handler_errors, " handler errors, ", cuts,
        " cuts (", mid_handshake_cuts, " mid-handshake, ", liveness_closes,
        " by liveness), ", lost_frames, " frames lost in cuts, ", forgets,
        " server restarts, ", dups, " duplicated frames, ", resumed,
        " resumes, ", new_sessions, " new sessions, ", deadline_exceeded,
        " deadlines exceeded, ", ack_failed, " kAckFailed, ",
        backpressure_waits, " backpressure waits/resumes");
  }
};

// A delivery whose handler is still running.
struct Held {
  int side;
  DeliveryId id;
  int dir;
  int call;
  size_t run;
  absl::Time finish_at;
};

class Simulation {
 public:
  // `trace_lines`: how many trace lines to keep (0: none, -1: all).
  Simulation(uint64_t seed, int trace_lines)
      : seed_(seed),
        rng_(seed),
        tracing_(trace_lines != 0),
        trace_lines_(trace_lines) {
    // Mostly short schedules (many seeds find more than long ones), a few
    // long ones for deep queues and many reconnects.
    config_.fault_phase =
        Chance(0.9) ? Ms(Uniform(10, 120)) : Ms(Uniform(120, 600));
    config_.mean_call_gap = Ms(Uniform(2, 15));
    config_.mean_cut_gap = Ms(Uniform(5, 100));
    config_.max_delay = Ms(Uniform(0, 20));
    config_.dup_chance = Chance(0.6) ? 0.1 : 0;
    config_.forget_chance = Chance(0.3) ? 0.2 : 0;
    config_.liveness = Chance(0.4);
    config_.stall_chance = config_.liveness && Chance(0.7) ? 0.01 : 0;
    config_.error_chance = Chance(0.2) ? 0.7 : 0.15;
    config_.deadline_chance = Chance(0.3) ? 0.0 : 0.3;
    if (Chance(0.2)) config_.max_pending_messages = Uniform(4, 40);
    if (Chance(0.2)) config_.max_frame_bytes = Uniform(300, 2000);
    for (int side : {kClient, kServer}) {
      if (Chance(0.5)) config_.receive_window[side] = Uniform(1, 12);
      if (Chance(0.3)) config_.receive_window_bytes[side] = Uniform(1, 3000);
    }
    if (Chance(0.3)) config_.policy = BackpressurePolicy::kReject;
    client_ = std::make_unique<Session>(Options(Role::kClient, ""));
    server_ = std::make_unique<Session>(Options(Role::kServer, ServerId()));
  }

  // Runs the schedule; returns "" or what went wrong, with a trace.
  std::string Run() {
    Trace("config: ", config_.Describe());
    next_call_at_ = kStart + Gap(config_.mean_call_gap);
    next_cut_at_ = kStart + Gap(config_.mean_cut_gap);
    reconnect_at_ = kStart + Ms(Uniform(0, 5));
    const absl::Time fault_end = kStart + config_.fault_phase;
    const absl::Time calm_limit = fault_end + absl::Seconds(120);
    for (steps_ = 0; steps_ < 400000 && failure_.empty(); ++steps_) {
      if (now_ >= fault_end && calm_ == false) {
        calm_ = true;
        Trace("calm phase");
        next_call_at_ = next_cut_at_ = absl::InfiniteFuture();
      }
      if (calm_ && Drained()) {
        CheckFinal();
        break;
      }
      if (now_ > calm_limit) {
        Fail("wedged: not drained ", absl::FormatDuration(now_ - fault_end),
             " into the calm phase; ", State());
        break;
      }
      Step();
      CheckWindows();
    }
    if (failure_.empty() && steps_ >= 400000) {
      Fail("wedged: step limit; ", State());
    }
    totals_.steps += steps_;
    if (failure_.empty()) return "";
    if (!tracing_) return failure_;
    std::string trace = absl::StrJoin(trace_, "\n  ");
    return absl::StrCat("seed ", seed_, ": ", failure_,
                        "\nreplay: PARLEY_SIM_SEED=", seed_,
                        " simulation_test\n", config_.Describe(),
                        "\ntrace (last ", trace_.size(), " lines):\n  ", trace);
  }

  const Totals& totals() const { return totals_; }

 private:
  // --- Randomness and time.
  int64_t Uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) {
    return std::uniform_real_distribution<>(0, 1)(rng_) < p;
  }
  static absl::Duration Ms(int64_t ms) { return absl::Milliseconds(ms); }
  absl::Duration Gap(absl::Duration mean) {  // uniform in [0, 2 * mean]
    return absl::Microseconds(Uniform(0, 2 * absl::ToInt64Microseconds(mean)));
  }
  absl::Duration Delay() {
    absl::Duration d = absl::Microseconds(
        Uniform(0, absl::ToInt64Microseconds(config_.max_delay)));
    if (!calm_ && Chance(config_.stall_chance)) d += Ms(Uniform(100, 3000));
    return d;
  }

  std::string ServerId() const {
    return absl::StrCat("server-id-", server_incarnation_);
  }
  SessionOptions Options(Role role, std::string id) {
    SessionOptions options;
    options.role = role;
    options.session_id = std::move(id);
    int side = role == Role::kClient ? kClient : kServer;
    options.flow.max_pending_messages = config_.max_pending_messages;
    options.flow.receive_window = config_.receive_window[side];
    options.flow.receive_window_bytes = config_.receive_window_bytes[side];
    options.flow.policy = config_.policy;
    options.max_frame_bytes = config_.max_frame_bytes;
    if (config_.liveness) {
      options.ping_interval = Ms(Uniform(20, 300));
      options.ping_timeout = Ms(Uniform(60, 400));
    }
    return options;
  }
  Session& Core(int side) { return side == kClient ? *client_ : *server_; }
  static const char* Name(int side) {
    return side == kClient ? "client" : "server";
  }

  // --- Tracing and failing.
  template <typename... Args>
  void Trace(const Args&... args) {
    if (!tracing_) return;
    trace_.push_back(absl::StrCat("[", absl::ToInt64Microseconds(now_ - kStart),
                                  "us] ", args...));
    if (trace_lines_ > 0 && trace_.size() > static_cast<size_t>(trace_lines_)) {
      trace_.pop_front();
    }
  }
  template <typename... Args>
  void Fail(const Args&... args) {
    if (!failure_.empty()) return;
    failure_ = absl::StrCat(args...);
    Trace("FAIL: ", failure_);
  }
  std::string State() {
    std::string out;
    for (int side : {kClient, kServer}) {
      SessionStats s = Core(side).stats();
      absl::StrAppend(
          &out, Name(side), "{open=", Core(side).open(),
          " next_seq=", s.next_seq, " acked=", s.peer_acked_through,
          " received=", s.received_through, " processed=", s.processed_through,
          " unacked=", s.unacked_envelopes, " queued=", s.queued_messages,
          " pending=", s.pending_calls, " running=", s.handlers_running,
          " has_frame=", Core(side).HasFrame(), "} ");
    }
    absl::StrAppend(&out, "in_flight=", link_.in_flight(),
                    " held=", held_.size(), " link_up=", link_up_);
    return out;
  }

  // --- The event loop: find the earliest thing due, do it.
  enum class What {
    kArrive,
    kFlush,
    kTick,
    kNotice,
    kHandler,
    kCall,
    kCut,
    kReconnect
  };
  struct Due {
    absl::Time at;
    What what;
    int side;
  };

  void Step() {
    // A frame arriving at a side travels in the direction of its peer.
    const Due due[] = {
        {link_.NextArrival(kServer), What::kArrive, kClient},
        {link_.NextArrival(kClient), What::kArrive, kServer},
        {flush_at_[kClient], What::kFlush, kClient},
        {flush_at_[kServer], What::kFlush, kServer},
        {client_->NextDeadline(), What::kTick, kClient},
        {server_->NextDeadline(), What::kTick, kServer},
        {held_.empty() ? absl::InfiniteFuture() : held_.begin()->first,
         What::kHandler, 0},
        {next_call_at_, What::kCall, 0},
        {next_cut_at_, What::kCut, 0},
        {notice_at_[kClient], What::kNotice, kClient},
        {notice_at_[kServer], What::kNotice, kServer},
        {link_up_ || attached_[kClient] ? absl::InfiniteFuture()
                                        : reconnect_at_,
         What::kReconnect, 0},
    };
    absl::Time first = absl::InfiniteFuture();
    for (const Due& d : due) first = std::min(first, d.at);
    if (first == absl::InfiniteFuture()) {
      Fail("nothing left to do, yet not drained; ", State());
      return;
    }
    const Due* ready[std::size(due)];
    size_t n = 0;
    for (const Due& d : due) {
      if (d.at <= first) ready[n++] = &d;
    }
    const Due& d = *ready[Uniform(0, n - 1)];
    now_ = std::max(now_, first);
    switch (d.what) {
      case What::kArrive:
        return Arrive(d.side);
      case What::kFlush:
        return Flush(d.side);
      case What::kTick:
        Core(d.side).Tick(now_);
        if (Core(d.side).NextDeadline() <= now_) {
          return Fail(Name(d.side), " Tick left NextDeadline in the past");
        }
        return Process(d.side);
      case What::kNotice:
        return Detach(d.side);
      case What::kHandler:
        return FinishFirstHandler();
      case What::kCall:
        return MakeCalls();
      case What::kCut:
        return ScheduledCut();
      case What::kReconnect:
        return Reconnect();
    }
  }

  // Flow bounds hold after every step: a sender keeps within the window
  // its peer advertised and within its own send buffer; a receiver never
  // holds more unprocessed calls than its window.
  void CheckWindows() {
    for (int side : {kClient, kServer}) {
      SessionStats s = Core(side).stats();
      if (s.peer_window != 0 &&
          s.outstanding_messages > config_.receive_window[1 - side]) {
        return Fail(Name(side), " has ", s.outstanding_messages,
                    " calls outstanding; the peer's window is ",
                    config_.receive_window[1 - side]);
      }
      if (s.outstanding_messages + s.queued_messages >
          config_.max_pending_messages) {
        return Fail(Name(side), " holds ",
                    s.outstanding_messages + s.queued_messages,
                    " calls, above max_pending_messages");
      }
      if (s.unprocessed_messages > config_.receive_window[side]) {
        return Fail(Name(side), " holds ", s.unprocessed_messages,
                    " unprocessed calls, above its window");
      }
    }
  }

  void Arrive(int side) {
    std::string frame = link_.Pop(1 - side);
    if (tracing_) Trace(Name(side), " <- ", sim::DescribeFrame(frame));
    Core(side).OnFrame(frame, now_);
    Process(side);
  }

  void Flush(int side) {
    flush_at_[side] = absl::InfiniteFuture();
    while (Core(side).HasFrame()) {
      std::string frame = Core(side).TakeFrame();
      if (frame.empty()) {
        return Fail(Name(side), " HasFrame() but TakeFrame() is empty");
      }
      if (frame.size() > config_.max_frame_bytes) {
        // The peer's maximum message size is max_frame_bytes: it would
        // close 1009, and the retransmission would do it again forever.
        return Fail(Name(side), " wrote a frame of ", frame.size(),
                    " bytes, over max_frame_bytes ", config_.max_frame_bytes,
                    ": ", sim::DescribeFrame(frame));
      }
      if (!link_up_) {  // written into a dead socket (half-open)
        ++totals_.lost_frames;
        if (tracing_) {
          Trace(Name(side), " -> ", sim::DescribeFrame(frame), " LOST");
        }
        continue;
      }
      const int dir = side;
      bool dup = !calm_ && Chance(config_.dup_chance) && sim::IsDataOnly(frame);
      absl::Time at = link_.Send(dir, frame, now_ + Delay());
      if (tracing_) {
        Trace(Name(side), " -> ", sim::DescribeFrame(frame), " (arrives +",
              absl::ToInt64Microseconds(at - now_), "us)", dup ? " DUP" : "");
      }
      if (dup) {
        ++totals_.dups;
        link_.Send(dir, frame, now_ + Delay());
      }
    }
  }

  // Drains a core's effects, like a transport would after each input.
  void Process(int side) {
    for (int rounds = 0; failure_.empty(); ++rounds) {
      if (rounds > 100) return Fail("effects never run dry");
      Effects effects = Core(side).TakeEffects();
      if (effects.deliveries.empty() && effects.completions.empty() &&
          effects.events.empty() && !effects.close) {
        break;
      }
      for (Completion& c : effects.completions) {
        if (!c.done)
          Fail("a completion without a callback");
        else
          c.done(std::move(c.result));
      }
      for (const Event& e : effects.events) OnEvent(side, e);
      for (const Delivery& d : effects.deliveries) OnDelivery(side, d);
      if (effects.close) {
        const CloseRequest& close = *effects.close;
        Trace(Name(side), " asks to close ", close.code, " abort=", close.abort,
              ": ", close.reason);
        if (!close.abort) {
          return Fail(Name(side), " closed for a protocol error: ", close.code,
                      " ", close.reason);
        }
        ++totals_.liveness_closes;
        if (link_up_) {
          Cut(absl::StrCat(Name(side), " found its peer unresponsive"), side);
        } else {
          Detach(side);  // noticed a half-open connection
        }
        return;
      }
    }
    if (attached_[side] && Core(side).HasFrame() &&
        flush_at_[side] == absl::InfiniteFuture()) {
      flush_at_[side] =
          now_ + (Chance(0.5) ? absl::ZeroDuration()
                              : absl::Microseconds(Uniform(0, 2000)));
    }
  }

  // --- Connections.
  // The connection dies. `initiator` (or -1) notices at once; the other
  // side may go on writing into the dead socket for a while (half-open).
  void Cut(const std::string& why, int initiator) {
    if (!link_up_) return;
    size_t lost = link_.Cut();
    ++totals_.cuts;
    totals_.lost_frames += lost;
    if (!client_->open()) ++totals_.mid_handshake_cuts;
    Trace("CUT (", why, "): ", lost, " frames in flight lost");
    link_up_ = false;
    reconnect_at_ = now_ + Ms(Uniform(0, 100));
    for (int side : {kClient, kServer}) {
      if (side == initiator || calm_ || Chance(0.6)) {
        Detach(side);
      } else {
        notice_at_[side] = now_ + absl::Microseconds(Uniform(0, 80000));
        Trace(Name(side), " will notice the cut at +",
              absl::ToInt64Microseconds(notice_at_[side] - now_), "us");
      }
    }
  }

  // A side's transport noticed that the connection is gone.
  void Detach(int side) {
    notice_at_[side] = absl::InfiniteFuture();
    if (!attached_[side]) return;
    attached_[side] = false;
    flush_at_[side] = absl::InfiniteFuture();
    Trace(Name(side), " disconnected");
    Core(side).OnDisconnected(absl::UnavailableError("connection lost"));
    Process(side);
  }

  void ScheduledCut() {
    next_cut_at_ = now_ + Gap(config_.mean_cut_gap);
    if (Chance(config_.forget_chance)) return Forget();
    Cut("scheduled", -1);
  }

  // The server restarts (or its grace period expired): the session is gone.
  void Forget() {
    Cut("server restart", kServer);
    Detach(kServer);  // dies even if the link was down already
    ++server_incarnation_;
    ++totals_.forgets;
    Trace("FORGET: server restarts as ", ServerId());
    server_ = std::make_unique<Session>(Options(Role::kServer, ServerId()));
    backpressured_[kServer] = false;
    forgot_since_open_ = true;
    for (CallRecord& call : calls_[kServer]) {
      if (call.incarnation < server_incarnation_) call.dead = true;
    }
    for (auto it = held_.begin(); it != held_.end();) {
      it = it->second.side == kServer ? held_.erase(it) : std::next(it);
    }
  }

  void Reconnect() {
    Trace("CONNECT");
    if (attached_[kServer]) {  // half-open: the new connection takes over
      Trace("server still holds the old connection: takeover");
      Detach(kServer);
    }
    link_up_ = true;
    attached_[kClient] = attached_[kServer] = true;
    server_->OnConnected(now_);
    client_->OnConnected(now_);
    Process(kServer);
    Process(kClient);
    if (!calm_ && Chance(0.2)) {  // aim at the handshake
      next_cut_at_ =
          std::min(next_cut_at_, now_ + absl::Microseconds(Uniform(0, 3000)));
    }
  }

  // --- Calls.
  void MakeCalls() {
    next_call_at_ = now_ + Gap(config_.mean_call_gap);
    int side = Chance(0.5) ? kClient : kServer;
    int n = Chance(0.2) ? Uniform(2, 15) : 1;
    for (int i = 0; i < n && failure_.empty(); ++i) MakeCall(side);
    Process(side);
  }

  void MakeCall(int side) {
    CallRecord call;
    call.dir = side;
    call.id = static_cast<int>(calls_[side].size());
    call.incarnation = server_incarnation_;
    call.reply_wanted = Chance(0.5);
    call.has_callback = Chance(0.75);
    size_t size = Uniform(0, 200);
    if (config_.max_frame_bytes < 4096 && Chance(0.05)) {  // at the limit
      size = config_.max_frame_bytes - Uniform(10, 60);
    }
    call.payload = absl::StrCat("p", call.id, ":", std::string(size, 'x'));
    absl::Duration within = absl::ZeroDuration();
    if (Chance(config_.deadline_chance)) {
      within = Ms(Uniform(1, 200));
      call.deadline = now_ + within;
    }
    RawDoneCallback done;
    if (call.has_callback) {
      done = [this, dir = side, id = call.id](absl::StatusOr<std::string> r) {
        OnOutcome(dir, id, std::move(r), /*event=*/false);
      };
    }
    const std::string method = call.method();
    calls_[side].push_back(std::move(call));
    CallRecord& rec = calls_[side].back();
    absl::Status accepted = Core(side).Call(
        method, rec.payload, rec.reply_wanted, within, std::move(done), now_);
    rec.accepted = accepted.ok();
    ++totals_.calls;
    totals_.refused += !accepted.ok();
    Trace(Name(side), " calls ", method, rec.reply_wanted ? " (request)" : "",
          rec.has_callback ? "" : " (no callback)",
          within > absl::ZeroDuration()
              ? absl::StrCat(" within ", absl::FormatDuration(within))
              : "",
          accepted.ok() ? " accepted"
                        : absl::StrCat(" REFUSED ", accepted.ToString()));
    const bool oversize =
        rec.payload.size() + method.size() + 64 > config_.max_frame_bytes;
    if (!accepted.ok() && !absl::IsResourceExhausted(accepted) &&
        !(oversize && absl::IsInvalidArgument(accepted))) {
      Fail("Call refused with ", accepted.ToString());
    }
  }

  // Finds the call named in a method or status message ("sim.S/C12").
  CallRecord* FindCall(int dir, absl::string_view text) {
    size_t at = text.find(kMethodPrefix);
    if (at == absl::string_view::npos) return nullptr;
    text.remove_prefix(at + sizeof(kMethodPrefix) - 1);
    if (text.empty() || text[0] != (dir == kClient ? 'C' : 'S')) return nullptr;
    text.remove_prefix(1);
    size_t digits = 0;
    while (digits < text.size() && absl::ascii_isdigit(text[digits])) ++digits;
    int id;
    if (!absl::SimpleAtoi(text.substr(0, digits), &id) || id < 0 ||
        id >= static_cast<int>(calls_[dir].size())) {
      return nullptr;
    }
    return &calls_[dir][id];
  }

  // --- The receiving side.
  void OnDelivery(int side, const Delivery& d) {
    const int dir = 1 - side;
    CallRecord* call = FindCall(dir, d.method);
    Trace(Name(side), " delivers ", d.method, " (seq ", d.id.seq, " epoch ",
          d.id.epoch, ")");
    if (call == nullptr) return Fail("delivery of an unknown call ", d.method);
    if (!call->accepted) return Fail("delivered a refused call ", d.method);
    if (d.payload != call->payload || d.reply_wanted != call->reply_wanted) {
      return Fail("delivery of ", d.method, " does not match the call");
    }
    // Order: per session (= server incarnation), strictly increasing ids.
    const int session = server_incarnation_;
    int& last = last_delivered_[dir].try_emplace(session, -1).first->second;
    if (call->id <= last) {
      return Fail(
          d.method,
          call->id == last ? " delivered twice" : " delivered out of order",
          " in session ", session, " (last delivered: ", last, ")");
    }
    last = call->id;
    if (call->deliveries == 0) {
      if (call->id <= last_first_delivered_[dir]) {
        return Fail(d.method, " first delivered after a later call (",
                    last_first_delivered_[dir], ")");
      }
      last_first_delivered_[dir] = call->id;
    }
    if (call->acked_ok_in >= 0 && call->acked_ok_in < session) {
      return Fail(d.method, " was acked in session ", call->acked_ok_in,
                  " and delivered again in session ", session);
    }
    ++call->deliveries;
    ++totals_.deliveries;
    HandlerRun run;
    run.incarnation = session;
    call->runs.push_back(std::move(run));
    Held held{side,
              d.id,
              dir,
              call->id,
              call->runs.size() - 1,
              now_ + absl::Microseconds(Uniform(0, 60000))};
    if (Chance(0.3)) {
      FinishHandler(held);  // finished within the dispatch
    } else {
      held_.emplace(held.finish_at, held);
    }
  }

  void FinishFirstHandler() {
    Held held = held_.begin()->second;
    held_.erase(held_.begin());
    FinishHandler(held);
    Process(held.side);
  }

  void FinishHandler(const Held& held) {
    CallRecord& call = calls_[held.dir][held.call];
    HandlerRun& run = call.runs[held.run];
    if (Chance(config_.error_chance)) {
      absl::StatusCode codes[] = {
          absl::StatusCode::kNotFound, absl::StatusCode::kInternal,
          absl::StatusCode::kAborted, absl::StatusCode::kPermissionDenied};
      run.result = absl::Status(codes[Uniform(0, 3)],
                                absl::StrCat(call.method(), " run ", held.run));
    } else if (call.reply_wanted) {
      std::string filler;
      // At the limit; only for calls with a callback, as kAckFailed would
      // not name the call (its status says only the size).
      if (config_.max_frame_bytes < 4096 && call.has_callback && Chance(0.05)) {
        filler.assign(config_.max_frame_bytes - Uniform(0, 60), 'y');
      }
      run.result = absl::StrCat("r", call.id, ".", held.run, filler);
    } else {
      run.result = std::string();
    }
    run.finished = true;
    totals_.handler_errors += !run.result.ok();
    run.finished_at = now_;
    Trace(Name(held.side), " finishes ", call.method(), " run ", held.run, ": ",
          run.result.ok() ? "OK" : run.result.status().ToString());
    Core(held.side).Finish(held.id, run.result);
  }

  // --- The calling side.
  void OnOutcome(int dir, int id, absl::StatusOr<std::string> result,
                 bool event) {
    CallRecord& call = calls_[dir][id];
    std::string what =
        result.ok() ? std::string("OK") : result.status().ToString();
    Trace(Name(dir), event ? " event kAckFailed " : " callback ", call.method(),
          ": ", what);
    if (call.dead) return Fail("outcome for a call of a dead server");
    if (!call.accepted) return Fail("outcome for a refused call");
    if (call.has_callback == event) {
      return Fail(event ? "kAckFailed for a call with a callback"
                        : "callback for a call without one");
    }
    if (++call.outcomes > 1) {
      return Fail(call.method(), " completed twice (now ", what, ")");
    }
    totals_.ack_failed += event;
    if (absl::IsDeadlineExceeded(result.status())) {
      ++totals_.deadline_exceeded;
      if (now_ < call.deadline) {
        Fail(call.method(), " DeadlineExceeded before its deadline");
      }
      // Still queued for credit when it expired: it must never go out.
      call.never_sent =
          absl::StrContains(result.status().message(), "never sent");
      if (call.never_sent && call.deliveries > 0) {
        Fail(call.method(), " failed as never sent, but was delivered");
      }
      return;
    }
    if (now_ > call.deadline) {
      return Fail(call.method(), " completed ",
                  absl::FormatDuration(now_ - call.deadline),
                  " after its deadline without DeadlineExceeded");
    }
    // An oversize reply cannot be sent: the core answers ResourceExhausted.
    if (absl::IsResourceExhausted(result.status()) &&
        absl::StrContains(result.status().message(),
                          "exceeds max_frame_bytes")) {
      for (const HandlerRun& run : call.runs) {
        if (run.finished && run.result.ok() &&
            run.result->size() + 80 > config_.max_frame_bytes) {
          return;
        }
      }
    }
    // The outcome must be one a handler run produced, finished before now.
    for (const HandlerRun& run : call.runs) {
      if (!run.finished || run.finished_at > now_) continue;
      if (result.ok() != run.result.ok()) continue;
      if (!result.ok() && result.status() != run.result.status()) continue;
      if (result.ok() && call.reply_wanted && *result != *run.result) continue;
      if (result.ok() && !call.reply_wanted && !result->empty()) continue;
      if (result.ok() && !call.reply_wanted && dir == kClient) {
        call.acked_ok_in = server_incarnation_;
      }
      return;
    }
    Fail(call.method(), " completed with ", what,
         " which no finished handler run produced");
  }

  void OnEvent(int side, const Event& e) {
    switch (e.type) {
      case EventType::kAckFailed: {
        CallRecord* call = FindCall(side, e.status.message());
        if (call == nullptr) {
          return Fail(Name(side),
                      " kAckFailed for no known call: ", e.status.ToString());
        }
        return OnOutcome(side, call->id, e.status, /*event=*/true);
      }
      case EventType::kError:
        return Fail(Name(side), " error event: ", e.status.ToString());
      case EventType::kBackpressureWait:
      case EventType::kBackpressureResume: {
        // Strictly alternating, starting with Wait, per session core.
        bool wait = e.type == EventType::kBackpressureWait;
        Trace(Name(side), wait ? " BACKPRESSURE WAIT" : " BACKPRESSURE RESUME");
        ++totals_.backpressure_waits;
        if (backpressured_[side] == wait) {
          return Fail(Name(side), " ", EventTypeName(e.type),
                      " twice in a row");
        }
        backpressured_[side] = wait;
        return;
      }
      case EventType::kResumed:
      case EventType::kNewSession:
        Trace(Name(side),
              e.type == EventType::kResumed ? " RESUMED" : " NEW SESSION");
        if (side == kClient) {
          bool resumed = e.type == EventType::kResumed;
          ++(resumed ? totals_.resumed : totals_.new_sessions);
          if (resumed && (forgot_since_open_ || !opened_once_)) {
            return Fail("client resumed a session the server forgot");
          }
          if (!resumed && opened_once_ && !forgot_since_open_) {
            return Fail("client got a new session; the server kept it");
          }
          opened_once_ = true;
          forgot_since_open_ = false;
        }
        return;
      default:
        return;
    }
  }

  // --- The end.
  bool Drained() {
    if (!link_up_ || !client_->open() || !server_->open()) return false;
    if (link_.in_flight() > 0 || !held_.empty()) return false;
    for (int side : {kClient, kServer}) {
      SessionStats s = Core(side).stats();
      if (s.unacked_envelopes != 0 || s.pending_calls != 0 ||
          s.unacked_bytes != 0 || s.handlers_running != 0 ||
          Core(side).HasFrame()) {
        return false;
      }
    }
    return true;
  }

  void CheckFinal() {
    Trace("drained after ", steps_, " steps, ",
          absl::FormatDuration(now_ - kStart), " simulated");
    for (int side : {kClient, kServer}) {
      if (backpressured_[side]) {
        return Fail(Name(side),
                    " drained, but kBackpressureResume never "
                    "followed its kBackpressureWait");
      }
    }
    for (int dir : {kClient, kServer}) {
      for (const CallRecord& call : calls_[dir]) {
        if (!call.accepted || call.dead) continue;
        const std::string m = call.method();
        if (call.never_sent) {
          if (call.deliveries > 0) return Fail(m, " was sent after expiring");
          continue;
        }
        if (call.deliveries == 0) return Fail(m, " was never delivered");
        if (dir == kServer && call.deliveries != 1) {
          return Fail(m, " delivered ", call.deliveries, " times");
        }
        bool any_ok = false;
        for (const auto& run : call.runs) any_ok |= run.result.ok();
        if (call.has_callback && call.outcomes != 1) {
          return Fail(m, "'s callback ran ", call.outcomes, " times");
        }
        if (!call.has_callback && !any_ok && call.outcomes != 1) {
          return Fail(m, " failed but raised ", call.outcomes,
                      " kAckFailed events");
        }
      }
    }
  }

  const uint64_t seed_;
  std::mt19937_64 rng_;
  const bool tracing_;
  const int trace_lines_;
  Config config_;
  absl::Time now_ = kStart;
  bool calm_ = false;
  int64_t steps_ = 0;
  Totals totals_;
  std::string failure_;
  std::deque<std::string> trace_;

  std::unique_ptr<Session> client_;
  std::unique_ptr<Session> server_;
  int server_incarnation_ = 1;
  bool opened_once_ = false;
  bool forgot_since_open_ = false;
  SimLink link_;
  bool link_up_ = false;
  bool attached_[2] = {false, false};  // between OnConnected/OnDisconnected
  bool backpressured_[2] = {false, false};  // Wait seen, Resume not yet
  absl::Time notice_at_[2] = {absl::InfiniteFuture(), absl::InfiniteFuture()};
  absl::Time reconnect_at_ = absl::InfiniteFuture();
  absl::Time flush_at_[2] = {absl::InfiniteFuture(), absl::InfiniteFuture()};
  absl::Time next_call_at_ = absl::InfiniteFuture();
  absl::Time next_cut_at_ = absl::InfiniteFuture();

  std::vector<CallRecord> calls_[2];
  std::multimap<absl::Time, Held> held_;  // by finish time
  // Per direction and session: the last call id delivered.
  absl::flat_hash_map<int, int> last_delivered_[2];
  int last_first_delivered_[2] = {-1, -1};
};

TEST(SessionSimulation, DeliveryGuaranteesHoldUnderRandomFaultSchedules) {
  const int64_t only = EnvInt("PARLEY_SIM_SEED", -1);
  const int64_t first = only >= 0 ? only : EnvInt("PARLEY_SIM_FIRST_SEED", 1);
  const int64_t count = only >= 0 ? 1 : EnvInt("PARLEY_SIM_SEEDS", 2000);
  const absl::Time start = absl::Now();  // only to report the speed
  Totals totals;
  int failures = 0;
  for (int64_t seed = first; seed < first + count; ++seed) {
    Simulation sim(static_cast<uint64_t>(seed), only >= 0 ? -1 : 0);
    std::string failure = sim.Run();
    totals.Add(sim.totals());
    if (failure.empty()) continue;
    if (only < 0) {  // replay the seed, this time keeping a trace
      Simulation replay(static_cast<uint64_t>(seed), 150);
      failure = replay.Run();
    }
    ADD_FAILURE() << failure;
    if (++failures >= 3) break;
  }
  const absl::Duration took = absl::Now() - start;
  std::cout << count << " seeds in " << absl::FormatDuration(took) << " ("
            << static_cast<int64_t>(count / absl::ToDoubleSeconds(took))
            << " seeds/s): " << totals.Describe() << "\n";
}

}  // namespace
}  // namespace parley::session
