// WsClient over websocketpp's asio client (no TLS), with a fast masking RNG.
//
// Lifetime: as for the server (ws_server.cc), the ClientCore owning the
// websocketpp endpoint is retired to the loop and destroyed only once none
// of its connections exists.
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "openssl/rand.h"
#include "runtime/transport/ws.h"
#include "runtime/transport/ws_config.h"
#include "runtime/transport/ws_link.h"
#include "runtime/transport/ws_loop_impl.h"
#include "websocketpp/client.hpp"
#include "websocketpp/uri.hpp"

namespace parley::transport {
namespace {

// Words from OpenSSL's DRBG (RAND_bytes: a per-thread CSPRNG seeded by
// the OS), drawn a block at a time so a frame's mask costs a copy, not a
// call into OpenSSL.
class MaskStream {
 public:
  uint32_t Next() {
    if (used_ == block_.size()) Refill();
    return block_[used_++];
  }

 private:
  void Refill() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(block_.data()),
                   static_cast<int>(sizeof(block_))) != 1) {
      // The DRBG cannot fail once seeded; if it ever does, fall back to the
      // OS directly rather than mask with predictable bytes.
      std::random_device device;
      for (uint32_t& word : block_) word = device();
    }
    used_ = 0;
  }

  std::array<uint32_t, 256> block_;
  size_t used_ = block_.size();
};

using Client = websocketpp::client<ClientConfig>;
using ClientLink = WsLink<Client>;

// How long Stop waits for servers to answer the close handshake before it
// drops the sockets.
constexpr absl::Duration kStopGrace = absl::Seconds(2);

class ClientCore {
 public:
  ClientCore(IoLoop* loop, const WsClientOptions& options) : loop_(loop) {
    // Nothing runs on the endpoint yet, so setting it up here is safe.
    endpoint_.clear_access_channels(websocketpp::log::alevel::all);
    endpoint_.clear_error_channels(websocketpp::log::elevel::all);
    websocketpp::lib::error_code ec;
    endpoint_.init_asio(&loop->impl()->context(), ec);  // fails only twice
    endpoint_.set_max_message_size(options.max_message_bytes);
    // Covers the HTTP upgrade; DNS and TCP connect have websocketpp's fixed
    // 5 s limits (config timeout_dns_resolve / timeout_connect).
    endpoint_.set_open_handshake_timeout(
        absl::ToInt64Milliseconds(options.open_timeout));
    // Copied into every connection: the copies count them (see Idle).
    endpoint_.set_tcp_pre_init_handler(
        [witness = witness_,
         no_delay = options.tcp_no_delay](websocketpp::connection_hdl hdl) {
          if (no_delay) SetNoDelay<Client>(hdl);
        });
  }

  absl::Status Connect(const std::string& uri,
                       std::shared_ptr<WsHandler> handler) {
    if (handler == nullptr) return absl::InvalidArgumentError("null handler");
    const websocketpp::uri parsed(uri);
    if (!parsed.get_valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed WebSocket uri \"", uri, "\""));
    }
    if (parsed.get_scheme() != "ws") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unsupported scheme in \"", uri, "\": only ws:// (no TLS yet)"));
    }
    if (!links_.TryReserve()) {
      return absl::FailedPreconditionError("WsClient is stopped");
    }
    // Always posted, so the handler never runs inside Connect.
    loop_->Post([this, uri, handler = std::move(handler)]() mutable {
      Dial(uri, std::move(handler));
    });
    return absl::OkStatus();
  }

  // As ServerCore::Stop.
  void Stop() {
    links_.BeginClosing();
    links_.StopAll(
        *loop_,
        [this] { links_.CloseAll(wire::kCloseGoingAway, "client stopping"); },
        "client stopped", kStopGrace);
  }

  // Loop thread; as ServerCore::Idle.
  bool Idle() const { return witness_.use_count() <= 2; }

 private:
  // Loop thread. Owns one reserved slot of links_.
  void Dial(const std::string& uri, std::shared_ptr<WsHandler> handler) {
    if (links_.closing()) {
      links_.Release(nullptr);
      handler->OnClose(wire::kCloseGoingAway, "client stopped before dialling");
      return;
    }
    websocketpp::lib::error_code ec;
    Client::connection_ptr con = endpoint_.get_connection(uri, ec);
    if (ec) {
      links_.Release(nullptr);
      handler->OnClose(wire::kCloseAbnormal,
                       absl::StrCat("connect failed: ", ec.message()));
      return;
    }
    auto link = std::make_shared<ClientLink>(
        loop_, con, std::move(handler),
        [this](ClientLink* done) { links_.Release(done); });
    link->Attach();
    con->set_open_handler(
        [link](websocketpp::connection_hdl hdl) { link->HandleOpen(hdl); });
    links_.Add(link);
    endpoint_.connect(con);
  }

  IoLoop* const loop_;
  const std::shared_ptr<const char> witness_ = std::make_shared<const char>();
  Client endpoint_;
  LinkSet<ClientLink> links_;
};

class WsClientImpl final : public WsClient {
 public:
  WsClientImpl(IoLoop* loop, const WsClientOptions& options)
      : loop_(loop), core_(std::make_shared<ClientCore>(loop, options)) {}
  ~WsClientImpl() override {
    Stop();
    ClientCore* raw = core_.get();
    loop_->impl()->Retire(std::move(core_), [raw] { return raw->Idle(); });
  }

  absl::Status Connect(const std::string& uri,
                       std::shared_ptr<WsHandler> handler) override {
    return core_->Connect(uri, std::move(handler));
  }

  void Stop() override {
    absl::MutexLock lock(&stop_mu_);  // a second caller waits for the first
    if (stopped_) return;
    stopped_ = true;
    core_->Stop();
  }

 private:
  IoLoop* const loop_;
  std::shared_ptr<ClientCore> core_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace

void MaskCopy(const char* in, size_t n, char* out, const uint8_t key[4]) {
  uint64_t key8;
  std::memcpy(&key8, key, 4);
  std::memcpy(reinterpret_cast<char*>(&key8) + 4, key, 4);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {  // memcpy: no alignment assumed
    uint64_t word;
    std::memcpy(&word, in + i, 8);
    word ^= key8;
    std::memcpy(out + i, &word, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(in[i] ^ key[i % 4]);
}

uint32_t MaskRng::operator()() const {
  thread_local MaskStream stream;
  return stream.Next();
}

std::unique_ptr<WsClient> WsClient::Create(IoLoop* loop,
                                           const WsClientOptions& options) {
  return std::make_unique<WsClientImpl>(loop, options);
}

}  // namespace parley::transport

template <>
void websocketpp::processor::hybi13<parley::transport::ClientConfig>::
    masked_copy(std::string const& i, std::string& o,
                frame::masking_key_type key) const {
  // `o` is at least as long as `i` (websocketpp sizes it first).
  parley::transport::MaskCopy(i.data(), i.size(), o.data(), key.c);
}
