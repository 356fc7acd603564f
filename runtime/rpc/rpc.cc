#include "parley/rpc.h"

#include <utility>

namespace parley {

RawResponder& RawResponder::operator=(RawResponder&& other) noexcept {
  if (this != &other) {
    if (!finished()) {
      Complete(absl::InternalError("handler dropped its responder"));
    }
    sink_ = std::exchange(other.sink_, nullptr);
    complete_ = std::exchange(other.complete_, nullptr);
    context_ = other.context_;
    tag_ = other.tag_;
  }
  return *this;
}

RawResponder::~RawResponder() {
  if (!finished()) {
    Complete(absl::InternalError("handler dropped its responder"));
  }
}

void RawResponder::Finish(std::string payload) { Complete(std::move(payload)); }

void RawResponder::Fail(absl::Status status) {
  if (status.ok()) status = absl::InternalError("handler failed with OK");
  Complete(std::move(status));
}

void RawResponder::Complete(absl::StatusOr<std::string> result) {
  // Finished already: the first outcome wins.
  if (complete_ != nullptr) {
    std::exchange(complete_, nullptr)(context_, tag_, std::move(result));
  } else if (sink_ != nullptr) {
    std::exchange(sink_, nullptr)(std::move(result));
  }
}

absl::Status Channel::Send(const MethodInfo& method, std::string payload,
                           const CallOptions& options, AckCallback done) {
  RawDoneCallback raw;
  if (done != nullptr) {
    raw = [done = std::move(done)](absl::StatusOr<std::string> result) {
      done(result.status());
    };
  }
  return Call(method, std::move(payload), options, std::move(raw));
}

namespace internal {

std::string SerializePayload(Channel& channel,
                             const google::protobuf::MessageLite& request) {
  std::string payload = channel.PayloadBuffer();
  request.AppendToString(&payload);
  return payload;
}

absl::Status CallMessage(Channel& channel, const MethodInfo& method,
                         const google::protobuf::MessageLite& request,
                         const CallOptions& options, AckCallback done) {
  return channel.Send(method, SerializePayload(channel, request), options,
                      std::move(done));
}

}  // namespace internal
}  // namespace parley
