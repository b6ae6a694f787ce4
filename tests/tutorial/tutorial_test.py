#!/usr/bin/env python3
"""Checks docs/tutorial.md against examples/ and runs the examples it quotes.

Usage: tutorial_test.py SOURCE_DIR NAME=PROGRAM...
(a) every ```cpp block must be preceded by `<!-- example: examples/NAME.cpp -->` and equal that
    file (whole, or the region between `// [tutorial:TAG]` lines when named `FILE#TAG`);
(b) every program passed in runs within a time bound, exits 0 and prints its key line. The TLS
    examples (tls_*) get a directory of certificates made by tests/tls/make_certs.sh as their
    argument, as the tutorial tells its reader to make them.
"""
import pathlib
import re
import subprocess
import sys
import tempfile

# The line each example must print (a regular expression searched in its stdout).
KEY_LINES = {
    "address_family": r"\[::1\]:0 is IPv6, bound to \[::1\]:\d+",
    "udp_truncation": r"received 64 of 100 bytes from 127\.0\.0\.1:\d+, truncated: yes",
    "tcp_framed": r"3 messages, then the peer closed",
    "many_clients": r"20 of 20 clients echoed, 20 connections accepted",
    "many_peers": r"200 of 200 peers echoed: ok",
    "tcp_request": r"reply: HELLO, WIRE",
    "kv_server": r"GET answer -> 42",
    "udp_retry": r"answer: ping",
    "tls_client": r"as localhost, over TLSv1\.3: hello over TLS",
    "tls_server": r"TLS client served: HELLO, TLS",
    "tls_peers": r"20 of 20 TLS peers echoed: ok",
}

# Run by tests/cli/examples_test.cpp already (fixed ports 8888/8000: not run twice at once).
RUN_ELSEWHERE = {"udp_hello", "tcp_hello"}

BLOCK = re.compile(r"<!-- example: (\S+) -->\n```cpp\n(.*?)```\n", re.S)


def region(text, tag):
    """The lines between `// [tutorial:TAG]` markers, or the whole text without a tag."""
    if not tag:
        return text
    parts = text.split(f"// [tutorial:{tag}]\n")
    if len(parts) != 3:
        raise ValueError(f"region {tag} needs exactly two markers")
    return parts[1]


def check_blocks(source):
    tutorial = (source / "docs" / "tutorial.md").read_text()
    failures = []
    blocks = BLOCK.findall(tutorial)
    if tutorial.count("```cpp") != len(blocks):
        failures.append("a ```cpp block has no <!-- example: FILE --> line just above it")
    for name, body in blocks:
        path, _, tag = name.partition("#")
        try:
            expected = region((source / path).read_text(), tag)
        except (OSError, ValueError) as e:
            failures.append(f"{name}: {e}")
            continue
        if body != expected:
            failures.append(f"{name}: the block in docs/tutorial.md differs from the file")
    print(f"{len(blocks)} code blocks checked")
    return failures, {pathlib.Path(n.partition('#')[0]).stem for n, _ in blocks}


def run(name, program, args):
    try:
        done = subprocess.run([program, *args], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return [f"{name}: did not exit within 20 s"]
    print(f"{name}: exit {done.returncode}: {done.stdout.strip()}")
    failures = []
    if done.returncode != 0:
        failures.append(f"{name}: exit {done.returncode}, stderr: {done.stderr.strip()}")
    if not re.search(KEY_LINES[name], done.stdout):
        failures.append(f"{name}: no line matching {KEY_LINES[name]!r}")
    return failures


def main():
    source = pathlib.Path(sys.argv[1])
    programs = dict(arg.split("=", 1) for arg in sys.argv[2:])
    failures, quoted = check_blocks(source)
    for name in sorted(quoted - programs.keys() - RUN_ELSEWHERE):
        failures.append(f"examples/{name}.cpp is quoted but not run (add it to CMakeLists.txt)")
    with tempfile.TemporaryDirectory(prefix="wire-tutorial-") as certs:
        subprocess.run([source / "tests" / "tls" / "make_certs.sh", certs], check=True,
                       capture_output=True, timeout=60)
        for name, program in programs.items():
            failures += run(name, program, [certs] if name.startswith("tls_") else [])
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
