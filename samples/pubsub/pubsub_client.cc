// pubsub_client: subscribes, unsubscribes and publishes on a
// pubsub_server's topics, one command per line of stdin:
//
//   sub <topic>          -> "subscribed to <topic> from #<n>"
//   unsub <topic>        -> "unsubscribed from <topic>"
//   pub <topic> <text>   -> "published <topic> #<n> to <k> subscribers"
//
// and prints each publication of a subscribed topic as "<topic> #<n>:
// <text>". It checks that they arrive exactly once and in publish order:
// numbered from the subscription on, without gaps or repeats.
//
//   pubsub_client ws://127.0.0.1:<port>/
//
// Exits at the end of stdin: 0 when every command and every publication
// was as expected.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "parley/client.h"
#include "pubsub.parley.h"
#include "sample.h"

namespace {

// The client's own service, which the server calls with publications.
// The Subscribe callback sets where a topic starts; it runs on the I/O
// thread before any delivery the server sent after its reply. Deliveries
// sent before an Unsubscribe's reply may still arrive after it: they are
// checked like the others.
class Subscriptions : public pubsub::Subscriber::Service {
 public:
  void Deliver(parley::CallContext&, const pubsub::Delivery& delivery,
               parley::Responder<google::protobuf::Empty> responder) override {
    absl::MutexLock lock(&mu_);
    auto it = expected_.find(delivery.topic());
    if (it == expected_.end()) {
      ++errors_;
      sample::PrintLine(absl::StrCat("error: ", delivery.topic(), " #",
                                     delivery.number(), " not subscribed"));
    } else if (delivery.number() != it->second) {
      ++errors_;
      sample::PrintLine(absl::StrCat("error: ", delivery.topic(), " #",
                                     delivery.number(), " where #", it->second,
                                     " was due"));
    } else {
      ++it->second;
    }
    sample::PrintLine(absl::StrCat(delivery.topic(), " #", delivery.number(),
                                   ": ", delivery.text()));
    responder.Finish();
  }

  void Subscribed(const std::string& topic, uint64_t first) {
    absl::MutexLock lock(&mu_);
    expected_[topic] = first;
  }
  int errors() {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  absl::Mutex mu_;
  // The next number due, per subscribed topic.
  absl::flat_hash_map<std::string, uint64_t> expected_ ABSL_GUARDED_BY(mu_);
  int errors_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: pubsub_client ws://host:port/  (commands on stdin)\n";
    return 2;
  }
  Subscriptions subscriptions;
  std::unique_ptr<parley::Client> client =
      sample::Dial("pubsub_client", argv[1], {&subscriptions});
  if (client == nullptr) return 1;
  pubsub::Broker::Stub broker(client->channel());

  int failures = 0;
  auto check = [&failures](const absl::Status& status) {
    if (status.ok()) return true;
    std::cerr << "pubsub_client: " << status << "\n";
    ++failures;
    return false;
  };
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> words =
        absl::StrSplit(line, absl::MaxSplits(' ', 2));
    std::string command = words[0];
    pubsub::Topic topic;
    if (words.size() > 1) topic.set_name(words[1]);
    if (command == "sub" && words.size() == 2) {
      // The callback form: the callback runs on the I/O thread, in order
      // with the deliveries, so it can set where the topic starts.
      absl::Notification subscribed;
      absl::Status accepted = broker.Subscribe(
          topic, [&](absl::StatusOr<pubsub::Subscribed> reply) {
            if (check(reply.status())) {
              subscriptions.Subscribed(topic.name(), reply->next_number());
              sample::PrintLine(absl::StrCat("subscribed to ", topic.name(),
                                             " from #", reply->next_number()));
            }
            subscribed.Notify();
          });
      if (check(accepted)) subscribed.WaitForNotification();
    } else if (command == "unsub" && words.size() == 2) {
      if (check(broker.UnsubscribeBlocking(topic))) {
        sample::PrintLine(absl::StrCat("unsubscribed from ", topic.name()));
      }
    } else if (command == "pub" && words.size() == 3) {
      pubsub::Publication publication;
      publication.set_topic(topic.name());
      publication.set_text(words[2]);
      absl::StatusOr<pubsub::Published> published =
          broker.PublishBlocking(publication);
      if (check(published.status())) {
        sample::PrintLine(
            absl::StrCat("published ", topic.name(), " #", published->number(),
                         " to ", published->subscribers(), " subscribers"));
      }
    } else {
      std::cerr << "pubsub_client: cannot read \"" << line
                << "\": sub <topic> | unsub <topic> | pub <topic> <text>\n";
      ++failures;
    }
  }
  client->Stop();
  int errors = subscriptions.errors();
  sample::PrintLine(absl::StrCat("pubsub_client: ", failures, " failed calls, ",
                                 errors, " out-of-order deliveries"));
  return failures == 0 && errors == 0 ? 0 : 1;
}
