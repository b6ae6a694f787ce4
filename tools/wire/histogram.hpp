#pragma once
// Histogram: a log-bucketed latency histogram for `wire bench` (Debian packages no
// HdrHistogram). Each power of two is split into 32 linear sub-buckets, so any recorded value is
// known to within 1/32 (~3 %) while the whole 64-bit range fits in a fixed 15 KiB table.
//
// Thread-safety: not synchronised; each load thread owns one and they are merged afterwards.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace wire::cli {

class Histogram {
 public:
  static constexpr int sub_bits = 5;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;
  static constexpr std::size_t bucket_count = (64 - sub_bits + 1) * sub_count;

  /// Index of the bucket holding `value`. Values below 32 have a bucket each (exact).
  static constexpr std::size_t bucket_of(std::uint64_t value) noexcept {
    if (value < sub_count) return static_cast<std::size_t>(value);
    const int shift = static_cast<int>(std::bit_width(value)) - 1 - sub_bits;
    const std::uint64_t sub = (value >> shift) - sub_count;
    return static_cast<std::size_t>((static_cast<std::uint64_t>(shift) + 1) * sub_count + sub);
  }
  /// The largest value that falls in bucket `index` (what quantiles report, as HdrHistogram's
  /// "highest equivalent value" does, so a quantile never understates).
  static constexpr std::uint64_t bucket_high(std::size_t index) noexcept {
    if (index < sub_count) return index;
    const std::uint64_t shift = index / sub_count - 1;
    const std::uint64_t low = (sub_count + index % sub_count) << shift;
    return low + ((std::uint64_t{1} << shift) - 1);
  }

  /// Records `value` `times` times.
  void record(std::uint64_t value, std::uint64_t times = 1) noexcept {
    counts_[bucket_of(value)] += times;
    total_ += times;
    sum_ += static_cast<double>(value) * static_cast<double>(times);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  /// Adds every value recorded in `other`.
  void merge(const Histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  void clear() noexcept { *this = Histogram{}; }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

  /// The value at quantile `q` in [0, 1] (0.5 = median, 0.999 = p99.9); 0 when empty.
  /// Exact below 32, else within 1/32 above the true value, never above max().
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank of the wanted value, 1-based: the smallest value with at least q of all below.
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(bucket_high(i), min_, max_);
    }
    return max_;
  }

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  double sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

}  // namespace wire::cli
