// echo_client: sends a few messages and requests to an echo_server, prints
// the replies and the notices the server pushes back, then stops.
//
//   echo_client ws://127.0.0.1:<port>/
//
// Exits 0 when every call succeeded and every notice arrived.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "echo.parley.h"
#include "parley/client.h"
#include "sample.h"

namespace {

// The client's own service, which the server calls.
class ListenerService : public echo::Listener::Service {
 public:
  void Notice(parley::CallContext&, const echo::Words& request,
              parley::Responder<google::protobuf::Empty> responder) override {
    sample::PrintLine("notice from server: " + request.text());
    absl::MutexLock lock(&mu_);
    ++notices_;
    responder.Finish();
  }

  bool WaitForNotices(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return notices_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  absl::Mutex mu_;
  int notices_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: echo_client ws://host:port/\n";
    return 2;
  }
  ListenerService listener;
  std::unique_ptr<parley::Client> client =
      sample::Dial("echo_client", argv[1], {&listener});
  if (client == nullptr) return 1;

  echo::Echo::Stub stub(client->channel());
  const std::vector<std::string> lines = {"hello", "parley", "over websockets"};
  int failures = 0;
  for (const std::string& line : lines) {
    echo::Words words;
    words.set_text(line);
    // A message: completes once the server's handler has run.
    if (absl::Status said = stub.SayBlocking(words); !said.ok()) {
      std::cerr << "Say failed: " << said << "\n";
      ++failures;
    }
    // A request: returns the typed reply.
    absl::StatusOr<echo::Shouted> shouted = stub.ShoutBlocking(words);
    if (!shouted.ok()) {
      std::cerr << "Shout failed: " << shouted.status() << "\n";
      ++failures;
      continue;
    }
    sample::PrintLine(
        absl::StrCat("reply #", shouted->count(), ": ", shouted->text()));
  }
  if (!listener.WaitForNotices(static_cast<int>(lines.size()),
                               absl::Seconds(10))) {
    std::cerr << "echo_client: the server's notices did not all arrive\n";
    ++failures;
  }
  client->Stop();
  sample::PrintLine(failures == 0 ? "echo_client: all calls succeeded"
                                  : "echo_client: some calls failed");
  return failures == 0 ? 0 : 1;
}
