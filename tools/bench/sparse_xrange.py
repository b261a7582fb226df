#!/usr/bin/env python3
"""XRANGE of a small stream on a server that holds many other records.

  tools/bench/sparse_xrange.py BINARY [--others 32000] [--calls 1000] [--segment-bytes 64MiB]
  tools/bench/sparse_xrange.py redis [--others 32000] [--calls 1000]

Starts a fresh server (`vimana serve --no-system-agents --port 0`, fsync everysec, a fresh ledger
with `ledger.segment_bytes` as given; or redis-server 7.0.15 with --appendonly yes), fills it with
OTHERS entries on another stream (`redis-benchmark -c 50 XADD events.bulk * f <16 bytes>`), adds 4
entries to `events.discovery` (with --spread: 2 before the others, 2 after), then times CALLS round trips of `XRANGE events.discovery - + COUNT 100`
(and of `XLEN events.discovery`, for scale) on one raw socket and prints p50 and p99 in
microseconds. For vimana it then restarts the server on the same ledger (nothing in memory) and
times XRANGE again.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-", b":"):
        return line
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)
    if kind == b"*":
        n = int(rest)
        return [read_reply(f) for _ in range(max(n, 0))]
    raise RuntimeError("unexpected reply %r" % line)


def timed(port, args, calls):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    req = command(*args)
    first = None
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        s.sendall(req)
        r = read_reply(f)
        times.append(time.perf_counter_ns() - t)
        first = first if first is not None else r
    s.close()
    times.sort()
    return times[len(times) // 2] / 1000, times[min(len(times) - 1, len(times) * 99 // 100)] / 1000, first


def wait_port(log_path, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("server exited: " + open(log_path).read())
        m = re.search(r"port=(\d+)", open(log_path).read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    sys.exit("server did not start")


def start_vimana(binary, work, segment_bytes):
    cfg = os.path.join(work, "phoenix.yaml")
    with open(cfg, "w") as f:
        f.write("ledger:\n  dir: %s\n  fsync: everysec\n  segment_bytes: %s\n" % (os.path.join(work, "ledger"), segment_bytes))
    log = os.path.join(work, "log")
    proc = subprocess.Popen([binary, "serve", "--no-system-agents", "--port", "0", "--http-port", "off", "--config", cfg],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    return proc, wait_port(log, proc)


def start_redis(work):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                             "--appendfsync", "everysec", "--dir", work], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    sys.exit("redis did not start")


def stop(proc):
    proc.terminate()
    proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--others", type=int, default=32000)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--segment-bytes", default="64MiB")
    p.add_argument("--spread", action="store_true", help="2 of the 4 entries before the others, 2 after")
    a = p.parse_args()
    work = tempfile.mkdtemp()
    redis = a.binary == "redis"
    proc, port = start_redis(work) if redis else start_vimana(a.binary, work, a.segment_bytes)
    before = 2 if a.spread else 0
    for i in range(before):
        timed(port, ["XADD", "events.discovery", "*", "agent", "a%d" % i], 1)
    subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(a.others), "XADD", "events.bulk", "*", "f",
                    "0123456789abcdef"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for i in range(before, 4):
        timed(port, ["XADD", "events.discovery", "*", "agent", "a%d" % i], 1)
    xrange = ["XRANGE", "events.discovery", "-", "+", "COUNT", "100"]
    _, _, total = timed(port, ["XLEN", "events.bulk"], 1)
    name = "redis" if redis else os.path.basename(a.binary)
    p50, p99, reply = timed(port, xrange, a.calls)
    assert isinstance(reply, list) and len(reply) == 4, reply
    print("%s others=%s segment_bytes=%s%s XRANGE p50 %.1f us p99 %.1f us" % (name, total.strip().decode().lstrip(":"), a.segment_bytes if not redis else "-",
                                                                " spread" if a.spread else "", p50, p99))
    p50, p99, _ = timed(port, ["XLEN", "events.discovery"], a.calls)
    print("%s XLEN p50 %.1f us p99 %.1f us" % (name, p50, p99))
    if not redis:
        stop(proc)
        proc, port = start_vimana(a.binary, work, a.segment_bytes)
        p50, p99, reply = timed(port, xrange, a.calls)
        assert isinstance(reply, list) and len(reply) == 4, reply
        print("%s after restart XRANGE p50 %.1f us p99 %.1f us" % (name, p50, p99))
    stop(proc)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
