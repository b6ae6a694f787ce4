// Endpoint parsing, formatting and resolution: the text forms the command line accepts, what
// each malformed form is reported as, and that names resolve to every candidate in order.
#include "wire/endpoint.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <rapidcheck/gtest.h>
#include <sys/un.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <memory>

namespace wire {
namespace {

TEST(EndpointParse, FormatsBackToTheSameText) {
  for (const char* text : {"127.0.0.1:8888", "[::1]:8888", "0.0.0.0:8888", "[::]:8888",
                           "10.1.2.3:0", "[2001:db8::7]:65535", "255.255.255.255:1"}) {
    auto ep = Endpoint::parse(text);
    ASSERT_TRUE(ep) << text << ": " << ep.error().message();
    EXPECT_EQ(ep->to_string(), text);
    EXPECT_EQ(Endpoint::parse(ep->to_string()), ep);
  }
}

TEST(EndpointParse, Ipv4Loopback) {
  auto ep = Endpoint::parse("127.0.0.1:8888");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->family(), Family::v4);
  EXPECT_EQ(ep->domain(), AF_INET);
  EXPECT_EQ(ep->port(), 8888);
  EXPECT_EQ(ep->host(), "127.0.0.1");
  EXPECT_TRUE(ep->is_loopback());
  EXPECT_FALSE(ep->is_any());
  EXPECT_EQ(ep->size(), sizeof(sockaddr_in));
  EXPECT_EQ(*ep, Endpoint::loopback(Family::v4, 8888));
}

TEST(EndpointParse, Ipv6LoopbackNeedsBrackets) {
  auto ep = Endpoint::parse("[::1]:8888");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->family(), Family::v6);
  EXPECT_EQ(ep->domain(), AF_INET6);
  EXPECT_EQ(ep->host(), "::1");  // host() has no brackets; to_string() adds them
  EXPECT_TRUE(ep->is_loopback());
  EXPECT_EQ(ep->size(), sizeof(sockaddr_in6));
  EXPECT_EQ(*ep, Endpoint::loopback(Family::v6, 8888));
}

TEST(EndpointParse, EmptyHostMeansLoopbackNotWildcard) {
  // ":8888" must not expose a server to the network by accident.
  auto ep = Endpoint::parse(":8888");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->to_string(), "127.0.0.1:8888");
  EXPECT_TRUE(ep->is_loopback());
  EXPECT_FALSE(ep->is_any());
}

TEST(EndpointParse, WildcardsAreExplicit) {
  auto v4 = Endpoint::parse("0.0.0.0:8888");
  auto v6 = Endpoint::parse("[::]:8888");
  ASSERT_TRUE(v4 && v6);
  EXPECT_TRUE(v4->is_any());
  EXPECT_TRUE(v6->is_any());
  EXPECT_FALSE(v4->is_loopback());
  EXPECT_EQ(*v4, Endpoint::any(Family::v4, 8888));
  EXPECT_EQ(*v6, Endpoint::any(Family::v6, 8888));
}

TEST(EndpointParse, ScopedIpv6KeepsItsInterface) {
  auto ep = Endpoint::parse("[fe80::1%lo]:80");
  ASSERT_TRUE(ep) << ep.error().message();
  EXPECT_EQ(ep->to_string(), "[fe80::1%lo]:80");
  EXPECT_NE(*ep, Endpoint::parse("[fe80::1]:80").value());
}

struct BadText {
  const char* text;
  errc why;
};

class EndpointParseBad : public ::testing::TestWithParam<BadText> {};

TEST_P(EndpointParseBad, NamesWhatIsWrong) {
  const auto& [text, why] = GetParam();
  auto ep = Endpoint::parse(text);
  ASSERT_FALSE(ep) << text << " parsed as " << ep->to_string();
  EXPECT_EQ(ep.error(), make_error_code(why)) << text << ": " << ep.error().message();
  EXPECT_EQ(&ep.error().category(), &wire_category());
  // resolve() sees the same shape errors before it would ever ask DNS ("300.1.2.3" is not a
  // number but could be a name, so only DNS can say no: a resolve_category error).
  if (std::string_view(text) == "300.1.2.3:80") return;
  auto all = resolve(text);
  ASSERT_FALSE(all);
  EXPECT_EQ(&all.error().category(), &wire_category()) << text;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, EndpointParseBad,
    ::testing::Values(BadText{"", errc::bad_address}, BadText{"127.0.0.1", errc::bad_address},
                      BadText{"[::1]8888", errc::bad_address},
                      BadText{"127.0.0.1:", errc::bad_port},
                      BadText{"127.0.0.1:65536", errc::bad_port},
                      BadText{"127.0.0.1:-1", errc::bad_port},
                      BadText{"127.0.0.1:80x", errc::bad_port},
                      BadText{"127.0.0.1: 80", errc::bad_port},
                      BadText{"[::1:8888", errc::bad_host}, BadText{"[]:8888", errc::bad_host},
                      BadText{"::1:8888", errc::bad_host},
                      BadText{"300.1.2.3:80", errc::bad_host},
                      BadText{"[1.2.3.4.5]:80", errc::bad_host}));

TEST(EndpointParse, ParseNeverTouchesDns) {
  // Names are for resolve(); parse() takes numbers only, so it cannot block on a lookup.
  auto ep = Endpoint::parse("localhost:8888");
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), errc::bad_host);
}

TEST(EndpointErrors, MessagesSayWhatIsWrong) {
  EXPECT_EQ(make_error_code(errc::bad_address).message(),
            "expected host:port, [ipv6]:port or :port");
  EXPECT_EQ(make_error_code(errc::bad_port).message(), "port must be a number from 0 to 65535");
  EXPECT_EQ(make_error_code(errc::bad_host).message(), "malformed host");
  EXPECT_STREQ(wire_category().name(), "wire");
  EXPECT_STREQ(resolve_category().name(), "resolve");
  EXPECT_EQ(std::error_code(EAI_NONAME, resolve_category()).message(), gai_strerror(EAI_NONAME));
}

TEST(SplitHostPort, SplitsEveryShape) {
  auto a = split_host_port("example.org:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "example.org");
  EXPECT_EQ(a->port, 80);
  auto b = split_host_port("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 0);
  auto c = split_host_port(":65535");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "");
  EXPECT_EQ(c->port, 65535);
  EXPECT_EQ(split_host_port("nope").error(), errc::bad_address);
}

TEST(Resolve, NumericHostGivesOneCandidate) {
  auto all = resolve("127.0.0.1:8888");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().to_string(), "127.0.0.1:8888");
  auto v6 = resolve("[::1]:9");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->front().to_string(), "[::1]:9");
  auto bare = resolve(":7");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->front().to_string(), "127.0.0.1:7");
}

// A listener on ":port" or "localhost:port" must be reachable by a client whose "localhost" is
// ::1, whatever this machine's /etc/hosts says.
TEST(ResolveListen, LoopbackNamesGiveBothFamilies) {
  for (const char* text : {":8888", "localhost:8888", "LocalHost:8888", "[localhost]:8888"}) {
    auto all = resolve_listen(text);
    ASSERT_TRUE(all) << text;
    ASSERT_EQ(all->size(), 2u) << text;
    EXPECT_EQ((*all)[0].to_string(), "127.0.0.1:8888") << text;
    EXPECT_EQ((*all)[1].to_string(), "[::1]:8888") << text;
  }
  auto one = resolve_listen("127.0.0.1:9");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  auto any6 = resolve_listen("[::]:9");
  ASSERT_TRUE(any6);
  EXPECT_EQ(any6->front().to_string(), "[::]:9");
  EXPECT_EQ(resolve_listen("nope").error(), errc::bad_address);
  auto local = resolve_listen("unix:@x");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->front().to_string(), "unix:@x");
}

// What getaddrinfo itself says for `host`, duplicates dropped, in its order.
std::vector<std::string> system_order(const char* host, const char* port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(host, port, &hints, &list) != 0) return {};
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);
  std::vector<std::string> out;
  for (addrinfo* ai = list; ai; ai = ai->ai_next) {
    auto text = Endpoint::from_sockaddr(ai->ai_addr, ai->ai_addrlen).value().to_string();
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(text);
  }
  return out;
}

TEST(Resolve, LocalhostGivesEveryCandidateInOrder) {
  auto all = resolve("localhost:8888");
  ASSERT_TRUE(all) << all.error().message();
  std::vector<std::string> texts;
  for (const auto& ep : *all) {
    EXPECT_TRUE(ep.is_loopback()) << ep.to_string();
    EXPECT_EQ(ep.port(), 8888);
    texts.push_back(ep.to_string());
  }
  EXPECT_EQ(texts, system_order("localhost", "8888"));
  EXPECT_NE(std::find(texts.begin(), texts.end(), "127.0.0.1:8888"), texts.end());
}

TEST(Resolve, UnknownHostIsAResolveError) {
  // .invalid is reserved (RFC 6761): it never resolves, with or without a network.
  auto all = resolve("no-such-host.invalid:80");
  ASSERT_FALSE(all);
  EXPECT_EQ(&all.error().category(), &resolve_category()) << all.error().message();
  EXPECT_FALSE(all.error().message().empty());
}

TEST(Resolve, BracketsHoldOnlyNumericIpv6) {
  auto all = resolve("[localhost]:80");
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error(), errc::bad_host);
}

TEST(EndpointValue, DefaultIsIpv4AnyPortZero) {
  Endpoint ep;
  EXPECT_EQ(ep.to_string(), "0.0.0.0:0");
  EXPECT_TRUE(ep.is_any());
  EXPECT_EQ(ep, Endpoint::any(Family::v4, 0));
}

TEST(EndpointValue, WithPortChangesOnlyThePort) {
  auto v6 = Endpoint::loopback(Family::v6, 1).with_port(4242);
  EXPECT_EQ(v6.to_string(), "[::1]:4242");
  auto v4 = Endpoint::loopback(Family::v4, 1).with_port(65535);
  EXPECT_EQ(v4.to_string(), "127.0.0.1:65535");
  EXPECT_NE(v4, Endpoint::loopback(Family::v4, 1));
}

TEST(EndpointValue, FamiliesNeverCompareEqual) {
  EXPECT_NE(Endpoint::any(Family::v4, 80), Endpoint::any(Family::v6, 80));
  EXPECT_NE(Endpoint::loopback(Family::v4, 80), Endpoint::loopback(Family::v6, 80));
}

TEST(EndpointFromSockaddr, CopiesInetAddresses) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(53);
  ::inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
  auto ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->to_string(), "192.0.2.1:53");
}

TEST(EndpointFromSockaddr, CopiesUnixAddressesUnnamedIncluded) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  auto unnamed = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sun), sizeof(sa_family_t));
  ASSERT_TRUE(unnamed);
  EXPECT_EQ(unnamed->family(), Family::local);
  EXPECT_EQ(unnamed->to_string(), "unix:");
  std::memcpy(sun.sun_path, "/tmp/x", 7);
  auto named = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sun),
                                       offsetof(sockaddr_un, sun_path) + 7);
  ASSERT_TRUE(named);
  EXPECT_EQ(named->to_string(), "unix:/tmp/x");
  EXPECT_EQ(*named, Endpoint::parse("unix:/tmp/x").value());
}

TEST(EndpointFromSockaddr, RejectsOtherFamiliesAndShortLengths) {
  sockaddr_storage other{};
  other.ss_family = AF_PACKET;
  auto other_ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&other), sizeof other);
  ASSERT_FALSE(other_ep);
  EXPECT_EQ(other_ep.error(), std::errc::address_family_not_supported);

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  auto short_ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof(sockaddr_in));
  ASSERT_FALSE(short_ep);
  EXPECT_EQ(short_ep.error(), std::errc::address_family_not_supported);
}

// Properties: any IPv4 or IPv6 address with any port formats to text that parses back to it.
RC_GTEST_PROP(EndpointProperty, Ipv4RoundTrips, (std::uint32_t address, std::uint16_t port)) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = address;
  auto ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  RC_ASSERT(ep.has_value());
  auto back = Endpoint::parse(ep->to_string());
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == *ep);
  RC_ASSERT(back->port() == port);
}

RC_GTEST_PROP(EndpointProperty, Ipv6RoundTrips, (std::array<std::uint8_t, 16> bytes,
                                                 std::uint16_t port)) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::copy(bytes.begin(), bytes.end(), sin6.sin6_addr.s6_addr);
  auto ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6);
  RC_ASSERT(ep.has_value());
  const std::string text = ep->to_string();
  auto back = Endpoint::parse(text);
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == *ep);
  RC_ASSERT(back->to_string() == text);
}

RC_GTEST_PROP(EndpointProperty, ArbitraryTextNeverCrashesAndErrorsAreWire,
              (const std::string& text)) {
  auto ep = Endpoint::parse(text);
  if (!ep) RC_ASSERT(&ep.error().category() == &wire_category());
}

}  // namespace
}  // namespace wire
