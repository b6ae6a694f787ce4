#!/usr/bin/env bash
# Builds the .deb with CPack into a temporary directory, unpacks it with dpkg-deb -x, checks that
# the library, headers, CMake and pkg-config files, command, man page and completion are where
# Debian expects them, and runs the packaged `wire --version`.
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR VERSION
set -euo pipefail
build=$1 source=$2 version=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wire-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# gzip instead of the package's xz: same contents, and five times faster on a sanitizer build's
# large binary, which keeps the test well inside its time limit.
cpack --config "$build/CPackConfig.cmake" -B "$tmp/out" -D CPACK_DEBIAN_COMPRESSION_TYPE=gzip \
  >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log" >&2; fail "cpack"; }
deb=$(find "$tmp/out" -maxdepth 1 -name 'wire_*.deb')
[ -n "$deb" ] || { cat "$tmp/cpack.log" >&2; fail "cpack made no wire_*.deb"; }
echo "built: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = wire ] || fail "Package is '$(field Package)'"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', expected $version"
echo "Depends: $(field Depends)"

dpkg-deb -x "$deb" "$tmp/root"
root=$tmp/root/usr
want=(bin/wire share/man/man1/wire.1.gz share/bash-completion/completions/wire)
for header in "$source"/include/wire/*.hpp; do want+=("include/wire/$(basename "$header")"); done
want+=(include/wire/version.hpp)
for path in "${want[@]}"; do [ -e "$root/$path" ] || fail "missing /usr/$path"; done
for pattern in 'libwire.*' wireConfig.cmake wireConfigVersion.cmake wire.pc; do
  [ -n "$(find "$root/lib" -name "$pattern")" ] || fail "no $pattern under /usr/lib"
done
echo "contents: ${#want[@]} expected paths present, plus libwire, its CMake package and wire.pc"

zcat "$root/share/man/man1/wire.1.gz" | grep -q '^\.TH WIRE "1"' || fail "wire.1.gz is not a man page"
grep -q 'complete -F _wire wire' "$root/share/bash-completion/completions/wire" ||
  fail "the completion does not register _wire"

got=$(LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$root/bin/wire" --version)
[ "$got" = "wire $version" ] || fail "packaged wire --version printed '$got'"
echo "packaged wire --version: $got"
