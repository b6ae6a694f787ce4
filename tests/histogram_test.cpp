// The log-bucketed latency histogram behind `wire bench`: exact for small values, within 1/32
// above the true quantile for large ones, mergeable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "../tools/wire/histogram.hpp"

using wire::cli::Histogram;

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.quantile(0.5), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 20; ++v) h.record(v);
  EXPECT_EQ(h.count(), 20u);
  EXPECT_EQ(h.quantile(0.5), 10u);
  EXPECT_EQ(h.quantile(0.9), 18u);
  EXPECT_EQ(h.quantile(1.0), 20u);
  EXPECT_EQ(h.quantile(0.0), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 10.5);
}

TEST(Histogram, BucketsTileTheRange) {
  // Each bucket starts one past the previous bucket's highest value, with no gap or overlap.
  for (std::size_t i = 1; i < Histogram::bucket_count - 1; ++i) {
    ASSERT_EQ(Histogram::bucket_of(Histogram::bucket_high(i - 1) + 1), i) << i;
    ASSERT_EQ(Histogram::bucket_of(Histogram::bucket_high(i)), i) << i;
  }
  EXPECT_EQ(Histogram::bucket_of(UINT64_MAX), Histogram::bucket_count - 1);
}

TEST(Histogram, QuantilesOfAUniformSpread) {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);
  const double p99 = static_cast<double>(h.quantile(0.99));
  EXPECT_GE(p99, 99'000'000.0);
  EXPECT_LE(p99, 99'000'000.0 * (1 + 1.0 / 32));
  EXPECT_EQ(h.max(), 100'000'000u);
  EXPECT_EQ(h.quantile(1.0), 100'000'000u);
}

TEST(Histogram, MergeEqualsRecordingIntoOne) {
  Histogram a, b, both;
  for (std::uint64_t v = 0; v < 5000; ++v) {
    (v % 3 ? a : b).record(v * 37);
    both.record(v * 37);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), both.count());
  for (double q : {0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(a.quantile(q), both.quantile(q));
  EXPECT_EQ(a.min(), 0u);
  EXPECT_EQ(a.max(), both.max());
}

TEST(Histogram, QuantileIsWithinOneThirtySecondAboveTheTruth) {
  // Seeded random samples of many magnitudes, compared with the sorted truth.
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::uint64_t> values(1 + rng() % 2000);
    const int bits = 1 + static_cast<int>(rng() % 40);
    for (auto& v : values) v = rng() >> (64 - bits);
    Histogram h;
    for (auto v : values) h.record(v);
    std::sort(values.begin(), values.end());
    for (double q : {0.5, 0.9, 0.99}) {
      auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size()) + 0.5);
      rank = std::clamp<std::size_t>(rank, 1, values.size());
      const auto truth = static_cast<double>(values[rank - 1]);
      const auto got = static_cast<double>(h.quantile(q));
      ASSERT_GE(got, truth);
      ASSERT_LE(got, truth * (1 + 1.0 / 32) + 1);
    }
  }
}
