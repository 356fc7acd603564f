#include "parley/client.h"

#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/rpc/registry.h"
#include "runtime/session/backoff.h"
#include "runtime/store/durable_store.h"
#include "runtime/transport/handshake.h"
#include "runtime/transport/session_link.h"
#include "runtime/transport/ws.h"
#include "runtime/util/mutex.h"

namespace parley {

// One session that survives its connections: every unexpected loss is
// followed by a re-dial on the Backoff schedule; the session core resumes
// (or learns it has a new session) in the handshake. Dialling, timers and
// events run on the loop thread; the public methods hand work to it.
class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)),
        loop_(std::make_unique<transport::IoLoop>()),
        backoff_(options_.reconnect, std::random_device()()) {
    link_ = std::make_shared<transport::SessionLink>(
        loop_.get(), &registry_,
        transport::MakeSessionOptions(session::Role::kClient,
                                      options_.max_message_bytes, options_.flow,
                                      options_.liveness),
        [this](const Event& event) { OnEvent(event); });
    if (!options_.buffer.dir.empty()) link_->RequireStore();
  }
  ~Impl() {
    Stop();
    ws_.reset();    // the endpoint's sockets belong to the loop's context
    loop_.reset();  // joins the I/O thread before the members it uses go
  }

  absl::Status AddService(Service* service) {
    util::MutexLock lock(&mu_);
    if (ws_ != nullptr) {
      return absl::FailedPreconditionError("AddService after Start");
    }
    return registry_.Add(service);
  }

  absl::Status Start() {
    {
      util::MutexLock lock(&mu_);
      if (ws_ != nullptr || stopped_) {
        return absl::FailedPreconditionError("Start after Start or Stop");
      }
      if (!options_.buffer.dir.empty()) {
        if (absl::Status opened = OpenBuffer(); !opened.ok()) return opened;
      }
      transport::WsClientOptions ws_options;
      ws_options.max_message_bytes = options_.max_message_bytes;
      ws_options.open_timeout = options_.connect_timeout;
      ws_options.tcp_no_delay = true;  // see Server: sessions coalesce frames
      ws_options.tls = options_.tls;
      ws_options.headers = options_.headers;
      ws_options.subprotocols = options_.subprotocols;
      ws_ = transport::WsClient::Create(loop_.get(), ws_options);
    }
    absl::Status dialled;
    loop_->RunAndWait([&] { dialled = Dial(); });
    return dialled;
  }

  absl::Status WaitConnected(absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return connected_ || gave_up_;
    };
    if (!settled_.WaitFor(&mu_, timeout, settled)) {
      return absl::DeadlineExceededError(
          absl::StrCat("not connected to ", options_.url, " within ",
                       absl::FormatDuration(timeout),
                       "; last error: ", last_error_.ToString()));
    }
    return connected_ ? absl::OkStatus() : last_error_;
  }

  std::shared_ptr<Channel> channel() const { return link_; }
  SessionStats stats() const { return link_->stats(); }

  void Stop() {
    {
      util::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    // Not under mu_: the loop thread takes it to record events.
    loop_->RunAndWait([this] {
      redial_.reset();
      link_->Stop(absl::CancelledError("client stopped"));
    });
    if (ws_ != nullptr) ws_->Stop();
    loop_->RunAndWait([this] {
      bool announced = false;  // GiveUp said kStopped already
      {
        util::MutexLock lock(&mu_);
        announced = gave_up_;
      }
      if (!announced) OnEvent(transport::MakeEvent(EventType::kStopped));
    });
  }

 private:
  // Opens the durable buffer and hands it, with its pending calls, to the
  // session.
  absl::Status OpenBuffer() {
    store::DurableStoreOptions store_options;
    store_options.sync = options_.buffer.sync;
    store_options.sync_interval = options_.buffer.sync_interval;
    store_options.capacity_bytes = options_.buffer.capacity_bytes;
    absl::StatusOr<std::unique_ptr<store::DurableStore>> store =
        store::DurableStore::Open(store::Env::Default(), options_.buffer.dir,
                                  store_options);
    if (!store.ok()) return store.status();
    return link_->UseStore(std::move(*store));
  }

  // Loop thread.
  absl::Status Dial() {
    auto handler = std::make_shared<transport::LinkHandler>(
        link_, [this](bool opened, uint16_t code, absl::string_view reason) {
          OnConnectionEnded(opened, code, reason);
        });
    return ws_->Connect(options_.url, std::move(handler));
  }

  // Loop thread: a connection (or a dial) ended.
  void OnConnectionEnded(bool opened, uint16_t code, absl::string_view reason) {
    absl::Status why = absl::UnavailableError(
        absl::StrCat(opened ? "connection to " : "cannot connect to ",
                     options_.url, ": ", reason, " (", code, ")"));
    {
      util::MutexLock lock(&mu_);
      if (stopped_) return;
      last_error_ = why;
    }
    if (link_->stopped()) return GiveUp(why);  // the server said GOODBYE
    if (absl::optional<absl::Status> refused = Refusal(opened, code, reason)) {
      return GiveUp(*refused);
    }
    absl::optional<absl::Duration> delay = backoff_.Next();
    if (!delay.has_value()) {
      return GiveUp(absl::UnavailableError(
          absl::StrCat("gave up after ", backoff_.attempts(),
                       " reconnect attempts; last error: ", why.message())));
    }
    Event event = transport::MakeEvent(EventType::kReconnecting, why);
    event.attempt = backoff_.attempts();
    event.delay = *delay;
    OnEvent(event);
    redial_ = loop_->RunAfter(*delay, [this] {
      absl::Status dialled = Dial();
      if (!dialled.ok()) GiveUp(dialled);
    });
  }

  // A failed attempt that re-dialling cannot cure: a refused server
  // certificate, or an HTTP refusal other than 429 and 5xx.
  absl::optional<absl::Status> Refusal(bool opened, uint16_t code,
                                       absl::string_view reason) const {
    if (opened) return absl::nullopt;
    const std::string what =
        absl::StrCat("cannot connect to ", options_.url, ": ", reason);
    if (code == transport::kCloseTlsFailed) {
      return absl::UnauthenticatedError(what);
    }
    absl::optional<int> http = transport::RefusedHttpStatus(code);
    if (!http.has_value() || transport::RefusalIsRetryable(*http)) {
      return absl::nullopt;
    }
    return transport::RefusalStatus(*http, what);
  }

  // Loop thread: no more connections. Pending calls fail with `why`.
  void GiveUp(const absl::Status& why) {
    {
      util::MutexLock lock(&mu_);
      gave_up_ = true;
      last_error_ = why;
      settled_.SignalAll();
    }
    link_->Stop(why);
    OnEvent(transport::MakeEvent(EventType::kStopped, why));
  }

  // Loop thread.
  void OnEvent(const Event& event) {
    {
      util::MutexLock lock(&mu_);
      if (event.type == EventType::kConnected) {
        connected_ = true;
        last_error_ = absl::OkStatus();
        settled_.SignalAll();
      } else if (event.type == EventType::kDisconnected) {
        connected_ = false;
        last_error_ = event.status;
      }
    }
    if (event.type == EventType::kConnected) backoff_.Reset();
    if (options_.on_event != nullptr) options_.on_event(event);
  }

  const ClientOptions options_;
  mutable util::Mutex mu_;
  util::CondVar settled_;  // connected_ or gave_up_ became true
  rpc::ServiceRegistry registry_;
  std::unique_ptr<transport::IoLoop> loop_;
  std::shared_ptr<transport::SessionLink> link_;
  std::unique_ptr<transport::WsClient> ws_;  // set once, by Start
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool gave_up_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  // Loop thread only.
  session::Backoff backoff_;
  std::unique_ptr<transport::Timer> redial_;
};

Client::Client(ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() { Stop(); }
absl::Status Client::AddService(Service* service) {
  return impl_->AddService(service);
}
absl::Status Client::Start() { return impl_->Start(); }
absl::Status Client::WaitConnected(absl::Duration timeout) {
  return impl_->WaitConnected(timeout);
}
std::shared_ptr<Channel> Client::channel() const { return impl_->channel(); }
SessionStats Client::stats() const { return impl_->stats(); }
void Client::Stop() { impl_->Stop(); }

}  // namespace parley
