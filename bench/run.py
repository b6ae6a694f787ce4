#!/usr/bin/env python3
"""make bench: wire beside its peers, in one run.

Every server is pinned to core 0 and every load generator to core 1 (taskset). The candidates
(wire serve, Asio, libuv, raw epoll) stay up for the whole run and are measured interleaved,
rotating the order each repetition, because a single figure drifts +-20 % between passes minutes
apart. Each cell reports the median and min-max over the repetitions.

Server CPU per request comes from /proc/PID/stat (user/system ticks) around each timed run;
system calls per request from a separate pass under `strace -c -f` (tracing slows the server,
so it never shares a run with a timed figure). Bulk TCP is compared with iperf3 (and -Z,
sendfile), one side changed at a time: iperf3 into iperf3, wire's sender into iperf3's receiver,
iperf3's sender into wire's receiver (`wire serve discard`) and wire into wire, each with and
without sendfile/-Z. The harness speaks iperf3's control protocol for the side that is not
iperf3 (see Iperf3Control). UDP receive is compared with sockperf (throughput mode) and latency
with sockperf ping-pong against `wire serve sockperf` and `sockperf server`. TLS (the `tls-`
scenarios): `wire serve --tls` beside socat OPENSSL-LISTEN and `openssl s_server`, all driven by
`wire bench --tls` with the same TLS 1.3 suite (TLS_CONF), `openssl s_time` as a second client
for handshakes, and TLS bulk as a share of min(plaintext bulk, `openssl speed` AES-128-GCM).

Output: a table on stdout (<= 100 columns) with the ratios, and build/bench/<time>.json and
<time>.svg (with latest.json and latest.svg beside them): never tracked files. A snapshot worth
keeping is copied into bench/results/<date>/ by hand and cited from bench/RESULTS.md.
Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER_CPU, LOAD_CPU = "0", "1"
TLS_SCENARIOS = ("tls-echo 1 conn", "tls-echo 100 conn", "tls-bulk", "tls-connect 1 conn",
                 "tls-connect 16 conn")
# Every TLS peer runs with the same OpenSSL settings, given to each through OPENSSL_CONF (the
# system_default section OpenSSL applies to every SSL_CTX; socat has no flag for TLS 1.3 suites):
# TLS 1.3 only, one cipher suite (AES-128-GCM, the one `openssl speed` measures for the bulk
# limit), and no session tickets: no client here resumes a session (wire bench keeps none,
# s_time runs with -new), so tickets would only add server work to every handshake row.
TLS_SUITE = "TLS_AES_128_GCM_SHA256"
TLS_CONF = f"""openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = {TLS_SUITE}
NumTickets = 0
"""
TICK = os.sysconf("SC_CLK_TCK")
PEERS = ["wire", "wire-uring", "asio", "libuv", "epoll"]


def load_average():
    """The 1, 5 and 15-minute load averages (what else was running shapes every figure)."""
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Server:
    """A server process pinned to the server core, with its TCP and UDP ports."""

    def __init__(self, name, argv, port_from, core=SERVER_CPU, env=None, quiet_output=False):
        """quiet_output: stdout and stderr go to /dev/null (peers that print a line a connection
        would otherwise fill a pipe nobody reads, and stall); stdin stays an open pipe, as
        `openssl s_server` ends its connection when its stdin ends."""
        self.name = name
        out = subprocess.DEVNULL if quiet_output else subprocess.PIPE
        self.proc = subprocess.Popen(["taskset", "-c", core] + argv,
                                     stdin=subprocess.PIPE if quiet_output else None,
                                     stdout=out, stderr=out, text=True, env=env)
        self.tcp, self.udp = port_from(self.proc)

    def cpu(self):
        """(user, system) seconds the server has used so far: its own, its reaped children's
        and its live descendants' (socat forks a process a connection)."""
        def stat(pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                return 0, 0, 0, 0  # exited meanwhile: its time is in its parent's cutime
            return tuple(int(x) for x in fields[11:15])

        def descendants(pid):
            kids = []
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children") as f:
                        kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
            return kids + [g for k in kids for g in descendants(k)]

        ut, st, cut, cst = stat(self.proc.pid)
        user, system = ut + cut, st + cst
        for pid in descendants(self.proc.pid):
            u, s_, cu, cs = stat(pid)
            user, system = user + u + cu, system + s_ + cs
        return user / TICK, system / TICK

    def drain_stderr(self):
        """Reads (and drops) what the server logs from now on, so its stderr pipe never fills."""
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        return self

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


def port_of_coro_echo(proc):
    """bench/coro_echo prints 'listening on ADDR:PORT' on stdout (TCP only)."""
    line = proc.stdout.readline()
    m = re.match(r"listening on .*:(\d+)$", line.strip())
    if not m:
        raise RuntimeError(f"coro_echo did not print its port: {line!r} {proc.stderr.read()}")
    return int(m.group(1)), None


def ports_of_wire_serve(proc, want=("tcp", "udp")):
    """wire serve prints 'listening on tcp ADDR' and 'listening on udp ADDR' on stderr."""
    ports = {}
    while len(ports) < len(want):
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("wire serve exited before listening")
        m = re.match(r"listening on (tcp|udp) .*:(\d+)$", line.strip())
        if m:
            ports[m.group(1)] = int(m.group(2))
    return ports.get("tcp"), ports.get("udp")


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


def run(argv, timeout, env=None):
    out = subprocess.run(["taskset", "-c", LOAD_CPU] + argv, capture_output=True, text=True,
                         timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


# ---- iperf3's control protocol, for the pairs where one side is not iperf3 -------------------
# iperf3 3.12 (Debian 12): a control connection opens with a 37-byte cookie; the server then
# drives the test with one-byte states, parameters and results travel as a 4-byte big-endian
# length and JSON, and each data connection opens with the same cookie.
PARAM_EXCHANGE, CREATE_STREAMS, TEST_START, TEST_RUNNING, TEST_END = 9, 10, 1, 2, 4
EXCHANGE_RESULTS, DISPLAY_RESULTS, IPERF_DONE, ACCESS_DENIED = 13, 14, 16, 255
COOKIE_SIZE = 37


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("iperf3 control connection closed early")
        data += chunk
    return data


def expect_state(sock, state):
    got = recv_exact(sock, 1)[0]
    if got != state:
        raise RuntimeError(f"iperf3 control: expected state {state}, got {got}")


def send_json(sock, obj):
    body = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def recv_json(sock):
    return json.loads(recv_exact(sock, struct.unpack(">I", recv_exact(sock, 4))[0]))


def stream_results(byte_count, seconds):
    """The results one side sends the other at the end: one stream, its byte count."""
    return {"cpu_util_total": 0, "cpu_util_user": 0, "cpu_util_system": 0,
            "sender_has_retransmits": -1, "congestion_used": "bbr",
            "streams": [{"id": 1, "bytes": byte_count, "retransmits": -1, "jitter": 0,
                         "errors": 0, "packets": 0, "start_time": 0, "end_time": seconds}]}


class Iperf3Control:
    """Plays one end of iperf3's control connection so that wire can be the other data end."""

    @staticmethod
    def as_client(port, duration, run_sender):
        """Against `iperf3 -s` on port: the harness is the client, run_sender() the data
        stream (it must connect one stream to port and send for `duration`). The cookie is 37
        zero bytes, i.e. the empty string, so a data stream of zeros presents the same cookie.
        Returns (what run_sender returned, bytes iperf3's receiver counted)."""
        for attempt in range(50):
            ctrl = socket.create_connection(("127.0.0.1", port), timeout=duration + 30)
            ctrl.sendall(b"\0" * COOKIE_SIZE)
            state = recv_exact(ctrl, 1)[0]
            if state == PARAM_EXCHANGE:
                break
            ctrl.close()
            if state != ACCESS_DENIED:
                raise RuntimeError(f"iperf3 control: expected state {PARAM_EXCHANGE}, got {state}")
            time.sleep(0.1)  # the server is still resetting after the last test
        else:
            raise RuntimeError("iperf3 -s stayed busy for 5 s")
        with ctrl:
            send_json(ctrl, {"tcp": True, "omit": 0, "time": max(1, round(duration)), "num": 0,
                             "blockcount": 0, "parallel": 1, "len": 131072,
                             "pacing_timer": 1000, "client_version": "3.12"})
            expect_state(ctrl, CREATE_STREAMS)
            result = run_sender()  # iperf3 answers TEST_START, TEST_RUNNING once it connects
            expect_state(ctrl, TEST_START)
            expect_state(ctrl, TEST_RUNNING)
            ctrl.sendall(bytes([TEST_END]))
            expect_state(ctrl, EXCHANGE_RESULTS)
            send_json(ctrl, stream_results(result.get("bytes", 0), duration))
            server = recv_json(ctrl)
            expect_state(ctrl, DISPLAY_RESULTS)
            ctrl.sendall(bytes([IPERF_DONE]))
        return result, sum(st.get("bytes", 0) for st in server.get("streams", []))

    @staticmethod
    def as_server(client_argv, start_receiver, duration):
        """For an iperf3 client: the harness is the server on a port of its own; once the
        control connection is in, it closes its listener and start_receiver(port) starts the
        real receiver there (wire serve discard), which accepts the data stream. Returns the
        client's JSON and the receiver start_receiver returned."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(10)
        port = listener.getsockname()[1]
        client = subprocess.Popen(["taskset", "-c", LOAD_CPU] + client_argv + ["-p", str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        receiver = None
        try:
            ctrl, _ = listener.accept()
            listener.close()
            with ctrl:
                ctrl.settimeout(duration + 30)
                recv_exact(ctrl, COOKIE_SIZE)
                receiver = start_receiver(port)
                ctrl.sendall(bytes([PARAM_EXCHANGE]))
                recv_json(ctrl)
                ctrl.sendall(bytes([CREATE_STREAMS, TEST_START, TEST_RUNNING]))
                receiver.cpu_start, receiver.wall_start = receiver.cpu(), time.monotonic()
                expect_state(ctrl, TEST_END)
                receiver.cpu_end, receiver.wall_end = receiver.cpu(), time.monotonic()
                ctrl.sendall(bytes([EXCHANGE_RESULTS]))
                sent = recv_json(ctrl)
                got = sum(st.get("bytes", 0) for st in sent.get("streams", []))
                send_json(ctrl, stream_results(got, duration))
                ctrl.sendall(bytes([DISPLAY_RESULTS]))
                expect_state(ctrl, IPERF_DONE)
            out, err = client.communicate(timeout=30)
        except BaseException:
            client.kill()
            client.wait()
            if receiver:
                receiver.stop()
            raise
        finally:
            listener.close()
        if client.returncode != 0:
            receiver.stop()
            raise RuntimeError(f"iperf3 client failed ({client.returncode}): {err.strip()}")
        return json.loads(out), receiver


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(args.build, "bin")
        self.wire = os.path.join(self.bin, "wire")
        self.servers = {}
        self.records = []
        self.echo_peers = list(PEERS)
        self.proxy_ports = {}  # (proxy, "echo" | "bulk") -> port
        self.cleanup = []
        self.only = re.compile(args.scenario) if args.scenario else None
        self.tls = None  # {"ca": path, "env": environ with OPENSSL_CONF} once TLS peers run
        self.aes_gcm_gbit = None  # `openssl speed -evp aes-128-gcm`, one core, 16 KiB blocks

    def wire_serve(self, service, tcp="127.0.0.1:0", udp="127.0.0.1:0", engine="epoll"):
        """wire serve on one loop; epoll unless asked (so figures stay comparable across runs;
        "wire-uring" is the io_uring engine beside it in the echo scenarios)."""
        argv = [self.wire, "serve", service, "--tcp", tcp, "--engine", engine]
        return argv + (["--udp", udp] if udp else []) + ["--threads", "1", "-q"]

    # ---- set-up ----------------------------------------------------------------------------
    def start_servers(self):
        peers = os.path.join(self.bin, "peers")
        self.servers["wire"] = Server("wire", self.wire_serve("echo"), ports_of_wire_serve)
        self.servers["wire-uring"] = Server("wire-uring", self.wire_serve("echo", engine="io_uring"),
                                            ports_of_wire_serve)
        for name, prog in (("asio", "asio_echo"), ("libuv", "uv_echo"), ("epoll", "epoll_echo")):
            path = os.path.join(peers, prog)
            if os.path.exists(path):
                self.servers[name] = Server(name, [path, "127.0.0.1", "0"], port_on_stdout)
            else:
                log(f"bench: {path} missing (peer not built); skipped")
        # The coroutine echo server (wire::serve, issue 11) with the options `wire serve` uses:
        # the same Connection core and the same engine (epoll) as the Handler row "wire", so the
        # two rows differ only in style.
        coro = os.path.join(peers, "coro_echo")
        if os.path.exists(coro):
            self.servers["wire-coro"] = Server("wire-coro", [coro, "coro", "0", "1", "epoll"],
                                               port_of_coro_echo)
            self.echo_peers.insert(1, "wire-coro")
        else:
            log(f"bench: {coro} missing; no coroutine row")
        for spec in self.args.peer:  # --peer NAME=PATH: another echo peer, e.g. an older build
            name, path = spec.split("=", 1)
            self.servers[name] = Server(name, [path, "127.0.0.1", "0"], port_on_stdout)
            self.echo_peers.append(name)
        self.servers["wire-discard"] = Server("wire-discard", self.wire_serve("discard"),
                                              ports_of_wire_serve)
        self.servers["wire-sockperf"] = Server("wire-sockperf", self.wire_serve("sockperf"),
                                               ports_of_wire_serve)
        self.start_tool_servers()
        if any(not self.only or self.only.search(s) for s in TLS_SCENARIOS):
            self.start_tls_servers()
        if not self.args.no_proxy:
            self.start_proxies()

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

    def start_proxies(self):
        """The proxy scenario: wire proxy, HAProxy (TCP mode) and socat on the server core, each
        relaying to the same backends on the load core (epoll_echo for echo, wire serve discard
        for bulk), so the proxy is the only thing that differs."""
        echo_peer = os.path.join(self.bin, "peers", "epoll_echo")
        if not os.path.exists(echo_peer):
            log("bench: epoll_echo missing; no proxy scenario")
            return
        self.servers["backend-echo"] = Server("backend-echo", [echo_peer, "127.0.0.1", "0"],
                                              port_on_stdout, core=LOAD_CPU)
        self.servers["backend-discard"] = Server(
            "backend-discard", self.wire_serve("discard", udp=None),
            lambda p: ports_of_wire_serve(p, ("tcp",)), core=LOAD_CPU)
        targets = {"echo": self.servers["backend-echo"].tcp,
                   "bulk": self.servers["backend-discard"].tcp}
        for kind, target in targets.items():
            self.servers[f"proxy-wire-{kind}"] = Server(
                f"proxy-wire-{kind}", [self.wire, "proxy", "127.0.0.1:0", f"127.0.0.1:{target}",
                                       "--threads", "1", "--max-connections", "10000"],
                lambda p: ports_of_wire_serve(p, ("tcp",)))
        if shutil.which("haproxy"):
            # One process, two listeners; splice-auto: HAProxy's own zero-copy relay.
            ports = {kind: free_port() for kind in targets}
            conf = f"/tmp/wire-bench-haproxy-{os.getpid()}.cfg"
            with open(conf, "w") as f:
                f.write("global\n  nbthread 1\n  maxconn 4096\n"
                        "defaults\n  mode tcp\n  option splice-auto\n  timeout connect 5s\n"
                        "  timeout client 60s\n  timeout server 60s\n")
                for kind, target in targets.items():
                    f.write(f"listen {kind}\n  bind 127.0.0.1:{ports[kind]}\n"
                            f"  server backend 127.0.0.1:{target}\n")
            haproxy = Server("proxy-haproxy", ["haproxy", "-db", "-f", conf], lambda p: (None, None))
            for kind in targets:
                wait_listening(ports[kind])
                self.servers[f"proxy-haproxy-{kind}"] = haproxy
                self.proxy_ports[("haproxy", kind)] = ports[kind]
            self.cleanup.append(conf)
        if shutil.which("socat"):
            for kind, target in targets.items():
                port = free_port()
                # fork: a process a connection (socat's only way to serve many); 128 KiB buffers
                # and TCP_NODELAY both ways, as a socat user tuning for throughput and latency.
                self.servers[f"proxy-socat-{kind}"] = Server(
                    f"proxy-socat-{kind}",
                    ["socat", "-b", "131072", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,nodelay,backlog=4096",
                     f"TCP:127.0.0.1:{target},nodelay"], lambda p, q=port: (q, None))
                wait_listening(port)
                self.proxy_ports[("socat", kind)] = port
        for kind in targets:
            self.proxy_ports[("wire", kind)] = self.servers[f"proxy-wire-{kind}"].tcp
        for spec in self.args.proxy_peer:  # --proxy-peer NAME=PATH: another wire's proxy
            name, path = spec.split("=", 1)
            for kind, target in targets.items():
                self.servers[f"proxy-{name}-{kind}"] = Server(
                    f"proxy-{name}-{kind}", [path, "proxy", "127.0.0.1:0", f"127.0.0.1:{target}",
                                             "--threads", "1", "--max-connections", "10000"],
                    lambda p: ports_of_wire_serve(p, ("tcp",)))
                self.proxy_ports[(name, kind)] = self.servers[f"proxy-{name}-{kind}"].tcp

    def start_tls_servers(self):
        """The TLS peers, each serving the certificate made here for this run (never a tracked
        file) with the settings of TLS_CONF: wire serve echo/discard --tls; socat
        OPENSSL-LISTEN (fork: a process a connection) into PIPE for echo and into /dev/null for
        bulk; and `openssl s_server`. s_server handles one connection at a time and relays it to
        its stdin/stdout rather than echoing (its -rev answers only newline-ended lines,
        reversed), so it serves the bulk and handshake rows but cannot serve the echo rows."""
        certs = os.path.join(self.args.out, "tls")
        made = subprocess.run(["bash", os.path.join(ROOT, "tests", "tls", "make_certs.sh"), certs],
                              capture_output=True, text=True)
        if made.returncode != 0:
            log(f"bench: cannot make TLS certificates: {made.stderr.strip()}; no TLS scenarios")
            return
        conf = os.path.join(certs, "openssl.cnf")
        with open(conf, "w") as f:
            f.write(TLS_CONF)
        env = dict(os.environ, OPENSSL_CONF=conf)
        cert, key = os.path.join(certs, "server.pem"), os.path.join(certs, "server.key")
        self.tls = {"ca": os.path.join(certs, "ca.pem"), "env": env}
        tls_flags = ["--tls", "--cert", cert, "--key", key]
        for name, service in (("tls-wire", "echo"), ("tls-wire-discard", "discard")):
            self.servers[name] = Server(name, self.wire_serve(service, udp=None) + tls_flags,
                                        lambda p: ports_of_wire_serve(p, ("tcp",)), env=env).drain_stderr()
        if shutil.which("socat"):
            # As the proxy rows: 128 KiB buffers, TCP_NODELAY; verify=0: no client certificate.
            for name, sink, extra in (("tls-socat", "PIPE", []),
                                      ("tls-socat-discard", "OPEN:/dev/null,wronly", ["-u"])):
                port = free_port()
                self.servers[name] = Server(
                    name, ["socat", "-b", "131072"] + extra +
                    [f"OPENSSL-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,nodelay,backlog=4096,"
                     f"cert={cert},key={key},verify=0", sink],
                    lambda p, q=port: (q, None), env=env, quiet_output=True)
                wait_listening(port)
        port = free_port()
        # The same settings said on its command line too; -num_tickets 0 and -no_cache: no
        # resumption state. -quiet: no per-connection output.
        self.servers["tls-s_server"] = Server(
            "tls-s_server", ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert,
                             "-key", key, "-tls1_3", "-ciphersuites", TLS_SUITE, "-num_tickets",
                             "0", "-no_cache", "-quiet"],
            lambda p, q=port: (q, None), env=env, quiet_output=True)
        wait_listening(port)  # s_server drops the probe (no handshake) and keeps serving

    def stop_servers(self):
        for s in self.servers.values():
            s.stop()
        for path in self.cleanup:
            os.unlink(path)

    # ---- one measurement ------------------------------------------------------------------
    def measured(self, server, fn):
        """Runs fn() (returning a dict with 'ops'), adding the server's CPU over the run. With no
        server (one fn starts itself), fn returns server_cpu ((u0, s0), (u1, s1)) and wall_s."""
        if server is not None:
            u0, s0 = server.cpu()
            t0 = time.monotonic()
            result = fn()
            wall = time.monotonic() - t0
            u1, s1 = server.cpu()
        else:
            result = fn()
            (u0, s0), (u1, s1) = result.pop("server_cpu")
            wall = result["wall_s"]
        # UDP: only echoed datagrams are known to have been handled by the server.
        ops = max(result.get("cpu_ops", result.get("ops", 0)), 1)
        result.update(server_user_s=u1 - u0, server_sys_s=s1 - s0, wall_s=wall,
                      server_cpu_us_per_op=(u1 - u0 + s1 - s0) / ops * 1e6,
                      server_user_share=(u1 - u0) / wall, server_core_share=(u1 - u0 + s1 - s0) / wall)
        return result

    def wire_bench(self, mode, port, extra, duration, tls=False):
        """tls: over TLS, verifying the server's certificate against this run's CA (as a real
        client does), with the peers' OpenSSL settings (TLS_CONF)."""
        tls_flags = ["--tls", "--ca", self.tls["ca"]] if tls else []
        out = run([self.wire, "bench", mode, f"127.0.0.1:{port}", "--duration", str(duration),
                   "--json", "--quiet"] + tls_flags + extra, timeout=duration + 30,
                  env=self.tls["env"] if tls else None)
        j = json.loads(out)
        r = {"ops": j["ops"], "rate": j["rate"], "gbit_s": j["gbit_s"], "bytes": j["bytes"],
             "generator_share": j["generator"]["busiest_thread_share"], "errors": j["errors"]}
        if "latency_us" in j:
            r.update(p50_us=j["latency_us"]["p50"], p99_us=j["latency_us"]["p99"])
        if "udp" in j:
            r.update(received=j["udp"]["received"], loss=j["udp"]["loss_ratio"],
                     cpu_ops=j["udp"]["received"])
        if "tls" in j:
            r["tls"] = f'{j["tls"]["protocol"]} {j["tls"]["cipher"]}'
            if j["tls"]["cipher"] != TLS_SUITE:
                raise RuntimeError(f"negotiated {r['tls']}, not {TLS_SUITE}: the rows would differ")
        return r

    def s_time(self, port, duration):
        """`openssl s_time -new`, the OpenSSL client's own handshake loop: one connection at a
        time, each a full handshake, closed without waiting (its habit). Its own "real seconds"
        are whole seconds, so the rate is over the wall time measured here."""
        argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time",
                str(max(1, round(duration))), "-CAfile", self.tls["ca"], "-verify", "1",
                "-tls1_3", "-ciphersuites", TLS_SUITE]
        t0 = time.monotonic()
        out = run(argv, timeout=duration + 30, env=self.tls["env"])
        wall = time.monotonic() - t0
        m = re.search(r"(\d+) connections in [\d.]+ real seconds", out)
        if not m:
            raise RuntimeError(f"s_time printed no count: {out.strip()[-200:]!r}")
        return {"ops": int(m.group(1)), "rate": int(m.group(1)) / wall}

    def aes_gcm_limit(self):
        """One core's AES-128-GCM rate on 16 KiB blocks (a TLS record's size): the ceiling of
        TLS bulk here, as no kernel TLS exists to offload it. Once per bench, on the load core."""
        try:
            out = run(["openssl", "speed", "-evp", "aes-128-gcm", "-seconds", "3"], timeout=120)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"bench: openssl speed: {e}")
            return None
        # "type  16 bytes  64 bytes ... 16384 bytes" then "AES-128-GCM  123.45k ... 4567890.12k"
        # in thousands of bytes per second; the last column is 16384 bytes.
        for line in out.splitlines():
            if line.lower().startswith("aes-128-gcm"):
                return float(line.split()[-1].rstrip("k")) * 1000 * 8 / 1e9
        log(f"bench: openssl speed printed no aes-128-gcm line: {out.strip()[-200:]!r}")
        return None

    @staticmethod
    def iperf3_figures(j):
        """Bulk figures from an iperf3 client's JSON, counted at the sender like wire bench's."""
        sent = j["end"]["sum_sent"]
        return {"ops": int(sent["bytes"] / 131072), "bytes": sent["bytes"],
                "gbit_s": sent["bits_per_second"] / 1e9,
                "rate": sent["bits_per_second"] / 8 / 131072}

    def iperf3(self, zerocopy, duration):
        argv = ["iperf3", "-c", "127.0.0.1", "-p", str(self.servers["iperf3"].tcp), "-t",
                str(duration), "-J"] + (["-Z"] if zerocopy else [])
        for attempt in range(50):
            out = subprocess.run(["taskset", "-c", LOAD_CPU] + argv, capture_output=True, text=True,
                                 timeout=duration + 30)
            j = json.loads(out.stdout or "{}")
            if out.returncode == 0 and "error" not in j:
                return self.iperf3_figures(j)
            why = j.get("error", out.stderr.strip())
            if "busy" not in why or attempt == 49:
                raise RuntimeError(f"iperf3 client failed ({out.returncode}): {why}")
            time.sleep(0.1)  # iperf3 -s still resetting after the last test

    def wire_into_iperf3(self, sendfile, duration):
        """wire bench tcp-bulk's sender, iperf3's receiver."""
        port = self.servers["iperf3"].tcp
        sender = lambda: self.wire_bench("tcp-bulk", port, ["-c", "1"] + (["--sendfile"] if sendfile else []),
                                         duration)
        r, received = Iperf3Control.as_client(port, duration, sender)
        r["receiver_bytes"] = received
        return r

    def iperf3_into_wire(self, zerocopy, duration):
        """iperf3's sender, wire serve discard's receiver (started for this run)."""
        argv = ["iperf3", "-c", "127.0.0.1", "-t", str(duration), "-J"] + (["-Z"] if zerocopy else [])
        start = lambda port: Server("wire-discard-run", self.wire_serve("discard", f"127.0.0.1:{port}", None),
                                    lambda p: ports_of_wire_serve(p, ("tcp",)))
        j, receiver = Iperf3Control.as_server(argv, start, duration)
        receiver.stop()
        r = self.iperf3_figures(j)
        r.update(server_cpu=(receiver.cpu_start, receiver.cpu_end),
                 wall_s=receiver.wall_end - receiver.wall_start)
        return r

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
        echo = [c for c in self.echo_peers if c in self.servers]
        tcp_echo = lambda extra: lambda c: self.wire_bench("tcp-echo", self.servers[c].tcp, extra, d)
        yield "tcp-echo 1 conn", echo, tcp_echo(["-c", "1", "-p", "1"])
        yield "tcp-echo 100 conn", echo, tcp_echo(["-c", "100", "-p", "1"])
        yield "tcp-echo 100x16", echo, tcp_echo(["-c", "100", "-p", "16"])
        udp = ["-c", "1", "--rate", str(self.args.udp_rate)]
        udp_echo = [c for c in echo if self.servers[c].udp]
        yield "udp-echo paced", udp_echo, lambda c: self.wire_bench("udp-flood", self.servers[c].udp, udp, d)
        if "iperf3" in self.servers:
            # One side changes at a time; sendfile/-Z changes only the sender.
            for label, z in (("tcp-bulk", False), ("tcp-bulk sendfile", True)):
                wire_wire = lambda z=z: self.wire_bench("tcp-bulk", self.servers["wire-discard"].tcp,
                                                        ["--sendfile"] if z else [], d)
                bulk = {"iperf3->iperf3": lambda z=z: self.iperf3(z, d),
                        "wire->iperf3": lambda z=z: self.wire_into_iperf3(z, d),
                        "iperf3->wire": lambda z=z: self.iperf3_into_wire(z, d),
                        "wire->wire": wire_wire}
                yield label, list(bulk), lambda c, b=bulk: b[c]()
        order = ["wire"] + [spec.split("=", 1)[0] for spec in self.args.proxy_peer] + ["haproxy", "socat"]
        proxies = sorted({p for p, _ in self.proxy_ports}, key=order.index)
        if proxies:
            via = lambda kind, mode, extra: lambda c: self.wire_bench(mode, self.proxy_ports[(c, kind)], extra, d)
            yield "proxy echo 1 conn", proxies, via("echo", "tcp-echo", ["-c", "1", "-p", "1"])
            yield "proxy echo 100 conn", proxies, via("echo", "tcp-echo", ["-c", "100", "-p", "1"])
            yield "proxy bulk", proxies, via("bulk", "tcp-bulk", ["-c", "1"])
        if self.tls:
            yield from self.tls_scenarios(d)
        if "sockperf-udp" in self.servers:
            srv = {"wire": "wire-sockperf", "sockperf": "sockperf-udp"}
            yield ("sockperf udp ping-pong", ["wire", "sockperf"],
                   lambda c: self.sockperf("ping-pong", self.servers[srv[c]].udp, False, d))
            yield ("sockperf tcp ping-pong", ["wire", "sockperf"],
                   lambda c: self.sockperf("ping-pong", self.servers[
                       "wire-sockperf" if c == "wire" else "sockperf-tcp"].tcp, True, d))
            yield ("sockperf udp throughput", ["wire", "sockperf"],
                   lambda c: self.sockperf("throughput", self.servers[srv[c]].udp, False, d))

    def tls_scenarios(self, d):
        """Every row is driven by the same client, `wire bench --tls`, so only the server differs;
        s_time rows change the client instead (against each server), as the bulk rows of iperf3
        change one side at a time. `openssl s_server` is absent from the echo rows: it serves
        one connection at a time and does not echo (see start_tls_servers)."""
        have = lambda names: [c for c in names if f"tls-{c}" in self.servers]
        tls = lambda mode, extra: lambda c: self.wire_bench(mode, self.servers[f"tls-{c}"].tcp,
                                                            extra, d, tls=True)
        yield "tls-echo 1 conn", have(["wire", "socat"]), tls("tcp-echo", ["-c", "1", "-p", "1"])
        yield "tls-echo 100 conn", have(["wire", "socat"]), tls("tcp-echo", ["-c", "100", "-p", "1"])
        # Bulk: one connection into a discarding receiver. "plaintext" is wire bench tcp-bulk into
        # wire serve discard without TLS: the other half of the bulk limit (see tls_limit).
        bulk = {c: (lambda c=c: self.wire_bench("tcp-bulk", self.servers[f"tls-{c}-discard"].tcp,
                                                ["-c", "1"], d, tls=True))
                for c in ("wire", "socat") if f"tls-{c}-discard" in self.servers}
        bulk["s_server"] = lambda: self.wire_bench("tcp-bulk", self.servers["tls-s_server"].tcp,
                                                   ["-c", "1"], d, tls=True)
        bulk["plaintext"] = lambda: self.wire_bench("tcp-bulk", self.servers["wire-discard"].tcp,
                                                    ["-c", "1"], d)
        yield "tls-bulk", list(bulk), lambda c: bulk[c]()
        # Handshakes per second, each a full handshake closed with close_notify. At 1 connection
        # wire bench and s_time both run one handshake at a time, so the s_time rows compare the
        # clients; at 16 the server's own concurrency shows (s_server still serves them in turn).
        servers = have(["wire", "socat", "s_server"])
        one = {c: tls("tcp-connect", ["-c", "1"]) for c in servers}
        one.update({f"s_time->{c}": (lambda c, s=c: self.s_time(self.servers[f"tls-{s}"].tcp, d))
                    for c in servers})
        yield "tls-connect 1 conn", list(one), lambda c: one[c](c)
        yield "tls-connect 16 conn", servers, tls("tcp-connect", ["-c", "16"])

    def server_of(self, scenario, candidate):
        if scenario.startswith("tls-"):
            if candidate == "plaintext":
                return self.servers["wire-discard"]
            name = "tls-" + candidate.split("->")[-1]
            discard = f"{name}-discard"
            return self.servers[discard if scenario == "tls-bulk" and discard in self.servers else name]
        if scenario.startswith("proxy"):
            return self.servers[f"proxy-{candidate}-{'bulk' if 'bulk' in scenario else 'echo'}"]
        if scenario.startswith("tcp-bulk"):
            receiver = candidate.split("->")[1]
            if candidate == "iperf3->wire":
                return None  # a receiver of its own per run (see iperf3_into_wire)
            return self.servers["wire-discard" if receiver == "wire" else "iperf3"]
        if scenario.startswith("sockperf"):
            if candidate == "wire":
                return self.servers["wire-sockperf"]
            return self.servers["sockperf-tcp" if " tcp " in scenario else "sockperf-udp"]
        return self.servers[candidate]

    def selected(self, duration=None):
        return [x for x in self.scenarios(duration) if not self.only or self.only.search(x[0])]

    def timed_passes(self):
        scenarios = self.selected()
        if any(name == "tls-bulk" for name, _, _ in scenarios):
            self.aes_gcm_gbit = self.aes_gcm_limit()
            log(f"bench: openssl speed -evp aes-128-gcm, one core, 16 KiB: "
                f"{fmt(self.aes_gcm_gbit, 2)} Gbit/s")
        for rep in range(self.args.reps):
            for name, candidates, fn in scenarios:
                k = rep % len(candidates)
                for c in candidates[k:] + candidates[:k]:  # rotate who goes first
                    try:
                        r = self.measured(self.server_of(name, c), lambda: fn(c))
                    except (RuntimeError, subprocess.TimeoutExpired, AttributeError) as e:
                        log(f"bench: {name} / {c}: {e}")
                        continue
                    r.update(scenario=name, candidate=c, rep=rep, load1=load_average()[0])
                    self.records.append(r)
                    figure = (f"{r['gbit_s']:>9.2f} Gbit/s" if "bulk" in name
                              else f"{r.get('rate', 0):>12.0f}/s")
                    log(f"  rep {rep + 1}/{self.args.reps}  {name:<24} {c:<15} {figure}")

    def syscall_pass(self):
        """Counts system calls per request under strace -c -f, once per echo scenario."""
        if not shutil.which("strace"):
            log("bench: strace missing; no system-call counts")
            return
        # Only the ratio syscalls/op matters here, and tracing is slow: 2 s runs suffice.
        for name, candidates, fn in self.selected(min(self.args.duration, 2)):
            if not (name.startswith("tcp-echo") or name.startswith("udp-echo") or
                    name.startswith("proxy echo")):
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
    """{scenario: {candidate: {metric: (median, min, max, count)}}} over the repetitions."""
    table = {}
    for r in records:
        cell = table.setdefault(r["scenario"], {}).setdefault(r["candidate"], {})
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("rep", "load1"):
                cell.setdefault(k, []).append(v)
    for cells in table.values():
        for c, metrics in cells.items():
            cells[c] = {k: (statistics.median(v), min(v), max(v), len(v)) for k, v in metrics.items()}
    return table


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def si(v):
    """Three significant figures with k/M: 18.9k, 227k, 3.46M (keeps the table narrow)."""
    if v is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(v) >= scale:
            x = v / scale
            return f"{x:.{2 if x < 10 else 1 if x < 100 else 0}f}{unit}"
    return f"{v:.2g}"


def key_metric(scenario):
    """What "faster" means in a scenario: Gbit/s for bulk, operations per second otherwise."""
    return "gbit_s" if "bulk" in scenario else "rate"


def reference(scenario, cells):
    """The row ratios are taken against: bulk compares each pair with iperf3 into iperf3
    (candidate / reference); every other scenario compares wire with each peer (wire / peer)."""
    return "iperf3->iperf3" if scenario.startswith("tcp-bulk") else "wire"


def print_table(table, width=100):
    head = ("candidate", "median", "min-max", "p50 us", "p99 us", "us/op", "usr%", "sys/op",
            "gen%", "ratio")
    blocks = []
    for scenario, cells in table.items():
        key, ref = key_metric(scenario), reference(scenario, cells)
        ref_value = cells.get(ref, {}).get(key, (None,))[0]
        unit = "Gbit/s" if key == "gbit_s" else "ops/s"
        how = f"candidate / {ref}" if ref != "wire" else "wire / candidate"
        rows = []
        for c, m in cells.items():
            g = lambda k: m.get(k, (None,) * 4)[0]
            lo_hi = m.get(key)
            num = (lambda v: fmt(v, 2)) if key == "gbit_s" else si
            pct = lambda k: fmt(100 * g(k), 1 if k == "server_user_share" else 0) if g(k) is not None else "-"
            value = ratio(ref_value, g(key)) if ref == "wire" else ratio(g(key), ref_value)
            one = lo_hi is not None and len(lo_hi) == 4 and lo_hi[3] == 1
            rows.append((c, num(g(key)), "1 rep" if one else f"{num(lo_hi[1])}-{num(lo_hi[2])}" if lo_hi else "-",
                         fmt(g("p50_us"), 1), si(g("p99_us")), fmt(g("server_cpu_us_per_op"), 2),
                         pct("server_user_share"), fmt(g("syscalls_per_op"), 2),
                         pct("generator_share"), "-" if c == ref else fmt(value, 3)))
        blocks.append((f"{scenario} ({unit}; ratio = {how})", rows))
    all_rows = [head] + [r for _, rows in blocks for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(*all_rows)]
    line = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                               for i, (x, w) in enumerate(zip(r, widths)))
    print(line(head)[:width])
    for title, rows in blocks:
        print(title[:width])
        for r in rows:
            print(("  " + line(r))[:width])
    print("median and min-max of the scenario's unit over the repetitions; p50/p99: round trip;\n"
          "us/op: server CPU per op (bulk: per 128 KiB); usr%: server user share of a core;\n"
          "sys/op: server system calls per op (strace pass); gen%: busiest load thread's core share")


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
    # Issue 14, the io_uring engine ("wire-uring") against raw epoll in the same run.
    for s in ("tcp-echo 100 conn", "tcp-echo 100x16"):
        us, es = med(s, "wire-uring", "syscalls_per_op"), med(s, "epoll", "syscalls_per_op")
        if us is not None and es:
            out.append((f"{s}: io_uring syscalls/op <= 0.5x epoll's ({us:.2f} vs {es:.2f})",
                        0.5 * es / us if us else 9.99, 1.0))
    out.append(("tcp-echo 100 conn: io_uring rate >= 1.03x epoll",
                ratio(med("tcp-echo 100 conn", "wire-uring", "rate"),
                      1.03 * (med("tcp-echo 100 conn", "epoll", "rate") or 0) or None), 1.0))
    u, e = med("tcp-echo 1 conn", "wire-uring", "p50_us"), med("tcp-echo 1 conn", "epoll", "p50_us")
    out.append(("tcp 1 conn: io_uring latency p50 <= epoll's", ratio(e, u) if e and u else None, 1.0))
    for s in ("tcp-echo 1 conn", "tcp-echo 100 conn", "tcp-echo 100x16"):
        # Issue 11: the coroutine style within 3 % of the Handler style, same system calls.
        c, w = med(s, "wire-coro", "rate"), med(s, "wire", "rate")
        if c is not None:
            out.append((f"{s}: coroutine rate >= 0.97x Handler", ratio(c, w), 0.97))
        cs, ws = med(s, "wire-coro", "syscalls_per_op"), med(s, "wire", "syscalls_per_op")
        if cs is not None and ws:
            # Within 1 %: strace passes of different lengths round the same counts apart.
            out.append((f"{s}: coroutine syscalls/op <= 1.01x Handler's ({cs:.2f} vs {ws:.2f})",
                        ws / cs if cs else None, 0.99))
    for q in ("p50_us", "p99_us"):
        w, e = med("tcp-echo 1 conn", "wire", q), med("tcp-echo 1 conn", "epoll", q)
        out.append((f"tcp 1 conn latency {q[:3]} <= 1.05x epoll", ratio(1.05 * e, w) if e and w else None, 1.0))
    w, e = med("udp-echo paced", "wire", "server_cpu_us_per_op"), med("udp-echo paced", "epoll", "server_cpu_us_per_op")
    out.append(("udp server cost/datagram <= epoll recvmmsg floor", ratio(e, w), 1.0))
    for s in ("tcp-bulk", "tcp-bulk sendfile"):
        ref = med(s, "iperf3->iperf3", "gbit_s")
        for pair in ("wire->iperf3", "iperf3->wire"):
            out.append((f"{s}: {pair} >= 1.0x iperf3->iperf3", ratio(med(s, pair, "gbit_s"), ref), 1.0))
    for s in ("proxy echo 1 conn", "proxy echo 100 conn", "proxy bulk"):
        key = key_metric(s)
        for peer in ("haproxy", "socat"):
            out.append((f"{s}: wire proxy ahead of {peer}", ratio(med(s, "wire", key), med(s, peer, key)), 1.0))
        w, h = med(s, "wire", "server_cpu_us_per_op"), med(s, "haproxy", "server_cpu_us_per_op")
        out.append((f"{s}: wire proxy CPU/op <= haproxy's", ratio(h, w), 1.0))
    # Issue 12: TLS, wire ahead of socat and of OpenSSL's own server and client on every row.
    for s in TLS_SCENARIOS:
        if s not in table:
            continue
        key = key_metric(s)
        for peer in ("socat", "s_server", "s_time->wire", "s_time->s_server"):
            if peer in table[s]:
                out.append((f"{s}: wire ahead of {peer}", ratio(med(s, "wire", key), med(s, peer, key)), 1.0))
    return out


def tls_limit(table, aes_gcm_gbit):
    """TLS bulk as a share of its limit here: the smaller of the same run's plaintext bulk and one
    core's AES-128-GCM rate (no kernel TLS: userspace encrypts every byte). None if not run."""
    cells = table.get("tls-bulk")
    if not cells:
        return None
    plain = cells.get("plaintext", {}).get("gbit_s", (None,))[0]
    limit = min([x for x in (plain, aes_gcm_gbit) if x] or [0]) or None
    shares = {c: m["gbit_s"][0] / limit for c, m in cells.items()
              if c != "plaintext" and "gbit_s" in m and limit}
    return {"plaintext_gbit_s": plain, "aes_128_gcm_gbit_s": aes_gcm_gbit, "limit_gbit_s": limit,
            "share": shares}


def print_tls_limit(limit):
    if not limit:
        return
    print(f"\nTLS bulk limit: {fmt(limit['limit_gbit_s'], 2)} Gbit/s = min(plaintext bulk "
          f"{fmt(limit['plaintext_gbit_s'], 2)}, openssl speed aes-128-gcm 1 core "
          f"{fmt(limit['aes_128_gcm_gbit_s'], 2)})")
    print("  share of it: " + ", ".join(f"{c} {100 * v:.0f} %" for c, v in limit["share"].items()))


def print_targets(checks):
    print("\ntargets (ratio to the bar; met when ratio >= threshold):")
    missing = sum(1 for _, value, _ in checks if value is None)
    if missing:
        print(f"  ({missing} not measured in this run: scenario skipped or failed)")
    for what, value, need in (c for c in checks if c[1] is not None):
        verdict = "n/a" if value is None else ("met" if value >= need else "MISSED")
        print(f"  {verdict:<6} {fmt(value, 3):>7} (>= {need})  {what}")


# One colour per candidate, the same in every panel (a colour-blind-safe palette first).
COLOURS = {"wire": 0x0072B2, "wire-coro": 0x56B4E9, "wire-uring": 0xCC79A7, "asio": 0xE69F00, "libuv": 0x009E73, "epoll": 0x999999,
           "haproxy": 0x009E73, "socat": 0xE69F00,
           "iperf3": 0xD55E00, "sockperf": 0xCC79A7, "iperf3->iperf3": 0xD55E00,
           "wire->iperf3": 0x56B4E9, "iperf3->wire": 0xF0E442, "wire->wire": 0x0072B2}
SPARE_COLOURS = [0x882255, 0x44AA99, 0x332288, 0xAA4499, 0x117733]


def chart(table, path, doc):
    """One panel per scenario: each candidate's median in absolute units (req/s or Gbit/s) with
    its min-max as an error bar, and the run's date, repetitions and load average on top."""
    if not shutil.which("gnuplot"):
        log("bench: gnuplot missing; no chart")
        return
    spare = iter(SPARE_COLOURS * 4)
    colour = {}
    for cells in table.values():
        for c in cells:
            if c not in colour:
                colour[c] = COLOURS.get(c) or next(spare)
    panels = [(s, cells) for s, cells in table.items() if any(key_metric(s) in m for m in cells.values())]
    if not panels:
        return
    cols = 4
    rows = (len(panels) + cols - 1) // cols
    load = doc["load_average"]
    reps = doc["reps"]
    spread = ("1 repetition: no spread, indicative only" if reps == 1
              else f"{reps} repetitions of {doc['duration_s']:g} s, interleaved; bars: median, whiskers: min-max")
    title = (f"wire beside its peers - {doc['started_utc']} - {spread}\\n"
             f"load average (1 min) {load['start'][0]:.2f} at start, {load['end'][0]:.2f} at end, "
             f"{load['max_seen']:.2f} highest seen; servers on core {SERVER_CPU}, load on core {LOAD_CPU}")
    data_files = []
    terminal = "pngcairo" if path.endswith(".png") else "svg dynamic"
    script = [f'set terminal {terminal} size {cols * 330},{rows * 300 + 70} font "sans,10"',
              f'set output "{path}"', "set style fill solid 0.9 border rgb 'black'",
              "set boxwidth 0.7", "set grid ytics", "unset key", "set xtics rotate by -30 scale 0 font ',9' noenhanced",
              "set yrange [0:*]",
              f'set multiplot layout {rows},{cols} title "{title}" font ",11"']
    for n, (s, cells) in enumerate(panels):
        key = key_metric(s)
        data = f"{path}.{n}.dat"
        data_files.append(data)
        with open(data, "w") as f:
            for i, (c, m) in enumerate(cells.items()):
                if key not in m:
                    continue
                med, lo, hi, _ = m[key]
                label = f"{med:.2f}" if key == "gbit_s" else si(med)
                f.write(f'{i} "{c}" {med} {lo} {hi} {colour[c]} "{label}"\n')
        unit = "Gbit/s" if key == "gbit_s" else "per second"
        fmt_y = "set format y '%g'" if key == "gbit_s" else "set format y '%.1s%c'"
        script += [f'set title "{s}"', f'set ylabel "{unit}"', "set xrange [-0.6:*]", fmt_y,
                   f'plot "{data}" using 1:3:(0.7):6:xtic(2) with boxes lc rgb variable, '
                   f'"" using 1:3:4:5 with yerrorbars lc rgb "black" pt 7 ps 0, '
                   f'"" using 1:5:7 with labels offset 0,0.7 font ",8"']
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=False)
    for d in data_files:
        os.unlink(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--udp-rate", type=int, default=50000, help="datagrams/s for udp-echo paced")
    ap.add_argument("--quick", action="store_true", help="1 repetition of 1 s: about a minute")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--no-proxy", action="store_true", help="skip the proxy scenario")
    ap.add_argument("--scenario", help="only the scenarios whose name matches this regex")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=PATH",
                    help="one more echo peer (prints its port, as bench/peers do), e.g. an old build")
    ap.add_argument("--proxy-peer", action="append", default=[], metavar="NAME=PATH",
                    help="one more `wire proxy` candidate from another wire binary, e.g. an old build")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                    help="where the JSON and SVG go (never a tracked directory)")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration = 1, 1
    if os.cpu_count() < 2:
        log("bench: needs 2 cores (server on one, load on the other)")
        return 1
    b = Bench(args)
    started = time.time()
    load_start = load_average()
    try:
        b.start_servers()
        log(f"bench: {args.reps} repetitions of {args.duration} s; servers on core {SERVER_CPU}, "
            f"load on core {LOAD_CPU}; load average {load_start[0]:.2f}")
        b.timed_passes()
        if not args.no_strace:
            b.syscall_pass()
    finally:
        b.stop_servers()
    load_end = load_average()
    table = summarise(b.records)
    seen = [r["load1"] for r in b.records if "load1" in r] + [load_start[0], load_end[0]]
    started_utc = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    print(f"{started_utc}: {args.reps} repetition{'s' if args.reps != 1 else ''} of {args.duration:g} s"
          f"{' (one repetition: no spread, indicative only)' if args.reps == 1 else ', interleaved'}")
    print(f"load average (1 min) {load_start[0]:.2f} at start, {load_end[0]:.2f} at end, "
          f"highest seen {max(seen):.2f}\n")
    print_table(table)
    checks = targets(table)
    print_targets(checks)
    limit = tls_limit(table, b.aes_gcm_gbit)
    print_tls_limit(limit)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    doc = {"started": stamp, "started_utc": started_utc, "seconds": time.time() - started,
           "reps": args.reps, "duration_s": args.duration,
           "load_average": {"start": load_start, "end": load_end, "max_seen": max(seen)},
           "records": b.records,
           "summary": {s: {c: {k: {"median": v[0], "min": v[1], "max": v[2], "n": v[3]}
                               for k, v in m.items()}
                           for c, m in cells.items()} for s, cells in table.items()},
           "targets": [{"what": w, "ratio": v, "threshold": t} for w, v, t in checks],
           "tls_bulk_limit": limit}
    with open(os.path.join(args.out, f"{stamp}.json"), "w") as f:
        json.dump(doc, f, indent=1)
    chart(table, os.path.join(args.out, f"{stamp}.svg"), doc)
    for ext in ("json", "svg"):
        src = os.path.join(args.out, f"{stamp}.{ext}")
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(args.out, f"latest.{ext}"))
    print(f"\nwrote {args.out}/{stamp}.json and .svg (and latest.*) ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
