// pubsub_server: hosts pubsub.Broker. Every publication gets the next
// number of its topic and is sent to each subscriber's pubsub.Subscriber.
//
//   pubsub_server [port]      (default 0: any free port)
//
// Prints "listening on <port>" once ready; stops on SIGINT or SIGTERM.
//
// Why subscribers see every publication exactly once and in publish order:
// the broker numbers publications and calls Deliver on the I/O thread, in
// number order; Parley delivers each session's calls exactly once and in
// the order they were made, across reconnects.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "pubsub.parley.h"
#include "sample.h"

namespace {

// A subscriber is known by its session: the channel that calls it.
using Peer = std::shared_ptr<parley::Channel>;

// Lives on the server's I/O thread: every handler and every completion
// callback of a Deliver runs there, so it needs no lock.
class Broker : public pubsub::Broker::Service {
 public:
  void Subscribe(parley::CallContext& context, const pubsub::Topic& request,
                 parley::Responder<pubsub::Subscribed> responder) override {
    Topic& topic = topics_[request.name()];
    if (std::find(topic.subscribers.begin(), topic.subscribers.end(),
                  context.peer) == topic.subscribers.end()) {
      topic.subscribers.push_back(context.peer);
    }
    sample::PrintLine(absl::StrCat("subscribed to ", request.name(), " (",
                                   topic.subscribers.size(), " in all)"));
    pubsub::Subscribed reply;
    reply.set_next_number(topic.next_number);
    responder.Finish(reply);
  }

  void Unsubscribe(
      parley::CallContext& context, const pubsub::Topic& request,
      parley::Responder<google::protobuf::Empty> responder) override {
    if (Remove(context.peer, request.name())) {
      sample::PrintLine(absl::StrCat("unsubscribed from ", request.name()));
    }
    responder.Finish();
  }

  void Publish(parley::CallContext&, const pubsub::Publication& request,
               parley::Responder<pubsub::Published> responder) override {
    Topic& topic = topics_[request.topic()];
    pubsub::Delivery delivery;
    delivery.set_topic(request.topic());
    delivery.set_number(topic.next_number++);
    delivery.set_text(request.text());
    pubsub::Published reply;
    reply.set_number(delivery.number());
    std::vector<std::pair<Peer, absl::Status>> refused;
    for (const Peer& peer : topic.subscribers) {
      absl::Status sent = pubsub::Subscriber::Stub(peer).Deliver(
          delivery, [this, peer](absl::Status status) {
            if (!status.ok()) DropEverywhere(peer, status);
          });
      if (sent.ok()) {
        reply.set_subscribers(reply.subscribers() + 1);
      } else {
        refused.emplace_back(peer, sent);
      }
    }
    for (const auto& [peer, status] : refused) DropEverywhere(peer, status);
    responder.Finish(reply);
  }

 private:
  struct Topic {
    uint64_t next_number = 1;
    std::vector<Peer> subscribers;  // in subscription order
  };

  bool Remove(const Peer& peer, const std::string& name) {
    auto topic = topics_.find(name);
    if (topic == topics_.end()) return false;
    std::vector<Peer>& subscribers = topic->second.subscribers;
    auto it = std::find(subscribers.begin(), subscribers.end(), peer);
    if (it == subscribers.end()) return false;
    subscribers.erase(it);
    return true;
  }

  // A subscriber that refuses or fails a delivery is gone (its session
  // ended): it loses every subscription.
  void DropEverywhere(const Peer& peer, const absl::Status& why) {
    for (auto& [name, topic] : topics_) {
      if (Remove(peer, name)) {
        sample::PrintLine(absl::StrCat("dropped a subscriber of ", name, ": ",
                                       why.ToString()));
      }
    }
  }

  absl::flat_hash_map<std::string, Topic> topics_;
};

}  // namespace

int main(int argc, char** argv) {
  Broker broker;
  return sample::Serve("pubsub_server", argc, argv, {&broker});
}
