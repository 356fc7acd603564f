#include "tests/session/sim_link.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/wire/codec.h"

namespace parley::session::sim {

absl::Time SimLink::Send(int dir, std::string bytes, absl::Time arrive) {
  std::deque<InFlight>& queue = queue_[dir];
  if (!queue.empty()) arrive = std::max(arrive, queue.back().arrive);
  queue.push_back({arrive, std::move(bytes)});
  return arrive;
}

absl::Time SimLink::NextArrival(int dir) const {
  return queue_[dir].empty() ? absl::InfiniteFuture()
                             : queue_[dir].front().arrive;
}

std::string SimLink::Pop(int dir) {
  std::string bytes = std::move(queue_[dir].front().bytes);
  queue_[dir].pop_front();
  return bytes;
}

size_t SimLink::Cut() {
  size_t lost = in_flight();
  queue_[0].clear();
  queue_[1].clear();
  return lost;
}

bool IsDataOnly(absl::string_view frame) {
  absl::StatusOr<wire::Frame> decoded = wire::DecodeFrame(frame);
  if (!decoded.ok()) return false;
  for (const wire::Envelope& envelope : decoded->envelopes()) {
    if (!envelope.has_msg() && !envelope.has_reply() && !envelope.has_ack()) {
      return false;
    }
  }
  return decoded->envelopes_size() > 0;
}

std::string DescribeFrame(absl::string_view frame) {
  absl::StatusOr<wire::Frame> decoded = wire::DecodeFrame(frame);
  if (!decoded.ok())
    return absl::StrCat("<undecodable: ", decoded.status().ToString(), ">");
  std::vector<std::string> parts;
  for (const wire::Envelope& envelope : decoded->envelopes()) {
    std::string part(wire::KindName(envelope));
    if (envelope.has_msg()) {
      absl::StrAppend(&part, " ", envelope.msg().seq(), " ",
                      envelope.msg().method());
    } else if (envelope.has_reply()) {
      absl::StrAppend(&part, " ", envelope.reply().seq(), "->",
                      envelope.reply().in_reply_to(), " code ",
                      envelope.reply().code());
    } else if (envelope.has_ack()) {
      absl::StrAppend(&part, " ", envelope.ack().through());
    } else if (envelope.has_hello()) {
      absl::StrAppend(&part, " rt ", envelope.hello().received_through());
    } else if (envelope.has_welcome()) {
      absl::StrAppend(&part, envelope.welcome().resumed() ? " resumed" : " new",
                      " rt ", envelope.welcome().received_through());
    }
    parts.push_back(std::move(part));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace parley::session::sim
