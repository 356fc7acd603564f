// parley/rpc.h — the typed-call layer that generated stubs and services use.
//
// Main types:
//   parley::Channel        the calling end of one session (untyped MSGs).
//   parley::CallOptions    per-call settings (ack deadline).
//   parley::Service        base of every generated `X::Service`.
//   parley::Responder<R>   how a handler finishes a call, now or later.
//   parley::CallContext    what a handler knows about the call.
//
// Users rarely touch these directly; they use the generated code:
//
//   demo::Echo::Stub stub(client.channel());
//   stub.Shout(req, [](absl::StatusOr<demo::Words> r) { ... });
//
//   class EchoImpl : public demo::Echo::Service {
//     void Shout(parley::CallContext& ctx, const demo::Words& req,
//                parley::Responder<demo::Words> done) override {
//       demo::Words out;  ...
//       done.Finish(out);
//     }
//   };
//
// Thread safety: Channel is thread-safe. Callbacks and handlers run on the
// I/O thread of the Client or Server that owns the session; they must not
// block it (finish later through the Responder instead).
#ifndef PARLEY_RPC_H_
#define PARLEY_RPC_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "absl/types/span.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/message_lite.h"
#include "parley/callback.h"

namespace parley {

// A message method returns google.protobuf.Empty: it completes when the peer
// has processed it (the ack is its reply). A request returns a typed reply.
enum class MethodKind { kMessage, kRequest };

// Static description of one method; generated code defines one per method.
struct MethodInfo {
  // "package.Service/Method"; points at a string literal.
  const char* full_name;
  MethodKind kind;
  // Ack deadline from options.proto; absl::ZeroDuration() = none.
  absl::Duration default_ack_within;
};

struct CallOptions {
  // Ack deadline for this call: unset = the method's default,
  // absl::ZeroDuration() = no deadline, positive = that deadline.
  absl::optional<absl::Duration> ack_within;
};

// Completion of an untyped call: the reply payload (empty for messages) or
// the failure.
using RawDoneCallback = Callback<void(absl::StatusOr<std::string>)>;
// Completion of a message (no reply): its ack outcome.
using AckCallback = Callback<void(absl::Status)>;
// Completion of a typed request: the parsed reply or the failure.
template <typename Rep>
using ReplyCallback = Callback<void(absl::StatusOr<Rep>)>;

// The calling end of one session.
class Channel {
 public:
  virtual ~Channel() = default;

  // Sends one MSG. Returns OK only if the call was accepted; `done` (may be
  // empty) then runs exactly once, on the I/O thread. A non-OK return means
  // the call was not accepted and `done` never runs.
  virtual absl::Status Call(const MethodInfo& method, std::string payload,
                            const CallOptions& options,
                            RawDoneCallback done) = 0;

  // Sends one MSG of a message method; as Call, with `done` (may be empty)
  // getting only the ack outcome. The default wraps `done` for Call; a
  // channel that keeps status-only callbacks as they are overrides it (the
  // Client's and Server's sessions do: one allocation fewer per message).
  virtual absl::Status Send(const MethodInfo& method, std::string payload,
                            const CallOptions& options, AckCallback done);

  // True when the caller runs on this channel's I/O thread, where blocking
  // calls would deadlock.
  virtual bool OnIoThread() const = 0;

  // An empty string to serialize the next call's payload into. The
  // Client's and Server's sessions hand out the buffers of calls the peer
  // has acked, whose capacity saves the payload's allocation; the default
  // is a new string.
  virtual std::string PayloadBuffer() { return std::string(); }
};

// Finishes one incoming call, exactly once. Move-only. Destroying an
// unfinished responder fails the call with Internal, so the caller never
// waits forever on a forgotten call.
class RawResponder {
 public:
  using Sink = Callback<void(absl::StatusOr<std::string>)>;
  // The same as a plain function, run exactly once as
  // complete(context, tag, outcome): for a channel that dispatches many
  // calls, where a Sink capturing more than Callback::kInlineBytes costs a
  // heap allocation per call.
  using CompleteFn = void (*)(void* context, uint64_t tag,
                              absl::StatusOr<std::string> result);

  RawResponder() = default;
  explicit RawResponder(Sink sink) : sink_(std::move(sink)) {}
  RawResponder(CompleteFn complete, void* context, uint64_t tag)
      : complete_(complete), context_(context), tag_(tag) {}
  RawResponder(RawResponder&& other) noexcept
      : sink_(std::exchange(other.sink_, nullptr)),
        complete_(std::exchange(other.complete_, nullptr)),
        context_(other.context_),
        tag_(other.tag_) {}
  RawResponder& operator=(RawResponder&& other) noexcept;
  RawResponder(const RawResponder&) = delete;
  RawResponder& operator=(const RawResponder&) = delete;
  ~RawResponder();

  // Completes the call with a serialized reply (empty for messages).
  void Finish(std::string payload);
  // Completes the call with an error; `status` must not be OK.
  void Fail(absl::Status status);
  bool finished() const { return sink_ == nullptr && complete_ == nullptr; }

 private:
  void Complete(absl::StatusOr<std::string> result);
  Sink sink_;
  CompleteFn complete_ = nullptr;
  void* context_ = nullptr;
  uint64_t tag_ = 0;
};

template <typename Reply>
class Responder {
 public:
  explicit Responder(RawResponder raw) : raw_(std::move(raw)) {}
  void Finish(const Reply& reply) { raw_.Finish(reply.SerializeAsString()); }
  void Fail(absl::Status status) { raw_.Fail(std::move(status)); }
  bool finished() const { return raw_.finished(); }

 private:
  RawResponder raw_;
};

// Messages finish without a payload.
template <>
class Responder<google::protobuf::Empty> {
 public:
  explicit Responder(RawResponder raw) : raw_(std::move(raw)) {}
  void Finish() { raw_.Finish(std::string()); }
  void Finish(const google::protobuf::Empty&) { Finish(); }
  void Fail(absl::Status status) { raw_.Fail(std::move(status)); }
  bool finished() const { return raw_.finished(); }

 private:
  RawResponder raw_;
};

struct PeerIdentity;  // parley/auth.h

// What a handler knows about the call it serves.
struct CallContext {
  const MethodInfo* method;
  // The call's seq in its sender's direction.
  uint64_t seq;
  // The other end of this session, to call services it hosts. Stays valid
  // (calls fail with FailedPrecondition once the session is gone).
  std::shared_ptr<Channel> peer;
  // Server: who the session's opening handshake was accepted as (the
  // Authenticator's principal and subprotocol, the client's address); the
  // same for every call of the session. Client: null.
  std::shared_ptr<const PeerIdentity> identity;
};

class Service;

// One row of a service's method table.
struct MethodHandler {
  const MethodInfo* info;
  // Parses `payload` and calls the typed method; on a parse failure fails
  // the responder with InvalidArgument.
  void (*invoke)(Service* service, CallContext& context,
                 absl::string_view payload, RawResponder responder);
};

// Base of every generated service. Register an instance with a Client or
// Server; it must outlive them.
class Service {
 public:
  virtual ~Service() = default;
  // "package.Service".
  virtual absl::string_view service_name() const = 0;
  virtual absl::Span<const MethodHandler> methods() const = 0;
};

namespace internal {

// The request object Invoke parses into, for one call: per thread and
// request type, the one the last call used, so that parsing reuses its
// fields' memory (a small request's call allocates nothing for them).
// A call dispatched on this thread while another of its type is still in
// its handler gets a fresh one; one whose payload exceeded kMaxKeptBytes
// is not kept, so a thread keeps per type at most what a payload of that
// size parses into (protobuf's Clear keeps repeated fields' elements).
template <typename Req>
class KeptRequest {
 public:
  static constexpr size_t kMaxKeptBytes = 64 << 10;

  explicit KeptRequest(size_t payload_bytes) : payload_bytes_(payload_bytes) {
    Slot& slot = TheSlot();
    if (slot.in_use) {
      request_ = &own_.emplace();
    } else {
      slot.in_use = true;
      request_ = &slot.request;
    }
  }
  ~KeptRequest() {
    Slot& slot = TheSlot();
    if (request_ != &slot.request) return;
    if (payload_bytes_ > kMaxKeptBytes) slot.request = Req();
    slot.in_use = false;
  }
  KeptRequest(const KeptRequest&) = delete;
  KeptRequest& operator=(const KeptRequest&) = delete;

  Req& get() { return *request_; }

 private:
  struct Slot {
    Req request;
    bool in_use = false;
  };
  static Slot& TheSlot() {
    thread_local Slot slot;
    return slot;
  }

  const size_t payload_bytes_;
  absl::optional<Req> own_;
  Req* request_;
};

// Table helper for generated code: parses the request and calls `Method`.
// The request lives until the handler returns (a handler that finishes
// later keeps what it needs of it).
template <typename Svc, typename Req, typename Rep,
          void (Svc::*Method)(CallContext&, const Req&, Responder<Rep>)>
void Invoke(Service* service, CallContext& context, absl::string_view payload,
            RawResponder responder) {
  KeptRequest<Req> kept(payload.size());
  Req& request = kept.get();
  if (!request.ParseFromArray(payload.data(),
                              static_cast<int>(payload.size()))) {
    responder.Fail(absl::InvalidArgumentError(
        absl::StrCat("payload of ", context.method->full_name,
                     " does not parse as ", request.GetTypeName())));
    return;
  }
  (static_cast<Svc*>(service)->*Method)(context, request,
                                        Responder<Rep>(std::move(responder)));
}

// `request` serialized into channel.PayloadBuffer().
std::string SerializePayload(Channel& channel,
                             const google::protobuf::MessageLite& request);

// Sends a typed message; `done` (may be empty) gets the ack outcome.
absl::Status CallMessage(Channel& channel, const MethodInfo& method,
                         const google::protobuf::MessageLite& request,
                         const CallOptions& options, AckCallback done);

// Sends a typed request; `done` gets the parsed reply or the failure.
template <typename Rep>
absl::Status CallRequest(Channel& channel, const MethodInfo& method,
                         const google::protobuf::MessageLite& request,
                         const CallOptions& options, ReplyCallback<Rep> done) {
  return channel.Call(
      method, SerializePayload(channel, request), options,
      [done = std::move(done),
       name = method.full_name](absl::StatusOr<std::string> raw) {
        if (!raw.ok()) return done(raw.status());
        Rep reply;
        if (!reply.ParseFromString(*raw)) {
          return done(absl::DataLossError(absl::StrCat(
              "reply of ", name, " does not parse as ", reply.GetTypeName())));
        }
        done(std::move(reply));
      });
}

// Blocks the calling thread until a call started by `start` completes.
// Refuses with FailedPrecondition on the channel's I/O thread.
template <typename Result>
Result Await(const Channel& channel,
             absl::FunctionRef<absl::Status(Callback<void(Result)>)> start) {
  if (channel.OnIoThread()) {
    return absl::FailedPreconditionError(
        "blocking call on the I/O thread would deadlock; use the callback "
        "form");
  }
  // std:: synchronization, not absl's: ThreadSanitizer sees it (Debian's
  // abseil is not instrumented), and parley/ headers include no internals.
  struct State {
    std::mutex mu;
    std::condition_variable completed;
    bool done = false;  // guarded by mu
    Result result = absl::UnknownError("not completed");
  };
  auto state = std::make_shared<State>();
  absl::Status accepted = start([state](Result result) {
    std::lock_guard<std::mutex> lock(state->mu);
    state->result = std::move(result);
    state->done = true;
    state->completed.notify_all();
  });
  if (!accepted.ok()) return accepted;
  std::unique_lock<std::mutex> lock(state->mu);
  state->completed.wait(lock, [&] { return state->done; });
  return std::move(state->result);
}

}  // namespace internal
}  // namespace parley

#endif  // PARLEY_RPC_H_
