// FaultProxy: forwarding, cuts, blackhole and refusing, against a plain
// POSIX echo server. Every socket read in this file has a timeout, so no
// test can hang.
#include "tests/util/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/util/mutex.h"

namespace parley::testutil {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

void SetRecvTimeout(int fd, absl::Duration timeout) {
  // A zero timeval would mean "no timeout".
  timeval tv = absl::ToTimeval(std::max(timeout, absl::Milliseconds(1)));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

void SetTimeouts(int fd, absl::Duration timeout) {
  SetRecvTimeout(fd, timeout);
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// A connected socket with read/write timeouts; closes on destruction.
class Conn {
 public:
  explicit Conn(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    SetTimeouts(fd_, kWait);
    sockaddr_in addr = Loopback(port);
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Conn() { close(fd_); }
  bool ok() const { return ok_; }
  bool Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += n;
    }
    return true;
  }
  // Reads exactly `n` bytes; false on EOF, error or timeout.
  bool RecvExactly(size_t n, std::string* out) {
    out->resize(n);
    size_t off = 0;
    while (off < n) {
      ssize_t got = recv(fd_, out->data() + off, n - off, 0);
      if (got <= 0) return false;
      off += got;
    }
    return true;
  }
  // What one recv with `timeout` sees: > 0 bytes, 0 = EOF, -1 = error
  // (errno EAGAIN for a timeout, ECONNRESET for a reset).
  ssize_t RecvOnce(absl::Duration timeout, std::string* out, int* err) {
    SetRecvTimeout(fd_, timeout);
    char buf[4096];
    ssize_t got = recv(fd_, buf, sizeof(buf), 0);
    *err = got < 0 ? errno : 0;
    if (got > 0) out->append(buf, got);
    SetRecvTimeout(fd_, kWait);
    return got;
  }
  // True once the peer closed or reset: waits up to `timeout`.
  bool AwaitClosed(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    std::string ignored;
    while (absl::Now() < deadline) {
      int err = 0;
      ssize_t got = RecvOnce(deadline - absl::Now(), &ignored, &err);
      if (got == 0) return true;
      if (got < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
        return true;
      }
    }
    return false;
  }

 private:
  int fd_;
  bool ok_ = false;
};

// Echoes every byte back on every connection; remembers what each
// connection received and how many connections ended.
class EchoServer {
 public:
  EchoServer() : listen_fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr = Loopback(0);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 64);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~EchoServer() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& t : workers_) t.join();
    close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> received() {
    util::MutexLock lock(&mu_);
    return received_;
  }
  int ended() {
    util::MutexLock lock(&mu_);
    return ended_;
  }
  bool AwaitEnded(int n, absl::Duration timeout) {
    util::MutexLock lock(&mu_);
    auto done = [this, n]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_ >= n; };
    return ended_cv_.WaitFor(&mu_, timeout, done);
  }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      int index;
      {
        util::MutexLock lock(&mu_);
        index = static_cast<int>(received_.size());
        received_.emplace_back();
      }
      workers_.emplace_back([this, fd, index] { Echo(fd, index); });
    }
  }
  void Echo(int fd, int index) {
    SetTimeouts(fd, absl::Milliseconds(20));
    char buf[8192];
    while (!stop_) {
      ssize_t got = recv(fd, buf, sizeof(buf), 0);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (got <= 0) break;
      {
        util::MutexLock lock(&mu_);
        received_[index].append(buf, got);
      }
      ssize_t off = 0;
      while (off < got && !stop_) {
        ssize_t n = send(fd, buf + off, got - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) break;
        off += n;
      }
      if (off < got) break;
    }
    close(fd);
    util::MutexLock lock(&mu_);
    ++ended_;
    ended_cv_.SignalAll();
  }

  int listen_fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // touched by the acceptor only
  util::Mutex mu_;
  util::CondVar ended_cv_;  // ended_ grew
  std::vector<std::string> received_ ABSL_GUARDED_BY(mu_);
  int ended_ ABSL_GUARDED_BY(mu_) = 0;
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// An endless stream: byte i is Pattern()[i % Pattern().size()] (a prime
// length, so chunk boundaries never line up with its period).
const std::string& Pattern() {
  static const std::string* pattern = new std::string(RandomBytes(65521, 9));
  return *pattern;
}

bool IsPatternPrefix(const std::string& got) {
  const std::string& p = Pattern();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != p[i % p.size()]) return false;
  }
  return true;
}

FaultProxy::Options Chunked(size_t max_chunk) {
  FaultProxy::Options options;
  options.seed = 7;
  options.max_chunk = max_chunk;
  return options;
}

TEST(FaultProxy, ForwardsBytesUnchangedAndInOrderBothWays) {
  EchoServer echo;
  FaultProxy proxy(echo.port(), Chunked(13));
  ASSERT_TRUE(proxy.status().ok()) << proxy.status();
  ASSERT_NE(proxy.port(), 0);

  const std::string sent = RandomBytes(256 << 10, 1);
  Conn conn(proxy.port());
  ASSERT_TRUE(conn.ok());
  std::atomic<bool> sent_ok{false};
  std::thread writer([&] { sent_ok = conn.Send(sent); });
  std::string back;
  bool got = conn.RecvExactly(sent.size(), &back);
  writer.join();
  ASSERT_TRUE(sent_ok);
  ASSERT_TRUE(got);
  EXPECT_TRUE(back == sent) << "echoed bytes differ";
  ASSERT_EQ(echo.received().size(), 1u);
  EXPECT_TRUE(echo.received()[0] == sent) << "forwarded bytes differ";

  // The client may read the last bytes before the proxy counts them.
  EXPECT_TRUE(proxy.AwaitStats(
      [&](const FaultProxy::Stats& s) {
        return s.bytes_up == sent.size() && s.bytes_down == sent.size();
      },
      kWait));
  FaultProxy::Stats stats = proxy.stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.cuts, 0u);
  EXPECT_EQ(stats.bytes_up, sent.size());
  EXPECT_EQ(stats.bytes_down, sent.size());
  EXPECT_EQ(stats.open_connections, 1u);
}

TEST(FaultProxy, OrderlyCloseReachesTheTarget) {
  EchoServer echo;
  FaultProxy proxy(echo.port(), FaultProxy::Options());
  {
    Conn conn(proxy.port());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn.Send("bye"));
    std::string back;
    ASSERT_TRUE(conn.RecvExactly(3, &back));
  }
  EXPECT_TRUE(echo.AwaitEnded(1, kWait));
  EXPECT_EQ(echo.received()[0], "bye");
}

TEST(FaultProxy, CutNowClosesBothSides) {
  EchoServer echo;
  FaultProxy proxy(echo.port(), FaultProxy::Options());
  Conn a(proxy.port()), b(proxy.port());
  ASSERT_TRUE(a.ok() && b.ok());
  std::string back;
  ASSERT_TRUE(a.Send("x") && a.RecvExactly(1, &back));
  ASSERT_TRUE(b.Send("y") && b.RecvExactly(1, &back));

  EXPECT_EQ(proxy.CutNow(), 2);
  EXPECT_TRUE(a.AwaitClosed(kWait));
  EXPECT_TRUE(b.AwaitClosed(kWait));
  EXPECT_TRUE(echo.AwaitEnded(2, kWait));
  FaultProxy::Stats stats = proxy.stats();
  EXPECT_EQ(stats.cuts, 1u);
  EXPECT_EQ(stats.connections_cut, 2u);
  EXPECT_EQ(stats.open_connections, 0u);

  // The proxy goes on serving new connections.
  Conn c(proxy.port());
  ASSERT_TRUE(c.Send("z") && c.RecvExactly(1, &back));
  EXPECT_EQ(back, "z");
}

TEST(FaultProxy, RandomCutsCloseBusyConnectionsAndKeepPrefixes) {
  EchoServer echo;
  FaultProxy::Options options = Chunked(97);
  options.cut_every_min = absl::Milliseconds(5);
  options.cut_every_max = absl::Milliseconds(50);
  FaultProxy proxy(echo.port(), options);
  proxy.SetCutting(true);

  // Stream until the proxy cuts each connection; what the target got and
  // what came back must be prefixes of what was sent.
  constexpr int kConnections = 5;
  for (int i = 0; i < kConnections; ++i) {
    Conn conn(proxy.port());
    ASSERT_TRUE(conn.ok());
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      const std::string& p = Pattern();
      for (size_t off = 0; !stop && off < (size_t{256} << 20);) {
        size_t at = off % p.size();
        size_t n = std::min<size_t>(4096, p.size() - at);
        if (!conn.Send(p.substr(at, n))) return;
        off += n;
      }
    });
    EXPECT_TRUE(conn.AwaitClosed(kWait));
    stop = true;
    writer.join();
    // AwaitClosed drops the echoed bytes; the target side is checked.
    ASSERT_TRUE(echo.AwaitEnded(i + 1, kWait));
    std::string got = echo.received()[i];
    EXPECT_TRUE(IsPatternPrefix(got))
        << "connection " << i << ": target bytes are not a prefix";
  }
  proxy.SetCutting(false);
  FaultProxy::Stats stats = proxy.stats();
  EXPECT_GE(stats.cuts, static_cast<uint64_t>(kConnections));
  EXPECT_EQ(stats.connections_accepted, static_cast<uint64_t>(kConnections));

  // Calm phase: a connection now lives.
  Conn calm(proxy.port());
  std::string back;
  ASSERT_TRUE(calm.Send("calm") && calm.RecvExactly(4, &back));
  EXPECT_EQ(back, "calm");
  EXPECT_EQ(proxy.stats().cuts, stats.cuts);
}

TEST(FaultProxy, BlackholeSwallowsBothWaysThenDropsTheLink) {
  EchoServer echo;
  FaultProxy proxy(echo.port(), FaultProxy::Options());
  Conn conn(proxy.port());
  std::string back;
  ASSERT_TRUE(conn.Send("a") && conn.RecvExactly(1, &back));

  proxy.Blackhole(true);
  ASSERT_TRUE(conn.Send("bcd"));
  // Nothing comes back and the connection stays open.
  int err = 0;
  back.clear();
  EXPECT_EQ(conn.RecvOnce(absl::Milliseconds(300), &back, &err), -1);
  EXPECT_TRUE(err == EAGAIN || err == EWOULDBLOCK) << err;
  EXPECT_EQ(echo.received()[0], "a");
  EXPECT_EQ(echo.ended(), 0);
  EXPECT_TRUE(proxy.AwaitStats(
      [](const FaultProxy::Stats& s) { return s.bytes_swallowed == 3; },
      kWait));
  EXPECT_EQ(proxy.stats().open_connections, 1u);

  proxy.Blackhole(false);
  EXPECT_TRUE(conn.AwaitClosed(kWait));
  EXPECT_TRUE(echo.AwaitEnded(1, kWait));
  EXPECT_EQ(echo.received()[0], "a");

  Conn again(proxy.port());
  ASSERT_TRUE(again.Send("e") && again.RecvExactly(1, &back));
  EXPECT_EQ(back, "e");
}

TEST(FaultProxy, BlackholeHidesAClosedEnd) {
  EchoServer echo;
  FaultProxy proxy(echo.port(), FaultProxy::Options());
  auto conn = std::make_unique<Conn>(proxy.port());
  std::string back;
  ASSERT_TRUE(conn->Send("a") && conn->RecvExactly(1, &back));
  proxy.Blackhole(true);
  conn.reset();  // the client leaves; the target must not hear of it
  EXPECT_FALSE(echo.AwaitEnded(1, absl::Milliseconds(300)));
  proxy.Blackhole(false);
  EXPECT_TRUE(echo.AwaitEnded(1, kWait));
}

TEST(FaultProxy, RefusingClosesNewConnectionsOnly) {
  EchoServer echo;
  FaultProxy proxy(echo.port(), FaultProxy::Options());
  Conn old_conn(proxy.port());
  std::string back;
  ASSERT_TRUE(old_conn.Send("o") && old_conn.RecvExactly(1, &back));

  proxy.SetRefusing(true);
  Conn refused(proxy.port());
  EXPECT_TRUE(refused.AwaitClosed(kWait));
  ASSERT_TRUE(old_conn.Send("p") && old_conn.RecvExactly(1, &back));
  EXPECT_EQ(back, "p");
  EXPECT_EQ(proxy.stats().connections_refused, 1u);

  proxy.SetRefusing(false);
  Conn fresh(proxy.port());
  ASSERT_TRUE(fresh.Send("q") && fresh.RecvExactly(1, &back));
  EXPECT_EQ(back, "q");
}

}  // namespace
}  // namespace parley::testutil
