// UDP under loss: numbered datagrams through `wire proxy --udp --loss 0.2 --reorder 0.1
// --duplicate 0.05` to a receiver here; what the receiver saw (missing, duplicated, late) matches
// the proxy's report exactly, and no datagram is lost silently anywhere else.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <set>

#include "reliability/harness.hpp"
#include "wire/udp.hpp"

namespace wire::reliability {
namespace {

struct Seen {
  std::uint64_t total = 0, late = 0;
  std::set<std::uint64_t> distinct;
  std::uint64_t highest = 0;
};

// Reads every datagram waiting on `s` (non-blocking); each carries its sequence number as text.
void drain(UdpSocket& s, Seen& seen) {
  std::array<std::byte, 256> buffer;
  while (auto d = s.receive_from(buffer)) {
    const std::uint64_t seq = std::stoull(std::string(as_text(std::span(buffer).first(d->size))));
    ++seen.total;
    // First arrival after a higher number: the proxy held it back (a duplicate is not late).
    if (seen.distinct.insert(seq).second && seq < seen.highest) ++seen.late;
    seen.highest = std::max(seen.highest, seq);
  }
}

TEST(UdpUnderLoss, ReceiverCountsMatchTheProxyReport) {
  const std::uint64_t n = soak() ? 200'000 : 5'000;
  auto receiver = UdpSocket::open(Endpoint::loopback(Family::v4, 0));
  ASSERT_TRUE(receiver);
  ASSERT_TRUE(receiver->set_non_blocking(true));
  (void)receiver->set_option(SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);  // root: above rmem_max
  auto proxy = start_wire({"proxy", "--udp", "127.0.0.1:0",
                           receiver->local_endpoint()->to_string(), "--loss", "0.2", "--reorder",
                           "0.1", "--duplicate", "0.05", "--seed", "7"});
  ASSERT_TRUE(proxy.udp);
  const Baseline before(proxy.process.pid());
  auto sender = UdpSocket::open(Family::v4);
  ASSERT_TRUE(sender);

  Seen seen;
  std::map<std::string, std::uint64_t> report;
  constexpr std::uint64_t batch = 100;  // well inside the proxy's socket buffer
  for (std::uint64_t sent = 0; sent < n;) {
    for (std::uint64_t i = 0; i < batch && sent < n; ++i, ++sent)
      ASSERT_TRUE(sender->send_to(std::to_string(sent), *proxy.udp));
    // Synchronise on the proxy's own count: every datagram of the batch was taken in.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
      drain(*receiver, seen);
      report = proxy_report(proxy.process);
    } while (report["datagrams_in"] < sent && std::chrono::steady_clock::now() < deadline);
    ASSERT_EQ(report["datagrams_in"], sent);
  }
  // The last held-back datagram leaves within 50 ms; wait for the books to balance.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    drain(*receiver, seen);
    report = proxy_report(proxy.process);
  } while ((seen.total < report["datagrams_out"] ||
            report["datagrams_out"] != n - report["dropped"] + report["duplicated"]) &&
           std::chrono::steady_clock::now() < deadline);

  EXPECT_EQ(report["send_errors"], 0u);
  EXPECT_EQ(seen.total, report["datagrams_out"]);
  EXPECT_EQ(seen.distinct.size(), n - report["dropped"]);
  EXPECT_EQ(seen.total - seen.distinct.size(), report["duplicated"]);
  EXPECT_EQ(seen.late, report["reordered"]);
  // The faults really happened, near their rates (binomial: well inside 5 sigma).
  EXPECT_NEAR(static_cast<double>(report["dropped"]) / static_cast<double>(n), 0.2, 0.03);
  EXPECT_GT(report["duplicated"], 0u);
  EXPECT_GT(report["reordered"], 0u);
  std::printf("udp: %llu sent, %llu dropped, %llu duplicated, %llu reordered, %llu received\n",
              static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(report["dropped"]),
              static_cast<unsigned long long>(report["duplicated"]),
              static_cast<unsigned long long>(report["reordered"]),
              static_cast<unsigned long long>(seen.total));
  EXPECT_EQ(settle_fds(before.pid, before.fds + 1),
            before.fds + 1);  // the one flow's upstream socket
  proxy.process.signal(SIGTERM);
  EXPECT_EQ(proxy.process.wait(), 0);
}

}  // namespace
}  // namespace wire::reliability
