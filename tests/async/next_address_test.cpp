// The first of several addresses refuses and connect goes on to the next, under one overall
// deadline: the coroutine connect (an Endpoint list, and a name) and Handler::connect (a name).
// The refusing address is [::1]:P bound and not listening (the kernel answers RST at once), the
// answering one an echo on 127.0.0.1:P. A name that resolves to both is only possible with a
// hosts file of its own: those tests re-run themselves under `unshare -m` with a private
// /etc/hosts bind-mounted (root only; skipped otherwise), so the machine's file is never touched.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "support/process.hpp"
#include "wire/async_stream.hpp"
#include "wire/connection.hpp"
#include "wire/resolver.hpp"
#include "wire/server.hpp"
#include "wire/services.hpp"

namespace {

using namespace std::chrono_literals;
using wire::Endpoint;
using wire::EventLoop;
using wire::Result;
using wire::Task;

constexpr const char* kName = "wire-two-addresses";
constexpr const char* kInsideVariable = "WIRE_TEST_PRIVATE_HOSTS";

// [::1]:P refusing (bound, never listening) and an echo server on 127.0.0.1:P, same P.
struct RefusedThenEcho {
  int reserved = -1;
  std::unique_ptr<wire::Server> server;
  Endpoint refusing, echo;

  RefusedThenEcho() {
    for (int attempt = 0; attempt < 20 && !server; ++attempt) {
      if (reserved >= 0) ::close(reserved);
      reserved = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      socklen_t len = sizeof a;
      if (reserved < 0 || ::bind(reserved, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          ::getsockname(reserved, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        continue;
      const auto port = ntohs(a.sin6_port);
      wire::ServerOptions o;
      o.tcp = Endpoint::loopback(wire::Family::v4, port);
      o.threads = 1;
      auto s = wire::Server::create(o, wire::services::echo());  // the port may be taken on v4
      if (!s || !(*s)->start()) continue;
      server = std::move(*s);
      refusing = Endpoint::loopback(wire::Family::v6, port);
      echo = *server->tcp_endpoint();
    }
  }
  ~RefusedThenEcho() {
    if (server) {
      server->shutdown();
      (void)server->wait();
    }
    if (reserved >= 0) ::close(reserved);
  }
  std::string name() const { return std::string(kName) + ":" + std::to_string(echo.port()); }
};

// Connects (the coroutine way) to `how`, says hello, and returns the peer it reached.
template <class Target>
Task<Result<Endpoint>> hello_through(Target target) {
  auto s = co_await wire::connect(std::move(target), {.timeout = 3s});
  if (!s) co_return wire::fail(s.error());
  const Endpoint peer = s->peer();
  if (auto w = co_await s->write_all(std::string_view("hello")); !w) co_return wire::fail(w.error());
  std::string back(5, '\0');
  if (auto r = co_await s->read_exact(std::as_writable_bytes(std::span(back)), 3s); !r)
    co_return wire::fail(r.error());
  if (back != "hello") co_return wire::fail(wire::errc::connection_closed);
  co_return peer;
}

TEST(NextAddress, CoroutineConnectGoesOnFromARefusedEndpointToTheNext) {
  RefusedThenEcho rig;
  ASSERT_TRUE(rig.server) << "no port free on both ::1 and 127.0.0.1";
  auto loop = EventLoop::create().value();
  const auto start = EventLoop::Clock::now();
  auto r = wire::run(*loop, hello_through(std::vector{rig.refusing, rig.echo}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, rig.echo);
  EXPECT_LT(EventLoop::Clock::now() - start, 2s);  // a refusal on loopback costs no waiting

  // Every candidate refusing: the last refusal, well inside the deadline.
  auto again = EventLoop::create().value();  // a loop runs once
  auto both = wire::run(*again, hello_through(std::vector{rig.refusing, rig.refusing}));
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error(), std::errc::connection_refused);
}

bool inside_private_hosts() { return std::getenv(kInsideVariable) != nullptr; }

// Runs the calling test again in a mount namespace whose /etc/hosts names kName as ::1 and
// 127.0.0.1 (in that order), and expects it to pass there.
void rerun_with_private_hosts() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("wire-hosts-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto hosts = dir / "hosts";
  std::ofstream(hosts) << "::1 " << kName << "\n127.0.0.1 " << kName << "\n127.0.0.1 localhost\n";
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  const std::string filter = std::string(info->test_suite_name()) + "." + info->name();
  auto out = wire::test::run(
      {"unshare", "-m", "--propagation", "private", "sh", "-c",
       std::string("mount --bind \"$0\" /etc/hosts && ") + kInsideVariable +
           "=1 exec \"$1\" --gtest_filter=\"$2\"",
       hosts.string(), std::filesystem::read_symlink("/proc/self/exe").string(), filter},
      {}, 60s);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(out.code, 0) << out.out << out.err;
  EXPECT_NE(out.out.find("[  PASSED  ] 1 test"), std::string::npos) << out.out << out.err;
}

// The test body runs inside the namespace; outside, the test re-runs itself there.
#define RUN_WITH_PRIVATE_HOSTS()                                                      \
  if (!inside_private_hosts()) {                                                      \
    if (::geteuid() != 0) GTEST_SKIP() << "a private /etc/hosts needs root (unshare -m)"; \
    rerun_with_private_hosts();                                                       \
    return;                                                                           \
  }

// Inside the namespace: the name gives ::1 first, so connect meets the refusal before the echo.
void expect_refused_address_first(const RefusedThenEcho& rig) {
  auto both = wire::resolve(rig.name());
  ASSERT_TRUE(both) << both.error().message();
  ASSERT_EQ(both->size(), 2u);
  ASSERT_EQ((*both)[0], rig.refusing);
  ASSERT_EQ((*both)[1], rig.echo);
}

TEST(NextAddress, CoroutineConnectByNameGoesOnFromARefusedAddressToTheNext) {
  RUN_WITH_PRIVATE_HOSTS();
  RefusedThenEcho rig;
  ASSERT_TRUE(rig.server);
  expect_refused_address_first(rig);
  auto loop = EventLoop::create().value();
  const auto start = EventLoop::Clock::now();
  auto r = wire::run(*loop, hello_through(rig.name()));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, rig.echo);
  EXPECT_LT(EventLoop::Clock::now() - start, 2s);
}

// Handler::connect by name from a server's loop: on_connect (outbound) with the echo's address,
// "hello" back, then a clean close.
class Dialer final : public wire::Handler {
 public:
  std::mutex mutex;
  std::condition_variable changed;
  std::string start_error, echoed;
  Endpoint reached;
  bool closed = false;
  std::error_code reason;

  void dial(const std::string& name) {
    auto c = connect(std::string_view(name), 3s);
    std::lock_guard lock(mutex);
    if (!c) start_error = c.error().message();
    else if (!(*c)->send(std::string_view("hello"))) start_error = "send refused";
  }
  void on_connect(wire::Connection& c) override {
    if (!c.outbound()) return;
    std::lock_guard lock(mutex);
    reached = c.peer();
  }
  void on_data(wire::Connection& c, wire::Input& in) override {
    std::lock_guard lock(mutex);
    echoed += in.text();
    in.consume_all();
    if (echoed.size() >= 5) c.close();
  }
  void on_close(wire::Connection& c, std::error_code why) override {
    if (!c.outbound()) return;
    std::lock_guard lock(mutex);
    closed = true;
    reason = why;
    changed.notify_all();
  }
};

TEST(NextAddress, HandlerConnectByNameGoesOnFromARefusedAddressToTheNext) {
  RUN_WITH_PRIVATE_HOSTS();
  RefusedThenEcho rig;
  ASSERT_TRUE(rig.server);
  expect_refused_address_first(rig);
  Dialer* dialer = nullptr;
  wire::ServerOptions o;
  o.threads = 1;
  o.tcp = Endpoint::loopback(wire::Family::v4, 0);  // a runtime for the handler; unused
  auto client = wire::Server::create(o, [&](EventLoop&) {
                  auto h = std::make_unique<Dialer>();
                  dialer = h.get();
                  return h;
                }).value();
  ASSERT_TRUE(client->start());
  const auto start = EventLoop::Clock::now();
  client->loop(0).post([d = dialer, name = rig.name()] { d->dial(name); });
  {
    std::unique_lock lock(dialer->mutex);
    ASSERT_TRUE(dialer->changed.wait_for(lock, 10s, [&] { return dialer->closed; }));
    EXPECT_EQ(dialer->start_error, "");
    EXPECT_FALSE(dialer->reason) << dialer->reason.message();
    EXPECT_EQ(dialer->reached, rig.echo);
    EXPECT_EQ(dialer->echoed, "hello");
  }
  EXPECT_LT(EventLoop::Clock::now() - start, 2s);
  client->shutdown();
  (void)client->wait();
}

}  // namespace
