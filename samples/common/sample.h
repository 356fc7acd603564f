// What the sample programs share, so each sample shows only its own
// services: printing whole lines, serving until a stop signal, and
// dialling a client.
//
//   int main(int argc, char** argv) {
//     EchoService echo;
//     return sample::Serve("echo_server", argc, argv, {&echo});
//   }
//
// Thread safety: PrintLine may be called from any thread (the I/O thread
// prints while the main thread reads input).
#ifndef PARLEY_SAMPLES_COMMON_SAMPLE_H_
#define PARLEY_SAMPLES_COMMON_SAMPLE_H_

#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parley/client.h"
#include "parley/events.h"
#include "parley/rpc.h"
#include "parley/server.h"

namespace sample {

// Writes `line` and a newline to stdout in one piece, flushed.
void PrintLine(absl::string_view line);

// Prints "event: <type> <peer> [details] [status]"; the details are a
// Reconnecting event's attempt and delay, a NewSession's session id.
void PrintEvent(const parley::Event& event);

// A server program's main: `name [port]` (default 0: any free port).
// Serves `services` (which must outlive the call) on 127.0.0.1, printing
// every event, prints "listening on <port>" once ready and returns 0 after
// SIGINT or SIGTERM; 1 when the server cannot start, 2 on a bad command
// line.
int Serve(absl::string_view name, int argc, char** argv,
          std::initializer_list<parley::Service*> services);

// A client program's start: dials `url` hosting `services` (which must
// outlive the client) and waits until the session is open. On failure
// prints "<name>: <why>" to stderr and returns null.
std::unique_ptr<parley::Client> Dial(
    absl::string_view name, const std::string& url,
    std::initializer_list<parley::Service*> services);

// The same with `options` (url, events, buffer, ...).
std::unique_ptr<parley::Client> Dial(
    absl::string_view name, parley::ClientOptions options,
    std::initializer_list<parley::Service*> services);

}  // namespace sample

#endif  // PARLEY_SAMPLES_COMMON_SAMPLE_H_
