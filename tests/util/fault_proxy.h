// tests/util/fault_proxy.h — a loopback TCP proxy that injects link faults.
//
// Sits between a client and a server on 127.0.0.1 and forwards bytes both
// ways, in random-sized chunks, while it (on request) cuts every open
// connection at random intervals, swallows all bytes (a link that eats
// them, like a SIGSTOPped peer) or refuses new connections (like a server
// that is down). For the fault tests of reliable delivery.
//
//   parley::testutil::FaultProxy::Options options;
//   options.seed = 42;
//   options.max_chunk = 512;          // cuts then land inside frames
//   parley::testutil::FaultProxy proxy(server.port(), options);
//   ASSERT_TRUE(proxy.status().ok());
//   client_options.url = absl::StrCat("ws://127.0.0.1:", proxy.port(), "/");
//   proxy.SetCutting(true);           // cut every 5-50 ms
//   ...
//   proxy.SetCutting(false);          // a calm phase to drain
//
// The proxy runs one thread of its own (an asio::io_context); faults are
// drawn from a PRNG seeded by Options::seed, used only on that thread (the
// schedule still depends on the traffic's timing, so runs are not exactly
// repeatable). The destructor closes everything and joins the thread.
//
// Thread safety: every method is thread-safe.
#ifndef PARLEY_TESTS_UTIL_FAULT_PROXY_H_
#define PARLEY_TESTS_UTIL_FAULT_PROXY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace parley::testutil {

class FaultProxy {
 public:
  struct Options {
    // Seeds the PRNG behind cut intervals and chunk sizes.
    uint64_t seed = 1;
    // While cutting is on, every open connection is cut after a random
    // interval drawn uniformly from [cut_every_min, cut_every_max], again
    // and again.
    absl::Duration cut_every_min = absl::Milliseconds(5);
    absl::Duration cut_every_max = absl::Milliseconds(50);
    // Whether cutting is on from the start (see SetCutting).
    bool cutting = false;
    // Largest forwarded write; each read is forwarded as a series of writes
    // of random size in [1, max_chunk]. 0 = forward each read whole.
    size_t max_chunk = 0;
  };

  // Counters since construction.
  struct Stats {
    uint64_t connections_accepted = 0;
    // Connections closed at once after accept because refusing was on.
    uint64_t connections_refused = 0;
    // Cut events that closed at least one connection, and the connections
    // they closed.
    uint64_t cuts = 0;
    uint64_t connections_cut = 0;
    // Connections cut while bytes they had read were not yet all written
    // on: the peer saw only part of what was sent (typically mid-frame).
    uint64_t cuts_mid_stream = 0;
    // Bytes written on: client to target ("up") and target to client.
    uint64_t bytes_up = 0;
    uint64_t bytes_down = 0;
    // Bytes read and dropped while the blackhole was on.
    uint64_t bytes_swallowed = 0;
    // Connections open now (accepted, not yet closed).
    uint64_t open_connections = 0;
  };

  // Listens on 127.0.0.1, port 0, forwarding to 127.0.0.1:target_port.
  // Check status() for a failure to listen.
  FaultProxy(uint16_t target_port, Options options);
  // Closes every connection and the listener, then joins the thread.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // OK when the proxy listens.
  absl::Status status() const;
  // The port it listens on (0 if it does not).
  uint16_t port() const;

  // Turns the random cuts on or off. Off takes effect at once: no cut
  // happens after SetCutting(false) returns.
  void SetCutting(bool on);

  // While on, connections stay open and every byte read from either side
  // is dropped; a side that closes its end is not reported to the other.
  // Turning it off closes every connection that lived through it (their
  // streams have lost bytes), so both ends see the link drop. Takes effect
  // before the call returns.
  void Blackhole(bool on);

  // While on, new connections are closed as soon as they are accepted (a
  // peer that is down). Existing connections are not touched.
  void SetRefusing(bool on);

  // Cuts every open connection now (counted as a cut); returns how many it
  // closed.
  int CutNow();

  Stats stats() const;

  // Waits until `predicate` holds for the counters (it is evaluated under
  // the proxy's lock: keep it short, call nothing of the proxy's from it);
  // false after `timeout`.
  bool AwaitStats(const std::function<bool(const Stats&)>& predicate,
                  absl::Duration timeout) const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::testutil

#endif  // PARLEY_TESTS_UTIL_FAULT_PROXY_H_
