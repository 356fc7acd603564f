// greeter: serves greeter.Greeter on a free loopback port and calls it
// from a client in the same process. Exits 0 when every call succeeded.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "greeter.parley.h"
#include "parley/client.h"
#include "parley/server.h"

// Serves the Greeter: one method per rpc of the .proto.
class GreeterService : public greeter::Greeter::Service {
 public:
  void SayHello(parley::CallContext&, const greeter::HelloRequest& request,
                parley::Responder<greeter::HelloReply> responder) override {
    greeter::HelloReply reply;
    reply.set_message("Hello, " + request.name() + "!");
    responder.Finish(reply);  // now, or later from any thread
  }

  void Wave(parley::CallContext&, const greeter::HelloRequest& request,
            parley::Responder<google::protobuf::Empty> responder) override {
    std::cout << request.name() << " waves" << std::endl;
    responder.Finish();
  }
};

int main() {
  GreeterService service;
  parley::ServerOptions server_options;  // 127.0.0.1, any free port
  parley::Server server(server_options);
  absl::Status status = server.AddService(&service);
  if (status.ok()) status = server.Start();
  if (!status.ok()) {
    std::cerr << "cannot serve: " << status << "\n";
    return 1;
  }

  parley::ClientOptions client_options;
  client_options.url = absl::StrCat("ws://127.0.0.1:", server.port(), "/");
  parley::Client client(client_options);
  status = client.Start();
  if (!status.ok()) {
    std::cerr << "cannot start the client: " << status << "\n";
    return 1;
  }
  greeter::Greeter::Stub stub(client.channel());
  greeter::HelloRequest request;
  request.set_name("world");
  absl::StatusOr<greeter::HelloReply> reply = stub.SayHelloBlocking(request);
  if (!reply.ok()) {
    std::cerr << "SayHello failed: " << reply.status() << "\n";
    return 1;
  }
  std::cout << reply->message() << std::endl;
  if (absl::Status waved = stub.WaveBlocking(request); !waved.ok()) {
    std::cerr << "Wave failed: " << waved << "\n";
    return 1;
  }

  // The callback form returns at once; the callback runs later, exactly
  // once, on the client's I/O thread (where it must not block).
  absl::Notification answered;
  request.set_name("callbacks");
  status = stub.SayHello(
      request, [&answered](absl::StatusOr<greeter::HelloReply> reply) {
        std::cout << (reply.ok() ? reply->message() : reply.status().ToString())
                  << std::endl;
        answered.Notify();
      });
  if (!status.ok()) {
    std::cerr << "SayHello not accepted: " << status << "\n";
    return 1;
  }
  answered.WaitForNotification();

  client.Stop();
  server.Stop();
  return 0;
}
