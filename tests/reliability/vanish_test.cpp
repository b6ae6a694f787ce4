// A peer that vanishes without a FIN: the client lives in a network namespace made here, joined
// to this one by a veth pair; once it holds an echoed connection the link is taken down, so no
// FIN or RST can ever arrive. The server's idle timeout must reap the connection.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/core.h>

#include "reliability/harness.hpp"

namespace wire::reliability {
namespace {

bool ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv).code == 0;
}

// A namespace and a veth pair named for this process; removed by the destructor.
class Island {
 public:
  Island()
      : ns_(fmt::format("wire-h6-{}", ::getpid())),
        outside_(fmt::format("wh6o{}", ::getpid() % 100000)),
        inside_(fmt::format("wh6i{}", ::getpid() % 100000)),
        subnet_(fmt::format("10.199.{}", ::getpid() % 250)) {
    ok_ = ip({"netns", "add", ns_}) &&
          ip({"link", "add", outside_, "type", "veth", "peer", "name", inside_}) &&
          ip({"link", "set", inside_, "netns", ns_}) &&
          ip({"addr", "add", subnet_ + ".1/30", "dev", outside_}) &&
          ip({"link", "set", outside_, "up"}) &&
          ip({"netns", "exec", ns_, "ip", "link", "set", "lo", "up"}) &&
          ip({"netns", "exec", ns_, "ip", "addr", "add", subnet_ + ".2/30", "dev", inside_}) &&
          ip({"netns", "exec", ns_, "ip", "link", "set", inside_, "up"});
  }
  ~Island() {
    ip({"link", "del", outside_});  // takes its peer with it
    ip({"netns", "del", ns_});
  }
  bool ok() const { return ok_; }
  std::string server_address() const { return subnet_ + ".1:0"; }
  const std::string& ns() const { return ns_; }
  bool cut() { return ip({"link", "set", outside_, "down"}); }

 private:
  std::string ns_, outside_, inside_, subnet_;
  bool ok_ = false;
};

// The client: connects, checks one echo, says "ready", then holds the connection until killed.
constexpr const char* client_script = R"(
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b'ping\n')
assert s.recv(5) == b'ping\n'
print('ready', flush=True)
sys.stdin.read()
)";

TEST(Vanish, PeerWithoutFinIsReapedByIdleTimeout) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
  Island island;
  if (!island.ok()) GTEST_SKIP() << "network namespaces or veth are not available here";
  auto echo =
      start_wire({"serve", "echo", "--tcp", island.server_address(), "--idle-timeout", "2"});
  ASSERT_TRUE(echo.tcp);
  const Baseline before(echo.process.pid());
  auto client = test::Process::start({"ip", "netns", "exec", island.ns(), "python3", "-c",
                                      client_script, echo.tcp->to_string()});
  ASSERT_EQ(client.read_line(test::Stream::out), "ready");
  ASSERT_EQ(fd_count(echo.process.pid()), before.fds + 1);
  ASSERT_TRUE(island.cut());
  // The server logs the close with its reason once the idle timeout reaps it.
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::string> line;
  while ((line = echo.process.read_line(test::Stream::err, 10s)) &&
         !line->starts_with("close tcp")) {
  }
  ASSERT_TRUE(line) << "the vanished peer was never reaped";
  EXPECT_NE(line->find("timed out"), std::string::npos) << *line;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(before.fds_after(), before.fds);
  client.signal(SIGKILL);
  echo.process.signal(SIGTERM);
  EXPECT_EQ(echo.process.wait(), 0);
}

}  // namespace
}  // namespace wire::reliability
