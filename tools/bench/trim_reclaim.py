#!/usr/bin/env python3
"""Disk given back by compaction after trimming 90% of a topic.

    tools/bench/trim_reclaim.py --vimana .build/release/vimana [--mb 64] [--keep 0.1]

Starts `vimana serve` (no system agents, a fresh ledger in a temporary
directory, segment_bytes 4MiB, compaction at its default level and
ledger.compaction_drop_deleted true), XADDs --mb MiB of incompressible
4 KiB entries to one topic in pipelined batches, seals the active segment
and waits until compaction settles, then XTRIM MAXLEN keeps --keep of the
entries and measures the segment files' bytes until they stop shrinking.
Prints the bytes before and after the trim, the fraction given back, how
long compaction took to give it back, and XTRIM's own latency. Standard
library only; exit status 0 when the figures were taken.
"""
import argparse
import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PROG = "trim_reclaim"


def command(*args):
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def read_replies(sock, n, buf):
    """Reads n simple replies (integers, bulk IDs, +OK) from sock; returns them and the rest."""
    out = []
    while len(out) < n:
        while b"\r\n" not in buf:
            buf += sock.recv(1 << 16)
        line, buf = buf.split(b"\r\n", 1)
        if line[:1] == b"$":
            size = int(line[1:])
            while len(buf) < size + 2:
                buf += sock.recv(1 << 16)
            out.append(buf[:size])
            buf = buf[size + 2:]
        else:
            if line[:1] == b"-":
                raise SystemExit(f"{PROG}: the server refused: {line!r}")
            out.append(line)
    return out, buf


def disk(directory):
    return sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory) if n.endswith(".seg"))


def settle(directory, quiet=2.0, limit=300.0):
    """Waits until the segment files' size has not changed for `quiet` seconds."""
    start = time.monotonic()
    last, since = disk(directory), time.monotonic()
    while time.monotonic() - start < limit:
        time.sleep(0.1)
        now = disk(directory)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last, since - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vimana", required=True)
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--keep", type=float, default=0.1)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="vimana-trim-")
    ledger = os.path.join(scratch, "ledger")
    config = os.path.join(scratch, "phoenix.yaml")
    with open(config, "w") as f:
        f.write("ledger:\n  segment_bytes: 4MiB\n  compaction_drop_deleted: true\n")
    log = open(os.path.join(scratch, "log"), "wb")
    server = subprocess.Popen([args.vimana, "serve", "--no-system-agents", "--config", config, "--ledger-dir", ledger,
                               "--port", "0", "--http-port", "0", "--log-format", "json", "--log-level", "info"],
                              stdout=subprocess.DEVNULL, stderr=log)
    try:
        port = None
        while port is None:
            time.sleep(0.05)
            for line in open(os.path.join(scratch, "log"), encoding="utf-8", errors="replace"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "listening":
                    port = event["port"]
        sock = socket.create_connection(("127.0.0.1", port))
        rng = random.Random(1)
        entries = args.mb * 1024 // 4
        buf = b""
        batch = 64
        for start in range(0, entries, batch):
            n = min(batch, entries - start)
            sock.sendall(b"".join(command("XADD", "big", "*", "p", base64.b64encode(rng.randbytes(3072))) for _ in range(n)))
            _, buf = read_replies(sock, n, buf)
        sock.sendall(command("LEDGER", "SEAL"))
        _, buf = read_replies(sock, 1, buf)
        before, _ = settle(ledger)
        keep = int(entries * args.keep)
        t0 = time.monotonic()
        sock.sendall(command("XTRIM", "big", "MAXLEN", keep))
        (removed,), buf = read_replies(sock, 1, buf)
        trim_ms = (time.monotonic() - t0) * 1000
        after, took = settle(ledger)
        sock.sendall(command("XLEN", "big"))
        (length,), buf = read_replies(sock, 1, buf)
        print(f"{PROG}: {entries} entries of 4 KiB ({before / 2**20:.1f} MiB of segments after compaction); "
              f"XTRIM MAXLEN {keep} removed {int(removed[1:])} in {trim_ms:.1f} ms, XLEN {int(length[1:])}")
        print(f"{PROG}: segments {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB "
              f"({100 * (before - after) / before:.1f}% given back) within {took:.1f} s of the trim")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
