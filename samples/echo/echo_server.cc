// echo_server: hosts echo.Echo and, on every Shout, pushes a Notice to the
// calling client's own echo.Listener service.
//
//   echo_server [port]        (default 0: any free port)
//
// Prints "listening on <port>" once ready; stops on SIGINT or SIGTERM.
#include <cstdint>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "echo.parley.h"
#include "sample.h"

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
    sample::PrintLine("client says: " + request.text());
    responder.Finish();
  }

 private:
  absl::Mutex mu_;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main(int argc, char** argv) {
  EchoService echo;
  return sample::Serve("echo_server", argc, argv, {&echo});
}
