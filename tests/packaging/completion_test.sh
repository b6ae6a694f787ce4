#!/usr/bin/env bash
# Drives the generated bash completion as bash does (COMP_WORDS, COMP_CWORD, then _wire) and
# checks what it offers. Usage: completion_test.sh COMPLETION_FILE
set -euo pipefail
# shellcheck disable=SC1090
source "$1"
failures=0
expect() {  # expect "WANTED REPLIES" word...
  local want=$1; shift
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _wire
  local got="${COMPREPLY[*]}"
  if [ "$got" = "$want" ]; then
    echo "ok: '$*' -> $got"
  else
    echo "FAIL: '$*' -> '$got', expected '$want'" >&2; failures=$((failures + 1))
  fi
}
expect "udp" wire u
expect "send" wire udp s
expect "recv" wire udp r
expect "connect" wire tcp c
expect "--version" wire --v
expect "--timeout" wire tcp connect --from 127.0.0.1:8000 --ti
expect "--keep-open" wire tcp listen --kee
expect "udp" wire demo u
expect "echo" wire serve e
expect "line length" wire serve --frame ""
# An option's value is not a subcommand: after --from comes a free address, nothing offered.
expect "" wire udp send --from ""
[ "$(complete -p wire)" = "complete -F _wire wire" ] || { echo "FAIL: not registered" >&2; exit 1; }
exit $((failures > 0))
