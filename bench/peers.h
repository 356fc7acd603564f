// The systems parley_bench measures side by side: Parley itself, a raw
// websocketpp client/server pair (one binary frame per message: the
// transport floor) and gRPC C++ 1.51 (same protobuf). Each function runs one
// trial on loopback, with a fresh server and client, and Die()s rather than
// report a figure from a run that went wrong.
//
// Thread safety: one trial at a time.
#ifndef PARLEY_BENCH_PEERS_H_
#define PARLEY_BENCH_PEERS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/optional.h"
#include "bench/harness.h"
#include "parley/options.h"

namespace parley::bench {

// One-way throughput: `count` messages of `payload` bytes (the bytes field
// of a parley.bench.Blob) from client to server.
struct OneWay {
  size_t payload;
  int64_t count;
};

// How Parley's client sends (scenarios 1 and 2).
struct ParleySend {
  // Every message carries an ack deadline and a completion callback; the
  // trial ends when the last callback ran (else when the server's handler
  // has seen the last message).
  bool acked = false;
  // The client keeps a durable buffer with this sync policy (unset: calls
  // kept in memory only).
  absl::optional<SyncPolicy> durable;
};

// Each returns messages per second: `count` over the time from the first
// send until the server has received the last message (acked: until the
// client has the last ack).
double ParleyOneWay(const OneWay& work, const ParleySend& send);
// One WebSocket binary frame per message, the serialized Blob as payload;
// the client masks with Parley's fast mask source (transport/ws_config.h).
double RawWsOneWay(const OneWay& work);
// A bidi stream; `buffer_hint` sets WriteOptions().set_buffer_hint() on all
// but the last write.
double GrpcStreamOneWay(const OneWay& work, bool buffer_hint);

// Request/reply latencies in microseconds: `calls` echo calls of `payload`
// bytes (after `calls / 10` unrecorded warm-up calls), `concurrency`
// outstanding at a time.
std::vector<double> ParleyLatencies(int concurrency, int64_t calls,
                                    size_t payload);
// gRPC unary through the callback API.
std::vector<double> GrpcLatencies(int concurrency, int64_t calls,
                                  size_t payload);

// Idle sessions (scenario 4): a server in a child process (this binary run
// as `parley_bench idle-server <kind>`), `sessions` clients in this one.
IdleFigures ParleyIdle(int sessions);
IdleFigures RawWsIdle(int sessions);
// The child's side: serves on 127.0.0.1, prints its port, and serves until
// killed.
[[noreturn]] void ServeParleyIdle();
// A client process of ParleyIdle (`parley_bench idle-clients <port> <n>`):
// connects `sessions` parley::Clients, prints "connected", waits to be
// killed.
[[noreturn]] void ConnectParleyIdle(uint16_t port, int sessions);
[[noreturn]] void ServeRawWsIdle();

}  // namespace parley::bench

#endif  // PARLEY_BENCH_PEERS_H_
