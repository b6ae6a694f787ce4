// TCP is a byte stream: two sends may arrive as one receive, or one send as several. A
// convention restores the messages; here a 4-byte big-endian length before each payload.
#include <cstdio>
#include <string>
#include <thread>

#include "wire/wire.hpp"

int main() {
  auto listener = wire::TcpListener::listen(wire::Endpoint::loopback(wire::Family::v4, 0));
  if (!listener) return 1;
  auto at = listener->local_endpoint();
  if (!at) return 1;
  const auto codec = wire::Codec::length_prefixed();  // 4-byte header, 1 MiB limit

  // The client sends three messages back to back and closes; the stream may merge them.
  std::thread client([&] {
    auto s = wire::TcpStream::connect(*at);
    if (!s) return;
    for (const char* m : {"hello", "", "a longer third message"})
      if (!wire::send_message(*s, codec, m)) return;
  });

  auto conn = listener->accept();
  if (!conn) return 1;
  wire::MessageReader reader(conn->stream, codec);
  int count = 0;
  for (;;) {
    auto m = reader.next();
    if (!m) return 1;             // a socket error, or the stream ended inside a message
    if (!*m) break;               // the peer closed cleanly between messages
    std::printf("message %d: '%.*s'\n", ++count, static_cast<int>((*m)->size()),
                reinterpret_cast<const char*>((*m)->data()));
  }
  client.join();
  std::printf("%d messages, then the peer closed\n", count);
  return count == 3 ? 0 : 1;
}
