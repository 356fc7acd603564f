// Exercises the code protoc-gen-parley generates for echo.proto (and the
// test protos), compiled through parley_generate(). A fake Channel completes
// every call by running a service's method table directly.
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "chat.parley.h"
#include "echo.parley.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "no_package.parley.h"
#include "parley/callback.h"
#include "parley/rpc.h"
#include "runtime/util/mutex.h"

namespace {

using ::testing::HasSubstr;

// Records calls and completes them through `service`'s method table, either
// at once (on the caller's thread) or when RunOne() runs them on a thread
// that then counts as this channel's I/O thread.
class FakeChannel : public parley::Channel {
 public:
  struct RecordedCall {
    const parley::MethodInfo* method;
    std::string payload;
    parley::CallOptions options;
  };

  explicit FakeChannel(parley::Service* service, bool deferred = false)
      : service_(service), deferred_(deferred) {}

  absl::Status Call(const parley::MethodInfo& method, std::string payload,
                    const parley::CallOptions& options,
                    parley::RawDoneCallback done) override {
    if (!accept_.ok()) return accept_;
    calls_.push_back({&method, payload, options});
    parley::Callback<void()> run = [this, &method, payload = std::move(payload),
                                    done = std::move(done)]() mutable {
      Dispatch(method, payload, std::move(done));
    };
    if (!deferred_) {
      run();
      return absl::OkStatus();
    }
    parley::util::MutexLock lock(&mu_);
    pending_.push_back(std::move(run));
    posted_.SignalAll();
    return absl::OkStatus();
  }

  bool OnIoThread() const override {
    parley::util::MutexLock lock(&mu_);
    return io_thread_ == std::this_thread::get_id();
  }

  // Queues `job` as if it were an I/O-thread callback.
  void Post(parley::Callback<void()> job) {
    parley::util::MutexLock lock(&mu_);
    pending_.push_back(std::move(job));
    posted_.SignalAll();
  }

  // Waits (at most 10 s) for one queued job and runs it on this thread, as
  // the I/O thread. Returns false on timeout.
  bool RunOne() {
    parley::Callback<void()> job;
    {
      parley::util::MutexLock lock(&mu_);
      auto has_job = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return !pending_.empty();
      };
      if (!posted_.WaitFor(&mu_, absl::Seconds(10), has_job)) {
        return false;
      }
      job = std::move(pending_.front());
      pending_.pop_front();
      io_thread_ = std::this_thread::get_id();
    }
    job();
    return true;
  }

  void Refuse(absl::Status status) { accept_ = std::move(status); }
  const std::vector<RecordedCall>& calls() const { return calls_; }

 private:
  void Dispatch(const parley::MethodInfo& method, absl::string_view payload,
                parley::RawDoneCallback done) {
    parley::RawResponder responder(
        [done = std::move(done)](absl::StatusOr<std::string> result) {
          if (done != nullptr) done(std::move(result));
        });
    for (const parley::MethodHandler& handler : service_->methods()) {
      if (std::strcmp(handler.info->full_name, method.full_name) == 0) {
        parley::CallContext context{handler.info, ++seq_, nullptr, nullptr};
        handler.invoke(service_, context, payload, std::move(responder));
        return;
      }
    }
    responder.Fail(absl::NotFoundError(method.full_name));
  }

  parley::Service* service_;
  const bool deferred_;
  absl::Status accept_;
  std::vector<RecordedCall> calls_;
  uint64_t seq_ = 0;
  mutable parley::util::Mutex mu_;
  parley::util::CondVar posted_;  // pending_ grew
  std::deque<parley::Callback<void()>> pending_ ABSL_GUARDED_BY(mu_);
  std::thread::id io_thread_ ABSL_GUARDED_BY(mu_);
};

class EchoImpl : public echo::Echo::Service {
 public:
  void Shout(parley::CallContext& context, const echo::Words& request,
             parley::Responder<echo::Shouted> responder) override {
    seen_method = context.method;
    seen_text = request.text();
    echo::Shouted reply;
    reply.set_text(absl::AsciiStrToUpper(request.text()));
    reply.set_count(++count);
    responder.Finish(reply);
  }
  void Say(parley::CallContext&, const echo::Words& request,
           parley::Responder<google::protobuf::Empty> responder) override {
    seen_text = request.text();
    if (drop_say) return;  // the responder is destroyed unfinished
    responder.Finish();
  }

  const parley::MethodInfo* seen_method = nullptr;
  std::string seen_text;
  uint64_t count = 0;
  bool drop_say = false;
};

echo::Words MakeWords(const std::string& text) {
  echo::Words words;
  words.set_text(text);
  return words;
}

TEST(CodegenGeneratedEcho, ShoutSerializesAndTheTypedReplyComesBack) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl);
  echo::Echo::Stub stub(channel);
  absl::StatusOr<echo::Shouted> reply;
  ASSERT_TRUE(stub.Shout(MakeWords("hello"), [&](auto r) { reply = r; }).ok());

  ASSERT_EQ(channel->calls().size(), 1u);
  EXPECT_EQ(channel->calls()[0].method, &echo::Echo::kShoutMethod);
  echo::Words sent;
  ASSERT_TRUE(sent.ParseFromString(channel->calls()[0].payload));
  EXPECT_EQ(sent.text(), "hello");
  EXPECT_EQ(impl.seen_text, "hello");
  EXPECT_EQ(impl.seen_method, &echo::Echo::kShoutMethod);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "HELLO");
  EXPECT_EQ(reply->count(), 1u);
}

// Invoke parses into the request object the last call of its type used
// on this thread: nothing of the last request may show through.
TEST(CodegenGeneratedEcho, AKeptRequestShowsNothingOfTheLastOne) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl);
  echo::Echo::Stub stub(channel);
  auto ignore = [](absl::StatusOr<echo::Shouted>) {};
  ASSERT_TRUE(stub.Shout(MakeWords("hello"), ignore).ok());
  EXPECT_EQ(impl.seen_text, "hello");
  ASSERT_TRUE(stub.Shout(echo::Words(), ignore).ok());
  EXPECT_EQ(impl.seen_text, "");
}

// The allocation-free form of RawResponder: its function runs exactly
// once, with its context and tag, whichever way the call ends.
struct Completions {
  std::vector<std::pair<uint64_t, absl::StatusOr<std::string>>> runs;
  static void Record(void* context, uint64_t tag,
                     absl::StatusOr<std::string> result) {
    static_cast<Completions*>(context)->runs.emplace_back(tag,
                                                          std::move(result));
  }
};

TEST(RawResponderTest, ACompleteFnRunsOnceWithItsContextAndTag) {
  Completions done;
  {
    parley::RawResponder finished(&Completions::Record, &done, 7);
    parley::RawResponder moved(std::move(finished));
    EXPECT_TRUE(finished.finished());
    EXPECT_FALSE(moved.finished());
    moved.Finish("reply");
    moved.Fail(absl::UnknownError("second outcome"));  // ignored
    EXPECT_TRUE(moved.finished());
    parley::RawResponder dropped(&Completions::Record, &done, 8);
    parley::RawResponder replaced(&Completions::Record, &done, 9);
    replaced = parley::RawResponder(&Completions::Record, &done, 10);
  }  // 10 and 8 are dropped here
  ASSERT_EQ(done.runs.size(), 4u);
  EXPECT_EQ(done.runs[0].first, 7u);
  EXPECT_EQ(*done.runs[0].second, "reply");
  EXPECT_EQ(done.runs[1].first, 9u);  // replaced by the move-assignment
  EXPECT_EQ(done.runs[2].first, 10u);
  EXPECT_EQ(done.runs[3].first, 8u);
  for (size_t i = 1; i < done.runs.size(); ++i) {
    EXPECT_TRUE(absl::IsInternal(done.runs[i].second.status()))
        << done.runs[i].second.status();
  }
}

TEST(KeptRequestTest, TheNextCallReusesItAndANestedCallGetsItsOwn) {
  const echo::Words* first;
  {
    parley::internal::KeptRequest<echo::Words> outer(10);
    first = &outer.get();
    outer.get().set_text(std::string(1000, 'a'));
    parley::internal::KeptRequest<echo::Words> nested(10);
    EXPECT_NE(&nested.get(), first);
  }
  parley::internal::KeptRequest<echo::Words> next(10);
  EXPECT_EQ(&next.get(), first);
  EXPECT_GE(next.get().mutable_text()->capacity(), 1000u);  // memory reused
}

TEST(KeptRequestTest, OneWhosePayloadWasLargeIsNotKept) {
  constexpr size_t kLarge =
      parley::internal::KeptRequest<echo::Words>::kMaxKeptBytes + 1;
  {
    parley::internal::KeptRequest<echo::Words> large(kLarge);
    large.get().set_text(std::string(kLarge, 'a'));
  }
  parley::internal::KeptRequest<echo::Words> next(10);
  EXPECT_EQ(next.get().text(), "");
  EXPECT_LT(next.get().mutable_text()->capacity(), kLarge);
}

TEST(CodegenGeneratedEcho, SayCompletesWithOk) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl);
  echo::Echo::Stub stub(channel);
  absl::Status outcome = absl::UnknownError("not run");
  ASSERT_TRUE(
      stub.Say(MakeWords("hi"), [&](absl::Status s) { outcome = s; }).ok());
  EXPECT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(impl.seen_text, "hi");
  // `done` may be left out.
  EXPECT_TRUE(stub.Say(MakeWords("again")).ok());
  EXPECT_EQ(channel->calls().size(), 2u);
}

TEST(CodegenGeneratedEcho, CallOptionsReachTheChannel) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl);
  echo::Echo::Stub stub(channel);
  parley::CallOptions options;
  options.ack_within = absl::Seconds(1);
  ASSERT_TRUE(stub.Say(MakeWords("x"), nullptr, options).ok());
  ASSERT_EQ(channel->calls().size(), 1u);
  EXPECT_EQ(channel->calls()[0].options.ack_within, absl::Seconds(1));
}

TEST(CodegenGeneratedEcho,
     PayloadOfAnotherTypeGivesInvalidArgumentNamingTheMethod) {
  EchoImpl impl;
  FakeChannel channel(&impl);
  absl::StatusOr<std::string> result;
  // Not a Words: field 1 with wire type 7 does not parse.
  ASSERT_TRUE(channel
                  .Call(echo::Echo::kShoutMethod, std::string("\x0f\x01", 2),
                        {}, [&](absl::StatusOr<std::string> r) { result = r; })
                  .ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("echo.Echo/Shout"));
  EXPECT_THAT(result.status().message(), HasSubstr("echo.Words"));
  EXPECT_EQ(impl.seen_text, "");
}

TEST(CodegenGeneratedEcho, UnimplementedMethodReturnsUnimplemented) {
  echo::Echo::Service bare;
  echo::Echo::Stub stub(std::make_shared<FakeChannel>(&bare));
  absl::StatusOr<echo::Shouted> reply;
  ASSERT_TRUE(stub.Shout(MakeWords("x"), [&](auto r) { reply = r; }).ok());
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(reply.status().message(), "echo.Echo/Shout is not implemented");
}

TEST(CodegenGeneratedEcho, DroppedResponderGivesInternal) {
  EchoImpl impl;
  impl.drop_say = true;
  echo::Echo::Stub stub(std::make_shared<FakeChannel>(&impl));
  absl::Status outcome;
  ASSERT_TRUE(
      stub.Say(MakeWords("x"), [&](absl::Status s) { outcome = s; }).ok());
  EXPECT_EQ(outcome.code(), absl::StatusCode::kInternal);
}

TEST(CodegenGeneratedEcho, RefusedCallIsReportedAndDoneNeverRuns) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl);
  channel->Refuse(absl::UnavailableError("window shut"));
  echo::Echo::Stub stub(channel);
  bool ran = false;
  EXPECT_EQ(stub.Shout(MakeWords("x"), [&](auto) { ran = true; }).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(ran);
  EXPECT_EQ(stub.SayBlocking(MakeWords("x")).code(),
            absl::StatusCode::kUnavailable);
}

TEST(CodegenGeneratedEcho, ShoutBlockingWorksFromANonIoThread) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl, /*deferred=*/true);
  echo::Echo::Stub stub(channel);
  bool io_ran = false;
  std::thread io([&] { io_ran = channel->RunOne(); });
  absl::StatusOr<echo::Shouted> reply = stub.ShoutBlocking(MakeWords("abc"));
  io.join();
  ASSERT_TRUE(io_ran);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->text(), "ABC");
}

TEST(CodegenGeneratedEcho, BlockingCallsRefuseOnTheIoThread) {
  EchoImpl impl;
  auto channel = std::make_shared<FakeChannel>(&impl, /*deferred=*/true);
  echo::Echo::Stub stub(channel);
  absl::StatusOr<echo::Shouted> reply;
  absl::Status said;
  channel->Post([&] {
    reply = stub.ShoutBlocking(MakeWords("x"));
    said = stub.SayBlocking(MakeWords("x"));
  });
  std::thread io([&] { channel->RunOne(); });
  io.join();
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(said.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(channel->calls().empty());
}

TEST(CodegenGeneratedEcho, MethodInfosCarryNamesKindsAndDefaults) {
  EXPECT_STREQ(echo::Echo::kServiceName, "echo.Echo");
  EXPECT_STREQ(echo::Echo::kShoutMethod.full_name, "echo.Echo/Shout");
  EXPECT_EQ(echo::Echo::kShoutMethod.kind, parley::MethodKind::kRequest);
  EXPECT_EQ(echo::Echo::kShoutMethod.default_ack_within, absl::ZeroDuration());
  EXPECT_STREQ(echo::Echo::kSayMethod.full_name, "echo.Echo/Say");
  EXPECT_EQ(echo::Echo::kSayMethod.kind, parley::MethodKind::kMessage);
  EXPECT_EQ(echo::Echo::kSayMethod.default_ack_within, absl::Seconds(5));

  echo::Echo::Service service;
  EXPECT_EQ(service.service_name(), "echo.Echo");
  ASSERT_EQ(service.methods().size(), 2u);
  EXPECT_EQ(service.methods()[0].info, &echo::Echo::kShoutMethod);
  EXPECT_EQ(service.methods()[1].info, &echo::Echo::kSayMethod);
}

TEST(CodegenGeneratedChat, ServiceDefaultIsInheritedAndMethodOptionWins) {
  EXPECT_EQ(chat::v1::ChatRoom::kSayMethod.default_ack_within,
            absl::Seconds(5));
  EXPECT_EQ(chat::v1::ChatRoom::kHistoryMethod.default_ack_within,
            absl::Seconds(10));
  EXPECT_EQ(chat::v1::ChatRoom::kPokeMethod.default_ack_within,
            absl::Hours(24));
  EXPECT_EQ(chat::v1::ChatFeed::kDroppedMethod.default_ack_within,
            absl::ZeroDuration());
  EXPECT_EQ(chat::v1::ChatFeed::kPostedToEveryoneInTheRoomMethod.kind,
            parley::MethodKind::kRequest);
}

TEST(CodegenGeneratedChat, GlobalNamespaceAndEmptyServicesCompile) {
  EXPECT_STREQ(::Pinger::kPingMethod.full_name, "Pinger/Ping");
  ::Idle::Service idle;
  EXPECT_EQ(idle.service_name(), "Idle");
  EXPECT_TRUE(idle.methods().empty());
}

}  // namespace
