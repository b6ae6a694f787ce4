# Every target does its own set-up: scripts/bootstrap installs what is missing (a no-op when
# nothing is), CMake configures once, Ninja builds what changed.
PRESET ?= release
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all bootstrap configure build demo test test-asan test-tsan soak fuzz docs package bench bench-quick clean

all: build

bootstrap:
	@bash scripts/bootstrap

$(BUILD)/build.ninja: CMakeLists.txt CMakePresets.json | bootstrap
	cmake --preset $(PRESET) >/dev/null

configure: bootstrap
	@test -f $(BUILD)/build.ninja || cmake --preset $(PRESET) >/dev/null

build: configure
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/bin/wire demo

test: build
	ctest --preset $(PRESET) -j $(JOBS) $(CTEST_ARGS)

test-asan:
	$(MAKE) test PRESET=asan

test-tsan:
	$(MAKE) test PRESET=tsan

# The reliability suite at its heavy sizes: 10,000 connections, 1 GiB through the proxy, 16 MiB
# at --split 1, 200,000 datagrams under loss (tests/reliability, WIRE_SOAK=1). One test at a time:
# they measure descriptors and memory of the processes they start.
soak: build
	WIRE_SOAK=1 ctest --preset $(PRESET) -L reliability -j 1 --timeout 3600 $(CTEST_ARGS)

# Long fuzz runs (clang + libc++ tree in build/fuzz): FUZZ_TIME seconds per target, e.g.
# make fuzz FUZZ_TIME=600 FUZZ_TARGETS=framing_length_fuzz
FUZZ_TIME ?= 300
FUZZ_TARGETS ?=
fuzz: bootstrap
	fuzz/run.sh --build-dir build/fuzz --time $(FUZZ_TIME) $(FUZZ_TARGETS)

# The API reference in $(BUILD)/docs/html; fails, listing each gap, on any Doxygen warning.
docs: configure
	cmake --build $(BUILD) --target docs

# The Debian package $(BUILD)/wire_<version>_<arch>.deb (CPack; see cmake/package.cmake).
package: build
	cmake --build $(BUILD) --target package

# wire beside Asio, libuv, raw epoll, iperf3, sockperf and (TLS) socat and openssl s_server
# (bench/run.py): a table on stdout,
# build/bench/<time>.json and .svg (and latest.*), never tracked files; a run worth keeping is
# copied to bench/results/<date>/ and cited from bench/RESULTS.md. bench takes about 22 minutes,
# bench-quick (one repetition, labelled as such) about one. BENCH_ARGS='--scenario tcp-bulk'
# runs the matching scenarios only.
BENCH_ARGS ?=
bench: build
	python3 bench/run.py --build $(BUILD) --out build/bench $(BENCH_ARGS)

bench-quick: build
	python3 bench/run.py --build $(BUILD) --out build/bench --quick $(BENCH_ARGS)

clean:
	rm -rf build
