// `wire tcp connect` and `wire tcp listen` as real processes, against each other, against OpenBSD
// netcat and against Python's socket module, in both directions. Listeners bind port 0 and
// report it; everything else synchronises on lines read with deadlines.
#include <gtest/gtest.h>

#include <thread>

#include <string>

#include "support/process.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

Bound start_listen(const std::string& address, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{wire_cmd, "tcp", "listen", address, "--verbose"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_bound(argv);
}


// The first word of the client's "SELF sent message ..." line: its own address.
std::string first_word(const std::string& text) { return text.substr(0, text.find(' ')); }

// A Python TCP peer listening on 127.0.0.1:0: prints its port, accepts one connection as `c`,
// then runs `body`.
Process python_listener(const std::string& body) {
  return Process::start({"python3", "-c",
                         "import socket\n"
                         "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
                         "s.bind(('127.0.0.1', 0))\n"
                         "s.listen(1)\n"
                         "s.settimeout(20)\n"
                         "print(s.getsockname()[1], flush=True)\n"
                         "c, (host, port) = s.accept()\n"
                         "c.settimeout(20)\n" +
                             body});
}

TEST(CliTcp, ConnectToListenPrintsTheSeedLines) {
  auto server = start_listen("127.0.0.1:0");
  server.process.close_stdin();  // nothing to send back
  const std::string to = server.at.to_string();
  auto client = run({wire_cmd, "tcp", "connect", to, "hello", "--from", "127.0.0.1:0",
                     "--verbose"});
  ASSERT_EQ(client.code, 0) << client.err;
  const std::string from = first_word(client.err);
  EXPECT_EQ(client.err, from + " sent message b'hello' to " + to + "\n");
  EXPECT_EQ(client.out, "");
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "hello");
  // The seed's server: one line per receive, ending with the b'' line when the client closes.
  EXPECT_EQ(server.process.read_all(Stream::err),
            to + " received message b'hello' from " + from + "\n" + to +
                " received message b'' from " + from + "\n");
}

// netcat's forms: `listen PORT`, `listen HOST PORT`, `connect HOST PORT`; a port after a host
// is the port, never a message.
TEST(CliTcp, NetcatsHostPortFormsAreAccepted) {
  auto lone = start_bound({wire_cmd, "tcp", "listen", "0", "--verbose"});
  EXPECT_TRUE(lone.at.is_loopback()) << lone.at.to_string();
  lone.process.close_stdin();
  auto c1 = run({wire_cmd, "tcp", "connect", lone.at.host(), std::to_string(lone.at.port())},
                "via stdin\n");
  ASSERT_EQ(c1.code, 0) << c1.err;
  EXPECT_EQ(lone.process.wait(), 0);
  EXPECT_EQ(lone.process.read_all(Stream::out), "via stdin\n");

  auto v6 = start_bound({wire_cmd, "tcp", "listen", "::1", "0", "--verbose"});
  ASSERT_EQ(v6.at.family(), Family::v6);
  v6.process.close_stdin();
  auto c2 = run({wire_cmd, "tcp", "connect", "::1", std::to_string(v6.at.port())}, "msg");
  ASSERT_EQ(c2.code, 0) << c2.err;
  EXPECT_EQ(v6.process.wait(), 0);
  EXPECT_EQ(v6.process.read_all(Stream::out), "msg");
}

TEST(CliTcp, ListenerSendsItsStdinBack) {
  auto server = start_listen("127.0.0.1:0");
  ASSERT_TRUE(server.process.write("from the server\n"));
  server.process.close_stdin();
  auto client = run({wire_cmd, "tcp", "connect", server.at.to_string(), "hi"});
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "from the server\n");
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "hi");
}

TEST(CliTcp, ConnectSendsStdinAndHalfClosesAtItsEnd) {
  auto server = start_listen("[::1]:0");
  ASSERT_EQ(server.at.family(), Family::v6);
  auto client = Process::start({wire_cmd, "tcp", "connect", server.at.to_string()});
  ASSERT_TRUE(client.write("line one\nline two\n"));
  // The listener receives while the client's stdin is still open...
  auto first = server.process.read_line(Stream::out);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, "line one");
  // ...and answers after the client's end of input reaches it as end of stream.
  client.close_stdin();
  ASSERT_TRUE(server.process.write("done\n"));
  server.process.close_stdin();
  EXPECT_EQ(client.read_line(Stream::out), "done");
  EXPECT_EQ(client.wait(), 0);
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "line two\n");
}

TEST(CliTcp, KeepOpenServesClientsOneAfterAnother) {
  auto server = start_listen("127.0.0.1:0", {"--keep-open"});
  server.process.close_stdin();
  for (const char* m : {"first", "second"}) {
    auto client = run({wire_cmd, "tcp", "connect", server.at.to_string(), m, "--verbose"});
    ASSERT_EQ(client.code, 0) << client.err;
    const std::string from = first_word(client.err);
    EXPECT_EQ(server.process.read_line(Stream::err),
              server.at.to_string() + " received message b'" + m + "' from " + from);
    EXPECT_EQ(server.process.read_line(Stream::err),
              server.at.to_string() + " received message b'' from " + from);
  }
  server.process.signal(SIGTERM);  // --keep-open never ends by itself
  EXPECT_EQ(server.process.wait(), 128 + SIGTERM);
  EXPECT_EQ(server.process.read_all(Stream::out), "firstsecond");
}

TEST(CliTcp, NetcatConnectsToWireListen) {
  auto server = start_listen("127.0.0.1:0");
  server.process.close_stdin();
  // -N: shut the socket down at end of input, as wire does.
  auto nc = run({"nc.openbsd", "-N", "127.0.0.1", std::to_string(server.at.port())},
                "hello from nc\n");
  EXPECT_EQ(nc.code, 0) << nc.err;
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "hello from nc\n");
}

TEST(CliTcp, WireListenAnswersNetcat) {
  auto server = start_listen("127.0.0.1:0");
  ASSERT_TRUE(server.process.write("welcome\n"));
  server.process.close_stdin();
  auto nc = run({"nc.openbsd", "-N", "127.0.0.1", std::to_string(server.at.port())}, "hi\n");
  EXPECT_EQ(nc.code, 0) << nc.err;
  EXPECT_EQ(nc.out, "welcome\n");
  EXPECT_EQ(server.process.wait(), 0);
}

TEST(CliTcp, WireConnectsToNetcatListen) {
  auto nc = Process::start({"nc.openbsd", "-v", "-n", "-l", "127.0.0.1", "0"});
  const auto port = last_word_port(nc.read_line(Stream::err));  // "Listening on 127.0.0.1 P"
  ASSERT_NE(port, 0);
  ASSERT_TRUE(nc.write("reply from nc\n"));
  auto client = run({wire_cmd, "tcp", "connect", "127.0.0.1:" + std::to_string(port),
                     "hello nc\n"});
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "reply from nc\n");
  EXPECT_EQ(nc.read_line(Stream::out), "hello nc");
  nc.close_stdin();
  nc.signal(SIGTERM);
  nc.wait();
}

TEST(CliTcp, PythonConnectsToWireListen) {
  auto server = start_listen("127.0.0.1:0");
  ASSERT_TRUE(server.process.write("pong"));
  server.process.close_stdin();
  // The seed's client, plus reading the reply to the end.
  auto py = run({"python3", "-c",
                 "import socket\n"
                 "s = socket.socket(family=socket.AF_INET, type=socket.SOCK_STREAM)\n"
                 "s.settimeout(20)\n"
                 "s.bind(('127.0.0.1', 0))\n"
                 "s.connect(('127.0.0.1', " + std::to_string(server.at.port()) + "))\n"
                 "s.sendall(b'ping')\n"
                 "s.shutdown(socket.SHUT_WR)\n"
                 "reply = b''\n"
                 "while chunk := s.recv(1024):\n"
                 "    reply += chunk\n"
                 "print(s.getsockname()[1], reply)\n"
                 "s.close()\n"});
  ASSERT_EQ(py.code, 0) << py.err;
  const std::string port = first_word(py.out);
  EXPECT_EQ(py.out, port + " b'pong'\n");
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "ping");
  const std::string to = server.at.to_string(), from = "127.0.0.1:" + port;
  EXPECT_EQ(server.process.read_all(Stream::err),
            to + " received message b'ping' from " + from + "\n" + to +
                " received message b'' from " + from + "\n");
}

TEST(CliTcp, WireConnectsToPythonListen) {
  // The seed's TCP server loop, printing each receive until the b'' that ends the stream; it
  // then answers, which the half-closed client still reads.
  auto py = python_listener(
      "while True:\n"
      "    message = c.recv(1024)\n"
      "    print(f'received message {message} from {host}:{port}', flush=True)\n"
      "    if not message:\n"
      "        break\n"
      "c.sendall(b'thanks')\n"
      "c.close()\n");
  const auto port = py.read_line(Stream::out);
  ASSERT_TRUE(port);
  auto client = run({wire_cmd, "tcp", "connect", "127.0.0.1:" + *port, "hello", "--verbose"});
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "thanks");
  const std::string self = first_word(client.err);
  EXPECT_EQ(py.read_line(Stream::out), "received message b'hello' from " + self);
  EXPECT_EQ(py.read_line(Stream::out), "received message b'' from " + self);
  EXPECT_EQ(py.wait(), 0);
}

TEST(CliTcp, LargeTransferArrivesWhole) {
  // 1 MiB through the relay: partial sends and receives on both sides must lose nothing.
  auto server = start_listen("127.0.0.1:0");
  server.process.close_stdin();
  std::string payload(1 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 23);
  // The client runs on its own thread while this one waits on the server, which drains the
  // server's pipes: its --verbose lines (about 4 MiB for 1 MiB) must not fill a pipe nobody reads.
  Output client;
  std::thread sender(
      [&] { client = run({wire_cmd, "tcp", "connect", server.at.to_string()}, payload); });
  EXPECT_EQ(server.process.wait(), 0);
  sender.join();
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_TRUE(server.process.read_all(Stream::out) == payload);
}

}  // namespace
}  // namespace wire::test
