#pragma once
// What this process holds, read from /proc/self: tests take it before and after cancelling or
// failing work and check that nothing was left behind.
//
// Thread-safety: reads /proc only; safe from any thread, though a count taken while other
// threads open or close descriptors is only a snapshot.
#include <dirent.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace wire::test {

/// Descriptors open in this process (the entries of /proc/self/fd, the directory's own included).
inline std::size_t open_fds() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

/// Descriptors registered in this process's epoll instances (the "tfd:" lines of their fdinfo).
inline std::size_t epoll_registrations() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char link[64] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (::readlink(path.c_str(), link, sizeof link - 1) <= 0) continue;
    if (std::string_view(link) != "anon_inode:[eventpoll]") continue;
    FILE* f = std::fopen((std::string("/proc/self/fdinfo/") + e->d_name).c_str(), "r");
    if (!f) continue;
    char line[256];
    while (std::fgets(line, sizeof line, f)) n += std::string_view(line).starts_with("tfd:");
    std::fclose(f);
  }
  ::closedir(d);
  return n;
}

}  // namespace wire::test
