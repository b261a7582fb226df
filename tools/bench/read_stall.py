#!/usr/bin/env python3
"""read_stall.py: how long a big or cold ledger read holds the other clients.

1. Starts `vimana serve` on a fresh ledger in --dir, appends --entries
   entries to topic `big` (pipelined XADD, field n = the entry's number),
   stops it with SIGTERM and starts it again on the same ledger, so that
   nothing of the topic is in the server's memory.
2. For each read (XRANGE big - +, XREVRANGE big + - COUNT 10, XINFO STREAM
   big), --runs times: with --cold, drops the page cache first
   (`sync; echo 3 > /proc/sys/vm/drop_caches`, root only); client B sends
   PINGs one after another and times each round trip, while client A sends
   the read followed by a PING and reads until that PONG (the read's reply
   is then complete).
3. Prints one JSON line per run: the read, its duration in ms, how many of
   B's PINGs were answered during it, and the slowest PING round trip in ms
   (the longest the loop was held). The last lines give medians per read.

Usage: read_stall.py --vimana BIN --dir DIR [--entries 200000] [--runs 3] [--cold]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, directory, port, log):
    out = open(log, "a")
    p = subprocess.Popen([binary, "serve", "--no-system-agents", "--port", str(port), "--http-port", "-1", "--ledger-dir", directory,
                          "--log-format", "json", "--log-level", "info"], stdout=out, stderr=out)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("server did not start; see " + log)


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_until(sock, suffix):
    data = bytearray()
    while not data.endswith(suffix):
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("connection closed")
        data += chunk
    return data


def populate(port, entries):
    s = socket.create_connection(("127.0.0.1", port))
    chunk = 5000
    for first in range(0, entries, chunk):
        n = min(chunk, entries - first)
        s.sendall(b"".join(command("XADD", "big", "*", "n", i) for i in range(first, first + n)) + b"PING\r\n")
        read_until(s, b"+PONG\r\n")
    s.close()


def measure(port, read):
    stop = threading.Event()
    rtts = []
    window = []

    def pinger():
        b = socket.create_connection(("127.0.0.1", port))
        b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not stop.is_set():
            t0 = time.perf_counter()
            b.sendall(b"PING\r\n")
            read_until(b, b"+PONG\r\n")
            rtts.append((t0, time.perf_counter() - t0))
        b.close()

    a = socket.create_connection(("127.0.0.1", port))
    a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = threading.Thread(target=pinger)
    t.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    a.sendall(read + b"PING\r\n")
    reply = read_until(a, b"+PONG\r\n")
    t1 = time.perf_counter()
    time.sleep(0.05)
    stop.set()
    t.join()
    a.close()
    window = [r for (s, r) in rtts if s + r >= t0 and s <= t1]
    return {"ms": round((t1 - t0) * 1000, 2), "reply_bytes": len(reply),
            "pings_during": len(window), "max_ping_ms": round(max(window, default=0) * 1000, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vimana", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--entries", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold", action="store_true")
    o = ap.parse_args()
    shutil.rmtree(o.dir, ignore_errors=True)
    os.makedirs(o.dir)
    log = o.dir.rstrip("/") + ".log"
    port = free_port()
    p = start(o.vimana, o.dir, port, log)
    populate(port, o.entries)
    p.send_signal(signal.SIGTERM)
    p.wait()
    reads = [("xrange all", command("XRANGE", "big", "-", "+")),
             ("xrevrange count 10", command("XREVRANGE", "big", "+", "-", "COUNT", 10)),
             ("xinfo stream", command("XINFO", "STREAM", "big"))]
    results = {name: [] for name, _ in reads}
    for run in range(o.runs):
        for name, read in reads:
            # A fresh server each time: nothing of the topic in its memory.
            p = start(o.vimana, o.dir, port, log)
            if o.cold:
                os.sync()
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
            r = measure(port, read)
            r.update({"read": name, "run": run, "cold": o.cold})
            print(json.dumps(r), flush=True)
            results[name].append(r)
            p.send_signal(signal.SIGTERM)
            p.wait()
    for name, rs in results.items():
        print(json.dumps({"read": name, "median_ms": statistics.median(r["ms"] for r in rs),
                          "median_max_ping_ms": statistics.median(r["max_ping_ms"] for r in rs),
                          "median_pings_during": statistics.median(r["pings_during"] for r in rs)}))


if __name__ == "__main__":
    main()
