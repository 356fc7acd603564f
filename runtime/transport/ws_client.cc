// WsClient: ws:// and wss:// dialling (one ClientCore per scheme, the TLS
// one made at the first wss:// uri), and the fast masking RNG.
#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "openssl/rand.h"
#include "runtime/transport/handshake.h"
#include "runtime/transport/ws.h"
#include "runtime/transport/ws_client_core.h"
#include "runtime/util/mutex.h"

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

using internal::ClientCoreBase;

class WsClientImpl final : public WsClient {
 public:
  WsClientImpl(IoLoop* loop, const WsClientOptions& options)
      : loop_(loop),
        options_(options),
        plain_(std::make_shared<internal::ClientCore<ClientConfig>>(loop,
                                                                    options)) {}
  ~WsClientImpl() override {
    Stop();
    util::MutexLock lock(&mu_);
    for (std::shared_ptr<ClientCoreBase>* core : {&plain_, &tls_}) {
      if (*core == nullptr) continue;
      ClientCoreBase* raw = core->get();
      loop_->impl()->Retire(std::move(*core), [raw] { return raw->Idle(); });
    }
  }

  absl::Status Connect(const std::string& uri,
                       std::shared_ptr<WsHandler> handler) override {
    if (handler == nullptr) return absl::InvalidArgumentError("null handler");
    const websocketpp::uri parsed(uri);
    if (!parsed.get_valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed WebSocket uri \"", uri, "\""));
    }
    if (absl::Status headers = ValidateHeaders(options_.headers);
        !headers.ok()) {
      return headers;
    }
    std::shared_ptr<ClientCoreBase> core;
    {
      util::MutexLock lock(&mu_);
      if (stopped_) return absl::FailedPreconditionError("WsClient is stopped");
      if (parsed.get_scheme() == "ws") {
        core = plain_;
      } else if (parsed.get_scheme() == "wss") {
        if (tls_ == nullptr)
          tls_ = internal::MakeTlsClientCore(loop_, options_);
        core = tls_;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "unsupported scheme in \"", uri, "\": ws:// or wss:// only"));
      }
    }
    return core->Connect(uri, std::move(handler));
  }

  void Stop() override {
    util::MutexLock lock(&stop_mu_);  // a second caller waits for the first
    std::shared_ptr<ClientCoreBase> plain, tls;
    {
      util::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      plain = plain_;
      tls = tls_;
    }
    plain->Stop();
    if (tls != nullptr) tls->Stop();
  }

 private:
  IoLoop* const loop_;
  const WsClientOptions options_;
  util::Mutex stop_mu_;
  util::Mutex mu_ ABSL_ACQUIRED_AFTER(stop_mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<ClientCoreBase> plain_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<ClientCoreBase> tls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

uint32_t MaskRng::operator()() const {
  thread_local MaskStream stream;
  return stream.Next();
}

std::unique_ptr<WsClient> WsClient::Create(IoLoop* loop,
                                           const WsClientOptions& options) {
  return std::make_unique<WsClientImpl>(loop, options);
}

}  // namespace parley::transport
