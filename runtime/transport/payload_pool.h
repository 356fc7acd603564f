// PayloadPool: the buffers of a link's acked calls, kept for the caller to
// serialize its next calls into (internal). The caller allocates a payload
// per call and the I/O thread frees it once the peer acks it; recycled,
// the buffer costs neither, and neither thread waits on malloc's lock for
// the other's memory. Measured (scripts/bench_ab.sh, 64 B, interleaved):
// one-way +21 %, never +13 %, acked +15 %, CPU per message -12 %.
// The caps hold an ACK's worth of calls: one ACK may release a frame's
// worth (800 calls of 64 B), and at 1 KiB a 32 KiB cap kept 31 buffers, so
// the caller's malloc was 39 % of its thread (perf, docs/PERFORMANCE.md).
//
//   std::string payload = pool.Take();   // caller: empty, maybe capacity
//   request.AppendToString(&payload);
//   ...
//   pool.Give(&released);                // I/O thread: acked payloads
//
// Bounded: it holds no more buffers than Take handed out and no one gave
// back (so a link whose calls are not serialized through it, a server's
// replies say, keeps none), at most kMaxBuffers of them and kMaxBytes of
// capacity; Give frees the rest. A client that sent a burst keeps up to
// kMaxBytes until it is destroyed (docs/OPTIONS.md).
//
// Thread safety: thread-safe.
#ifndef PARLEY_RUNTIME_TRANSPORT_PAYLOAD_POOL_H_
#define PARLEY_RUNTIME_TRANSPORT_PAYLOAD_POOL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "runtime/util/mutex.h"

namespace parley::transport {

class PayloadPool {
 public:
  static constexpr size_t kMaxBuffers = 4096;
  static constexpr size_t kMaxBytes = 1 << 20;

  // An empty string, with the capacity of a recycled buffer if one is kept.
  std::string Take() {
    util::MutexLock lock(&mu_);
    ++outstanding_;
    if (kept_.empty()) return std::string();
    std::string buffer = std::move(kept_.back());
    kept_.pop_back();
    kept_bytes_ -= buffer.capacity();
    buffer.clear();
    return buffer;
  }

  // Keeps what it may of `buffers` (emptied; the rest is freed with it).
  void Give(std::vector<std::string>* buffers) {
    if (buffers->empty()) return;
    {
      util::MutexLock lock(&mu_);
      for (std::string& buffer : *buffers) {
        if (outstanding_ == 0) break;
        --outstanding_;
        if (kept_.size() == kMaxBuffers ||
            kept_bytes_ + buffer.capacity() > kMaxBytes) {
          continue;
        }
        kept_bytes_ += buffer.capacity();
        kept_.push_back(std::move(buffer));
      }
    }
    buffers->clear();
  }

  size_t kept() const {
    util::MutexLock lock(&mu_);
    return kept_.size();
  }

 private:
  mutable util::Mutex mu_;
  std::vector<std::string> kept_ ABSL_GUARDED_BY(mu_);
  size_t kept_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Taken and not given back: what the pool may still take in.
  size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace parley::transport

#endif  // PARLEY_RUNTIME_TRANSPORT_PAYLOAD_POOL_H_
