// wss:// end to end. A throwaway CA and certificates are made at test time
// with the openssl CLI; the client must complete a session over TLS, and
// refuse a certificate for another host and one from an untrusted issuer
// with a clear, non-retryable Status.
#include <stdlib.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "calc.parley.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "parley/client.h"
#include "parley/server.h"
#include "runtime/util/mutex.h"

namespace parley {
namespace {

using test::Num;

constexpr absl::Duration kWait = absl::Seconds(30);

// The CA, certificates and keys, in a temporary directory.
class Certificates {
 public:
  Certificates() {
    char pattern[] = "/tmp/parley-tls-XXXXXX";
    dir_ = mkdtemp(pattern);
    Run(absl::StrCat(Req(), " -keyout ca.key -out ca.pem -subj '/CN=Test CA'"));
    // Signed by the CA: for 127.0.0.1, for another host, for a client.
    Issue("good", "/CN=127.0.0.1", "IP:127.0.0.1,DNS:localhost");
    Issue("elsewhere", "/CN=elsewhere.test", "DNS:elsewhere.test");
    Issue("alice", "/CN=alice", "DNS:alice.test");
    // Self-signed, for the right address, but nobody vouches for it.
    Run(absl::StrCat(Req(),
                     " -keyout rogue.key -out rogue.pem -subj "
                     "'/CN=127.0.0.1' -addext subjectAltName=IP:127.0.0.1"));
  }
  ~Certificates() { Run(absl::StrCat("rm -rf ", dir_)); }

  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }
  bool ok() const { return ok_; }

 private:
  static std::string Req() {
    return "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
           "-nodes -days 2";
  }
  void Issue(const std::string& name, const std::string& subject,
             const std::string& alt_names) {
    Run(absl::StrCat(Req(), " -CA ca.pem -CAkey ca.key -keyout ", name,
                     ".key -out ", name, ".pem -subj '", subject,
                     "' -addext subjectAltName=", alt_names,
                     " -addext basicConstraints=critical,CA:FALSE"));
  }
  void Run(const std::string& command) {
    const std::string line =
        absl::StrCat("cd ", dir_, " && ", command, " >/dev/null 2>&1");
    ok_ &= std::system(line.c_str()) == 0;
  }

  std::string dir_;
  bool ok_ = true;
};

class Doubler : public test::Calc::Service {
 public:
  void Double(CallContext& context, const Num& request,
              Responder<Num> responder) override {
    Num reply;
    reply.set_value(request.value() * 2);
    // Padding a caller added comes back as it arrived.
    reply.GetReflection()->MutableUnknownFields(&reply)->MergeFrom(
        request.GetReflection()->GetUnknownFields(request));
    {
      util::MutexLock lock(&mu_);
      principal_ = context.identity->principal;
    }
    responder.Finish(reply);
  }
  std::string principal() {
    util::MutexLock lock(&mu_);
    return principal_;
  }

 private:
  util::Mutex mu_;
  std::string principal_ ABSL_GUARDED_BY(mu_);
};

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certificates_ = new Certificates(); }
  static void TearDownTestSuite() { delete certificates_; }
  void SetUp() override { ASSERT_TRUE(certificates_->ok()); }

  // Serves wss:// with certificate `name`.
  void StartServer(const std::string& name, const std::string& client_ca = "") {
    ServerOptions options;
    options.tls.certificate_chain_file = Path(name + ".pem");
    options.tls.private_key_file = Path(name + ".key");
    options.tls.ca_file = client_ca;
    options.authenticate =
        [](const HandshakeRequest& request) -> absl::StatusOr<PeerIdentity> {
      if (!request.secure) return absl::PermissionDeniedError("TLS only");
      PeerIdentity identity;
      identity.principal = "over-tls";
      return identity;
    };
    server_ = std::make_unique<Server>(options);
    ASSERT_TRUE(server_->AddService(&doubler_).ok());
    ASSERT_TRUE(server_->Start().ok());
  }
  ClientOptions TrustingOptions() {
    ClientOptions options;
    options.url = absl::StrCat("wss://127.0.0.1:", server_->port(), "/");
    options.tls.ca_file = Path("ca.pem");
    options.on_event = [this](const Event& event) {
      util::MutexLock lock(&mu_);
      reconnects_ += event.type == EventType::kReconnecting;
    };
    return options;
  }
  static std::string Path(const std::string& name) {
    return certificates_->Path(name);
  }
  static absl::StatusOr<Num> Double(Client& client, int64_t value) {
    Num num;
    num.set_value(value);
    return test::Calc::Stub(client.channel()).DoubleBlocking(num);
  }
  // The client gives up on the first attempt with `code` naming `text`.
  void ExpectRefused(ClientOptions options, absl::StatusCode code,
                     const std::string& text) {
    Client client(options);
    ASSERT_TRUE(client.Start().ok());
    absl::Status status = client.WaitConnected(kWait);
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_NE(status.message().find(text), std::string::npos) << status;
    client.Stop();
    util::MutexLock lock(&mu_);
    EXPECT_EQ(reconnects_, 0);
  }

  static Certificates* certificates_;
  Doubler doubler_;
  std::unique_ptr<Server> server_;
  util::Mutex mu_;
  int reconnects_ ABSL_GUARDED_BY(mu_) = 0;
};

Certificates* Tls::certificates_ = nullptr;

TEST_F(Tls, FullSessionOverTls) {
  StartServer("good");
  Client client(TrustingOptions());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());
  for (int64_t i = 1; i <= 50; ++i) {
    absl::StatusOr<Num> reply = Double(client, i);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->value(), 2 * i);
  }
  EXPECT_EQ(doubler_.principal(), "over-tls");
}

TEST_F(Tls, LargeCallsAcrossTlsRecordsArriveByteForByteBothWays) {
  StartServer("good");
  Client client(TrustingOptions());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());
  // TLS records hold 16 KiB: these frames are unmasked (server) across
  // reads that end at every offset modulo the 4-byte key.
  for (int64_t size : {16381, 16382, 16383, 16384, 100001, 250003}) {
    std::string padding(static_cast<size_t>(size), '\0');
    for (size_t i = 0; i < padding.size(); ++i) {
      padding[i] = static_cast<char>(i * 131 + static_cast<size_t>(size));
    }
    Num num;
    num.set_value(size);
    num.GetReflection()->MutableUnknownFields(&num)->AddLengthDelimited(
        99, padding);
    absl::StatusOr<Num> reply =
        test::Calc::Stub(client.channel()).DoubleBlocking(num);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->value(), 2 * size);
    const google::protobuf::UnknownFieldSet& echoed =
        reply->GetReflection()->GetUnknownFields(*reply);
    ASSERT_EQ(echoed.field_count(), 1);
    EXPECT_TRUE(echoed.field(0).length_delimited() == padding)
        << "payload of " << size << " bytes changed on the way";
  }
}

TEST_F(Tls, ClientRefusesACertificateForAnotherHost) {
  StartServer("elsewhere");
  ExpectRefused(TrustingOptions(), absl::StatusCode::kUnauthenticated,
                "server certificate refused: IP address mismatch");
}

TEST_F(Tls, ClientRefusesAnUntrustedCertificate) {
  StartServer("rogue");
  ExpectRefused(TrustingOptions(), absl::StatusCode::kUnauthenticated,
                "server certificate refused: self-signed certificate");
}

TEST_F(Tls, ClientTrustsOnlyItsCaFileNotTheSystemStoreAlone) {
  StartServer("good");
  ClientOptions options = TrustingOptions();
  options.tls.ca_file.clear();  // system store: our test CA is not in it
  ExpectRefused(options, absl::StatusCode::kUnauthenticated,
                "server certificate refused");
}

TEST_F(Tls, VerificationOffAcceptsAnyCertificate) {
  StartServer("rogue");
  ClientOptions options = TrustingOptions();
  options.tls.verify_peer = false;
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());
  EXPECT_TRUE(Double(client, 4).ok());
}

TEST_F(Tls, ServerDemandingClientCertificatesAcceptsOneFromItsCa) {
  StartServer("good", Path("ca.pem"));
  ClientOptions options = TrustingOptions();
  options.tls.certificate_chain_file = Path("alice.pem");
  options.tls.private_key_file = Path("alice.key");
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(client.WaitConnected(kWait).ok());
  EXPECT_TRUE(Double(client, 4).ok());
}

TEST_F(Tls, ServerDemandingClientCertificatesRefusesAClientWithout) {
  StartServer("good", Path("ca.pem"));
  ClientOptions options = TrustingOptions();
  options.reconnect.max_attempts = 1;
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  absl::Status status = client.WaitConnected(kWait);
  EXPECT_FALSE(status.ok());
}

TEST_F(Tls, PlainClientCannotTalkToATlsServer) {
  StartServer("good");
  ClientOptions options = TrustingOptions();
  options.url = absl::StrCat("ws://127.0.0.1:", server_->port(), "/");
  options.reconnect.max_attempts = 1;
  Client client(options);
  ASSERT_TRUE(client.Start().ok());
  EXPECT_FALSE(client.WaitConnected(kWait).ok());
}

TEST_F(Tls, UnreadableFilesFailStartNamingTheFile) {
  ServerOptions options;
  options.tls.certificate_chain_file = Path("good.pem");
  options.tls.private_key_file = Path("missing.key");
  Server server(options);
  absl::Status started = server.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument) << started;
  EXPECT_NE(started.message().find("missing.key"), std::string::npos);

  StartServer("good");
  ClientOptions client_options = TrustingOptions();
  client_options.tls.ca_file = Path("missing-ca.pem");
  Client client(client_options);
  absl::Status dialled = client.Start();
  EXPECT_EQ(dialled.code(), absl::StatusCode::kInvalidArgument) << dialled;
  EXPECT_NE(dialled.message().find("missing-ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace parley
