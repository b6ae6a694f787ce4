// Decode throughput of the framing codecs beside a plain memcpy of the same bytes, the ceiling:
// a decoder must at least copy what it is fed. The stream (about 4 MiB of 64 B or 64 KiB
// messages) is fed in 64 KiB pieces, as reads from a socket would deliver it.
//
//   build-NAME/bench/framing_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "wire/framing.hpp"
#include "wire/socket.hpp"

namespace {

constexpr std::size_t stream_bytes = 4u << 20;
constexpr std::size_t piece = 64u << 10;

std::vector<std::byte> encoded_stream(const wire::Codec& codec, std::size_t message_size) {
  std::string message(message_size, 'm');
  std::vector<std::byte> stream;
  while (stream.size() < stream_bytes)
    (void)codec.encode_to(wire::as_bytes(message), stream);
  return stream;
}

wire::Codec codec_for(int kind) {
  return kind == 0 ? wire::Codec::length_prefixed() : wire::Codec::lines();
}

// The ceiling: copy the stream piece by piece into a reused buffer.
void BM_Memcpy(benchmark::State& state) {
  const auto stream = encoded_stream(wire::Codec::lines(), static_cast<std::size_t>(state.range(0)));
  std::vector<std::byte> buffer(piece);
  for (auto _ : state) {
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      const std::size_t n = std::min(piece, stream.size() - at);
      std::memcpy(buffer.data(), stream.data() + at, n);
      benchmark::ClobberMemory();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}

// Feed the pieces and take out every message; range(1) picks the codec (0 length, 1 lines).
void BM_Decode(benchmark::State& state) {
  const wire::Codec codec = codec_for(static_cast<int>(state.range(1)));
  const auto stream = encoded_stream(codec, static_cast<std::size_t>(state.range(0)));
  wire::Decoder decoder(codec);
  std::size_t messages = 0;
  for (auto _ : state) {
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      const std::size_t n = std::min(piece, stream.size() - at);
      decoder.feed({stream.data() + at, n});
      for (auto m = decoder.next(); m && *m; m = decoder.next()) {
        benchmark::DoNotOptimize((*m)->data());
        ++messages;
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
  state.SetLabel(state.range(1) == 0 ? "length-prefixed" : "lines");
}

BENCHMARK(BM_Memcpy)->Arg(64)->Arg(64 << 10);
BENCHMARK(BM_Decode)->ArgsProduct({{64, 64 << 10}, {0, 1}});

}  // namespace

BENCHMARK_MAIN();
