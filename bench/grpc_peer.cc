// gRPC C++ 1.51 as the peer: GrpcSink (protos/grpc_sink.proto) served by a
// synchronous server on 127.0.0.1:0, called through an insecure channel.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/peers.h"
#include "grpc_sink.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace parley::bench {
namespace {

constexpr absl::Duration kTrialTimeout = absl::Seconds(120);

class GrpcSinkService final : public GrpcSink::Service {
 public:
  explicit GrpcSinkService(int64_t expected = 0) : expected_(expected) {}

  grpc::Status Echo(grpc::ServerContext*, const Blob* request,
                    Blob* reply) override {
    *reply = *request;
    return grpc::Status::OK;
  }
  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<Blob, Blob>* stream) override {
    Blob blob;
    while (stream->Read(&blob)) {
      if (++received_ == expected_) all_received_.Notify();
    }
    return grpc::Status::OK;
  }

  absl::Notification& all_received() { return all_received_; }

 private:
  const int64_t expected_;
  std::atomic<int64_t> received_{0};
  absl::Notification all_received_;
};

// A started server hosting `service` and a stub on a channel to it.
struct Pair {
  explicit Pair(GrpcSinkService* service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service);
    server = builder.BuildAndStart();
    if (server == nullptr || port == 0) Die("grpc server did not start");
    stub = GrpcSink::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~Pair() { server->Shutdown(); }
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<GrpcSink::Stub> stub;
};

}  // namespace

double GrpcStreamOneWay(const OneWay& work, bool buffer_hint) {
  GrpcSinkService service(work.count);
  Pair pair(&service);
  Blob blob;
  blob.set_data(std::string(work.payload, 'x'));
  grpc::ClientContext context;
  auto stream = pair.stub->Stream(&context);
  grpc::WriteOptions hinted;
  if (buffer_hint) hinted.set_buffer_hint();
  absl::Time start = absl::Now();
  for (int64_t i = 0; i < work.count; ++i) {
    bool last = i + 1 == work.count;
    if (!stream->Write(blob, last ? grpc::WriteOptions() : hinted)) {
      Die("grpc stream write failed");
    }
  }
  if (!service.all_received().WaitForNotificationWithTimeout(kTrialTimeout)) {
    Die("grpc stream trial did not finish");
  }
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok()) Die(absl::StrCat("grpc stream: ", status.error_message()));
  return work.count / seconds;
}

std::vector<double> GrpcLatencies(int concurrency, int64_t calls,
                                  size_t payload) {
  GrpcSinkService service;
  Pair pair(&service);
  Blob blob;
  blob.set_data(std::string(payload, 'x'));
  // One call's state, alive until its callback ran.
  struct Call {
    grpc::ClientContext context;
    Blob reply;
  };
  return ClosedLoop(
      "gRPC", concurrency, calls / 10, calls,
      [&](std::function<void(bool)> done) {
        auto call = std::make_shared<Call>();
        pair.stub->async()->Echo(
            &call->context, &blob, &call->reply,
            [call, done,
             size = blob.data().size()](grpc::Status status) mutable {
              bool ok = status.ok() && call->reply.data().size() == size;
              call.reset();  // the context goes inside the callback
              done(ok);
            });
      },
      kTrialTimeout);
}

}  // namespace parley::bench
