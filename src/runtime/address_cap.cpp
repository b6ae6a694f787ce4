// AddressCap: per-address connection counts shared by a server's loops.
#include "runtime/address_cap.hpp"

#include <netinet/in.h>

#include <cstring>
#include <functional>
#include <string_view>

namespace wire::detail {

bool AddressCap::key_of(const sockaddr* peer, Key& key) noexcept {
  if (peer->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(peer);
    key.bytes[0] = 4;
    std::memcpy(&key.bytes[1], &v4->sin_addr, 4);
    return true;
  }
  if (peer->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(peer);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      key.bytes[0] = 4;
      std::memcpy(&key.bytes[1], &v6->sin6_addr.s6_addr[12], 4);
    } else {
      key.bytes[0] = 6;
      std::memcpy(&key.bytes[1], &v6->sin6_addr.s6_addr[0], 8);
    }
    return true;
  }
  return false;
}

std::size_t AddressCap::KeyHash::operator()(const Key& k) const noexcept {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(k.bytes.data()), k.bytes.size()));
}

bool AddressCap::acquire(const sockaddr* peer) {
  Key key;
  if (limit_ == 0 || !key_of(peer, key)) return true;
  std::lock_guard lock(mutex_);
  std::size_t& count = open_[key];
  if (count >= limit_) return false;  // never 0 here: the entry existed with `limit_` already
  ++count;
  return true;
}

void AddressCap::release(const sockaddr* peer) {
  Key key;
  if (limit_ == 0 || !key_of(peer, key)) return;
  std::lock_guard lock(mutex_);
  auto it = open_.find(key);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

std::size_t AddressCap::addresses() const {
  std::lock_guard lock(mutex_);
  return open_.size();
}

}  // namespace wire::detail
