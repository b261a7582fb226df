#!/usr/bin/env python3
"""group_restart.py: how long `vimana serve` takes to start when the ledger
has consumer groups, and how much of the ledger it reads to rebuild them.

1. Starts a server on an empty --dir (fsync no), creates --groups consumer
   groups (one per topic t0, t1, ...: XGROUP CREATE ti gi 0 MKSTREAM), then
   appends --records entries (XADD ti * p <--payload bytes>, round-robin over
   the topics, pipelined). With --consume, one reader per group keeps
   reading and acknowledging meanwhile (XREADGROUP COUNT 100, XACK), so the
   group journal is spread through the whole ledger; without it the journal
   holds the creates (and any snapshots) only. Stops it with SIGTERM, or
   with --kill SIGKILL (a crash: no snapshot at the stop).
2. --runs times: starts the server, times it from just before the fork to
   the `listening` log line, reads the `consumer groups restored` log line
   (journal records replayed, frames read, snapshot used), stops it.
   With --no-pointer, the ledger directory's groups.snapshot is deleted
   before each start (a start that must search for the snapshot).

Prints one JSON line per start and a summary with medians.

Usage: group_restart.py --vimana BIN --dir DIR [--records 1000000]
         [--groups 6] [--payload 16] [--runs 3] [--consume] [--kill] [--no-pointer]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def replies(self, n):
        """Reads n top-level replies (skipping their contents)."""
        got = 0
        while got < n:
            got += self._count()
        return got

    def _count(self):
        # Count complete top-level replies in the buffer; keep the rest.
        count, i = 0, 0
        while True:
            j = self._skip(i)
            if j is None:
                break
            i = j
            count += 1
        self.buf = self.buf[i:]
        if count == 0:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        return count

    def _skip(self, i):
        e = self.buf.find(b"\r\n", i)
        if e < 0:
            return None
        t, head = self.buf[i:i + 1], self.buf[i + 1:e]
        if t in (b"+", b"-", b":", b"_"):
            return e + 2
        if t == b"$":
            n = int(head)
            if n < 0:
                return e + 2
            end = e + 2 + n + 2
            return end if len(self.buf) >= end else None
        if t in (b"*", b"%"):
            n = int(head)
            if n < 0:
                return e + 2
            k = e + 2
            for _ in range(n * (2 if t == b"%" else 1)):
                k = self._skip(k)
                if k is None:
                    return None
            return k
        raise RuntimeError("unexpected reply %r" % self.buf[i:i + 40])

    def send(self, data):
        self.s.sendall(data)

    def read_raw(self):
        """One top-level reply's bytes."""
        while True:
            j = self._skip(0)
            if j is not None:
                r, self.buf = self.buf[:j], self.buf[j:]
                return r
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk


class Server:
    def __init__(self, args, tag):
        self.port = free_port()
        self.log = os.path.join(os.path.dirname(os.path.abspath(args.dir)), "group-restart-%s.log" % tag)
        self.cmd = [args.vimana, "serve", "--no-system-agents", "--port", str(self.port), "--http-port", "-1", "--ledger-dir", args.dir,
                    "--fsync", "no", "--log-format", "json", "--log-level", "info"]
        self.proc = None

    def start(self, timeout=300):
        logf = open(self.log, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        restored = None
        with open(self.log, "rb") as f:
            buf = b""
            while True:
                chunk = f.read()
                if chunk:
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        try:
                            e = json.loads(line)
                        except ValueError:
                            continue
                        if e.get("event") == "consumer groups restored":
                            restored = e
                        elif e.get("event") == "listening":
                            return (time.monotonic() - t0) * 1000, restored or {}
                elif self.proc.poll() is not None:
                    raise RuntimeError("vimana exited before listening; log %s" % self.log)
                elif time.monotonic() - t0 > timeout:
                    raise RuntimeError("vimana did not listen; log %s" % self.log)
                else:
                    time.sleep(0.0005)

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(300)


def consumer(port, topic, group, stop):
    c = Conn(port)
    while not stop.is_set():
        c.send(command("XREADGROUP", "GROUP", group, "c1", "COUNT", 100, "BLOCK", 100, "STREAMS", topic, ">"))
        raw = c.read_raw()
        ids = [tok for tok in raw.split(b"\r\n") if b"-" in tok and tok[:1].isdigit()]
        if ids:
            c.send(command("XACK", topic, group, *ids))
            c.read_raw()


def build(args):
    s = Server(args, "build")
    s.start()
    c = Conn(s.port)
    topics = ["t%d" % i for i in range(args.groups)]
    for i, t in enumerate(topics):
        c.send(command("XGROUP", "CREATE", t, "g%d" % i, "0", "MKSTREAM"))
    c.replies(len(topics))
    stop = threading.Event()
    readers = []
    if args.consume:
        for i, t in enumerate(topics):
            th = threading.Thread(target=consumer, args=(s.port, t, "g%d" % i, stop), daemon=True)
            th.start()
            readers.append(th)
    payload = os.urandom(args.payload // 2 + 1).hex()[:args.payload]
    t0 = time.monotonic()
    batch = 1000
    for start in range(0, args.records, batch):
        n = min(batch, args.records - start)
        c.send(b"".join(command("XADD", topics[(start + k) % len(topics)], "*", "p", payload) for k in range(n)))
        c.replies(n)
    stop.set()
    for th in readers:
        th.join()
    build_s = time.monotonic() - t0
    s.stop(kill=args.kill)
    segs = [f for f in os.listdir(args.dir) if f.endswith(".seg")]
    seg_bytes = sum(os.path.getsize(os.path.join(args.dir, f)) for f in segs)
    print(json.dumps({"scenario": "build", "records": args.records, "groups": args.groups, "consume": args.consume, "kill": args.kill,
                      "segments": len(segs), "seg_bytes": seg_bytes, "build_s": round(build_s, 1)}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vimana", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--groups", type=int, default=6)
    ap.add_argument("--payload", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--consume", action="store_true")
    ap.add_argument("--kill", action="store_true", help="SIGKILL the building server")
    ap.add_argument("--no-pointer", action="store_true")
    ap.add_argument("--skip-build", action="store_true", help="reuse the ledger already in --dir")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    if not args.skip_build:
        if os.listdir(args.dir):
            sys.exit("group_restart.py: %s is not empty" % args.dir)
        build(args)
    times = []
    for i in range(args.runs):
        if args.no_pointer:
            try:
                os.unlink(os.path.join(args.dir, "groups.snapshot"))
            except FileNotFoundError:
                pass
        s = Server(args, "run")
        ms, restored = s.start()
        s.stop()
        times.append(ms)
        print(json.dumps({"scenario": "start", "ms": round(ms, 1),
                          "journal_records": restored.get("journal_records"),
                          "frames_read": restored.get("frames_read"),
                          "from_snapshot": restored.get("from_snapshot")}), flush=True)
    print(json.dumps({"scenario": "summary", "runs": args.runs, "median_ms": round(statistics.median(times), 1)}),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
