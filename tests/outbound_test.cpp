// Outbound connections opened from Handler code (Handler::connect) on real loopback sockets:
// by name to an echo, and failing through on_close with timed_out, connection_refused and the
// resolver's error.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "support/loopback.hpp"
#include "wire/connection.hpp"
#include "wire/server.hpp"
#include "wire/tcp.hpp"

namespace wire {
namespace {

using namespace std::chrono_literals;
using test::start_server;

// What the handler saw, read by the test thread.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<bool> connects;  // outbound() of each on_connect, in order
  std::string echoed;          // what came back on the outbound connection
  bool closed = false;         // on_close of the outbound connection
  std::error_code reason;
  std::string start_error;     // connect() failed at once

  // Waits (bounded) until the outbound connection closed.
  bool wait_closed(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [this] { return closed; });
  }
};

// Echoes what accepted connections send; says hello on the outbound ones and closes them
// once the echo is back.
class Dialer final : public Handler {
 public:
  explicit Dialer(Seen& seen) : seen_(seen) {}

  // Runs on the loop (posted by the test).
  void dial(const std::function<Result<Connection*>(Dialer&)>& how) {
    auto c = how(*this);
    std::lock_guard lock(seen_.mutex);
    if (!c) seen_.start_error = c.error().message();
    else if (!(*c)->send(std::string_view("hello"))) seen_.start_error = "send refused";
  }

  void on_connect(Connection& c) override {
    std::lock_guard lock(seen_.mutex);
    seen_.connects.push_back(c.outbound());
  }
  void on_data(Connection& c, Input& in) override {
    if (!c.outbound()) {
      c.send(in.data());
      in.consume_all();
      return;
    }
    std::lock_guard lock(seen_.mutex);
    seen_.echoed += in.text();
    in.consume_all();
    if (seen_.echoed.size() >= 5) c.close();
  }
  void on_close(Connection& c, std::error_code why) override {
    if (!c.outbound()) return;
    std::lock_guard lock(seen_.mutex);
    seen_.closed = true;
    seen_.reason = why;
    seen_.changed.notify_all();
  }

 private:
  Seen& seen_;
};

struct Rig {
  Seen seen;
  Dialer* dialer = nullptr;
  std::unique_ptr<Server> server;

  explicit Rig(std::size_t max_connections = 100) {
    ServerOptions o;
    o.tcp = Endpoint::loopback(Family::v4, 0);
    o.threads = 1;
    o.max_connections = max_connections;
    server = start_server(o, [this](EventLoop&) {
      auto h = std::make_unique<Dialer>(seen);
      dialer = h.get();
      return h;
    });
  }
  // Calls `how` on the handler's loop thread.
  void dial(std::function<Result<Connection*>(Dialer&)> how) {
    server->loop(0).post([d = dialer, how = std::move(how)] { d->dial(how); });
  }
};

TEST(Outbound, ByNameReachesAnEchoAndOnConnectTellsOutboundFromAccepted) {
  Rig rig;
  ASSERT_TRUE(rig.server);
  const std::string name = "localhost:" + std::to_string(rig.server->tcp_endpoint()->port());
  rig.dial([name](Dialer& d) { return d.connect(std::string_view(name), 5s); });
  ASSERT_TRUE(rig.seen.wait_closed(10s));
  std::lock_guard lock(rig.seen.mutex);
  EXPECT_EQ(rig.seen.start_error, "");
  EXPECT_FALSE(rig.seen.reason) << rig.seen.reason.message();
  EXPECT_EQ(rig.seen.echoed, "hello");
  // The outbound side and the accepted side of the same TCP connection, in either order.
  ASSERT_EQ(rig.seen.connects.size(), 2u);
  EXPECT_NE(rig.seen.connects[0], rig.seen.connects[1]);
}

TEST(Outbound, ANonAnsweringAddressEndsInTimedOutAtTheDeadline) {
  // Backlog 0 with one handshake queued and nobody accepting: further SYNs go unanswered.
  auto full = TcpListener::listen(Endpoint::loopback(Family::v4, 0), {.backlog = 0});
  ASSERT_TRUE(full);
  const Endpoint at = full->local_endpoint().value();
  std::vector<TcpStream> queued;
  for (int i = 0; i < 8; ++i) {
    auto c = TcpStream::connect(at, {.local = std::nullopt, .timeout = 300ms});
    if (!c) break;
    queued.push_back(std::move(*c));
  }
  ASSERT_GE(queued.size(), 1u);
  Rig rig;
  ASSERT_TRUE(rig.server);
  const auto start = std::chrono::steady_clock::now();
  rig.dial([at](Dialer& d) { return d.connect(at, 200ms); });
  ASSERT_TRUE(rig.seen.wait_closed(10s));
  const auto took = std::chrono::steady_clock::now() - start;
  std::lock_guard lock(rig.seen.mutex);
  EXPECT_EQ(rig.seen.start_error, "");
  EXPECT_EQ(rig.seen.reason, std::errc::timed_out) << rig.seen.reason.message();
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(rig.seen.connects.empty());
}

TEST(Outbound, RefusedEndsInConnectionRefused) {
  // A bound socket that does not listen: connects to it are refused.
  auto s = Socket::open(Family::v4, SOCK_STREAM);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->bind(Endpoint::loopback(Family::v4, 0)));
  const std::string name = "127.0.0.1:" + std::to_string(s->local_endpoint().value().port());
  Rig rig;
  ASSERT_TRUE(rig.server);
  rig.dial([name](Dialer& d) { return d.connect(std::string_view(name), 5s); });
  ASSERT_TRUE(rig.seen.wait_closed(10s));
  std::lock_guard lock(rig.seen.mutex);
  EXPECT_EQ(rig.seen.start_error, "");
  EXPECT_EQ(rig.seen.reason, std::errc::connection_refused) << rig.seen.reason.message();
  EXPECT_TRUE(rig.seen.connects.empty());
}

TEST(Outbound, ANameThatDoesNotResolveEndsInTheResolversError) {
  const std::string name = "no-such-host.invalid:80";
  const auto expected = wire::resolve(name);
  ASSERT_FALSE(expected);
  Rig rig;
  ASSERT_TRUE(rig.server);
  rig.dial([name](Dialer& d) { return d.connect(std::string_view(name), 10s); });
  ASSERT_TRUE(rig.seen.wait_closed(20s));
  std::lock_guard lock(rig.seen.mutex);
  EXPECT_EQ(rig.seen.start_error, "");
  EXPECT_EQ(rig.seen.reason, expected.error()) << rig.seen.reason.message();
}

TEST(Outbound, CountsAgainstMaxConnections) {
  Rig rig(1);
  ASSERT_TRUE(rig.server);
  // The first, still resolving, holds the only slot: the second fails at once.
  rig.dial([](Dialer& d) -> Result<Connection*> {
    auto first = d.connect(std::string_view("no-such-host.invalid:80"), 10s);
    if (!first) return first;
    auto second = d.connect(std::string_view("no-such-host.invalid:80"), 10s);
    if (second) return fail(std::make_error_code(std::errc::file_exists));  // not expected
    return fail(second.error());
  });
  ASSERT_TRUE(rig.seen.wait_closed(20s));  // the first one ends with the resolver's error
  std::lock_guard lock(rig.seen.mutex);
  EXPECT_EQ(rig.seen.start_error,
            std::make_error_code(std::errc::resource_unavailable_try_again).message());
}

TEST(Outbound, AHandlerOutsideAServerFailsAtOnce) {
  Seen seen;
  Dialer loose(seen);
  auto c = loose.connect(Endpoint::loopback(Family::v4, 9), 1s);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), std::errc::operation_not_permitted);
}

}  // namespace
}  // namespace wire
