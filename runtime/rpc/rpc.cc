#include "parley/rpc.h"

#include <utility>

namespace parley {

RawResponder& RawResponder::operator=(RawResponder&& other) noexcept {
  if (this != &other) {
    if (sink_ != nullptr) {
      Complete(absl::InternalError("handler dropped its responder"));
    }
    sink_ = std::exchange(other.sink_, nullptr);
  }
  return *this;
}

RawResponder::~RawResponder() {
  if (sink_ != nullptr) {
    Complete(absl::InternalError("handler dropped its responder"));
  }
}

void RawResponder::Finish(std::string payload) { Complete(std::move(payload)); }

void RawResponder::Fail(absl::Status status) {
  if (status.ok()) status = absl::InternalError("handler failed with OK");
  Complete(std::move(status));
}

void RawResponder::Complete(absl::StatusOr<std::string> result) {
  if (sink_ == nullptr) return;  // finished already: the first outcome wins
  std::exchange(sink_, nullptr)(std::move(result));
}

namespace internal {

absl::Status CallMessage(Channel& channel, const MethodInfo& method,
                         const google::protobuf::MessageLite& request,
                         const CallOptions& options,
                         std::function<void(absl::Status)> done) {
  RawDoneCallback raw;
  if (done != nullptr) {
    raw = [done = std::move(done)](absl::StatusOr<std::string> result) {
      done(result.status());
    };
  }
  return channel.Call(method, request.SerializeAsString(), options,
                      std::move(raw));
}

}  // namespace internal
}  // namespace parley
