// Address families of the listening subcommands as real processes: ":PORT" and "localhost:PORT"
// listen on 127.0.0.1 AND ::1 (one port), so a client whose "localhost" is ::1 is not refused;
// -4/-6 keep one family; "[::]:PORT --dual-stack" takes IPv4 on the one IPv6 socket; serve takes
// several --tcp/--udp addresses. Listeners bind port 0 and print it; clients run to completion.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "support/process.hpp"

namespace wire::test {
namespace {

using namespace std::chrono_literals;

const std::string wire_cmd = WIRE_BINARY;

// Every "listening on [tcp |udp ]ADDR" line up to the first other line or `count` of them.
std::vector<std::string> listening_lines(Process& p, std::size_t count) {
  std::vector<std::string> out;
  while (out.size() < count) {
    auto line = p.read_line(Stream::err);
    if (!line) break;
    if (line->starts_with("listening on ")) out.push_back(line->substr(13));
  }
  return out;
}

std::string port_of(const std::string& address) { return address.substr(address.rfind(':') + 1); }

Output send_tcp(const std::string& to, const std::string& message) {
  return run({wire_cmd, "tcp", "connect", to, message});
}

// `tcp listen :0`: both loopbacks on one port, and a client of [::1] (what "localhost" is on a
// host whose /etc/hosts puts ::1 first) reaches it. Before, it listened on 127.0.0.1 only.
TEST(CliFamily, TcpListenOnPortListensOnBothLoopbacks) {
  for (const char* text : {":0", "localhost:0"}) {
    auto server = Process::start({wire_cmd, "tcp", "listen", text, "--verbose"});
    server.close_stdin();
    auto lines = listening_lines(server, 2);
    ASSERT_EQ(lines.size(), 2u) << text << ": " << server.read_all(Stream::err, 1s);
    const std::string port = port_of(lines[0]);
    EXPECT_EQ(lines[0], "127.0.0.1:" + port);
    EXPECT_EQ(lines[1], "[::1]:" + port);
    auto client = send_tcp("[::1]:" + port, "hello6");
    EXPECT_EQ(client.code, 0) << client.err;
    EXPECT_EQ(server.wait(), 0);
    EXPECT_EQ(server.read_all(Stream::out), "hello6");
  }
}

TEST(CliFamily, TcpListenV4ClientReachesIt) {
  auto server = Process::start({wire_cmd, "tcp", "listen", ":0", "--verbose"});
  server.close_stdin();
  auto lines = listening_lines(server, 2);
  ASSERT_EQ(lines.size(), 2u);
  auto client = send_tcp("127.0.0.1:" + port_of(lines[0]), "hello4");
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(server.wait(), 0);
  EXPECT_EQ(server.read_all(Stream::out), "hello4");
}

// -6 keeps ::1 only: 127.0.0.1 on that port is refused (and does not use up the one accept).
TEST(CliFamily, TcpListenMinus6KeepsIpv6Only) {
  auto server = Process::start({wire_cmd, "tcp", "listen", "-6", ":0", "--verbose"});
  server.close_stdin();
  auto lines = listening_lines(server, 1);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_TRUE(lines[0].starts_with("[::1]:")) << lines[0];
  const std::string port = port_of(lines[0]);
  auto refused = send_tcp("127.0.0.1:" + port, "x");
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("Connection refused"), std::string::npos) << refused.err;
  auto client = send_tcp("[::1]:" + port, "six");
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(server.wait(), 0);
  EXPECT_EQ(server.read_all(Stream::out), "six");
}

TEST(CliFamily, TcpListenMinus4KeepsIpv4Only) {
  auto server = Process::start({wire_cmd, "tcp", "listen", "-4", "localhost:0", "--verbose"});
  server.close_stdin();
  auto lines = listening_lines(server, 1);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_TRUE(lines[0].starts_with("127.0.0.1:")) << lines[0];
  const std::string port = port_of(lines[0]);
  EXPECT_EQ(send_tcp("[::1]:" + port, "x").code, 1);
  EXPECT_EQ(send_tcp("127.0.0.1:" + port, "four").code, 0);
  EXPECT_EQ(server.wait(), 0);
  EXPECT_EQ(server.read_all(Stream::out), "four");
}

// [::] is IPv6 only by default; --dual-stack lets the same socket take IPv4 clients.
TEST(CliFamily, DualStackTakesIpv4OnTheIpv6Wildcard) {
  auto v6only = Process::start({wire_cmd, "tcp", "listen", "[::]:0", "--verbose"});
  v6only.close_stdin();
  auto lines = listening_lines(v6only, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(send_tcp("127.0.0.1:" + port_of(lines[0]), "x").code, 1);
  v6only.signal(SIGTERM);
  v6only.wait();

  auto dual = Process::start({wire_cmd, "tcp", "listen", "[::]:0", "--dual-stack", "--verbose"});
  dual.close_stdin();
  lines = listening_lines(dual, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("[::]:")) << lines[0];
  auto client = send_tcp("127.0.0.1:" + port_of(lines[0]), "dual");
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(dual.wait(), 0);
  EXPECT_EQ(dual.read_all(Stream::out), "dual");
}

TEST(CliFamily, FamilyFlagMisuseIsAUsageError) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"tcp", "listen", "-4", "-6", ":0"}, "-4 excludes -6"},
      {{"tcp", "listen", "--dual-stack", ":0"}, "--dual-stack needs the IPv6 wildcard"},
      {{"tcp", "listen", "--dual-stack", "-6", "[::]:0"}, "drop -4/-6"},
      {{"tcp", "listen", "-6", "127.0.0.1:0"}, "127.0.0.1:0 has no IPv6 address"},
      {{"udp", "recv", "-4", "[::1]:0"}, "[::1]:0 has no IPv4 address"},
      {{"serve", "echo", "--tcp", "127.0.0.1:0", "--dual-stack"}, "--dual-stack needs"},
      {{"proxy", "-6", "127.0.0.1:0", "127.0.0.1:9"}, "has no IPv6 address"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{wire_cmd};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run(argv, {}, 10s);
    EXPECT_EQ(r.code, 2) << c.args[2] << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
}

// `udp recv :0`: one port on both loopbacks; a datagram to each arrives.
TEST(CliFamily, UdpRecvOnPortReceivesInBothFamilies) {
  auto recv = Process::start({wire_cmd, "udp", "recv", ":0", "--count", "2", "--raw"});
  auto lines = listening_lines(recv, 2);
  ASSERT_EQ(lines.size(), 2u);
  const std::string port = port_of(lines[0]);
  EXPECT_EQ(lines[0], "udp 127.0.0.1:" + port);
  EXPECT_EQ(lines[1], "udp [::1]:" + port);
  EXPECT_EQ(run({wire_cmd, "udp", "send", "[::1]:" + port, "six\n"}).code, 0);
  EXPECT_EQ(recv.read_line(Stream::out), "six");
  EXPECT_EQ(run({wire_cmd, "udp", "send", "127.0.0.1:" + port, "four\n"}).code, 0);
  EXPECT_EQ(recv.read_line(Stream::out), "four");
  EXPECT_EQ(recv.wait(), 0);
}

// serve: --tcp :0 and two --udp addresses (one of them :0, so three UDP sockets); echo answers
// on each, over IPv6 too. Before, --udp took one address and :0 meant 127.0.0.1 alone.
TEST(CliFamily, ServeTakesSeveralAddressesInBothFamilies) {
  auto server = Process::start({wire_cmd, "serve", "echo", "--threads", "2", "--tcp", ":0",
                                "--udp", ":0", "--udp", "127.0.0.1:0", "--quiet"});
  auto lines = listening_lines(server, 5);
  ASSERT_EQ(lines.size(), 5u) << server.read_all(Stream::err, 1s);
  const std::string tcp_port = port_of(lines[0]), udp_port = port_of(lines[2]);
  EXPECT_EQ(lines[0], "tcp 127.0.0.1:" + tcp_port);
  EXPECT_EQ(lines[1], "tcp [::1]:" + tcp_port);
  EXPECT_EQ(lines[2], "udp 127.0.0.1:" + udp_port);
  EXPECT_EQ(lines[3], "udp [::1]:" + udp_port);
  EXPECT_TRUE(lines[4].starts_with("udp 127.0.0.1:")) << lines[4];
  for (const std::string& to : {"127.0.0.1:" + tcp_port, "[::1]:" + tcp_port}) {
    auto r = send_tcp(to, "ping");
    EXPECT_EQ(r.code, 0) << to << r.err;
    EXPECT_EQ(r.out, "ping") << to;
  }
  for (const std::string& to : {lines[2].substr(4), lines[3].substr(4), lines[4].substr(4)}) {
    auto r = run({wire_cmd, "udp", "send", to, "dgram", "--wait-reply", "10"});
    EXPECT_EQ(r.code, 0) << to << r.err;
    EXPECT_NE(r.out.find("received message b'dgram' from " + to), std::string::npos) << r.out;
  }
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
}

// Two UDP addresses of one echo server must not answer each other: a datagram spoofed as
// coming from one of them and sent to the other would otherwise bounce between them forever.
// A raw socket (root) writes the spoofed datagram; the server's summary counts one refusal.
TEST(CliFamily, ServeRefusesRepliesToItsOtherUdpAddress) {
  auto server = Process::start({wire_cmd, "serve", "echo", "--threads", "1", "--udp",
                                "127.0.0.1:0", "--udp", "127.0.0.1:0"});
  auto lines = listening_lines(server, 2);
  ASSERT_EQ(lines.size(), 2u);
  const std::string a = port_of(lines[0]), b = port_of(lines[1]);
  auto spoof = run({"python3", "-c",
                    "import socket, struct, sys\n"
                    "src, dst = int(sys.argv[1]), int(sys.argv[2])\n"
                    "payload = b'loop'\n"
                    "udp = struct.pack('!HHHH', src, dst, 8 + len(payload), 0) + payload\n"
                    "ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,"
                    " socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.1'))\n"
                    "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)\n"
                    "s.sendto(ip + udp, ('127.0.0.1', 0))\n",
                    a, b});
  ASSERT_EQ(spoof.code, 0) << spoof.err;
  // One loop, one socket: once an honest datagram sent after it is answered, the spoofed one
  // has been handled.
  auto honest = run({wire_cmd, "udp", "send", lines[1].substr(4), "ok", "--wait-reply", "10"});
  EXPECT_EQ(honest.code, 0) << honest.err;
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(), 0);
  const std::string err = server.read_all(Stream::err);
  EXPECT_NE(err.find("2 datagrams in, 1 out"), std::string::npos) << err;
  EXPECT_NE(err.find("refused 1 UDP replies"), std::string::npos) << err;
}

// proxy :0 relays from both loopbacks; a client of ::1 reaches a target on 127.0.0.1.
TEST(CliFamily, ProxyOnPortListensOnBothLoopbacks) {
  auto target = Process::start({wire_cmd, "serve", "echo", "--tcp", "127.0.0.1:0", "--quiet"});
  auto target_lines = listening_lines(target, 1);
  ASSERT_EQ(target_lines.size(), 1u);
  auto proxy = Process::start({wire_cmd, "proxy", ":0", target_lines[0].substr(4)});
  auto lines = listening_lines(proxy, 2);
  ASSERT_EQ(lines.size(), 2u);
  const std::string port = port_of(lines[0]);
  EXPECT_EQ(lines[0], "tcp 127.0.0.1:" + port);
  EXPECT_EQ(lines[1], "tcp [::1]:" + port);
  for (const std::string& to : {"[::1]:" + port, "127.0.0.1:" + port}) {
    auto r = send_tcp(to, "via proxy");
    EXPECT_EQ(r.code, 0) << to << r.err;
    EXPECT_EQ(r.out, "via proxy") << to;
  }
  proxy.signal(SIGTERM);
  EXPECT_EQ(proxy.wait(), 0);
  target.signal(SIGTERM);
  EXPECT_EQ(target.wait(), 0);
}

// proxy --udp :0 relays from both loopbacks too, and each reply leaves from the address its
// client sent to (a client of [::1] waits for [::1]). Before, it listened on 127.0.0.1 only.
TEST(CliFamily, UdpProxyOnPortListensOnBothLoopbacks) {
  auto target = Process::start({wire_cmd, "serve", "echo", "--udp", "127.0.0.1:0", "--quiet"});
  auto target_lines = listening_lines(target, 1);
  ASSERT_EQ(target_lines.size(), 1u);
  auto proxy = Process::start({wire_cmd, "proxy", "--udp", ":0", target_lines[0].substr(4)});
  auto lines = listening_lines(proxy, 2);
  ASSERT_EQ(lines.size(), 2u) << proxy.read_all(Stream::err, 1s);
  const std::string port = port_of(lines[0]);
  EXPECT_EQ(lines[0], "udp 127.0.0.1:" + port);
  EXPECT_EQ(lines[1], "udp [::1]:" + port);
  for (const std::string& to : {"[::1]:" + port, "127.0.0.1:" + port}) {
    auto r = run({wire_cmd, "udp", "send", to, "via proxy", "--wait-reply", "10"});
    EXPECT_EQ(r.code, 0) << to << r.err;
    EXPECT_NE(r.out.find("received message b'via proxy' from " + to), std::string::npos) << r.out;
  }
  proxy.signal(SIGTERM);
  EXPECT_EQ(proxy.wait(), 0);
  target.signal(SIGTERM);
  EXPECT_EQ(target.wait(), 0);
}

}  // namespace
}  // namespace wire::test
