// FaultProxy: everything runs on one asio::io_context thread; public
// methods hand their work to that thread (RunOnLoop) and wait for it, so
// the connection table, the PRNG and the cut timer need no lock. The
// counters sit under a mutex so that AwaitStats can wait on them.
#include "tests/util/fault_proxy.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asio.hpp"
#include "runtime/util/mutex.h"

namespace parley::testutil {
namespace {

using asio::ip::tcp;

constexpr size_t kReadBuffer = 64 << 10;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(std::max(d, absl::ZeroDuration())));
}

}  // namespace

class FaultProxy::Impl {
 public:
  Impl(uint16_t target_port, Options options)
      : options_(options),
        target_(asio::ip::make_address_v4("127.0.0.1"), target_port),
        rng_(options.seed),
        work_(asio::make_work_guard(io_)),
        acceptor_(io_),
        cut_timer_(io_) {
    asio::error_code ec;
    tcp::endpoint listen(asio::ip::make_address_v4("127.0.0.1"), 0);
    acceptor_.open(listen.protocol(), ec);
    if (!ec) acceptor_.bind(listen, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
      status_ = absl::UnavailableError(
          absl::StrCat("fault proxy cannot listen: ", ec.message()));
      port_ = 0;
      acceptor_.close(ec);
    }
    thread_ = std::thread([this] { io_.run(); });
    RunOnLoop([this] {
      if (acceptor_.is_open()) Accept();
      if (options_.cutting) StartCutting();
    });
  }

  ~Impl() {
    RunOnLoop([this] {
      asio::error_code ec;
      acceptor_.close(ec);
      cutting_ = false;
      ++cut_generation_;
      cut_timer_.cancel();
      CloseAll();
      work_.reset();
    });
    // Every operation left was aborted by the closes above; run() returns
    // once their handlers have run.
    thread_.join();
  }

  absl::Status status() const { return status_; }
  uint16_t port() const { return port_; }

  void SetCutting(bool on) {
    RunOnLoop([this, on] {
      if (on) {
        StartCutting();
      } else {
        cutting_ = false;
        ++cut_generation_;
        cut_timer_.cancel();
      }
    });
  }

  void Blackhole(bool on) {
    RunOnLoop([this, on] {
      blackhole_ = on;
      if (on) {
        for (auto& [id, conn] : conns_) conn->blackholed = true;
        return;
      }
      std::vector<std::shared_ptr<Conn>> victims;
      for (auto& [id, conn] : conns_) {
        if (conn->blackholed) victims.push_back(conn);
      }
      for (auto& conn : victims) Close(*conn);
    });
  }

  void SetRefusing(bool on) {
    RunOnLoop([this, on] { refusing_ = on; });
  }

  int CutNow() {
    int n = 0;
    RunOnLoop([this, &n] { n = CutAll(); });
    return n;
  }

  Stats stats() const {
    util::MutexLock lock(&mu_);
    return stats_;
  }

  bool AwaitStats(const std::function<bool(const Stats&)>& predicate,
                  absl::Duration timeout) const {
    util::MutexLock lock(&mu_);
    auto holds = [this, &predicate]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return predicate(stats_);
    };
    return stats_changed_.WaitFor(&mu_, timeout, holds);
  }

 private:
  // One direction of a connection: bytes read from `src`, written to `dst`.
  struct Pump {
    std::vector<char> buffer = std::vector<char>(kReadBuffer);
    size_t length = 0;   // bytes in buffer from the last read
    size_t written = 0;  // of those, written on
    bool finished = false;
  };

  struct Conn {
    explicit Conn(asio::io_context& io, uint64_t conn_id)
        : id(conn_id), client(io), server(io) {}
    const uint64_t id;
    tcp::socket client;  // accepted
    tcp::socket server;  // dialled to the target
    bool open = true;
    bool blackholed = false;  // lived through a blackhole
    Pump up;                  // client -> server
    Pump down;                // server -> client
  };

  // Runs `fn` on the loop thread and waits for it.
  void RunOnLoop(std::function<void()> fn) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      fn();
      return;
    }
    std::promise<void> done;
    asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void Accept() {
    acceptor_.async_accept(
        [this](const asio::error_code& ec, tcp::socket socket) {
          if (!acceptor_.is_open()) return;
          if (!ec) Admit(std::move(socket));
          Accept();
        });
  }

  void Admit(tcp::socket socket) {
    {
      util::MutexLock lock(&mu_);
      stats_.connections_accepted += 1;
      stats_changed_.SignalAll();
    }
    asio::error_code ignored;
    if (refusing_) {
      {
        util::MutexLock lock(&mu_);
        stats_.connections_refused += 1;
        stats_changed_.SignalAll();
      }
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      return;
    }
    auto conn = std::make_shared<Conn>(io_, next_id_++);
    conn->client = std::move(socket);
    conn->client.set_option(tcp::no_delay(true), ignored);
    conn->blackholed = blackhole_;
    conns_.emplace(conn->id, conn);
    {
      util::MutexLock lock(&mu_);
      stats_.open_connections += 1;
      stats_changed_.SignalAll();
    }
    conn->server.async_connect(
        target_, [this, conn](const asio::error_code& ec) {
          if (!conn->open) return;
          if (ec) return Close(*conn);
          asio::error_code ignored;
          conn->server.set_option(tcp::no_delay(true), ignored);
          Read(conn, /*up=*/true);
          Read(conn, /*up=*/false);
        });
  }

  void Read(const std::shared_ptr<Conn>& conn, bool up) {
    tcp::socket& src = up ? conn->client : conn->server;
    Pump& pump = up ? conn->up : conn->down;
    src.async_read_some(asio::buffer(pump.buffer),
                        [this, conn, up](const asio::error_code& ec, size_t n) {
                          if (!conn->open) return;
                          Pump& pump = up ? conn->up : conn->down;
                          if (ec) return EndOfStream(conn, up, ec);
                          if (blackhole_) {
                            Count(&Stats::bytes_swallowed, n);
                            return Read(conn, up);
                          }
                          pump.length = n;
                          pump.written = 0;
                          Write(conn, up);
                        });
  }

  void Write(const std::shared_ptr<Conn>& conn, bool up) {
    Pump& pump = up ? conn->up : conn->down;
    size_t left = pump.length - pump.written;
    if (left == 0 || blackhole_) {
      if (left > 0) Count(&Stats::bytes_swallowed, left);
      pump.length = pump.written = 0;
      return Read(conn, up);
    }
    size_t chunk = left;
    if (options_.max_chunk > 0) {
      chunk = std::uniform_int_distribution<size_t>(
          1, std::min(left, options_.max_chunk))(rng_);
    }
    tcp::socket& dst = up ? conn->server : conn->client;
    asio::async_write(dst,
                      asio::buffer(pump.buffer.data() + pump.written, chunk),
                      [this, conn, up](const asio::error_code& ec, size_t n) {
                        if (!conn->open) return;
                        if (ec) return Close(*conn);
                        Pump& pump = up ? conn->up : conn->down;
                        pump.written += n;
                        Count(up ? &Stats::bytes_up : &Stats::bytes_down, n);
                        Write(conn, up);
                      });
  }

  // The source of one direction ended (EOF) or failed.
  void EndOfStream(const std::shared_ptr<Conn>& conn, bool up,
                   const asio::error_code& ec) {
    Pump& pump = up ? conn->up : conn->down;
    pump.finished = true;
    // A blackholed link reports nothing: the other side keeps its
    // connection until the blackhole ends.
    if (conn->blackholed) return;
    if (ec != asio::error::eof) return Close(*conn);
    // Orderly close: pass the FIN on, and drop the pair once both
    // directions have ended.
    asio::error_code ignored;
    (up ? conn->server : conn->client)
        .shutdown(tcp::socket::shutdown_send, ignored);
    if (conn->up.finished && conn->down.finished) Close(*conn);
  }

  void Count(uint64_t Stats::*field, uint64_t n) {
    util::MutexLock lock(&mu_);
    stats_.*field += n;
    stats_changed_.SignalAll();
  }

  void Close(Conn& conn) {
    if (!conn.open) return;
    conn.open = false;
    asio::error_code ignored;
    for (tcp::socket* s : {&conn.client, &conn.server}) {
      // Linger 0: close() sends RST, like a cable pulled mid-stream.
      if (s->is_open())
        s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
    conns_.erase(conn.id);  // may destroy `conn`
    {
      util::MutexLock lock(&mu_);
      stats_.open_connections -= 1;
      stats_changed_.SignalAll();
    }
  }

  void CloseAll() {
    std::vector<std::shared_ptr<Conn>> all;
    for (auto& [id, conn] : conns_) all.push_back(conn);
    for (auto& conn : all) Close(*conn);
  }

  int CutAll() {
    std::vector<std::shared_ptr<Conn>> all;
    for (auto& [id, conn] : conns_) all.push_back(conn);
    if (all.empty()) return 0;
    uint64_t mid_stream = 0;
    for (auto& conn : all) {
      if (conn->up.written < conn->up.length ||
          conn->down.written < conn->down.length) {
        ++mid_stream;
      }
      Close(*conn);
    }
    util::MutexLock lock(&mu_);
    ++stats_.cuts;
    stats_.connections_cut += all.size();
    stats_.cuts_mid_stream += mid_stream;
    stats_changed_.SignalAll();
    return static_cast<int>(all.size());
  }

  void StartCutting() {
    if (cutting_) return;
    cutting_ = true;
    ++cut_generation_;
    ArmCutTimer();
  }

  void ArmCutTimer() {
    int64_t lo = absl::ToInt64Nanoseconds(options_.cut_every_min);
    int64_t hi = std::max(lo, absl::ToInt64Nanoseconds(options_.cut_every_max));
    int64_t delay = std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
    cut_timer_.expires_after(ToChrono(absl::Nanoseconds(delay)));
    cut_timer_.async_wait(
        [this, generation = cut_generation_](const asio::error_code& ec) {
          if (ec || !cutting_ || generation != cut_generation_) return;
          CutAll();
          ArmCutTimer();
        });
  }

  const Options options_;
  const tcp::endpoint target_;
  absl::Status status_;
  uint16_t port_ = 0;

  // Loop-thread state.
  std::mt19937_64 rng_;
  std::map<uint64_t, std::shared_ptr<Conn>> conns_;
  uint64_t next_id_ = 1;
  bool cutting_ = false;
  uint64_t cut_generation_ = 0;
  bool blackhole_ = false;
  bool refusing_ = false;

  mutable util::Mutex mu_;
  mutable util::CondVar stats_changed_;  // signalled on every write below
  Stats stats_ ABSL_GUARDED_BY(mu_);

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer cut_timer_;
  std::thread thread_;
};

FaultProxy::FaultProxy(uint16_t target_port, Options options)
    : impl_(std::make_unique<Impl>(target_port, options)) {}
FaultProxy::~FaultProxy() = default;
absl::Status FaultProxy::status() const { return impl_->status(); }
uint16_t FaultProxy::port() const { return impl_->port(); }
void FaultProxy::SetCutting(bool on) { impl_->SetCutting(on); }
void FaultProxy::Blackhole(bool on) { impl_->Blackhole(on); }
void FaultProxy::SetRefusing(bool on) { impl_->SetRefusing(on); }
int FaultProxy::CutNow() { return impl_->CutNow(); }
FaultProxy::Stats FaultProxy::stats() const { return impl_->stats(); }
bool FaultProxy::AwaitStats(const std::function<bool(const Stats&)>& predicate,
                            absl::Duration timeout) const {
  return impl_->AwaitStats(predicate, timeout);
}

}  // namespace parley::testutil
