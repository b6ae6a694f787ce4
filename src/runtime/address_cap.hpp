#pragma once
// AddressCap (private to the runtime): how many accepted connections each peer address holds,
// across every loop of a server, so ServerOptions::max_per_address is the limit of the whole
// process. Touched only at accept and close (one short critical section each), never per read.
//
// Thread-safety: acquire() and release() from any thread (a mutex guards the table).
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace wire::detail {

class AddressCap {
 public:
  /// `limit` connections per address; 0 disables the cap (acquire() always succeeds, no lock).
  explicit AddressCap(std::size_t limit) noexcept : limit_(limit) {}
  /// Counts one more connection from `peer`; false (nothing counted) if it already holds
  /// `limit`. Addresses other than IPv4/IPv6 are not capped.
  bool acquire(const sockaddr* peer);
  /// Undoes a successful acquire() for `peer`; the entry goes when its count reaches zero, so
  /// the table holds only addresses with open connections.
  void release(const sockaddr* peer);
  /// Addresses with open connections now (for tests).
  std::size_t addresses() const;

 private:
  // IPv4 address, or the /64 prefix of an IPv6 one (an IPv4-mapped address counts as IPv4):
  // one host usually holds a whole /64, so capping single IPv6 addresses would stop nothing.
  struct Key {
    std::array<std::uint8_t, 9> bytes{};  // [0] family tag, then up to 8 address bytes
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  static bool key_of(const sockaddr* peer, Key& key) noexcept;

  const std::size_t limit_;
  mutable std::mutex mutex_;
  std::unordered_map<Key, std::size_t, KeyHash> open_;  // guarded by mutex_
};

}  // namespace wire::detail
