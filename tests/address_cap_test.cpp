// AddressCap (the runtime's per-address connection counts, src/runtime/address_cap.cpp): what counts as
// one address, that the limit holds from many threads at once, and that the table empties.
#include "../src/runtime/address_cap.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <atomic>
#include <thread>
#include <vector>

namespace wire::detail {
namespace {

sockaddr_storage address(const char* text, std::uint16_t port) {
  sockaddr_storage s{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&s);
  if (::inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return s;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&s);
  EXPECT_EQ(::inet_pton(AF_INET6, text, &v6->sin6_addr), 1) << text;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  return s;
}

const sockaddr* raw(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }

TEST(AddressCap, PortsDoNotMakeAnotherAddress) {
  AddressCap cap(2);
  const auto a1 = address("192.0.2.1", 1000), a2 = address("192.0.2.1", 2000);
  const auto a3 = address("192.0.2.1", 3000), b = address("192.0.2.2", 1000);
  EXPECT_TRUE(cap.acquire(raw(a1)));
  EXPECT_TRUE(cap.acquire(raw(a2)));
  EXPECT_FALSE(cap.acquire(raw(a3)));
  EXPECT_TRUE(cap.acquire(raw(b)));
  cap.release(raw(a1));
  EXPECT_TRUE(cap.acquire(raw(a3)));
}

TEST(AddressCap, Ipv6CountsBySlash64AndMappedIpv4AsIpv4) {
  AddressCap cap(1);
  const auto one = address("2001:db8:1:2::1", 1), same64 = address("2001:db8:1:2:ffff::9", 2);
  const auto other64 = address("2001:db8:1:3::1", 3);
  EXPECT_TRUE(cap.acquire(raw(one)));
  EXPECT_FALSE(cap.acquire(raw(same64))) << "one /64 is one host";
  EXPECT_TRUE(cap.acquire(raw(other64)));
  const auto v4 = address("198.51.100.7", 1), mapped = address("::ffff:198.51.100.7", 2);
  EXPECT_TRUE(cap.acquire(raw(v4)));
  EXPECT_FALSE(cap.acquire(raw(mapped)));
}

TEST(AddressCap, ZeroMeansNoCap) {
  AddressCap cap(0);
  const auto a = address("192.0.2.1", 1);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(cap.acquire(raw(a)));
  EXPECT_EQ(cap.addresses(), 0u);  // nothing is even counted
}

TEST(AddressCap, HoldsAcrossThreadsAndEmptiesWhenAllClose) {
  AddressCap cap(5);
  const auto a = address("192.0.2.9", 1);
  std::atomic<int> granted{0};
  std::vector<std::thread> loops;
  for (int t = 0; t < 4; ++t)
    loops.emplace_back([&] {
      for (int i = 0; i < 10; ++i) granted += cap.acquire(raw(a));
    });
  for (auto& t : loops) t.join();
  EXPECT_EQ(granted.load(), 5);
  for (int i = 0; i < 5; ++i) cap.release(raw(a));
  EXPECT_EQ(cap.addresses(), 0u);  // memory follows open connections only
  cap.release(raw(a));             // an extra release is harmless
  EXPECT_TRUE(cap.acquire(raw(a)));
}

}  // namespace
}  // namespace wire::detail
