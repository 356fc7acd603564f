// chat_client: joins a chat_server's room under a name, says every line
// read from stdin, and prints what the others say and who comes and goes.
//
//   chat_client ws://127.0.0.1:<port>/ <name>
//
// Prints "joined as <name>; in the room: ..." and the room's recent lines
// once in, then "<who> text" for each line of the others and "* <who>
// joined" / "* <who> left (<reason>)". At the end of stdin it leaves the
// room and exits: 0 when every call succeeded.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "chat.parley.h"
#include "parley/client.h"
#include "sample.h"

namespace {

// The client's own service, which the server calls; on the I/O thread.
class Feed : public chat::ChatFeed::Service {
 public:
  void Posted(parley::CallContext&, const chat::Line& line,
              parley::Responder<google::protobuf::Empty> responder) override {
    sample::PrintLine(absl::StrCat("<", line.name(), "> ", line.text()));
    responder.Finish();
  }

  void Announced(
      parley::CallContext&, const chat::Presence& presence,
      parley::Responder<google::protobuf::Empty> responder) override {
    sample::PrintLine(presence.joined()
                          ? absl::StrCat("* ", presence.name(), " joined")
                          : absl::StrCat("* ", presence.name(), " left (",
                                         presence.reason(), ")"));
    responder.Finish();
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: chat_client ws://host:port/ name\n";
    return 2;
  }
  Feed feed;
  std::unique_ptr<parley::Client> client =
      sample::Dial("chat_client", argv[1], {&feed});
  if (client == nullptr) return 1;

  chat::ChatRoom::Stub room(client->channel());
  chat::Name name;
  name.set_name(argv[2]);
  absl::StatusOr<chat::Members> members = room.JoinBlocking(name);
  if (!members.ok()) {
    std::cerr << "chat_client: cannot join: " << members.status() << "\n";
    return 1;
  }
  sample::PrintLine(absl::StrCat("joined as ", name.name(), "; in the room: ",
                                 absl::StrJoin(members->names(), ", ")));
  int failures = 0;
  chat::Query query;
  query.set_limit(10);
  absl::StatusOr<chat::Lines> history = room.HistoryBlocking(query);
  if (!history.ok()) {
    std::cerr << "chat_client: History failed: " << history.status() << "\n";
    ++failures;
  } else {
    for (const chat::Line& line : history->lines()) {
      sample::PrintLine(
          absl::StrCat("(earlier) <", line.name(), "> ", line.text()));
    }
  }

  std::string text;
  while (std::getline(std::cin, text)) {
    chat::Line line;
    line.set_text(text);
    // Returns once the server has taken the line (or failed to in 5 s).
    if (absl::Status said = room.SayBlocking(line); !said.ok()) {
      std::cerr << "chat_client: Say failed: " << said << "\n";
      ++failures;
    }
  }
  if (absl::Status left = room.LeaveBlocking({}); !left.ok()) {
    std::cerr << "chat_client: Leave failed: " << left << "\n";
    ++failures;
  }
  client->Stop();
  sample::PrintLine(absl::StrCat(name.name(), " left the room"));
  return failures == 0 ? 0 : 1;
}
