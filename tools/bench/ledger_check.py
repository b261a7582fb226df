#!/usr/bin/env python3
"""ledger_check.py: what LEDGER CHECK (auditor's verify_ledger) costs.

1. Starts `vimana serve --no-system-agents` on a fresh ledger in --dir and
   appends --records small records (pipelined `XADD t * n <i>`, --batch per
   round trip; about 20 bytes each).
2. Times LEDGER CHECK --runs times (the reply comes when every frame of
   every segment has been checked on the maintenance thread).
3. For --seconds each, --rounds times interleaved, a publisher sends `PUBLISH p <16 bytes>` one after
   another (each reply awaited: a round trip, recorded in the ledger) and
   records each round trip: first alone (baseline), then while another
   connection runs LEDGER CHECK back to back. Prints one JSON line per
   phase: publishes/s and round-trip p50/p99/max in microseconds, and the
   checks completed meanwhile.

The server runs on CPU 0 (taskset); run the script itself on CPU 1:
    taskset -c 1 tools/bench/ledger_check.py --vimana .build/release/vimana --dir /tmp/lc

Usage: ledger_check.py --vimana BIN --dir DIR [--records 1000000] [--runs 3] [--seconds 5] [--rounds 3] [--no-pin]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("closed")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def reply(self):
        """One whole reply (any RESP2 type), returned raw enough to inspect."""
        line = self.line()
        kind = line[:1]
        if kind == b":":
            return int(line[1:])
        if kind in (b"+", b"-"):
            return line
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(line[1:]))]
        raise ValueError(line)


def start(vimana, directory, port, http, pinned):
    # The server on CPU 0; run this script with `taskset -c 1` for the clients.
    pin = ["taskset", "-c", "0"] if pinned and shutil.which("taskset") else []
    return subprocess.Popen(pin + [vimana, "serve", "--port", str(port), "--http-port", str(http), "--ledger-dir", directory,
                             "--no-system-agents", "--log-level", "warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_port(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def publish_phase(port, seconds, check_port=None):
    stop = threading.Event()
    checks = []

    def checker():
        c = Conn(check_port)
        while not stop.is_set():
            t = time.perf_counter()
            c.s.sendall(command("LEDGER", "CHECK"))
            c.reply()
            checks.append(time.perf_counter() - t)

    t = None
    if check_port:
        t = threading.Thread(target=checker)
        t.start()
        time.sleep(0.2)
    c = Conn(port)
    payload = b"x" * 16
    rtts = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        c.s.sendall(command("PUBLISH", "p", payload))
        c.reply()
        rtts.append(time.perf_counter() - t0)
    stop.set()
    if t:
        t.join()
    us = [r * 1e6 for r in rtts]
    return {"publishes_per_s": round(len(rtts) / seconds), "p50_us": round(percentile(us, 0.5)),
            "p99_us": round(percentile(us, 0.99)), "max_us": round(max(us)), "checks": len(checks)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vimana", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-pin", action="store_true", help="let the server's threads use every CPU")
    a = ap.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    port, http = free_port(), free_port()
    server = start(a.vimana, a.dir + "/ledger", port, http, not a.no_pin)
    try:
        wait_port(port)
        c = Conn(port)
        t = time.perf_counter()
        done = 0
        while done < a.records:
            n = min(a.batch, a.records - done)
            c.s.sendall(b"".join(command("XADD", "t", "*", "n", done + i) for i in range(n)))
            for _ in range(n):
                c.reply()
            done += n
        print(json.dumps({"phase": "fill", "records": a.records, "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        durations = []
        for _ in range(a.runs):
            t = time.perf_counter()
            c.s.sendall(command("LEDGER", "CHECK"))
            r = c.reply()
            durations.append(time.perf_counter() - t)
            segments = len(r)
            records = sum(seg[5] for seg in r)
            errors = sum(len(seg[7]) for seg in r)
            size = sum(os.path.getsize(os.path.join(a.dir + "/ledger", f)) for f in os.listdir(a.dir + "/ledger")
                       if f.endswith(".seg"))
            print(json.dumps({"phase": "check", "seconds": round(durations[-1], 3), "segments": segments,
                              "records": records, "errors": errors, "segment_bytes": size}), flush=True)
        print(json.dumps({"phase": "check_median", "seconds": round(statistics.median(durations), 3)}), flush=True)
        # Interleaved: alone, during, alone, during… (the machine is shared).
        results = {"publish_alone": [], "publish_during_checks": []}
        for _ in range(a.rounds):
            for phase in results:
                r = publish_phase(port, a.seconds, check_port=port if phase == "publish_during_checks" else None)
                results[phase].append(r)
                print(json.dumps(dict(phase=phase, **r)), flush=True)
        for phase, rs in results.items():
            print(json.dumps({"phase": phase + "_median", **{k: statistics.median(r[k] for r in rs) for k in rs[0]}}),
                  flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
