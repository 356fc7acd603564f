// events_server: hosts events.Journal, appending each reading's number to
// a journal file, and prints every event of its sessions.
//
//   events_server <journal-file> [port]      (default 0: any free port)
//
// Prints "listening on <port>" once ready; stops on SIGINT or SIGTERM.
//
// Why every reading is recorded once even when this process is killed and
// started again: a new server process has no session for the client, so the
// client sends its unacked readings again on a new session (at least once;
// docs/PROTOCOL.md). Some of them the dead server had recorded but not yet
// acked. The journal is the dedupe set: the client numbers readings in send
// order and Parley delivers them in that order, so a reading whose number
// is not above the last one in the journal was recorded already and is only
// acked again.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "events.parley.h"
#include "sample.h"

namespace {

// The journal holds the numbers recorded so far, one a line: 1, 2, 3...
// Returns the last one, or 0 for a new (or missing) file.
absl::StatusOr<uint64_t> LastRecorded(const std::string& path) {
  std::ifstream in(path);
  uint64_t last = 0;
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    uint64_t number = 0;
    if (!absl::SimpleAtoi(line, &number) || number != last + 1) {
      return absl::DataLossError(
          absl::StrCat(path, " line ", line_number, ": expected ", last + 1));
    }
    last = number;
  }
  return last;
}

// Lives on the server's I/O thread, where every handler runs: no lock.
class Journal : public events::Journal::Service {
 public:
  Journal(int fd, uint64_t last) : fd_(fd), last_(last) {}

  void Record(parley::CallContext&, const events::Reading& request,
              parley::Responder<google::protobuf::Empty> responder) override {
    const uint64_t number = request.number();
    if (number <= last_) {
      sample::PrintLine(absl::StrCat("#", number,
                                     " again: in the journal already, acked "
                                     "without recording it twice"));
      responder.Finish();
      return;
    }
    // On disk before the ack: once the client hears OK, a restarted server
    // knows the reading.
    const std::string line = absl::StrCat(number, "\n");
    if (::write(fd_, line.data(), line.size()) !=
            static_cast<ssize_t>(line.size()) ||
        ::fdatasync(fd_) != 0) {
      absl::Status failed = absl::InternalError(
          absl::StrCat("cannot write the journal: ", std::strerror(errno)));
      sample::PrintLine(
          absl::StrCat("#", number, " failed: ", failed.ToString()));
      responder.Fail(failed);
      return;
    }
    last_ = number;
    sample::PrintLine(absl::StrCat("recorded #", number));
    responder.Finish();
  }

 private:
  const int fd_;
  uint64_t last_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: events_server <journal-file> [port]\n";
    return 2;
  }
  const std::string path = argv[1];
  absl::StatusOr<uint64_t> last = LastRecorded(path);
  if (!last.ok()) {
    std::cerr << "events_server: " << last.status() << "\n";
    return 1;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) {
    std::cerr << "events_server: cannot open " << path << ": "
              << std::strerror(errno) << "\n";
    return 1;
  }
  sample::PrintLine(*last == 0 ? absl::StrCat("journal ", path, ": empty")
                               : absl::StrCat("journal ", path, ": #1..#",
                                              *last, " recorded before"));
  Journal journal(fd, *last);
  // The port, if any, is the last argument.
  const int served =
      sample::Serve("events_server", argc - 1, argv + 1, {&journal});
  ::close(fd);
  return served;
}
