// `wire tcp listen/connect --frame`: whole messages however the stream is split, against the
// wire command itself and against Python peers that split or inspect the bytes.
#include <gtest/gtest.h>

#include <csignal>
#include <string>

#include "support/process.hpp"

namespace wire::test {
namespace {

const std::string wire_cmd = WIRE_BINARY;

struct Listener {
  Process process;
  std::string at;
};

Listener start_listen(std::vector<std::string> extra) {
  std::vector<std::string> argv{wire_cmd, "tcp", "listen", "127.0.0.1:0", "--verbose"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto bound = start_bound(argv);
  bound.process.close_stdin();  // nothing to send back
  return {std::move(bound.process), bound.at.to_string()};
}

// The listener's "received message" lines, with the peer address cut off.
std::vector<std::string> received(Process& listener) {
  std::vector<std::string> lines;
  std::string err = listener.read_all(Stream::err);
  for (std::size_t at = 0, end; (end = err.find('\n', at)) != std::string::npos; at = end + 1) {
    std::string line = err.substr(at, end - at);
    auto message = line.find(" received message ");
    auto from = line.rfind(" from ");
    if (message != std::string::npos && from != std::string::npos)
      lines.push_back(line.substr(message + 18, from - message - 18));
    else
      lines.push_back(line);
  }
  return lines;
}

// A Python client that connects to `port` with Nagle off and sends `data` cut into pieces of
// `piece` bytes, one send each, then half-closes and waits for the server to close.
Output python_split_client(const std::string& address, int piece, const std::string& data) {
  const std::string port = address.substr(address.rfind(':') + 1);
  return run({"python3", "-c",
              "import socket, sys\n"
              "data = sys.stdin.buffer.read()\n"
              "s = socket.create_connection(('127.0.0.1', " + port + "), timeout=20)\n"
              "s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
              "for i in range(0, len(data), " + std::to_string(piece) + "):\n"
              "    s.sendall(data[i:i + " + std::to_string(piece) + "])\n"
              "s.shutdown(socket.SHUT_WR)\n"
              "s.recv(1)\n"},
             data);
}

TEST(CliFrame, LineConnectToLineListenShowsTwoWholeMessages) {
  auto server = start_listen({"--frame", "line"});
  auto client = run({wire_cmd, "tcp", "connect", server.at, "--frame", "line"}, "hello\nworld\n");
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(server.process.read_all(Stream::out), "hello\nworld\n");
  EXPECT_EQ(received(server.process), (std::vector<std::string>{"b'hello'", "b'world'", "b''"}));
}

TEST(CliFrame, OneMessageALineHoweverTheBytesAreSplit) {
  for (int piece : {1, 2, 3, 5, 64}) {
    auto server = start_listen({"--frame", "line"});
    auto client = python_split_client(server.at, piece, "hello\nworld\n\nlast\n");
    ASSERT_EQ(client.code, 0) << client.err;
    EXPECT_EQ(server.process.wait(), 0);
    EXPECT_EQ(received(server.process),
              (std::vector<std::string>{"b'hello'", "b'world'", "b''", "b'last'", "b''"}))
        << "pieces of " << piece;
  }
}

TEST(CliFrame, LengthFramesAreBigEndianFourByteHeaders) {
  auto server = start_listen({"--frame", "length"});
  const std::string stream("\0\0\0\x05hello\0\0\0\0\0\0\0\x02ok", 19);
  auto client = python_split_client(server.at, 1, stream);
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(server.process.wait(), 0);
  EXPECT_EQ(received(server.process),
            (std::vector<std::string>{"b'hello'", "b''", "b'ok'", "b''"}));
}

TEST(CliFrame, ConnectSendsEachInputLineAsALengthFrame) {
  Process peer = Process::start({"python3", "-c",
                                 "import socket\n"
                                 "s = socket.socket()\n"
                                 "s.bind(('127.0.0.1', 0))\n"
                                 "s.listen(1)\n"
                                 "s.settimeout(20)\n"
                                 "print(s.getsockname()[1], flush=True)\n"
                                 "c, _ = s.accept()\n"
                                 "c.settimeout(20)\n"
                                 "data = b''\n"
                                 "while True:\n"
                                 "    piece = c.recv(4096)\n"
                                 "    if not piece: break\n"
                                 "    data += piece\n"
                                 "print(data.hex(), flush=True)\n"
                                 "c.sendall(b'\\x00\\x00\\x00\\x05reply')\n"
                                 "c.close()\n"});
  auto port = peer.read_line(Stream::out);
  ASSERT_TRUE(port);
  auto client = run({wire_cmd, "tcp", "connect", "127.0.0.1:" + *port, "--frame", "length"},
                    "one\ntwo words\nno newline");
  ASSERT_EQ(client.code, 0) << client.err;
  EXPECT_EQ(client.out, "reply\n");
  EXPECT_EQ(peer.read_line(Stream::out),
            "000000036f6e65"                   // "one"
            "0000000974776f20776f726473"       // "two words"
            "0000000a6e6f206e65776c696e65");   // "no newline"
  EXPECT_EQ(peer.wait(), 0);
}

TEST(CliFrame, OversizedMessageEndsTheConnectionWithItsSize) {
  auto server = start_listen({"--frame", "line", "--max-message", "5"});
  auto client = run({wire_cmd, "tcp", "connect", server.at}, "hello\nworld!\n");
  EXPECT_EQ(server.process.wait(), 1);
  const auto lines = received(server.process);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "b'hello'");
  EXPECT_NE(lines[1].find("message too large (6 bytes seen; --max-message is 5)"),
            std::string::npos)
      << lines[1];
  EXPECT_EQ(lines[1].rfind("wire: connection from ", 0), 0u) << lines[1];
}

TEST(CliFrame, InputLineOverTheLimitIsAnError) {
  auto server = start_listen({"--frame", "line"});
  auto client = run({wire_cmd, "tcp", "connect", server.at, "--frame", "line", "--max-message",
                     "3"},
                    "abc\ntoo long\n");
  EXPECT_EQ(client.code, 1);
  EXPECT_NE(client.err.find("message too large"), std::string::npos) << client.err;
  server.process.wait();
}

// `wire serve SERVICE --frame`: the service answers each whole message with a message; a bad
// frame is logged and closes only its own connection.
TEST(CliFrame, ServeAnswersEachMessageAndCutsOnlyTheOversizedOne) {
  Process serve = Process::start({wire_cmd, "serve", "shout", "--tcp", "127.0.0.1:0", "--frame",
                                  "length", "--max-message", "10", "--threads", "2"});
  std::optional<std::string> line;
  while ((line = serve.read_line(Stream::err)) && line->rfind("listening on tcp ", 0) != 0) {}
  ASSERT_TRUE(line) << serve.read_all(Stream::err, 1s);
  const std::string at = line->substr(17);

  auto ok = run({wire_cmd, "tcp", "connect", at, "--frame", "length"}, "hello\nworld\n");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "HELLO\nWORLD\n");
  (void)run({wire_cmd, "tcp", "connect", at, "--frame", "length"}, "fine\nthis is too long\n");
  auto after = run({wire_cmd, "tcp", "connect", at, "--frame", "length"}, "still\n");
  EXPECT_EQ(after.out, "STILL\n");

  serve.signal(SIGINT);
  EXPECT_EQ(serve.wait(), 0);
  const std::string log = serve.read_all(Stream::err);
  EXPECT_NE(log.find(": message too large (16 bytes seen; --max-message is 10)\n"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("out 8 bytes): message too large\n"), std::string::npos) << log;
}

TEST(CliFrame, UnknownFrameIsAUsageError) {
  auto r = run({wire_cmd, "tcp", "listen", "127.0.0.1:0", "--frame", "bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--frame"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wire::test
