#!/usr/bin/env bash
# Builds the packages with CPack into a temporary directory and checks them as a distribution
# would: `wire` holds the command, man page and completion; `libwire-dev` the headers, static
# library, CMake package and wire.pc, in the multiarch directory; each has its copyright and
# changelog and a real Maintainer; lintian reports no error; the packaged `wire --version` runs.
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
cmd=$(find "$tmp/out" -maxdepth 1 -name 'wire_*.deb')
dev=$(find "$tmp/out" -maxdepth 1 -name 'libwire-dev_*.deb')
[ -n "$cmd" ] || { cat "$tmp/cpack.log" >&2; fail "cpack made no wire_*.deb"; }
[ -n "$dev" ] || { cat "$tmp/cpack.log" >&2; fail "cpack made no libwire-dev_*.deb"; }
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)

for deb in "$cmd" "$dev"; do
  echo "built: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "$(basename "$deb"): Version"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$(basename "$deb"): Architecture"
  maintainer=$(dpkg-deb -f "$deb" Maintainer)
  [[ "$maintainer" =~ ^[^\<]+\ \<[^@\>]+@[^@\>]+\.[a-z]+\>$ ]] ||
    fail "$(basename "$deb"): Maintainer '$maintainer' is not 'Name <address>'"
  [[ "$maintainer" != *localhost* ]] || fail "Maintainer is on localhost: $maintainer"
done
[ "$(dpkg-deb -f "$cmd" Package)" = wire ] || fail "Package is '$(dpkg-deb -f "$cmd" Package)'"
[ "$(dpkg-deb -f "$dev" Package)" = libwire-dev ] || fail "dev Package name"
echo "Maintainer: $maintainer"
echo "wire Depends: $(dpkg-deb -f "$cmd" Depends)"

dpkg-deb -x "$cmd" "$tmp/cmd"
dpkg-deb -x "$dev" "$tmp/dev"
check() {  # check ROOT PATH...: each path exists under ROOT/usr
  local root=$1
  shift
  for path in "$@"; do [ -e "$root/usr/$path" ] || fail "missing /usr/$path in $(basename "$root")"; done
}
check "$tmp/cmd" bin/wire share/man/man1/wire.1.gz share/bash-completion/completions/wire \
  share/doc/wire/copyright share/doc/wire/changelog.gz
headers=()
for header in "$source"/include/wire/*.hpp; do headers+=("include/wire/$(basename "$header")"); done
check "$tmp/dev" "${headers[@]}" include/wire/version.hpp \
  "lib/$triplet/libwire.a" "lib/$triplet/cmake/wire/wireConfig.cmake" \
  "lib/$triplet/cmake/wire/wireConfigVersion.cmake" "lib/$triplet/pkgconfig/wire.pc" \
  share/doc/libwire-dev/copyright share/doc/libwire-dev/changelog.gz
[ ! -e "$tmp/cmd/usr/include" ] || fail "headers leaked into the wire package"
[ ! -e "$tmp/dev/usr/bin" ] || fail "the command leaked into libwire-dev"
echo "contents: command package and ${#headers[@]} headers + libwire.a, CMake package, wire.pc in lib/$triplet"

zcat "$tmp/cmd/usr/share/man/man1/wire.1.gz" | grep -q '^\.TH WIRE "1"' ||
  fail "wire.1.gz is not a man page"
grep -q 'complete -F _wire wire' "$tmp/cmd/usr/share/bash-completion/completions/wire" ||
  fail "the completion does not register _wire"

got=$("$tmp/cmd/usr/bin/wire" --version)
[ "$got" = "wire $version" ] || fail "packaged wire --version printed '$got'"
echo "packaged wire --version: $got"

# lintian: no error (E:) on either package. Warnings and notes are printed, not failed on.
if command -v lintian >/dev/null; then
  lintian --tag-display-limit 0 "$cmd" "$dev" >"$tmp/lintian.log" 2>&1 || true
  cat "$tmp/lintian.log"
  if grep -q '^E: ' "$tmp/lintian.log"; then fail "lintian reports errors"; fi
  echo "lintian: $(grep -c '^E: ' "$tmp/lintian.log" || true) errors," \
    "$(grep -c '^W: ' "$tmp/lintian.log" || true) warnings"
else
  fail "lintian is not installed (scripts/bootstrap installs it)"
fi
