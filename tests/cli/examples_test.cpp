// examples/udp_hello and examples/tcp_hello print the seed's lines, and can be rerun at once.
// They use the seed's fixed ports, so ctest runs them under RESOURCE_LOCK seed_ports.
#include <gtest/gtest.h>

#include <string>

#include "support/process.hpp"

namespace wire::test {
namespace {

#if defined(WIRE_UDP_HELLO) && defined(WIRE_TCP_HELLO)

void expect_twice(const std::string& program, const std::string& expected) {
  for (int round = 1; round <= 2; ++round) {
    auto out = run({program});
    EXPECT_EQ(out.code, 0) << "round " << round << ": " << out.err;
    EXPECT_EQ(out.out, expected) << "round " << round;
    EXPECT_EQ(out.err, "");
  }
}

TEST(Examples, UdpHelloPrintsTheSeedLines) {
  expect_twice(WIRE_UDP_HELLO,
               "127.0.0.1:8000 sent message b'hello' to 127.0.0.1:8888\n"
               "127.0.0.1:8888 received message b'hello' from 127.0.0.1:8000\n");
}

TEST(Examples, TcpHelloPrintsTheSeedLines) {
  expect_twice(WIRE_TCP_HELLO,
               "127.0.0.1:8000 sent message b'hello' to 127.0.0.1:8888\n"
               "127.0.0.1:8888 received message b'hello' from 127.0.0.1:8000\n"
               "127.0.0.1:8888 received message b'' from 127.0.0.1:8000\n");
}

#else

TEST(Examples, NotBuilt) { GTEST_SKIP() << "configured with WIRE_BUILD_EXAMPLES=OFF"; }

#endif

}  // namespace
}  // namespace wire::test
