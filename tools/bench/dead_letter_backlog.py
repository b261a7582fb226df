#!/usr/bin/env python3
"""dead_letter_backlog.py: how long a backlog of tasks that are all due to
be dead-lettered at once takes, and whether the next task still goes out.

1. Starts `vimana serve` (fsync no) on an empty --dir with one agent `w`
   (subscribes to `bk`, max_deliver 1, no command), appends --tasks entries
   to `bk`, reads them all as group `w` with a Redis client (XREADGROUP:
   every one pending, delivered once), appends one more, stops it (SIGTERM).
2. Starts it again: after a restart every pending task is due at once, and
   each has had its max_deliver deliveries. An instance joins (AGENT JOIN w)
   and the time from its request to the first task pushed is the time the
   server took to dead-letter the whole backlog in that pass. Then XLEN
   dead.w must be --tasks.

Prints one JSON line: tasks, dead_letters, join_to_task_ms, and the longest
PING round trip a second client saw meanwhile (how long the loop was held).

Usage: dead_letter_backlog.py --vimana BIN --dir DIR [--tasks 100000]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from group_restart import Conn, command, free_port  # noqa: E402

CONFIG = """ledger:
  fsync: "no"
agents:
  - id: w
    subscribes: ["bk"]
    max_deliver: 1
"""


class Server:
    def __init__(self, binary, directory, config, log):
        self.port = free_port()
        logf = open(log, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--no-system-agents", "--config", config, "--port", str(self.port),
                                      "--http-port", "-1", "--ledger-dir", directory, "--log-format", "json",
                                      "--log-level", "error"], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("vimana exited; log %s" % log)
                time.sleep(0.01)
        raise RuntimeError("vimana did not listen; log %s" % log)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(300)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vimana", required=True)
    ap.add_argument("--dir", required=True, help="ledger directory (created; must not exist or be empty)")
    ap.add_argument("--tasks", type=int, default=100_000)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    if os.listdir(args.dir):
        sys.exit("dead_letter_backlog.py: %s is not empty" % args.dir)
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(CONFIG)
    config.close()
    log = os.path.join(os.path.dirname(os.path.abspath(args.dir)), "dead-letter-backlog.log")

    s = Server(args.vimana, args.dir, config.name, log)
    c = Conn(s.port)
    for start in range(1, args.tasks + 1, 1000):
        n = min(1000, args.tasks + 1 - start)
        c.send(b"".join(command("XADD", "bk", "%d-1" % i, "payload", "x") for i in range(start, start + n)))
        c.replies(n)
    c.send(command("XREADGROUP", "GROUP", "w", "reader", "STREAMS", "bk", ">"))
    c.replies(1)
    c.send(command("XADD", "bk", "%d-1" % (args.tasks + 1), "payload", "next"))
    c.replies(1)
    s.stop()

    s = Server(args.vimana, args.dir, config.name, log)
    pings = {"max_ms": 0.0, "count": 0, "all": []}
    stop = threading.Event()

    def pinger():
        p = Conn(s.port)
        while not stop.is_set():
            t0 = time.monotonic()
            p.send(b"PING\r\n")
            p.replies(1)
            ms = (time.monotonic() - t0) * 1000
            pings["max_ms"] = max(pings["max_ms"], ms)
            pings["all"].append((round(t0 - start, 3), round(ms, 1)))
            pings["count"] += 1

    start = time.monotonic()
    th = threading.Thread(target=pinger, daemon=True)
    th.start()
    while pings["count"] == 0:
        time.sleep(0.001)
    instance = Conn(s.port)
    t0 = time.monotonic()
    instance.send(command("AGENT", "JOIN", "w"))
    first = instance.read_raw()  # +OK
    task = instance.read_raw()
    join_ms = (time.monotonic() - t0) * 1000
    stop.set()
    th.join()
    q = Conn(s.port)
    q.send(command("XLEN", "dead.w"))
    dead = int(q.read_raw()[1:].strip())
    s.stop()
    os.unlink(config.name)
    print(json.dumps({"tasks": args.tasks, "dead_letters": dead, "join_to_task_ms": round(join_ms, 1),
                      "max_ping_ms": round(pings["max_ms"], 1),
                      "slowest_pings": sorted(pings["all"], key=lambda p: -p[1])[:5], "join_reply": first.decode().strip(),
                      "task_is_next": b"next" in task}))


if __name__ == "__main__":
    main()
