// parley/options.h — settings shared by Client and Server.
//
//   parley::ClientOptions options;
//   options.liveness.ping_interval = absl::Seconds(5);
//   options.reconnect.max_delay = absl::Seconds(30);
//
// Plain structs; copy them freely.
#ifndef PARLEY_OPTIONS_H_
#define PARLEY_OPTIONS_H_

#include "absl/time/time.h"

namespace parley {

// Ping-checked liveness. Each side sends a PING when it has heard nothing
// from its peer for `ping_interval`; any frame from the peer counts as
// hearing from it. A peer that stays silent for `ping_timeout` after a PING
// is declared dead and its connection dropped: a dead peer is noticed within
// ping_interval + ping_timeout. Defaults sit between Socket.IO's (25 s +
// 20 s) and SignalR's (15 s keep-alive, 30 s timeout); gRPC's keepalive is
// off by default on clients.
struct LivenessOptions {
  absl::Duration ping_interval = absl::Seconds(15);  // zero = no pings
  absl::Duration ping_timeout = absl::Seconds(10);
};

// How the client re-dials after losing its connection: attempt n (from 1)
// waits min(max_delay, initial_delay * multiplier^(n-1)), scaled by a
// random factor in [1 - jitter, 1 + jitter]. The schedule starts over
// after a successful handshake.
struct ReconnectOptions {
  absl::Duration initial_delay = absl::Milliseconds(100);
  absl::Duration max_delay = absl::Seconds(10);
  double multiplier = 2.0;
  double jitter = 0.2;   // in [0, 1]
  int max_attempts = 0;  // 0 = forever; after the last, the client stops
};

}  // namespace parley

#endif  // PARLEY_OPTIONS_H_
