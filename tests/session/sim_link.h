// A fake network connection for the session simulation
// (simulation_test.cc): per direction, a FIFO of frames in flight, each
// with the fake time at which it arrives. No threads, no real time.
//
//   SimLink link;
//   link.Send(SimLink::kClientToServer, client.TakeFrame(), now + delay);
//   if (link.NextArrival(SimLink::kClientToServer) <= now) {
//     server.OnFrame(link.Pop(SimLink::kClientToServer), now);
//   }
//   link.Cut();  // every frame in flight is lost, both ways
//
// Like TCP, a direction never reorders: a frame never arrives before one
// sent earlier in the same direction (its arrival is pushed back instead).
//
// Thread safety: thread-compatible.
#ifndef PARLEY_TESTS_SESSION_SIM_LINK_H_
#define PARLEY_TESTS_SESSION_SIM_LINK_H_

#include <cstddef>
#include <deque>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace parley::session::sim {

class SimLink {
 public:
  static constexpr int kClientToServer = 0;
  static constexpr int kServerToClient = 1;

  // Puts `bytes` on the wire in direction `dir`; they arrive at `arrive`,
  // or right after the previous frame of `dir` if that arrives later.
  // Returns the arrival time.
  absl::Time Send(int dir, std::string bytes, absl::Time arrive);
  // The arrival time of the next frame in `dir`, or InfiniteFuture.
  absl::Time NextArrival(int dir) const;
  // Removes and returns the next frame of `dir` (which must exist).
  std::string Pop(int dir);
  // The connection is cut: every frame in flight is lost. Returns how many.
  size_t Cut();
  size_t in_flight() const { return queue_[0].size() + queue_[1].size(); }

 private:
  struct InFlight {
    absl::Time arrive;
    std::string bytes;
  };
  std::deque<InFlight> queue_[2];
};

// True when every envelope of `frame` is a MSG, REPLY or ACK: the frames a
// hostile-but-possible link may deliver twice within one connection.
bool IsDataOnly(absl::string_view frame);

// "HELLO, MSG 3, MSG 4, ACK 2": the envelopes of a frame, for traces.
std::string DescribeFrame(absl::string_view frame);

}  // namespace parley::session::sim

#endif  // PARLEY_TESTS_SESSION_SIM_LINK_H_
