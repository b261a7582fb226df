#!/usr/bin/env python3
"""governance.py: the round trip of a herald broadcast and of a forum vote,
through the real system agents, on loopback.

`vimana serve` with every system agent (its default wiring), a fresh ledger
and users `caster` and `v1`..`vN` (nopass). As `default` (an operator) it
registers an agent for each with civic and grants `caster` a billion
credits. Then, one request at a time (publish, wait for the reply):
1. --broadcasts `publish` tasks to herald as `caster`: herald asks civic to
   charge (licence and credits), publishes the broadcast, appends its event,
   replies;
2. one proposal by `caster`, then a `vote` by each of v1..vN: forum asks
   civic `check_license`, appends the vote, replies (caster never votes, so
   the proposal stays open and every vote is a plain one).
Prints p50, p99 and max of each in milliseconds, with the server's and the
agents' CPU per request.

Usage: governance.py --vimana BIN [--broadcasts 1000] [--voters 200] [--fsync everysec]
"""

import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port, user=None):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        if user:
            self.call("AUTH", user, "x")

    def read_value(self):
        while True:
            v, n = parse(self.buf, 0)
            if v is not None:
                self.buf = self.buf[n:]
                return v
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise RuntimeError("connection closed")
            self.buf += chunk

    def call(self, *args):
        self.s.sendall(command(*args))
        v = self.read_value()
        if isinstance(v, Exception):
            raise v
        return v


def parse(b, i):
    """One RESP2 value from b[i:]: (value, end) or (None, i) when incomplete."""
    e = b.find(b"\r\n", i)
    if e < 0:
        return None, i
    t, line = b[i:i + 1], b[i + 1:e]
    if t in (b"+", b":"):
        return (line if t == b"+" else int(line)), e + 2
    if t == b"-":
        return RuntimeError(line.decode()), e + 2
    if t == b"$":
        n = int(line)
        if n < 0:
            return b"", e + 2
        if len(b) < e + 2 + n + 2:
            return None, i
        return b[e + 2:e + 2 + n], e + 4 + n
    if t == b"*":
        items, j = [], e + 2
        for _ in range(int(line)):
            v, j2 = parse(b, j)
            if v is None and j2 == j:
                return None, i
            items.append(v)
            j = j2
        return items, j
    raise RuntimeError("unexpected %r" % b[i:i + 20])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


class Asker:
    """Publishes tasks on `conn` and reads replies from a subscriber on r.bench."""

    def __init__(self, port):
        self.sub = Conn(port)
        self.sub.call("SUBSCRIBE", "r.bench")
        self.n = 0

    def ask(self, conn, agent, action, args):
        self.n += 1
        rid = "b%d" % self.n
        task = json.dumps({"action": action, "id": rid, "reply_to": "r.bench", "args": args})
        conn.call("PUBLISH", "tasks." + agent, task)
        while True:
            m = self.sub.read_value()
            if isinstance(m, list) and m[0] == b"message":
                reply = json.loads(m[2])
                if reply.get("id") == rid:
                    if not reply.get("ok"):
                        raise RuntimeError("%s %s: %s" % (agent, action, reply))
                    return reply["result"]


def percentiles(ms):
    s = sorted(ms)
    return s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.99))], s[-1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vimana", required=True)
    ap.add_argument("--broadcasts", type=int, default=1000)
    ap.add_argument("--voters", type=int, default=200)
    ap.add_argument("--fsync", default="everysec")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vimana-governance-")
    port, http = free_port(), free_port()
    users = ["caster"] + ["v%d" % i for i in range(1, a.voters + 1)]
    config = os.path.join(work, "phoenix.yaml")
    with open(config, "w") as f:
        f.write("users:\n  - name: default\n    nopass: true\n    permissions: [\"+@all\", \"~*\", \"&*\"]\n")
        for u in users:
            f.write("  - name: %s\n    nopass: true\n    permissions: [\"+@all\", \"-@admin\", \"~*\", \"&*\"]\n" % u)
    server = subprocess.Popen([a.vimana, "serve", "--config", config, "--port", str(port), "--http-port", str(http),
                               "--ledger-dir", os.path.join(work, "ledger"), "--fsync", a.fsync, "--log-format", "json"],
                              stdout=open(os.path.join(work, "server.log"), "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen("http://127.0.0.1:%d/ready" % http, timeout=1).status == 200:
                    break
            except Exception:
                pass
            if time.time() > deadline:
                raise RuntimeError("not ready")
            time.sleep(0.02)
        time.sleep(1)  # every agent, required or not, joined
        admin = Conn(port)
        asker = Asker(port)
        for u in users:
            asker.ask(admin, "civic", "register", {"agent": u, "user": u})
        asker.ask(admin, "civic", "grant", {"agent": "caster", "amount": 1000000000, "reason": "bench"})
        caster = Conn(port, "caster")

        def measured(n, one):
            procs = [server.pid] + children(server.pid)
            c0 = {p: cpu(p) for p in procs}
            times = []
            for i in range(n):
                t = time.perf_counter()
                one(i)
                times.append((time.perf_counter() - t) * 1000)
            kernel = (cpu(server.pid) - c0[server.pid]) / n * 1e6
            agents = sum(cpu(p) - c0[p] for p in procs[1:]) / n * 1e6
            return times, kernel, agents

        for i in range(50):  # warm-up
            asker.ask(caster, "herald", "publish", {"channel": "bench", "content": "warm"})
        b, bk, ba = measured(a.broadcasts, lambda i: asker.ask(caster, "herald", "publish",
                                                               {"channel": "bench", "content": "hello %d" % i}))
        p = asker.ask(caster, "forum", "create_proposal",
                      {"title": "bench", "action": {"agent": "civic", "action": "grant",
                                                    "args": {"agent": "caster", "amount": 1, "reason": "x"}}})
        voters = [Conn(port, u) for u in users[1:]]
        v, vk, va = measured(a.voters, lambda i: asker.ask(voters[i], "forum", "vote",
                                                           {"proposal": p["proposal"], "choice": "yes"}))
        for name, ms, k, ag in (("broadcast", b, bk, ba), ("vote", v, vk, va)):
            p50, p99, mx = percentiles(ms)
            print(json.dumps({"row": name, "n": len(ms), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
                              "max_ms": round(mx, 3), "kernel_cpu_us": round(k, 1), "agents_cpu_us": round(ag, 1)}))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
