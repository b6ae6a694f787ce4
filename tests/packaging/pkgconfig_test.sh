#!/usr/bin/env bash
# Installs the build into a temporary prefix and compiles a consumer with only
# `pkg-config --cflags --libs wire` (PKG_CONFIG_PATH pointed at the installed wire.pc), then runs it.
# Usage: pkgconfig_test.sh BUILD_DIR VERSION CXX "CXXFLAGS"
set -euo pipefail
build=$1 version=$2 cxx=$3 cxxflags=$4
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wire-pkgconfig.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log" >&2; echo "FAIL: cmake --install" >&2; exit 1; }
pc=$(find "$tmp/prefix" -name wire.pc)
[ -n "$pc" ] || { echo "FAIL: no wire.pc installed under $tmp/prefix" >&2; exit 1; }
echo "installed: ${pc#"$tmp/prefix/"}"
export PKG_CONFIG_PATH=$(dirname "$pc")

got=$(pkg-config --modversion wire)
[ "$got" = "$version" ] || { echo "FAIL: pkg-config says version $got, expected $version" >&2; exit 1; }
flags=$(pkg-config --cflags --libs wire)
echo "pkg-config --cflags --libs wire: $flags"
# The build's own flags (e.g. -fsanitize=...) link the consumer against an instrumented libwire.
# shellcheck disable=SC2086
"$cxx" $cxxflags -Wall -Wextra -Wpedantic -Werror "$here/pkgconfig_consumer.cpp" $flags \
  -o "$tmp/consumer"
"$tmp/consumer"
