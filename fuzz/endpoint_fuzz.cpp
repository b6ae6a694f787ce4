// libFuzzer target: the endpoint parser (split_host_port, Endpoint::parse; numeric and unix:
// forms only, so no DNS). A parsed endpoint must print as text that parses back to the same endpoint.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/endpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto split = wire::split_host_port(text);
  if (split) {
    // The host is a view into the text, never past its end.
    const char* begin = split->host.data();
    if (!split->host.empty() &&
        (begin < text.data() || begin + split->host.size() > text.data() + text.size()))
      std::abort();
  }
  auto parsed = wire::Endpoint::parse(text);
  // parse accepts only what split accepts, but for unix:PATH, which has no host or port
  if (parsed && !split && parsed->family() != wire::Family::local) std::abort();
  if (parsed) {
    const std::string printed = parsed->to_string();
    auto again = wire::Endpoint::parse(printed);
    if (!again || !(*again == *parsed)) std::abort();
    if (again->to_string() != printed) std::abort();
  }
  return 0;
}
