#!/usr/bin/env python3
"""agent_start.py: how long a kit agent takes to rebuild its state at start,
with snapshots and without.

For each scenario, a fresh ledger and `vimana serve --no-system-agents
--fsync no` (the events are made fast; their making is not what is
measured: under the default fsync each task waits for its own) supervising
the example counter agent (Sources/CounterAgent):
1. --tasks `add` tasks are published to tasks.counter (pipelined, no
   reply_to), spread over --names counters; it waits until the agent has
   appended every event (XLEN events.counter), and prints the task loop's
   rate: tasks over the seconds from the first publish to the last event
   (`tasks_per_s`), and the CPU the server and the agent used meanwhile,
   per task (/proc/PID/stat; steadier than the rate on a shared machine).
2. --runs times: kill -9 of the agent; the kernel restarts it; the new
   instance's `rebuilt in <ms> ms: …` log line (the kit's own timing of its
   rebuild, from connect to the last event folded) is read.
Scenarios: `snapshots` (the agent declared without `publishes`: its user may
write snapshots.counter) and `no-snapshots` (declared with `publishes:
[events.counter, dead.counter]`: snapshots.counter is refused, so every start
folds every event). Prints one JSON line per start and a summary line with
the medians.

Usage: agent_start.py --vimana BIN --agent BIN [--tasks 200000] [--names 1000] [--runs 3]
                      [--scenario snapshots|no-snapshots ...]
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
import tempfile
import time


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def integer(self, *args):
        self.s.sendall(command(*args))
        line = self.line()
        if not line.startswith(b":"):
            raise RuntimeError("expected an integer, got %r" % line)
        return int(line[1:])

    def pipeline_integers(self, commands):
        self.s.sendall(b"".join(commands))
        for _ in commands:
            line = self.line()
            if not line.startswith(b":"):
                raise RuntimeError("expected an integer, got %r" % line)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User plus system CPU seconds of process `pid` so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


def scenario(name, args):
    work = tempfile.mkdtemp(prefix="vimana-agent-start-")
    port = free_port()
    publishes = "" if name == "snapshots" else '\n    publishes: ["events.counter", "dead.counter"]'
    config = os.path.join(work, "phoenix.yaml")
    with open(config, "w") as f:
        f.write('agents:\n  - id: counter\n    subscribes: ["tasks.counter"]%s\n    command: ["%s"]\n'
                % (publishes, args.agent))
    log_path = os.path.join(work, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen([args.vimana, "serve", "--config", config, "--port", str(port), "--http-port", "0",
                               "--ledger-dir", os.path.join(work, "ledger"), "--no-system-agents", "--fsync", "no",
                               "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT)
    text = lambda: open(log_path).read()
    try:
        wait(lambda: "as agent counter" in text(), 30, "the agent to join")
        c = Client(port)
        agent = int(re.findall(r'"agent started"[^\n]*"agent":"counter"[^\n]*"pid":(\d+)', text())[-1])
        cpu = (cpu_seconds(server.pid), cpu_seconds(agent))
        started = time.time()
        batch = []
        for i in range(args.tasks):
            task = json.dumps({"action": "add", "id": i, "args": {"name": "n%d" % (i % args.names)}})
            batch.append(command("PUBLISH", "tasks.counter", task))
            if len(batch) == 1000:
                c.pipeline_integers(batch)
                batch = []
        if batch:
            c.pipeline_integers(batch)
        wait(lambda: c.integer("XLEN", "events.counter") >= args.tasks, 3600, "every task applied")
        elapsed = time.time() - started
        server_cpu, agent_cpu = cpu_seconds(server.pid) - cpu[0], cpu_seconds(agent) - cpu[1]
        print(json.dumps({"scenario": name, "tasks": args.tasks, "apply_s": round(elapsed, 2),
                          "tasks_per_s": round(args.tasks / elapsed),
                          "server_cpu_us_per_task": round(server_cpu * 1e6 / args.tasks),
                          "agent_cpu_us_per_task": round(agent_cpu * 1e6 / args.tasks)}), flush=True)
        results = []
        for run in range(args.runs):
            pids = re.findall(r'"agent started"[^\n]*"agent":"counter"[^\n]*"pid":(\d+)', text())
            seen = text().count("rebuilt in ")
            os.kill(int(pids[-1]), signal.SIGKILL)
            wait(lambda: text().count("rebuilt in ") > seen, 600, "the restarted agent's rebuild")
            line = [l for l in text().splitlines() if "rebuilt in " in l][-1]
            ms = int(re.search(r"rebuilt in (\d+) ms", line).group(1))
            result = {"scenario": name, "events": args.tasks, "rebuild_ms": ms, "line": line[line.index("rebuilt in"):][:160]}
            print(json.dumps(result), flush=True)
            results.append(ms)
            wait(lambda: text().count("as agent counter") >= run + 2, 60, "the agent to join again")
        return statistics.median(results) if results else None
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vimana", required=True)
    p.add_argument("--agent", required=True)
    p.add_argument("--tasks", type=int, default=200_000)
    p.add_argument("--names", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scenario", choices=("snapshots", "no-snapshots"), action="append",
                   help="run only this scenario (may be given twice; default both)")
    args = p.parse_args()
    summary = {name: scenario(name, args) for name in (args.scenario or ("snapshots", "no-snapshots"))}
    print(json.dumps({"summary": True, "events": args.tasks, "median_rebuild_ms": summary}))


if __name__ == "__main__":
    sys.exit(main())
