#!/usr/bin/env python3
"""restart_time.py: how long `vimana serve` takes to start on a big ledger.

1. Builds a ledger of at least --size bytes on disk (sum of *.seg) in --dir,
   publishing random base64 payloads (gen_tasks.py --random, pipelined)
   through a server started with --fsync no (the build is not what is
   measured); waits until every sealed segment is compacted (the log's
   "ledger segment sealed" and "ledger segment compacted" events match), so
   that no compaction is left over for the restarts; stops it with SIGTERM.
2. clean: --runs times, starts the server, times it from just before the
   fork to the `listening` log line, and stops it with SIGTERM.
3. crash: --runs times, starts the server, publishes random payloads for
   --crash-load seconds, kills it with SIGKILL while it is writing (no final
   checkpoint, a possibly torn tail, maybe a sealed segment not yet
   compacted), then times the next start, and stops that one with SIGTERM.
4. no-index: --runs times, a clean stop, the active segment's .idx deleted
   (the worst case: recovery inflates the whole active segment), a timed start.

Every timed start prints one JSON line (scenario, ms from fork to
`listening`, and the `ledger opened` fields: ms = the server's own recovery
time, checkpoint, truncated_bytes, dropped_records, segments, records); the
last line is a summary with the medians. The servers run with
`--log-format json` and their logs go to DIR/../restart-*.log. The ledger is
left in --dir (the caller deletes it) unless --cleanup.

Usage: restart_time.py --vimana BIN --dir DIR [--size 1GiB] [--runs 3]
         [--server-cpu 0] [--client-cpu 1] [--payload 4096] [--crash-load 2]
"""

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in tools/bench
sys.path.insert(0, HERE)
from gen_tasks import parse_size  # noqa: E402

CHILDREN = []


class PortTaken(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seg_bytes(d):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(d, "*.seg")))


def events(log):
    out = []
    try:
        with open(log, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


class Server:
    def __init__(self, args, fsync="everysec", tag="run"):
        self.args = args
        self.port = free_port()
        self.log = os.path.join(os.path.dirname(os.path.abspath(args.dir)), "restart-%s.log" % tag)
        pin = ["taskset", "-c", str(args.server_cpu)] if args.server_cpu is not None else []
        self.cmd = pin + [args.vimana, "serve", "--no-system-agents", "--port", str(self.port), "--http-port", "-1",
                          "--ledger-dir", args.dir, "--fsync", fsync, "--log-format", "json"]
        self.proc = None

    def start(self, timeout=120):
        """Starts and waits for `listening`; returns (ms from fork to listening, `ledger opened` fields).
        Another port is tried when something else took this one."""
        for attempt in range(5):
            try:
                return self.start_once(timeout)
            except PortTaken:
                port = self.port
                self.port = free_port()
                self.cmd[self.cmd.index(str(port))] = str(self.port)
        raise RuntimeError("no free port after 5 attempts")

    def start_once(self, timeout):
        logf = open(self.log, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        CHILDREN.append(self.proc)
        logf.close()
        opened = None
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
                        if e.get("event") == "ledger opened":
                            opened = e
                        elif e.get("event") == "listening":
                            return (time.monotonic() - t0) * 1000, opened
                elif self.proc.poll() is not None:
                    with open(self.log, "rb") as f:
                        if b"in use" in f.read():
                            raise PortTaken()
                    raise RuntimeError("vimana exited with %s before listening; log %s" % (self.proc.returncode, self.log))
                elif time.monotonic() - t0 > timeout:
                    raise RuntimeError("vimana did not listen within %d s; log %s" % (timeout, self.log))
                else:
                    time.sleep(0.0005)

    def stop(self, sig=signal.SIGTERM, timeout=300):
        if self.proc and self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
            return (time.monotonic() - t0) * 1000
        return 0.0

    def info(self):
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b"INFO ledger\r\n")
            data = b""
            while True:
                data += s.recv(65536)
                if data.startswith(b"$"):
                    n = int(data[1:data.index(b"\r\n")])
                    if len(data) >= data.index(b"\r\n") + 2 + n + 2:
                        break
        out = {}
        for line in data.decode().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k] = v
        return out


def publisher(args, port, nbytes):
    pin = ["taskset", "-c", str(args.client_cpu)] if args.client_cpu is not None else []
    cmd = pin + [sys.executable, os.path.join(HERE, "gen_tasks.py"), "--random", str(args.payload),
                 "--bytes", str(nbytes), "--pipeline", "64", "--send", "127.0.0.1:%d" % port]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    CHILDREN.append(p)
    return p


def wait_compacted(log, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        ev = events(log)
        sealed = {e.get("segment") for e in ev if e.get("event") == "ledger segment sealed"}
        done = {e.get("segment") for e in ev if e.get("event") == "ledger segment compacted"}
        if sealed <= done:
            return len(sealed), time.monotonic() - t0
        time.sleep(0.5)
    raise RuntimeError("compaction not finished after %d s (%s)" % (timeout, log))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vimana", required=True)
    ap.add_argument("--dir", required=True, help="ledger directory (created; must not exist or be empty)")
    ap.add_argument("--size", type=parse_size, default=1 << 30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--payload", type=int, default=4096)
    ap.add_argument("--crash-load", type=float, default=2.0, help="seconds of publishing before each SIGKILL")
    ap.add_argument("--server-cpu", type=int)
    ap.add_argument("--client-cpu", type=int)
    ap.add_argument("--cleanup", action="store_true", help="delete --dir at the end")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    if os.listdir(args.dir):
        sys.exit("restart_time.py: %s is not empty" % args.dir)

    def emit(obj):
        print(json.dumps(obj), flush=True)

    results = {"clean": [], "crash": [], "no-index": []}
    recovery = {"clean": [], "crash": [], "no-index": []}
    try:
        # 1. Build.
        s = Server(args, fsync="no", tag="build")
        s.start()
        t0 = time.monotonic()
        while seg_bytes(args.dir) < args.size:
            missing = args.size - seg_bytes(args.dir)
            # base64 deflates to ~75%: ask for a little more than what is missing.
            p = publisher(args, s.port, max(16 << 20, int(missing / 0.7)))
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError("filling the ledger failed: %s" % err.decode(errors="replace"))
            time.sleep(0.2)  # let the writer drain
        build_s = time.monotonic() - t0
        sealed, compact_wait = wait_compacted(s.log, 1800)
        info = s.info()
        stop_ms = s.stop()
        emit({"scenario": "build", "seg_bytes": seg_bytes(args.dir), "segments": sealed + 1,
              "records": int(info.get("ledger_records", 0)), "raw_bytes": int(info.get("ledger_raw_bytes", 0)),
              "build_s": round(build_s, 1), "compaction_wait_s": round(compact_wait, 1),
              "sigterm_to_exit_ms": round(stop_ms, 1)})

        def timed(scenario, server):
            ms, opened = server.start()
            opened = opened or {}
            results[scenario].append(ms)
            recovery[scenario].append(opened.get("ms", -1))
            emit({"scenario": scenario, "ms": round(ms, 1), "ledger_ms": opened.get("ms"),
                  "checkpoint": opened.get("checkpoint"), "truncated_bytes": opened.get("truncated_bytes"),
                  "dropped_records": opened.get("dropped_records"), "segments": opened.get("segments"),
                  "records": opened.get("records"), "seg_bytes": seg_bytes(args.dir)})

        # 2. Clean restarts.
        for i in range(args.runs):
            s = Server(args, tag="clean")
            timed("clean", s)
            s.stop()

        # 3. Crash: SIGKILL while publishing, then a timed start.
        for i in range(args.runs):
            s = Server(args, tag="crash-load")
            s.start()
            p = publisher(args, s.port, 1 << 40)
            time.sleep(args.crash_load)
            s.stop(signal.SIGKILL)
            p.wait(60)
            s = Server(args, tag="crash")
            timed("crash", s)
            s.stop()

        # 4. The active segment's index deleted after a clean stop.
        for i in range(args.runs):
            segs = sorted(glob.glob(os.path.join(args.dir, "*.seg")))
            idx = segs[-1][:-4] + ".idx"
            if os.path.exists(idx):
                os.unlink(idx)
            s = Server(args, tag="no-index")
            timed("no-index", s)
            s.stop()

        summary = {"scenario": "summary", "seg_bytes": seg_bytes(args.dir), "runs": args.runs}
        for k in results:
            if results[k]:
                summary[k + "_ms"] = round(statistics.median(results[k]), 1)
                summary[k + "_ledger_ms"] = statistics.median(recovery[k])
        emit(summary)
    finally:
        for p in CHILDREN:
            if p.poll() is None:
                p.kill()
                p.wait()
        if args.cleanup:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
