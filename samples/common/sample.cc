#include "sample.h"

#include <csignal>
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace sample {

void PrintLine(absl::string_view line) {
  std::cout << absl::StrCat(line, "\n") << std::flush;
}

void PrintEvent(const parley::Event& event) {
  std::string details;
  if (event.type == parley::EventType::kReconnecting) {
    details = absl::StrCat(
        " attempt ", event.attempt, " in ",
        absl::FormatDuration(absl::Trunc(event.delay, absl::Milliseconds(1))));
  } else if (event.type == parley::EventType::kNewSession) {
    details = absl::StrCat(" session ", event.session_id);
  }
  PrintLine(absl::StrCat("event: ", parley::EventTypeName(event.type),
                         event.peer.empty() ? "" : " ", event.peer, details,
                         event.status.ok() ? "" : " ",
                         event.status.ok() ? "" : event.status.ToString()));
}

int Serve(absl::string_view name, int argc, char** argv,
          std::initializer_list<parley::Service*> services) {
  uint32_t port = 0;
  if (argc > 2 ||
      (argc == 2 && (!absl::SimpleAtoi(argv[1], &port) || port > 65535))) {
    std::cerr << "usage: " << name << " [port]\n";
    return 2;
  }
  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  parley::ServerOptions options;
  options.port = static_cast<uint16_t>(port);
  options.on_event = PrintEvent;
  parley::Server server(options);
  absl::Status status;
  for (parley::Service* service : services) {
    if (status.ok()) status = server.AddService(service);
  }
  if (status.ok()) status = server.Start();
  if (!status.ok()) {
    std::cerr << name << ": " << status << "\n";
    return 1;
  }
  PrintLine(absl::StrCat("listening on ", server.port()));
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.Stop();
  PrintLine(absl::StrCat(name, " stopped"));
  return 0;
}

std::unique_ptr<parley::Client> Dial(
    absl::string_view name, const std::string& url,
    std::initializer_list<parley::Service*> services) {
  parley::ClientOptions options;
  options.url = url;
  return Dial(name, std::move(options), services);
}

std::unique_ptr<parley::Client> Dial(
    absl::string_view name, parley::ClientOptions options,
    std::initializer_list<parley::Service*> services) {
  auto client = std::make_unique<parley::Client>(options);
  absl::Status status;
  for (parley::Service* service : services) {
    if (status.ok()) status = client->AddService(service);
  }
  if (status.ok()) status = client->Start();
  if (status.ok()) status = client->WaitConnected(absl::Seconds(10));
  if (!status.ok()) {
    std::cerr << name << ": " << status << "\n";
    return nullptr;
  }
  return client;
}

}  // namespace sample
