// FuzzSession: two session cores, a scripted link, hostile frames.
//
// Invariants checked besides "no crash, no sanitizer report":
//  - HasFrame() is true exactly when TakeFrame() returns bytes, which
//    decode as a Frame no larger than max_frame_bytes (unless one envelope
//    alone is larger);
//  - every callback runs at most once, and once both sides are stopped
//    every accepted call has completed exactly once;
//  - the counters stay consistent (stats());
//  - as long as every frame is delivered whole and once (no mutation, no
//    injection), neither side reports an error: honest peers never commit
//    a protocol error.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/unknown_field_set.h"
#include "runtime/session/session.h"
#include "runtime/wire/codec.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/targets.h"

namespace parley::fuzz {
namespace {

using session::Role;
using session::Session;
using session::SessionOptions;

constexpr const char* kMethods[] = {"t.S/M", "pkg.Svc/Do", "bad",
                                    "a/b/c", "",           "x.Y/"};
constexpr size_t kMaxPayload = 1500;  // Some calls exceed max_frame_bytes.

SessionOptions Options(Role role, std::string id, uint8_t config) {
  SessionOptions o;
  o.role = role;
  o.session_id = std::move(id);
  // Small bounds, so that scripts of a few hundred bytes reach them.
  o.flow.max_pending_messages = 16;
  o.flow.max_pending_bytes = 8192;
  o.flow.receive_window = 1 + (config >> 4) % 8;
  o.flow.receive_window_bytes = 4096;
  o.flow.policy =
      (config & 4) ? BackpressurePolicy::kReject : BackpressurePolicy::kQueue;
  o.max_frame_bytes = 1024;
  o.coalesce_bytes = 256;
  if (config & 1) {
    o.ping_interval = absl::Seconds(1);
    o.ping_timeout = absl::Seconds(2);
  }
  return o;
}

// A number near the interesting values: small, close to `base` (one of
// the receiver's counters), near 2^64, or any.
uint64_t Num(FuzzInput& in, uint64_t base) {
  uint8_t mode = in.Byte();
  switch (mode % 4) {
    case 0:
      return mode / 4;
    case 1:
      return base + static_cast<uint64_t>(static_cast<int8_t>(in.Byte()));
    case 2:
      return UINT64_MAX - mode / 4;
    default:
      return in.U64();
  }
}

std::string SessionId(FuzzInput& in, const Session& to) {
  switch (in.Byte() % 3) {
    case 0:
      return std::string();
    case 1:
      return to.session_id();
    default:
      return in.Bytes(16);
  }
}

// The fields HELLO and WELCOME share: any version, id, mark and limits.
template <typename Handshake>
void FillHandshake(FuzzInput& in, const Session& to, uint32_t version,
                   Handshake* h) {
  h->set_protocol_version(version);
  h->set_session_id(SessionId(in, to));
  h->set_received_through(Num(in, to.stats().next_seq - 1));
  h->set_window(static_cast<uint32_t>(Num(in, 1)));
  h->set_window_bytes(Num(in, 1024));
  h->set_max_frame_bytes(static_cast<uint32_t>(Num(in, 1024)));
}

// One envelope of any kind, as if from `to`'s peer, its numbers aimed at
// `to`'s counters.
wire::Envelope MakeEnvelope(FuzzInput& in, const Session& to) {
  const SessionStats st = to.stats();
  wire::Envelope e;
  const uint8_t kind = in.Byte();
  const bool flag = kind & 0x40;
  auto version = [&] {
    return (kind & 0x80) ? uint32_t{in.Byte()} : wire::kProtocolVersion;
  };
  switch (kind % 11) {
    case 0:
      FillHandshake(in, to, version(), e.mutable_hello());
      break;
    case 1:
      e.mutable_welcome()->set_resumed(flag);
      e.mutable_welcome()->set_peer_acked_through(Num(in, st.next_seq - 1));
      FillHandshake(in, to, version(), e.mutable_welcome());
      break;
    case 2: {
      wire::Msg* m = e.mutable_msg();
      m->set_seq(Num(in, st.received_through + 1));
      m->set_method(kMethods[in.Byte() % std::size(kMethods)]);
      m->set_payload(in.Bytes(in.Byte()));
      m->set_reply_wanted(flag);
      m->set_ack_within_ms(in.Byte());
      m->set_id(Num(in, st.received_through + 1));
      break;
    }
    case 3: {
      wire::Reply* r = e.mutable_reply();
      r->set_seq(Num(in, st.received_through + 1));
      r->set_in_reply_to(Num(in, st.next_seq - 1));
      r->set_code(static_cast<int8_t>(in.Byte()));
      r->set_message("fuzz");
      r->set_payload(in.Bytes(in.Byte()));
      break;
    }
    case 4:
      e.mutable_ack()->set_through(Num(in, st.next_seq - 1));
      break;
    case 5:  // CREDIT, retired: what an older peer may still send
      e.GetReflection()->MutableUnknownFields(&e)->AddLengthDelimited(
          6, in.Bytes(in.Byte() % 8));
      break;
    case 6: {
      wire::Error* err = e.mutable_error();
      err->set_code(static_cast<int8_t>(in.Byte()));
      err->set_message("fuzz");
      err->set_fatal(flag);
      break;
    }
    case 7:
      e.mutable_goodbye()->set_reason("fuzz");
      break;
    case 8:
      e.mutable_ping()->set_nonce(Num(in, 0));
      break;
    case 9:
      e.mutable_pong()->set_nonce(Num(in, 0));
      break;
    default:  // A kind from a newer peer: a field this build does not know.
      e.GetReflection()->MutableUnknownFields(&e)->AddVarint(
          11 + in.Byte() % 32, Num(in, 0));
      break;
  }
  return e;
}

class SessionFuzzer {
 public:
  explicit SessionFuzzer(uint8_t config)
      : config_(config),
        client_(std::make_unique<Session>(
            Options(Role::kClient, (config & 2) ? "server-1" : "", config))),
        server_(std::make_unique<Session>(
            Options(Role::kServer, "server-1", config))) {}

  void Run(FuzzInput& in) {
    while (!in.empty()) {
      const uint8_t op = in.Byte();
      Peer& side = (op & kServerSide) ? server_ : client_;
      Peer& other = (op & kServerSide) ? client_ : server_;
      Step(static_cast<SessionOp>((op & 0x7f) % kSessionOps), side, other, in);
      Settle();
    }
    // The end: both stop, and every call accepted has had its outcome.
    client_.s->Stop(absl::CancelledError("fuzz end"));
    server_.s->Stop(absl::CancelledError("fuzz end"));
    Settle();
    for (size_t i = 0; i < calls_.size(); ++i) {
      PARLEY_FUZZ_CHECK(calls_[i] == 1, "call ", i, " completed ", calls_[i],
                        " times");
    }
  }

 private:
  struct Peer {
    explicit Peer(std::unique_ptr<Session> session) : s(std::move(session)) {}
    std::unique_ptr<Session> s;
    std::vector<session::Delivery> running;
  };

  void Step(SessionOp op, Peer& side, Peer& other, FuzzInput& in) {
    switch (op) {
      case kConnect:
        if (link_up_) return;
        link_up_ = true;
        client_.s->OnConnected(now_);
        server_.s->OnConnected(now_);
        return;
      case kDisconnect:
        Disconnect();
        return;
      case kDeliver:
        if (link_up_) Deliver(other, TakeFrame(side));
        return;
      case kDeliverMutated:
        if (link_up_) DeliverMutated(side, other, in);
        return;
      case kInjectRaw:
        tainted_ = true;
        side.s->OnFrame(in.Bytes(in.U16()), now_);
        return;
      case kInjectEnvelope: {
        tainted_ = true;
        std::vector<wire::Envelope> envelopes;
        for (int n = 1 + in.Byte() % 3; n > 0; --n) {
          envelopes.push_back(MakeEnvelope(in, *side.s));
        }
        side.s->OnFrame(wire::EncodeFrame(envelopes), now_);
        return;
      }
      case kCall:
        Call(side, in);
        return;
      case kFinish:
        FinishOne(side, in);
        return;
      case kTick: {
        uint8_t steps = in.Byte();
        now_ += steps == 255 ? absl::Hours(1) : steps * absl::Milliseconds(50);
        for (Session* s : {client_.s.get(), server_.s.get()}) {
          s->Tick(now_);
          // Else a transport's timer would fire again at once, forever.
          PARLEY_FUZZ_CHECK(s->NextDeadline() > now_, "Tick left work due");
        }
        return;
      }
      case kStop:
        side.s->Stop(absl::CancelledError("fuzz stop"));
        return;
      case kRestartServer:
        // What the old session owed its callers is settled first, as a
        // server does when it drops a session.
        server_.s->Stop(absl::UnavailableError("server restart"));
        Settle();
        server_ = Peer(std::make_unique<Session>(Options(
            Role::kServer, absl::StrCat("server-", ++restarts_), config_)));
        if (link_up_) {
          link_up_ = false;
          client_.s->OnDisconnected(absl::UnavailableError("restart"));
        }
        return;
      case kSessionOps:
        return;
    }
  }

  std::string TakeFrame(Peer& from) {
    const bool announced = from.s->HasFrame();
    std::string frame = from.s->TakeFrame();
    PARLEY_FUZZ_CHECK(announced == !frame.empty(), "HasFrame() ", announced,
                      " but TakeFrame() gave ", frame.size(), " bytes");
    if (frame.empty()) return frame;
    absl::StatusOr<wire::Frame> decoded = wire::DecodeFrame(frame);
    PARLEY_FUZZ_CHECK(decoded.ok(), decoded.status().ToString());
    PARLEY_FUZZ_CHECK(decoded->envelopes_size() == 1 || frame.size() <= 1024,
                      "a frame of ", decoded->envelopes_size(),
                      " envelopes and ", frame.size(), " bytes");
    return frame;
  }

  void Deliver(Peer& to, const std::string& frame) {
    if (!frame.empty()) to.s->OnFrame(frame, now_);
  }

  void DeliverMutated(Peer& from, Peer& to, FuzzInput& in) {
    std::string frame = TakeFrame(from);
    const uint8_t mode = in.Byte();
    const uint16_t pos = in.U16();
    const uint8_t value = in.Byte();
    if (frame.empty()) return;
    tainted_ = true;
    switch (mode % 3) {
      case 0:
        frame[pos % frame.size()] ^= static_cast<char>(value | 1);
        break;
      case 1:
        frame.resize(pos % frame.size());
        break;
      default:  // A replay of the same frame on the same connection.
        to.s->OnFrame(frame, now_);
        break;
    }
    to.s->OnFrame(frame, now_);
  }

  void Call(Peer& side, FuzzInput& in) {
    const char* method = kMethods[in.Byte() % std::size(kMethods)];
    const uint8_t flags = in.Byte();
    const size_t payload = in.U16() % kMaxPayload;
    const size_t id = calls_.size();
    calls_.push_back(0);
    absl::Status accepted = side.s->Call(
        method, std::string(payload, 'p'), flags & 1,
        ((flags >> 1) % 8) * absl::Milliseconds(100),
        [this, id](absl::StatusOr<std::string>) {
          PARLEY_FUZZ_CHECK(calls_[id] == 0, "call ", id, " completed twice");
          ++calls_[id];
        },
        now_);
    if (!accepted.ok()) {  // refused: the callback is dropped unrun
      PARLEY_FUZZ_CHECK(calls_[id] == 0, "refused call ", id, " completed");
      calls_.pop_back();
    }
  }

  void FinishOne(Peer& side, FuzzInput& in) {
    const uint8_t index = in.Byte();
    const uint8_t outcome = in.Byte();
    const size_t size = in.U16() % kMaxPayload;
    absl::StatusOr<std::string> result = std::string(size, 'r');
    if (outcome % 4 == 0) {  // any bytes as the message, UTF-8 or not
      result = absl::Status(static_cast<absl::StatusCode>(1 + outcome / 4 % 16),
                            in.Bytes(size % 16));
    }
    if (side.running.empty()) return;
    auto it = side.running.begin() + index % side.running.size();
    side.s->Finish(it->id, std::move(result));
    if (!(outcome & 0x80)) side.running.erase(it);  // else: finished twice
  }

  void Disconnect() {
    if (!link_up_) return;
    link_up_ = false;
    client_.s->OnDisconnected(absl::UnavailableError("cut"));
    server_.s->OnDisconnected(absl::UnavailableError("cut"));
  }

  // Runs the outputs as a transport would, until nothing more comes out.
  void Settle() {
    for (int round = 0; round < 4; ++round) {
      const bool client_closed = Drain(client_, server_);
      const bool server_closed = Drain(server_, client_);
      if (!client_closed && !server_closed) break;
    }
    CheckStats(*client_.s);
    CheckStats(*server_.s);
  }

  // Returns true when `side` asked for the connection to be closed.
  bool Drain(Peer& side, Peer& other) {
    session::Effects effects = side.s->TakeEffects();
    for (session::Completion& c : effects.completions) {
      if (c.done) c.done(std::move(c.result));
    }
    for (session::Delivery& d : effects.deliveries) {
      side.running.push_back(std::move(d));
    }
    for (const Event& e : effects.events) {
      PARLEY_FUZZ_CHECK(tainted_ || e.type != EventType::kError,
                        "an error between honest peers: ", e.status.ToString());
    }
    if (!effects.close) return false;
    if (link_up_ && !effects.close->abort) {
      // The transport writes what is queued (ERROR, GOODBYE), then closes.
      for (std::string f = TakeFrame(side); !f.empty(); f = TakeFrame(side)) {
        Deliver(other, f);
      }
    }
    Disconnect();
    return true;
  }

  static void CheckStats(const Session& s) {
    const SessionStats st = s.stats();
    PARLEY_FUZZ_CHECK(st.processed_through <= st.received_through,
                      st.processed_through, " > ", st.received_through);
    PARLEY_FUZZ_CHECK(st.peer_acked_through < st.next_seq,
                      st.peer_acked_through, " >= ", st.next_seq);
    PARLEY_FUZZ_CHECK((st.unacked_envelopes == 0) == (st.unacked_bytes == 0),
                      st.unacked_envelopes, " envelopes of ", st.unacked_bytes,
                      " bytes");
    PARLEY_FUZZ_CHECK(st.unacked_bytes < (uint64_t{1} << 40),
                      "unacked_bytes underflow: ", st.unacked_bytes);
  }

  const uint8_t config_;
  Peer client_;
  Peer server_;
  bool link_up_ = false;
  bool tainted_ = false;  // a frame was mutated, replayed or injected
  int restarts_ = 1;
  absl::Time now_ = absl::FromUnixSeconds(1000000);
  std::vector<int> calls_;  // completions per accepted call
};

}  // namespace

int FuzzSession(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  SessionFuzzer fuzzer(in.Byte());
  fuzzer.Run(in);
  return 0;
}

}  // namespace parley::fuzz
