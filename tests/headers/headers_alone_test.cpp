// Built beside one generated unit per public header (see CMakeLists.txt): that they compiled
// is the test. This unit checks the options structs take designated initializers with any
// field left out, warning-free (-Wmissing-field-initializers is on for this target).
#include <gtest/gtest.h>

#include "wire/wire.hpp"

namespace {

using namespace std::chrono_literals;

TEST(Headers, EachCompilesAloneAndOptionsTakeDesignatedInitializers) {
  wire::DialOptions dial{.timeout = 2s};
  wire::GroupOptions group{.timeout = 5s};
  wire::GroupOptions group2{.cancel_on_failure = false};
  EXPECT_EQ(dial.timeout, 2s);
  EXPECT_EQ(group.timeout, 5s);
  EXPECT_TRUE(group.cancel_on_failure);
  EXPECT_FALSE(group2.cancel_on_failure);
  // The library's other options structs: any one field named, the rest defaulted.
  wire::ServerOptions server{.threads = 1};
  wire::ConnectOptions connect{.timeout = 1s};
  wire::ProxyOptions proxy{.target = wire::Endpoint::loopback(wire::Family::v4, 1)};
  wire::MessageServerOptions messages{.codec = wire::Codec::lines()};
  wire::TlsClientOptions tls_client{.ca_file = "ca.pem"};
  wire::TlsServerOptions tls_server{.alpn = {"h2"}};
  wire::DialOptions tls_dial{.server_name = "example.com"};
  EXPECT_EQ(server.threads, 1u);
  EXPECT_EQ(connect.timeout, 1s);
  EXPECT_EQ(proxy.target.port(), 1);
  EXPECT_FALSE(tls_client.insecure);
  EXPECT_FALSE(tls_server.verify_client);
  EXPECT_EQ(tls_dial.timeout, std::chrono::seconds(10));
  (void)messages;
}

}  // namespace
