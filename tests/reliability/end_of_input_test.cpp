// Issue 10 item 5 through `wire serve` as a real process (with its per-connection logging, which
// wraps the service): what a client leaves without a final newline before its FIN is a line.
#include <gtest/gtest.h>

#include <string>

#include "reliability/harness.hpp"
#include "support/loopback.hpp"

namespace wire::reliability {
namespace {

// Sends `input`, half-closes and returns everything the server sends until its FIN.
std::string exchange(const Endpoint& at, std::string_view input) {
  TcpStream c = test::connect_to(at);
  EXPECT_TRUE(c.set_receive_timeout(10s));
  EXPECT_TRUE(c.send_all(input));
  EXPECT_TRUE(c.shutdown_write());
  std::string got;
  std::byte buffer[4096];
  for (;;) {
    auto n = c.receive(buffer);
    if (!n || *n == 0) break;
    got.append(reinterpret_cast<const char*>(buffer), *n);
  }
  return got;
}

TEST(EndOfInput, ServeShoutAnswersALastLineWithoutNewline) {
  Running shout = start_wire({"serve", "shout", "--tcp", "127.0.0.1:0"});
  ASSERT_TRUE(shout.tcp);
  EXPECT_EQ(exchange(*shout.tcp, "abc\nno newline"), "ABC\nNO NEWLINE");
}

TEST(EndOfInput, ServeShoutWithLineFramingAnswersALastLineWithoutNewline) {
  Running shout = start_wire({"serve", "shout", "--tcp", "127.0.0.1:0", "--frame", "line"});
  ASSERT_TRUE(shout.tcp);
  EXPECT_EQ(exchange(*shout.tcp, "abc\nno newline"), "ABC\nNO NEWLINE\n");
}

TEST(EndOfInput, ServeEchoReturnsEveryByte) {
  Running echo = start_wire({"serve", "echo", "--tcp", "127.0.0.1:0"});
  ASSERT_TRUE(echo.tcp);
  EXPECT_EQ(exchange(*echo.tcp, "abc\nno newline"), "abc\nno newline");
}

}  // namespace
}  // namespace wire::reliability
