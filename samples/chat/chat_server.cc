// chat_server: hosts one chat.ChatRoom. Each line a member says is pushed
// to every other member's chat.ChatFeed; joins and leaves are announced.
//
//   chat_server [port]        (default 0: any free port)
//
// Prints "listening on <port>" once ready, then what happens in the room;
// stops on SIGINT or SIGTERM.
#include <algorithm>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "chat.parley.h"
#include "sample.h"

namespace {

// A member is known by its session: the channel that calls its feed.
using Peer = std::shared_ptr<parley::Channel>;

// Lives on the server's I/O thread: every handler and every completion
// callback of a call the room makes runs there, so it needs no lock.
class ChatRoom : public chat::ChatRoom::Service {
 public:
  void Join(parley::CallContext& context, const chat::Name& request,
            parley::Responder<chat::Members> responder) override {
    if (request.name().empty()) {
      return responder.Fail(absl::InvalidArgumentError("empty name"));
    }
    if (auto it = members_.find(context.peer); it != members_.end()) {
      return responder.Fail(absl::FailedPreconditionError(
          absl::StrCat("already joined as ", it->second)));
    }
    for (const auto& [peer, name] : members_) {
      if (name == request.name()) {
        return responder.Fail(absl::AlreadyExistsError(
            absl::StrCat("the name ", name, " is taken")));
      }
    }
    chat::Presence presence;
    presence.set_name(request.name());
    presence.set_joined(true);
    Announce(presence);
    members_[context.peer] = request.name();
    sample::PrintLine(absl::StrCat(request.name(), " joined"));

    chat::Members reply;
    for (const auto& [peer, name] : members_) reply.add_names(name);
    std::sort(reply.mutable_names()->begin(), reply.mutable_names()->end());
    responder.Finish(reply);
  }

  void Say(parley::CallContext& context, const chat::Line& request,
           parley::Responder<google::protobuf::Empty> responder) override {
    auto it = members_.find(context.peer);
    if (it == members_.end()) {
      return responder.Fail(absl::FailedPreconditionError("Join first"));
    }
    chat::Line line;
    line.set_name(it->second);
    line.set_text(request.text());
    sample::PrintLine(absl::StrCat("<", line.name(), "> ", line.text()));
    history_.push_back(line);
    if (history_.size() > kHistoryLines) history_.pop_front();
    ForEachOther(context.peer,
                 [&line](chat::ChatFeed::Stub& feed, parley::AckCallback done) {
                   return feed.Posted(line, std::move(done));
                 });
    responder.Finish();
  }

  void History(parley::CallContext&, const chat::Query& request,
               parley::Responder<chat::Lines> responder) override {
    size_t limit = request.limit() == 0 ? history_.size() : request.limit();
    chat::Lines reply;
    for (size_t i = history_.size() - std::min(limit, history_.size());
         i < history_.size(); ++i) {
      *reply.add_lines() = history_[i];
    }
    responder.Finish(reply);
  }

  void Leave(parley::CallContext& context, const google::protobuf::Empty&,
             parley::Responder<google::protobuf::Empty> responder) override {
    Drop(context.peer, "left");
    responder.Finish();
  }

 private:
  static constexpr size_t kHistoryLines = 100;

  // Calls `send` with the feed of every member but `except`. A member
  // whose feed refuses or fails a call is gone: it is dropped and the
  // others are told why.
  template <typename Send>
  void ForEachOther(const Peer& except, const Send& send) {
    std::vector<std::pair<Peer, absl::Status>> refused;
    for (const auto& [peer, name] : members_) {
      if (peer == except) continue;
      chat::ChatFeed::Stub feed(peer);
      absl::Status sent = send(feed, [this, peer = peer](absl::Status s) {
        if (!s.ok()) Drop(peer, s.ToString());
      });
      if (!sent.ok()) refused.emplace_back(peer, sent);
    }
    for (const auto& [peer, status] : refused) Drop(peer, status.ToString());
  }

  void Announce(const chat::Presence& presence) {
    ForEachOther(nullptr, [&presence](chat::ChatFeed::Stub& feed,
                                      parley::AckCallback done) {
      return feed.Announced(presence, std::move(done));
    });
  }

  void Drop(const Peer& peer, const std::string& reason) {
    auto it = members_.find(peer);
    if (it == members_.end()) return;
    chat::Presence presence;
    presence.set_name(it->second);
    presence.set_reason(reason);
    members_.erase(it);
    sample::PrintLine(absl::StrCat(presence.name(), " left (", reason, ")"));
    Announce(presence);
  }

  absl::flat_hash_map<Peer, std::string> members_;
  std::deque<chat::Line> history_;
};

}  // namespace

int main(int argc, char** argv) {
  ChatRoom room;
  return sample::Serve("chat_server", argc, argv, {&room});
}
