#!/usr/bin/env python3
"""make bench: wire beside its peers, in one run.

Every server is pinned to core 0 and every load generator to core 1 (taskset). The candidates
(wire serve, Asio, libuv, raw epoll) stay up for the whole run and are measured interleaved,
rotating the order each repetition, because a single figure drifts +-20 % between passes minutes
apart. Each cell reports the median and min-max over the repetitions.

Server CPU per request comes from /proc/PID/stat (user/system ticks) around each timed run;
system calls per request from a separate pass under `strace -c -f` (tracing slows the server,
so it never shares a run with a timed figure). Bulk TCP is compared with iperf3 (and -Z,
sendfile), UDP receive with sockperf (throughput mode) and latency with sockperf ping-pong against
`wire serve sockperf` and `sockperf server`.

Output: a table on stdout with wire/peer ratios, bench/results/<time>.json (and latest.json),
and an SVG chart through gnuplot. Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER_CPU, LOAD_CPU = "0", "1"
TICK = os.sysconf("SC_CLK_TCK")
PEERS = ["wire", "asio", "libuv", "epoll"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Server:
    """A server process pinned to the server core, with its TCP and UDP ports."""

    def __init__(self, name, argv, port_from):
        self.name = name
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.tcp, self.udp = port_from(self.proc)

    def cpu(self):
        """(user, system) seconds the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / TICK, int(fields[12]) / TICK

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def port_on_stdout(proc):
    """The peers print their bound port (shared by TCP and UDP) as their first line."""
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        raise RuntimeError(f"peer did not print its port: {line!r} {proc.stderr.read()}")
    return int(line), int(line)


def ports_of_wire_serve(proc):
    """wire serve prints 'listening on tcp ADDR' and 'listening on udp ADDR' on stderr."""
    ports = {}
    while len(ports) < 2:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("wire serve exited before listening")
        m = re.match(r"listening on (tcp|udp) .*:(\d+)$", line.strip())
        if m:
            ports[m.group(1)] = int(m.group(2))
    return ports["tcp"], ports["udp"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)  # polling a port that is not up yet; there is no line to wait for
    raise RuntimeError(f"nothing listens on port {port}")


def run(argv, timeout):
    out = subprocess.run(["taskset", "-c", LOAD_CPU] + argv, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(args.build, "bin")
        self.wire = os.path.join(self.bin, "wire")
        self.servers = {}
        self.records = []

    # ---- set-up ----------------------------------------------------------------------------
    def start_servers(self):
        peers = os.path.join(self.bin, "peers")
        self.servers["wire"] = Server("wire", [self.wire, "serve", "echo", "--tcp", "127.0.0.1:0",
                                               "--udp", "127.0.0.1:0", "-t", "1", "-q"],
                                      ports_of_wire_serve)
        for name, prog in (("asio", "asio_echo"), ("libuv", "uv_echo"), ("epoll", "epoll_echo")):
            path = os.path.join(peers, prog)
            if os.path.exists(path):
                self.servers[name] = Server(name, [path, "127.0.0.1", "0"], port_on_stdout)
            else:
                log(f"bench: {path} missing (peer not built); skipped")
        self.servers["wire-discard"] = Server(
            "wire-discard", [self.wire, "serve", "discard", "--tcp", "127.0.0.1:0", "--udp",
                             "127.0.0.1:0", "-t", "1", "-q"], ports_of_wire_serve)
        self.servers["wire-sockperf"] = Server(
            "wire-sockperf", [self.wire, "serve", "sockperf", "--tcp", "127.0.0.1:0", "--udp",
                              "127.0.0.1:0", "-t", "1", "-q"], ports_of_wire_serve)
        self.start_tool_servers()

    def start_tool_servers(self):
        if shutil.which("iperf3"):
            port = free_port()
            self.servers["iperf3"] = Server("iperf3", ["iperf3", "-s", "-p", str(port)],
                                            lambda p: (port, port))
            wait_listening(port)
        if shutil.which("sockperf"):
            # sockperf server serves one protocol a process: one for UDP, one for TCP.
            for proto, extra in (("udp", []), ("tcp", ["--tcp"])):
                port = free_port()
                name = f"sockperf-{proto}"
                self.servers[name] = Server(name, ["sockperf", "server", "-i", "127.0.0.1", "-p",
                                                   str(port)] + extra, lambda p, q=port: (q, q))
            wait_listening(self.servers["sockperf-tcp"].tcp)
            time.sleep(0.2)  # the UDP sockperf server prints nothing reliable once bound

    def stop_servers(self):
        for s in self.servers.values():
            s.stop()

    # ---- one measurement ------------------------------------------------------------------
    def measured(self, server, fn):
        """Runs fn() (returning a dict with 'ops'), adding the server's CPU over the run."""
        u0, s0 = server.cpu()
        t0 = time.monotonic()
        result = fn()
        wall = time.monotonic() - t0
        u1, s1 = server.cpu()
        # UDP: only echoed datagrams are known to have been handled by the server.
        ops = max(result.get("cpu_ops", result.get("ops", 0)), 1)
        result.update(server_user_s=u1 - u0, server_sys_s=s1 - s0, wall_s=wall,
                      server_cpu_us_per_op=(u1 - u0 + s1 - s0) / ops * 1e6,
                      server_user_share=(u1 - u0) / wall, server_core_share=(u1 - u0 + s1 - s0) / wall)
        return result

    def wire_bench(self, mode, port, extra, duration):
        out = run([self.wire, "bench", mode, f"127.0.0.1:{port}", "--duration", str(duration),
                   "--json", "--quiet"] + extra, timeout=duration + 30)
        j = json.loads(out)
        r = {"ops": j["ops"], "rate": j["rate"], "gbit_s": j["gbit_s"],
             "p50_us": j["latency_us"]["p50"], "p99_us": j["latency_us"]["p99"],
             "generator_share": j["generator"]["busiest_thread_share"], "errors": j["errors"]}
        if "udp" in j:
            r.update(received=j["udp"]["received"], loss=j["udp"]["loss_ratio"],
                     cpu_ops=j["udp"]["received"])
        return r

    def iperf3(self, zerocopy, duration):
        argv = ["iperf3", "-c", "127.0.0.1", "-p", str(self.servers["iperf3"].tcp), "-t",
                str(duration), "-J"] + (["-Z"] if zerocopy else [])
        j = json.loads(run(argv, timeout=duration + 30))
        bps = j["end"]["sum_received"]["bits_per_second"]
        return {"ops": int(j["end"]["sum_received"]["bytes"] / 131072), "gbit_s": bps / 1e9,
                "rate": bps / 8 / 131072}

    def sockperf(self, mode, port, tcp, duration, size=64):
        argv = ["sockperf", mode, "-i", "127.0.0.1", "-p", str(port), "-t", str(duration), "-m",
                str(size)] + (["--tcp"] if tcp else [])
        out = run(argv, timeout=duration + 30)
        if mode == "throughput":
            m = re.search(r"Message Rate is (\d+)", out)
            rate = float(m.group(1)) if m else 0.0
            return {"ops": int(rate * duration), "rate": rate}
        pct = lambda p: float(re.search(rf"percentile {p} =\s*([\d.]+)", out).group(1))
        obs = int(re.search(r"Total (\d+) observations", out).group(1))
        # sockperf reports one-way latency (half the round trip); keep round trips like wire bench.
        return {"ops": obs, "rate": obs / duration, "p50_us": 2 * pct("50.000"),
                "p99_us": 2 * pct("99.000")}

    # ---- the scenarios ----------------------------------------------------------------------
    def scenarios(self, duration=None):
        d = duration or self.args.duration
        echo = [c for c in PEERS if c in self.servers]
        tcp_echo = lambda extra: lambda c: self.wire_bench("tcp-echo", self.servers[c].tcp, extra, d)
        yield "tcp-echo 1 conn", echo, tcp_echo(["-c", "1", "-p", "1"])
        yield "tcp-echo 100 conn", echo, tcp_echo(["-c", "100", "-p", "1"])
        yield "tcp-echo 100x16", echo, tcp_echo(["-c", "100", "-p", "16"])
        udp = ["-c", "1", "--rate", str(self.args.udp_rate)]
        yield "udp-echo paced", echo, lambda c: self.wire_bench("udp-flood", self.servers[c].udp, udp, d)
        if "iperf3" in self.servers:
            bulk = {"wire": lambda z: self.wire_bench("tcp-bulk", self.servers["wire-discard"].tcp,
                                                      ["--sendfile"] if z else [], d),
                    "iperf3": lambda z: self.iperf3(z, d)}
            yield "tcp-bulk", ["wire", "iperf3"], lambda c: bulk[c](False)
            yield "tcp-bulk sendfile", ["wire", "iperf3"], lambda c: bulk[c](True)
        if "sockperf-udp" in self.servers:
            srv = {"wire": "wire-sockperf", "sockperf": "sockperf-udp"}
            yield ("sockperf udp ping-pong", ["wire", "sockperf"],
                   lambda c: self.sockperf("ping-pong", self.servers[srv[c]].udp, False, d))
            yield ("sockperf tcp ping-pong", ["wire", "sockperf"],
                   lambda c: self.sockperf("ping-pong", self.servers[
                       "wire-sockperf" if c == "wire" else "sockperf-tcp"].tcp, True, d))
            yield ("sockperf udp throughput", ["wire", "sockperf"],
                   lambda c: self.sockperf("throughput", self.servers[srv[c]].udp, False, d))

    def server_of(self, scenario, candidate):
        if scenario.startswith("tcp-bulk"):
            return self.servers["wire-discard" if candidate == "wire" else "iperf3"]
        if scenario.startswith("sockperf"):
            if candidate == "wire":
                return self.servers["wire-sockperf"]
            return self.servers["sockperf-tcp" if " tcp " in scenario else "sockperf-udp"]
        return self.servers[candidate]

    def timed_passes(self):
        scenarios = list(self.scenarios())
        for rep in range(self.args.reps):
            for name, candidates, fn in scenarios:
                k = rep % len(candidates)
                for c in candidates[k:] + candidates[:k]:  # rotate who goes first
                    try:
                        r = self.measured(self.server_of(name, c), lambda: fn(c))
                    except (RuntimeError, subprocess.TimeoutExpired, AttributeError) as e:
                        log(f"bench: {name} / {c}: {e}")
                        continue
                    r.update(scenario=name, candidate=c, rep=rep)
                    self.records.append(r)
                    log(f"  rep {rep + 1}/{self.args.reps}  {name:<24} {c:<8} {r.get('rate', 0):>12.0f}/s")

    def syscall_pass(self):
        """Counts system calls per request under strace -c -f, once per echo scenario."""
        if not shutil.which("strace"):
            log("bench: strace missing; no system-call counts")
            return
        # Only the ratio syscalls/op matters here, and tracing is slow: 2 s runs suffice.
        for name, candidates, fn in self.scenarios(min(self.args.duration, 2)):
            if not (name.startswith("tcp-echo") or name.startswith("udp-echo")):
                continue
            for c in candidates:
                pid = self.server_of(name, c).proc.pid
                out = f"/tmp/wire-bench-strace-{os.getpid()}.txt"
                tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out],
                                          stderr=subprocess.PIPE, text=True)
                tracer.stderr.readline()  # "strace: Process N attached"
                try:
                    r = fn(c)
                finally:
                    tracer.send_signal(signal.SIGINT)
                    tracer.wait(timeout=10)
                total = 0
                with open(out) as f:
                    for line in f:
                        if line.strip().endswith("total"):
                            total = int(line.split()[3])
                os.unlink(out)
                self.records.append({"scenario": name, "candidate": c, "pass": "strace",
                                     "syscalls": total, "traced_ops": r["ops"],
                                     "syscalls_per_op": total / max(r["ops"], 1)})
                log(f"  strace {name:<24} {c:<8} {total / max(r['ops'], 1):.2f} syscalls/op")


# ---- the report ---------------------------------------------------------------------------
def summarise(records):
    """{scenario: {candidate: {metric: (median, min, max)}}} over the timed repetitions."""
    table = {}
    for r in records:
        cell = table.setdefault(r["scenario"], {}).setdefault(r["candidate"], {})
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("rep",):
                cell.setdefault(k, []).append(v)
    for cells in table.values():
        for c, metrics in cells.items():
            cells[c] = {k: (statistics.median(v), min(v), max(v)) for k, v in metrics.items()}
    return table


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def print_table(table):
    rows = []
    head = ("scenario", "candidate", "rate/s (median)", "min-max", "Gbit/s", "p50 us", "p99 us",
            "srv us/op", "srv user%", "syscalls/op", "gen cpu%", "wire/this")
    for scenario, cells in table.items():
        wire = cells.get("wire", {})
        key = "gbit_s" if scenario.startswith("tcp-bulk") else "rate"  # what "faster" means
        for c, m in cells.items():
            g = lambda k: m.get(k, (None,) * 3)[0]
            rng = m.get("rate")
            rows.append((scenario, c, fmt(g("rate")),
                         f"{fmt(rng[1])}-{fmt(rng[2])}" if rng else "-",
                         fmt(g("gbit_s"), 2) if g("gbit_s") else "-", fmt(g("p50_us"), 1),
                         fmt(g("p99_us"), 1), fmt(g("server_cpu_us_per_op"), 2),
                         fmt(100 * g("server_user_share") if g("server_user_share") is not None else None, 1),
                         fmt(g("syscalls_per_op"), 2),
                         fmt(100 * g("generator_share") if g("generator_share") is not None else None),
                         "-" if c == "wire" else fmt(ratio(wire.get(key, (None,))[0], g(key)), 3)))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) if i > 1 else str(x).ljust(w)
                               for i, (x, w) in enumerate(zip(r, widths)))
    print(line(head))
    print(line(tuple("-" * w for w in widths)))
    last = None
    for r in rows:
        print(line((r[0] if r[0] != last else "",) + r[1:]))
        last = r[0]


def targets(table):
    """The issue's targets, checked on this run's medians."""
    out = []
    med = lambda s, c, k: table.get(s, {}).get(c, {}).get(k, (None,))[0]
    for s in ("tcp-echo 1 conn", "tcp-echo 100 conn", "tcp-echo 100x16"):
        w = med(s, "wire", "rate")
        best = max([x for x in (med(s, "asio", "rate"), med(s, "libuv", "rate")) if x] or [0])
        out.append((f"{s}: rate >= 1.0x best(asio, libuv)", ratio(w, best), 1.0))
        out.append((f"{s}: rate >= 0.97x epoll", ratio(w, med(s, "epoll", "rate")), 0.97))
        ws, es = med(s, "wire", "syscalls_per_op"), med(s, "epoll", "syscalls_per_op")
        if ws is not None and es:
            out.append((f"{s}: syscalls/op <= epoll's ({ws:.2f} vs {es:.2f})", es / ws if ws else None, 1.0))
        wu, eu = med(s, "wire", "server_user_share"), med(s, "epoll", "server_user_share")
        if wu is not None and eu is not None:
            out.append((f"{s}: user CPU <= epoll + 1 point ({100*wu:.1f} vs {100*eu:.1f} %)",
                        (100 * eu + 1) / (100 * wu) if wu else 9.99, 1.0))
    for q in ("p50_us", "p99_us"):
        w, e = med("tcp-echo 1 conn", "wire", q), med("tcp-echo 1 conn", "epoll", q)
        out.append((f"tcp 1 conn latency {q[:3]} <= 1.05x epoll", ratio(1.05 * e, w) if e and w else None, 1.0))
    w, e = med("udp-echo paced", "wire", "server_cpu_us_per_op"), med("udp-echo paced", "epoll", "server_cpu_us_per_op")
    out.append(("udp server cost/datagram <= epoll recvmmsg floor", ratio(e, w), 1.0))
    out.append(("tcp-bulk >= 0.95x iperf3", ratio(med("tcp-bulk", "wire", "gbit_s"), med("tcp-bulk", "iperf3", "gbit_s")), 0.95))
    out.append(("tcp-bulk sendfile >= 0.95x iperf3 -Z",
                ratio(med("tcp-bulk sendfile", "wire", "gbit_s"), med("tcp-bulk sendfile", "iperf3", "gbit_s")), 0.95))
    return out


def print_targets(checks):
    print("\ntargets (ratio to the bar; met when ratio >= threshold):")
    for what, value, need in checks:
        verdict = "n/a" if value is None else ("met" if value >= need else "MISSED")
        print(f"  {verdict:<6} {fmt(value, 3):>7} (>= {need})  {what}")


def chart(table, path):
    """A clustered bar chart of each candidate's median rate relative to the scenario's best."""
    if not shutil.which("gnuplot"):
        log("bench: gnuplot missing; no chart")
        return
    names = sorted({c for cells in table.values() for c in cells})
    data = path + ".dat"
    with open(data, "w") as f:
        f.write("scenario " + " ".join(names) + "\n")
        for s, cells in table.items():
            rates = {c: m["rate"][0] for c, m in cells.items() if "rate" in m}
            top = max(rates.values() or [1]) or 1
            f.write(f'"{s}" ' + " ".join(f"{rates[c] / top:.4f}" if c in rates else "-" for c in names) + "\n")
    script = f"""set terminal svg size 1100,500 dynamic font "sans,11"
set output "{path}"
set title "wire beside its peers: median rate relative to the best in each scenario"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set datafile missing "-"
set yrange [0:1.15]
set ylabel "rate / best"
set xtics rotate by -25 scale 0
set key outside right top
set grid ytics
plot for [i=2:{len(names) + 1}] "{data}" using i:xtic(1) title columnheader
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    os.unlink(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--udp-rate", type=int, default=50000, help="datagrams/s for udp-echo paced")
    ap.add_argument("--quick", action="store_true", help="1 repetition of 1 s: about a minute")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration = 1, 1
    if os.cpu_count() < 2:
        log("bench: needs 2 cores (server on one, load on the other)")
        return 1
    b = Bench(args)
    started = time.time()
    try:
        b.start_servers()
        log(f"bench: {args.reps} repetitions of {args.duration} s; servers on core {SERVER_CPU}, load on core {LOAD_CPU}")
        b.timed_passes()
        if not args.no_strace:
            b.syscall_pass()
    finally:
        b.stop_servers()
    table = summarise(b.records)
    print_table(table)
    checks = targets(table)
    print_targets(checks)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    doc = {"started": stamp, "seconds": time.time() - started, "reps": args.reps,
           "duration_s": args.duration, "records": b.records,
           "summary": {s: {c: {k: {"median": v[0], "min": v[1], "max": v[2]} for k, v in m.items()}
                           for c, m in cells.items()} for s, cells in table.items()},
           "targets": [{"what": w, "ratio": v, "threshold": t} for w, v, t in checks]}
    for name in (f"{stamp}.json", "latest.json"):
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(doc, f, indent=1)
    chart(table, os.path.join(args.out, "latest.svg"))
    print(f"\nwrote {args.out}/{stamp}.json, latest.json, latest.svg ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
