// `wire udp send` and `wire udp recv` as real processes, against each other, against OpenBSD
// netcat and against Python's socket module. Servers bind port 0 and report the port they got;
// nothing waits on a sleep.
#include <gtest/gtest.h>

#include <string>

#include "support/process.hpp"
#include "wire/udp.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

// Starts `wire udp recv ADDR --verbose ...` and waits until it is bound.
Bound start_recv(const std::string& address, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{wire_cmd, "udp", "recv", address, "--verbose"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_bound(argv);
}


// A Python UDP peer: binds 127.0.0.1:0, prints its port, then runs `body` (s is the socket).
Process python_udp(const std::string& body) {
  return Process::start({"python3", "-c",
                         "import socket, sys\n"
                         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                         "s.bind(('127.0.0.1', 0))\n"
                         "s.settimeout(20)\n"
                         "print(s.getsockname()[1], flush=True)\n" +
                             body});
}

TEST(CliUdp, SendToRecvPrintsTheSeedLines) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1"});
  const std::string to = server.at.to_string();
  auto client = run({wire_cmd, "udp", "send", to, "hello", "--from", "127.0.0.1:0"});
  ASSERT_EQ(client.code, 0) << client.err;
  // "127.0.0.1:PORT sent message b'hello' to 127.0.0.1:SERVER": read the client's port back.
  const std::string prefix = "127.0.0.1:";
  ASSERT_TRUE(client.out.starts_with(prefix)) << client.out;
  const std::string from = client.out.substr(0, client.out.find(' '));
  EXPECT_EQ(client.out, from + " sent message b'hello' to " + to + "\n");
  EXPECT_EQ(client.err, "");
  EXPECT_EQ(server.process.read_line(Stream::out),
            to + " received message b'hello' from " + from);
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::err), "");
}

TEST(CliUdp, Ipv6Loopback) {
  auto server = start_recv("[::1]:0", {"--count", "1"});
  ASSERT_EQ(server.at.family(), Family::v6);
  auto client = run({wire_cmd, "udp", "send", server.at.to_string(), "v6"});
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_TRUE(client.out.starts_with("[::1]:")) << client.out;
  auto line = server.process.read_line(Stream::out);
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->starts_with(server.at.to_string() + " received message b'v6' from [::1]:"))
      << *line;
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliUdp, StdinLinesAreOneDatagramEach) {
  auto server = start_recv("127.0.0.1:0", {"--count", "3", "--raw"});
  auto client = run({wire_cmd, "udp", "send", server.at.to_string()}, "one\ntwo\nthree");
  ASSERT_EQ(client.code, 0) << client.err;
  // Three sent lines; the newline travels with each line as netcat sends it.
  EXPECT_NE(client.out.find("sent message b'one\\n'"), std::string::npos) << client.out;
  EXPECT_NE(client.out.find("sent message b'two\\n'"), std::string::npos);
  EXPECT_NE(client.out.find("sent message b'three'"), std::string::npos);
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "one\ntwo\nthree");
}

TEST(CliUdp, CountStopsAfterThatManyDatagrams) {
  auto server = start_recv("127.0.0.1:0", {"--count", "2"});
  for (const char* m : {"a", "b"})
    ASSERT_EQ(run({wire_cmd, "udp", "send", server.at.to_string(), m}).code, 0);
  EXPECT_EQ(server.process.wait(), 0);
  const std::string out = server.process.read_all(Stream::out);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2) << out;
  EXPECT_NE(out.find("b'a'"), std::string::npos);
  EXPECT_NE(out.find("b'b'"), std::string::npos);
}

TEST(CliUdp, RawWritesPayloadsOnly) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1", "--raw"});
  ASSERT_EQ(run({wire_cmd, "udp", "send", server.at.to_string(), "it's raw\tbytes"}).code, 0);
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "it's raw\tbytes");
}

TEST(CliUdp, BytesArePrintedAsPythonWouldPrintThem) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1"});
  ASSERT_EQ(run({wire_cmd, "udp", "send", server.at.to_string(), "it's \"q\"\x01\\"}).code, 0);
  auto line = server.process.read_line(Stream::out);
  ASSERT_TRUE(line);
  EXPECT_NE(line->find(R"(received message b'it\'s "q"\x01\\' from)"), std::string::npos) << *line;
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliUdp, TruncatedDatagramIsReportedWithItsSize) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1"});  // the seed's 1024-byte buffer
  auto py = run({"python3", "-c",
                 "import socket\n"
                 "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 "s.bind(('127.0.0.1', 0))\n"
                 "s.sendto(b'x' * 2000, ('127.0.0.1', " + std::to_string(server.at.port()) + "))\n"
                 "print(s.getsockname()[1])\n"});
  ASSERT_EQ(py.code, 0) << py.err;
  const std::string from = "127.0.0.1:" + py.out.substr(0, py.out.find('\n'));
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::err),
            "wire: datagram from " + from + " truncated: 2000 bytes, buffer holds 1024\n");
  EXPECT_EQ(server.process.read_all(Stream::out), server.at.to_string() +
                                                      " received message b'" +
                                                      std::string(1024, 'x') + "' from " + from +
                                                      "\n");
}

TEST(CliUdp, BufferSizeOptionChangesTheCut) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1", "--buffer-size", "4", "--raw"});
  ASSERT_EQ(run({wire_cmd, "udp", "send", server.at.to_string(), "abcdefgh"}).code, 0);
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "abcd");
  auto err = server.process.read_all(Stream::err);
  EXPECT_NE(err.find("truncated: 8 bytes, buffer holds 4"), std::string::npos) << err;
}

TEST(CliUdp, WaitReplyPrintsTheReply) {
  auto echo = python_udp(
      "data, peer = s.recvfrom(1024)\n"
      "s.sendto(data.upper(), peer)\n");
  const auto port = echo.read_line(Stream::out);
  ASSERT_TRUE(port);
  const std::string to = "127.0.0.1:" + *port;
  auto client = run({wire_cmd, "udp", "send", to, "shout", "--wait-reply", "10"});
  ASSERT_EQ(client.code, 0) << client.err;
  const std::string self = client.out.substr(0, client.out.find(' '));
  EXPECT_EQ(client.out, self + " sent message b'shout' to " + to + "\n" + self +
                            " received message b'SHOUT' from " + to + "\n");
  EXPECT_EQ(echo.wait(), 0);
}

TEST(CliUdp, WaitReplyWithNoReplyFailsAfterTheWait) {
  auto silent = python_udp("s.recvfrom(1024)\n");
  const auto port = silent.read_line(Stream::out);
  ASSERT_TRUE(port);
  auto client = run({wire_cmd, "udp", "send", "127.0.0.1:" + *port, "hi", "--wait-reply", "0.2"});
  EXPECT_EQ(client.code, 1);
  EXPECT_EQ(client.err, "wire: no reply within 200 ms\n");
  EXPECT_EQ(silent.wait(), 0);
}

// Issue 10 item 19 for UDP: an IPv6 peer from an IPv4 --from names the mismatch.
TEST(CliUdp, FamiliesThatDifferAreSaidToDiffer) {
  auto o = run({wire_cmd, "udp", "send", "[::1]:9", "x", "--from", "127.0.0.1:0"});
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.err,
            "wire: cannot send to [::1]:9 from 127.0.0.1:0: the addresses are of different "
            "families (IPv6 and IPv4)\n");
}

TEST(CliUdp, NetcatSendsToWireRecv) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1"});
  // OpenBSD nc -u quits when its stdin ends: keep stdin open until the datagram arrived.
  auto nc = Process::start(
      {"nc.openbsd", "-u", "-w", "1", "127.0.0.1", std::to_string(server.at.port())});
  ASSERT_TRUE(nc.write("hello from nc\n"));
  auto line = server.process.read_line(Stream::out);
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->starts_with(server.at.to_string() + " received message b'hello from nc\\n' "
                                                        "from 127.0.0.1:"))
      << *line;
  nc.close_stdin();
  EXPECT_EQ(nc.wait(), 0);
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliUdp, WireSendsToNetcat) {
  auto nc = Process::start({"nc.openbsd", "-v", "-n", "-u", "-l", "127.0.0.1", "0"});
  const auto port = last_word_port(nc.read_line(Stream::err));  // "Bound on 127.0.0.1 PORT"
  ASSERT_NE(port, 0);
  auto client = run({wire_cmd, "udp", "send", "127.0.0.1:" + std::to_string(port), "hi nc\n"});
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(nc.read_line(Stream::out), "hi nc");
  nc.close_stdin();
  nc.signal(SIGTERM);  // a UDP listener has no end of stream to stop on
  nc.wait();
}

TEST(CliUdp, NetcatRepliesToWaitReply) {
  auto nc = Process::start({"nc.openbsd", "-v", "-n", "-u", "-l", "127.0.0.1", "0"});
  const auto port = last_word_port(nc.read_line(Stream::err));
  ASSERT_NE(port, 0);
  auto client = Process::start({wire_cmd, "udp", "send", "127.0.0.1:" + std::to_string(port),
                                "question\n", "--wait-reply", "10"});
  // nc -u -l prints the first datagram and then answers its sender with what it reads on stdin.
  ASSERT_EQ(nc.read_line(Stream::out), "question");
  auto sent = client.read_line(Stream::out);
  ASSERT_TRUE(sent);
  EXPECT_NE(sent->find(" sent message b'question\\n' to "), std::string::npos) << *sent;
  ASSERT_TRUE(nc.write("answer\n"));
  auto reply = client.read_line(Stream::out);
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->find("received message b'answer\\n' from 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << *reply;
  EXPECT_EQ(client.wait(), 0);
  nc.signal(SIGTERM);
  nc.wait();
}

TEST(CliUdp, PythonSendsToWireRecv) {
  auto server = start_recv("127.0.0.1:0", {"--count", "1"});
  auto py = run({"python3", "-c",
                 "import socket\n"
                 "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 "s.bind(('127.0.0.1', 0))\n"
                 "s.sendto(b'hello', ('127.0.0.1', " + std::to_string(server.at.port()) + "))\n"
                 "print(s.getsockname()[1])\n"});
  ASSERT_EQ(py.code, 0) << py.err;
  const std::string from = "127.0.0.1:" + py.out.substr(0, py.out.find('\n'));
  EXPECT_EQ(server.process.read_line(Stream::out),
            server.at.to_string() + " received message b'hello' from " + from);
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliUdp, WireSendsToPython) {
  // The seed's own server, with Python printing exactly what the seed prints.
  auto py = python_udp(
      "message, (host, port) = s.recvfrom(1024)\n"
      "print(f\"received message {message} from {host}:{port}\")\n");
  const auto port = py.read_line(Stream::out);
  ASSERT_TRUE(port);
  auto client = run({wire_cmd, "udp", "send", "127.0.0.1:" + *port, "hello"});
  ASSERT_EQ(client.code, 0) << client.err;
  const std::string self = client.out.substr(0, client.out.find(' '));
  EXPECT_EQ(py.read_line(Stream::out), "received message b'hello' from " + self);
  EXPECT_EQ(py.wait(), 0);
}

// The first example in `wire --help`, run as printed (on a free port instead of 8888), must
// deliver every time: it sends only once the receiver has printed "listening on udp ADDR".
TEST(CliUdp, HelpExampleDeliversEveryTime) {
  auto help = run({wire_cmd, "--help"});
  const std::string marker = "cannot be lost): ";
  auto at = help.out.find(marker);
  ASSERT_NE(at, std::string::npos) << help.out;
  std::string example = help.out.substr(at + marker.size());
  example = example.substr(0, example.find('\n'));
  for (int i = 0; i < 20; ++i) {
    auto probe = UdpSocket::open(Endpoint::loopback(Family::v4, 0));  // a port free just now
    ASSERT_TRUE(probe);
    const std::string port = std::to_string(probe->local_endpoint()->port());
    probe->close();
    std::string line = example;
    for (auto p = line.find("8888"); p != std::string::npos; p = line.find("8888"))
      line.replace(p, 4, port);
    for (auto p = line.find("wire "); p != std::string::npos; p = line.find("wire ", p + 1)) {
      line.replace(p, 4, wire_cmd);
      p += wire_cmd.size();
    }
    auto r = run({"bash", "-c", line}, "", 10s);
    EXPECT_EQ(r.code, 0) << line << "\n" << r.err;
    EXPECT_NE(r.out.find("127.0.0.1:" + port + " received message b'hello' from "),
              std::string::npos)
        << line << "\n" << r.out;
  }
}

}  // namespace
}  // namespace wire::test
