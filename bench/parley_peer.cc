// Parley's side of every scenario: a parley::Server hosting Sink, and
// parley::Clients calling it through the generated stub.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/harness.h"
#include "bench/peers.h"
#include "parley/client.h"
#include "parley/server.h"
#include "sink.parley.h"

namespace parley::bench {
namespace {

constexpr absl::Duration kTrialTimeout = absl::Seconds(120);

// Counts Puts; the n-th one notifies. Echo replies with the request.
class SinkService : public Sink::Service {
 public:
  explicit SinkService(int64_t expected = 0) : expected_(expected) {}

  void Put(CallContext&, const Blob&,
           Responder<google::protobuf::Empty> responder) override {
    responder.Finish();
    if (++received_ == expected_) all_received_.Notify();
  }
  void Echo(CallContext&, const Blob& request,
            Responder<Blob> responder) override {
    responder.Finish(request);
  }

  absl::Notification& all_received() { return all_received_; }

 private:
  const int64_t expected_;
  int64_t received_ = 0;  // server I/O thread only
  absl::Notification all_received_;
};

// A started server hosting `service`, and a client connected to it.
// With `durable`, the client keeps a durable buffer under that sync policy
// in a fresh directory, removed afterwards.
struct Pair {
  explicit Pair(SinkService* service,
                absl::optional<SyncPolicy> durable = absl::nullopt)
      : server(ServerOptions()) {
    if (!server.AddService(service).ok() || !server.Start().ok()) {
      Die("parley server did not start");
    }
    ClientOptions options;
    options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
    if (durable.has_value()) {
      char dir[] = "/tmp/parley_bench_buffer.XXXXXX";
      if (::mkdtemp(dir) == nullptr) Die("mkdtemp failed");
      buffer_dir = dir;
      options.buffer.dir = buffer_dir;
      options.buffer.sync = *durable;
      options.buffer.capacity_bytes = uint64_t{1} << 30;
    }
    client = std::make_unique<Client>(options);
    if (!client->Start().ok() ||
        !client->WaitConnected(absl::Seconds(30)).ok()) {
      Die("parley client did not connect");
    }
  }
  ~Pair() {
    client->Stop();
    server.Stop();
    client.reset();  // closes the buffer before its directory goes
    if (!buffer_dir.empty()) std::filesystem::remove_all(buffer_dir);
  }
  Server server;
  std::string buffer_dir;
  std::unique_ptr<Client> client;
};

Blob MakeBlob(size_t payload) {
  Blob blob;
  blob.set_data(std::string(payload, 'x'));
  return blob;
}

}  // namespace

double ParleyOneWay(const OneWay& work, const ParleySend& send) {
  SinkService service(work.count);
  Pair pair(&service, send.durable);
  Sink::Stub stub(pair.client->channel());
  const Blob blob = MakeBlob(work.payload);
  CallOptions options;
  options.ack_within = absl::Seconds(60);
  std::atomic<int64_t> acked{0};
  std::atomic<bool> failed{false};
  absl::Notification all_acked;
  auto done = [&](absl::Status status) {
    if (!status.ok()) failed = true;
    if (++acked == work.count) all_acked.Notify();
  };
  absl::Time start = absl::Now();
  for (int64_t i = 0; i < work.count; ++i) {
    for (;;) {
      absl::Status accepted = send.acked ? stub.Put(blob, done, options)
                                         : stub.Put(blob, nullptr, {});
      if (accepted.ok()) break;
      // Full (max_unacked_messages/bytes): the caller keeps the message and
      // retries once acks have made room.
      if (!absl::IsResourceExhausted(accepted)) {
        Die(absl::StrCat("Put refused: ", accepted.ToString()));
      }
      absl::SleepFor(absl::Microseconds(50));
    }
  }
  absl::Notification& end = send.acked ? all_acked : service.all_received();
  if (!end.WaitForNotificationWithTimeout(kTrialTimeout)) {
    Die("parley one-way trial did not finish");
  }
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (failed) Die("an acked Put failed");
  return work.count / seconds;
}

std::vector<double> ParleyLatencies(int concurrency, int64_t calls,
                                    size_t payload) {
  SinkService service;
  Pair pair(&service);
  Sink::Stub stub(pair.client->channel());
  const Blob blob = MakeBlob(payload);
  return ClosedLoop(
      "Parley", concurrency, calls / 10, calls,
      [&](std::function<void(bool)> done) {
        absl::Status accepted = stub.Echo(
            blob,
            [done, size = blob.data().size()](absl::StatusOr<Blob> reply) {
              done(reply.ok() && reply->data().size() == size);
            });
        if (!accepted.ok()) done(false);
      },
      kTrialTimeout);
}

IdleFigures ParleyIdle(int sessions) {
  // Each Client has its own I/O thread and asio context (epoll, eventfd,
  // timerfd and socket: four fds), so the clients are spread over child
  // processes to stay under the fd limit.
  constexpr int kClientsPerProcess = 2000;
  return MeasureIdle({"idle-server", "parley"}, sessions, [&](uint16_t port) {
    auto children = std::make_shared<std::vector<std::unique_ptr<Child>>>();
    for (int left = sessions; left > 0; left -= kClientsPerProcess) {
      children->push_back(std::make_unique<Child>(std::vector<std::string>{
          "idle-clients", std::to_string(port),
          std::to_string(std::min(left, kClientsPerProcess))}));
    }
    for (auto& child : *children) {
      if (child->ReadLine(kTrialTimeout) != "connected") {
        Die("parley idle clients did not connect");
      }
    }
    return std::shared_ptr<void>(children);
  });
}

void ConnectParleyIdle(uint16_t port, int sessions) {
  RaiseFdLimit();
  std::vector<std::unique_ptr<Client>> clients;
  ClientOptions options;
  options.url = absl::StrCat("ws://127.0.0.1:", port, "/");
  for (int i = 0; i < sessions; ++i) {
    clients.push_back(std::make_unique<Client>(options));
    if (!clients.back()->Start().ok()) Die("parley client did not start");
  }
  for (auto& client : clients) {
    absl::Status connected = client->WaitConnected(kTrialTimeout);
    if (!connected.ok()) Die(connected.ToString());
  }
  std::printf("connected\n");
  std::fflush(stdout);
  for (;;) ::pause();
}

void ServeParleyIdle() {
  RaiseFdLimit();
  SinkService service;
  Server server{ServerOptions()};
  if (!server.AddService(&service).ok() || !server.Start().ok()) {
    Die("parley server did not start");
  }
  std::printf("%d\n", server.port());
  std::fflush(stdout);
  for (;;) ::pause();
}

}  // namespace parley::bench
