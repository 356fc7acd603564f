// echo_server: hosts echo.Echo and, on every Shout, pushes a Notice to the
// calling client's own echo.Listener service.
//
//   echo_server [port]        (default 0: any free port)
//
// Prints "listening on <port>" once ready; stops on SIGINT or SIGTERM.
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "echo.parley.h"
#include "parley/server.h"

namespace {

class EchoService : public echo::Echo::Service {
 public:
  void Shout(parley::CallContext& context, const echo::Words& request,
             parley::Responder<echo::Shouted> responder) override {
    echo::Shouted reply;
    reply.set_text(absl::AsciiStrToUpper(request.text()));
    {
      absl::MutexLock lock(&mu_);
      reply.set_count(++count_);
    }
    // Push to the client's own service before answering.
    echo::Words notice;
    notice.set_text(absl::StrCat("server heard \"", request.text(), "\""));
    absl::Status pushed =
        echo::Listener::Stub(context.peer).Notice(notice, [](absl::Status s) {
          if (!s.ok()) std::cerr << "notice failed: " << s << "\n";
        });
    if (!pushed.ok()) std::cerr << "notice not sent: " << pushed << "\n";
    responder.Finish(reply);
  }

  void Say(parley::CallContext&, const echo::Words& request,
           parley::Responder<google::protobuf::Empty> responder) override {
    std::cout << "client says: " << request.text() << std::endl;
    responder.Finish();
  }

 private:
  absl::Mutex mu_;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main(int argc, char** argv) {
  uint32_t port = 0;
  if (argc > 2 ||
      (argc == 2 && (!absl::SimpleAtoi(argv[1], &port) || port > 65535))) {
    std::cerr << "usage: echo_server [port]\n";
    return 2;
  }
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  EchoService service;
  parley::ServerOptions options;
  options.port = static_cast<uint16_t>(port);
  options.on_event = [](const parley::Event& event) {
    std::cout << "event: " << parley::EventTypeName(event.type) << " "
              << event.peer
              << (event.status.ok() ? "" : " " + event.status.ToString())
              << std::endl;
  };
  parley::Server server(options);
  absl::Status status = server.AddService(&service);
  if (status.ok()) status = server.Start();
  if (!status.ok()) {
    std::cerr << "echo_server: " << status << "\n";
    return 1;
  }
  std::cout << "listening on " << server.port() << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.Stop();
  std::cout << "echo_server stopped" << std::endl;
  return 0;
}
