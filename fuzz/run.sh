#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 16 + libc++, a separate CMake project in fuzz/) and runs
# each on its committed seed corpus. New inputs go to a working corpus in the build directory,
# so the committed one only changes when someone copies findings back on purpose.
#
#   fuzz/run.sh [--build-dir DIR] [--runs N | --time SECONDS] [target...]
#
# Exit: 0 all targets ran clean, 1 a target failed (the crashing input is in the build dir),
# 77 clang-16 or libc++ is missing (ctest counts that as skipped).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/fuzz"
limit=(-max_total_time=60)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --runs) limit=("-runs=$2"); shift 2 ;;
    --time) limit=("-max_total_time=$2"); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

compiler=$(command -v clang++-16 || true)
if [ -z "$compiler" ] || [ ! -d /usr/lib/llvm-16/include/c++/v1 ] ||
   ! ls /usr/lib/llvm-16/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz/run.sh: clang++-16 with libc++ and libFuzzer is not installed" \
       "(scripts/bootstrap installs them)" >&2
  exit 77
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root/fuzz" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" >/dev/null
fi
cmake --build "$build" -j 2 >/dev/null

if [ ${#targets[@]} -eq 0 ]; then
  for source in "$root"/fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi
status=0
for target in "${targets[@]}"; do
  work="$build/corpus/$target"
  mkdir -p "$work" "$build/artifacts"
  log="$build/$target.log"
  if "$build/$target" "${limit[@]}" -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
      "$work" "$root/fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "$target: ok, $runs executions ($rate/s)"
  else
    echo "$target: FAILED, see $log" >&2
    tail -n 30 "$log" >&2
    status=1
  fi
done
exit $status
