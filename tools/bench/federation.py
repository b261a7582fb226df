#!/usr/bin/env python3
"""federation.py: what federation costs and how it behaves (issue 15 §4).

Forms a 3 masters x 2 replicas Redis Cluster on loopback (redis-server
--cluster-enabled yes --cluster-node-timeout 5000 --appendonly yes, then
`redis-cli --cluster create ... --cluster-replicas 2 --cluster-yes`),
starts three kernels k1, k2, k3 (`vimana serve --no-system-agents`, a
fresh ledger each, fsync everysec, `federation:` with the cluster's seeds
and topics ["fed.*"]), and measures, each --rounds times (medians
reported):

  latency    a subscriber on k1 (local) and one on k2 (federated) to
             fed.lat.<rate>.rN; a publisher on k1 at a fixed rate (--rates,
             for --seconds each) whose payloads carry their send time;
             latency = receive time - send time (CLOCK_MONOTONIC, one host);
             the same load on k0, a kernel without `federation:`, as the
             baseline; k1's CPU per publish, per thread too
  throughput `redis-benchmark -c 50 -P 16 -n N PUBLISH <topic> <16 B>` on k1,
             local.tp.rN (recorded, not federated) against fed.tp.rN:
             acknowledged publishes/s, k1's CPU per publish, and the end to
             end rate: N over the time until k2's XLEN of the topic is N
  failover   a publisher on k1 at --fo-rate to fed.fo.rN and a subscriber on
             k2; after 3 s the master of the topic's slot is killed with
             SIGKILL; the longest gap between acknowledged publishes on k1
             (and in the 3 s before the kill), when a replica is promoted,
             when k2 first delivers an entry acked after the kill, and what
             k2 holds afterwards against what k1 acknowledged (lost,
             doubled, order). The killed node is started again once k2
             holds everything, or --fo-stall s after the publisher stopped
  tasks      an agent `worker` (prefetch 16) declared on every kernel; its
             instances are processes that AGENT JOIN, take each task pushed
             and ACK it at once. Federated: two instances on k1 and two on
             k2, --task-count tasks XADDed to fed.tasks.rN, a third on each
             of k1, k2, k3 at once (pipelined): the rate until every task
             was done, how many were done twice, CPU per task of each
             kernel and of the cluster; then tasks paced at --task-rate/s
             on k3 (which has no instance), payloads carrying their send
             time: XADD -> instance latency. The same on k0 (no
             federation) with two instances, as the baseline
  catchup    every cluster node stopped (SHUTDOWN NOW), --catchup entries
             published on k1 to fed.cu.rN, the nodes started again; the
             time from every node's cluster_state:ok to every replica
             linked, to k1's mirror lag 0 and to k2 holding them all

Measuring starts --settle s (15) after the cluster formed: until its
replicas have rewritten their AOF after the first sync, WAIT answers late
(a first batch waited 0.8 s), which is the cluster's warm-up, not
federation's.

CPU: utime+stime of /proc/PID/stat before and after, per request. Pinning
(2 cores): k1 and k0 on --k1-cpus (0); the cluster's nine nodes, k2, k3 and
every client on --rest-cpus (1): k1 is measured as a kernel with a core of
its own, the rest of the federation shares the other.

Usage: federation.py [--vimana .build/release/vimana] [--rounds 3]
                     [--only latency,throughput,failover,catchup] [--keep]
Prints a table per measurement, and one JSON line per round (--json).
Everything (nodes, kernels, directories) is stopped and removed at the end.
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True

TICKS = os.sysconf("SC_CLK_TCK")
PROCS = []  # every process started, killed at exit


# MARK: - RESP


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A raw RESP2 connection. `fill_ns` is the CLOCK_MONOTONIC time at
    which the bytes of the last reply read arrived (the recv that completed it)."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.fill_ns = 0

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        if self.pos > 1 << 20:
            del self.buf[: self.pos]
            self.pos = 0
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed the connection")
        self.fill_ns = time.monotonic_ns()
        self.buf += chunk

    def buffered(self):
        return len(self.buf) > self.pos

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos : i])
                self.pos = i + 2
                return line
            self._fill()

    def reply(self):
        line = self._line()
        kind = line[:1]
        if kind == b"+":
            return line[1:].decode()
        if kind == b":":
            return int(line[1:])
        if kind == b"-":
            return RESPError(line[1:].decode())
        if kind == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            value = bytes(self.buf[self.pos : self.pos + n])
            self.pos += n + 2
            return value
        if kind == b"*":
            n = int(line[1:])
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def command(self, *args):
        self.send(encode(*args))
        r = self.reply()
        if isinstance(r, RESPError):
            raise RuntimeError("%s: %s" % (args[0], r))
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class RESPError(str):
    pass


def call(port, *args, timeout=2.0):
    """One command on a fresh connection; None when the node does not answer."""
    try:
        c = Conn(port, timeout=timeout)
    except OSError:
        return None
    try:
        return c.command(*args)
    except (OSError, EOFError, RuntimeError):
        return None
    finally:
        c.close()


def shutdown(port, force):
    """SHUTDOWN NOW [FORCE]; True when the node answered with an error (it refused)."""
    try:
        c = Conn(port, timeout=5)
    except OSError:
        return False
    try:
        c.send(encode("SHUTDOWN", "NOW", *(["FORCE"] if force else [])))
        return isinstance(c.reply(), RESPError)
    except (OSError, EOFError):
        return False  # the connection closed: it is going
    finally:
        c.close()


def info_field(port, section, field, *, command=("INFO",)):
    text = call(port, *command, section) if section else call(port, *command)
    if not isinstance(text, bytes):
        return None
    for line in text.decode().splitlines():
        if line.startswith(field + ":"):
            return line[len(field) + 1 :].strip()
    return None


# MARK: - Processes


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def thread_cpu(pid):
    """{thread name: utime+stime seconds} of every thread of `pid` (names summed)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + cpu_seconds_path("/proc/%d/task/%s/stat" % (pid, tid))
    return out


def cpu_seconds_path(path):
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cluster_ports(n):
    """n ports P whose bus port P+10000 is free too."""
    ports = []
    while len(ports) < n:
        p = random.randint(20000, 30000)
        if p not in ports and port_free(p) and port_free(p + 10000):
            ports.append(p)
    return ports


def pinned(cpus, argv):
    return (["taskset", "-c", cpus] + argv) if cpus else argv


def wait_for(what, timeout, condition, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = condition()
        if r:
            return r
        time.sleep(interval)
    raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout, what))


class Cluster:
    def __init__(self, root, cpus, masters=3, replicas=2):
        self.root = root
        self.cpus = cpus
        self.ports = cluster_ports(masters * (1 + replicas))
        self.procs = {}
        for p in self.ports:
            os.makedirs(self.dir(p))
            self.launch(p)
        for p in self.ports:
            self.wait_pong(p)
        argv = ["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in self.ports]
        argv += ["--cluster-replicas", str(replicas), "--cluster-yes"]
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if out.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed:\n" + out.stdout.decode(errors="replace"))
        self.wait_healthy(90, formation=True)

    def dir(self, port):
        return os.path.join(self.root, str(port))

    def launch(self, port):
        d = self.dir(port)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "5000", "--appendonly", "yes", "--save", "",
                "--daemonize", "no", "--logfile", os.path.join(d, "redis.log")]
        p = subprocess.Popen(pinned(self.cpus, argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(p)
        self.procs[port] = p

    def wait_pong(self, port):
        wait_for("PONG from %d" % port, 60, lambda: call(port, "PING", timeout=1) == "PONG", 0.02)

    def live(self):
        return [p for p in self.ports if self.procs[p].poll() is None]

    def pids(self):
        return [self.procs[p].pid for p in self.live()]

    def slots(self, port):
        r = call(port, "CLUSTER", "SLOTS")
        if not isinstance(r, list):
            return None
        return [(e[0], e[1], e[2][1]) for e in r]

    def problem(self, formation=False, linked=True):
        live = set(self.live())
        for port in sorted(live):
            if info_field(port, None, "cluster_state", command=("CLUSTER", "INFO")) != "ok":
                return "%d: cluster_state is not ok" % port
            if formation and info_field(port, None, "cluster_known_nodes", command=("CLUSTER", "INFO")) != str(len(self.ports)):
                return "%d does not know every node" % port
            s = self.slots(port)
            if s is None:
                return "%d: no CLUSTER SLOTS" % port
            if sum(b - a + 1 for a, b, m in s if m in live) != 16384:
                return "%d: not every slot served by a live master" % port
            if linked and info_field(port, "replication", "role") == "slave" and \
                    info_field(port, "replication", "master_link_status") != "up":
                return "%d: replica link not up" % port
        return None

    def wait_healthy(self, timeout, formation=False, linked=True):
        last = ["?"]

        def ok():
            last[0] = self.problem(formation, linked)
            return last[0] is None

        try:
            wait_for("a healthy cluster", timeout, ok)
        except RuntimeError as e:
            raise RuntimeError("%s (%s)" % (e, last[0]))

    def master_of(self, key):
        slot = call(self.live()[0], "CLUSTER", "KEYSLOT", key)
        for a, b, m in self.slots(self.live()[0]) or []:
            if a <= slot <= b:
                return slot, m
        raise RuntimeError("no master for slot %r" % slot)

    def kill(self, port):
        p = self.procs[port]
        p.send_signal(signal.SIGKILL)
        p.wait()

    def restart(self, port):
        self.launch(port)
        self.wait_pong(port)

    def stop_all(self):
        """SHUTDOWN NOW on every node (again while one still writes its first AOF, then FORCE)."""
        refusing = self.live()
        patience = time.monotonic() + 10
        while refusing:
            force = time.monotonic() > patience
            still = []
            for port in refusing:
                if shutdown(port, force) and not force:  # refused: writing its first AOF
                    still.append(port)
            refusing = [p for p in still if self.procs[p].poll() is None]
            if refusing:
                time.sleep(0.1)
        for port in self.ports:
            try:
                self.procs[port].wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(port)

    def start_all(self):
        for port in self.ports:
            if self.procs[port].poll() is not None:
                self.launch(port)
        for port in self.ports:
            self.wait_pong(port)


class Kernel:
    def __init__(self, binary, root, name, seeds, cpus):
        """`seeds` empty: a kernel without a `federation:` section."""
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        config = os.path.join(self.dir, "phoenix.yaml")
        with open(config, "w") as f:
            if seeds:
                f.write("federation:\n  node: %s\n  cluster: [%s]\n  topics: [\"fed.*\"]\n"
                        % (name, ", ".join('"127.0.0.1:%d"' % p for p in seeds)))
            f.write("agents:\n  - id: worker\n    subscribes: [\"fed.tasks.*\", \"local.tasks.*\"]\n"
                    "    prefetch: 16\n    ack_wait: 30s\n")
        self.port = free_port()
        self.log = os.path.join(self.dir, "vimana.log")
        argv = [binary, "serve", "--port", str(self.port), "--http-port", "0", "--log-format", "json",
                "--log-level", "info", "--ledger-dir", os.path.join(self.dir, "ledger"),
                "--no-system-agents", "--config", config]
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(pinned(cpus, argv), stdout=subprocess.DEVNULL, stderr=logf)
        PROCS.append(self.proc)
        wait_for("%s to answer PING" % name, 60, lambda: self.proc.poll() is None and call(self.port, "PING") == "PONG"
                 or self.dead())

    def dead(self):
        if self.proc.poll() is not None:
            raise RuntimeError("kernel %s exited (%s); log %s" % (self.name, self.proc.returncode, self.log))
        return False

    @property
    def pid(self):
        return self.proc.pid

    def cpu(self):
        return cpu_seconds(self.pid)

    def fed(self, field):
        return info_field(self.port, "federation", field)

    def xlen(self, topic):
        r = call(self.port, "XLEN", topic)
        return r if isinstance(r, int) else -1


# MARK: - Subscribers and publishers (processes of their own, on --rest-cpus)


def subscriber_main(port, channel, ready, stop, results):
    """Subscribes; records (receive ns, payload) of each message until `stop`."""
    c = Conn(port)
    c.command("SUBSCRIBE", channel)
    c.sock.settimeout(0.2)
    ready.set()
    got = []
    while True:
        try:
            if not c.buffered():
                c._fill()
            while True:
                r = c.reply()
                if isinstance(r, list) and len(r) == 3 and r[0] == b"message":
                    got.append((c.fill_ns, r[2]))
                if not c.buffered():
                    break
        except socket.timeout:
            if stop.is_set():
                break
    c.close()
    results.put(got)


class Subscriber:
    def __init__(self, port, channel):
        self.ready, self.stop, self.results = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=subscriber_main, args=(port, channel, self.ready, self.stop, self.results),
                                            daemon=True)
        self.proc.start()
        if not self.ready.wait(30):
            raise RuntimeError("subscriber on %d did not subscribe" % port)

    def finish(self):
        self.stop.set()
        got = self.results.get(timeout=120)
        self.proc.join()
        return got


def publisher_main(port, channel, rate, seconds, results, prefix_seq=0):
    """Publishes `rate`/s for `seconds`; payload `seq send_ns`. A reader
    thread timestamps every acknowledgement (the recv that brought it)."""
    c = Conn(port, timeout=30)
    total = int(rate * seconds)
    acks = []
    errors = [0]

    def reader():
        for _ in range(total):
            r = c.reply()
            if isinstance(r, RESPError):
                errors[0] += 1
            acks.append(c.fill_ns)

    t = threading.Thread(target=reader)
    t.start()
    interval = 1e9 / rate
    start = time.monotonic_ns()
    sent = 0
    while sent < total:
        now = time.monotonic_ns()
        due = min(total, int((now - start) / interval) + 1)
        if due > sent:
            c.send(b"".join(encode("PUBLISH", channel, b"%d %d" % (i, now)) for i in range(sent, due)))
            sent = due
        time.sleep(0.0005)
    t.join()
    c.close()
    results.put({"sent": total, "acks": acks, "errors": errors[0], "start_ns": start})


class Publisher:
    def __init__(self, port, channel, rate, seconds):
        self.results = multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=publisher_main, args=(port, channel, rate, seconds, self.results),
                                            daemon=True)
        self.proc.start()

    def finish(self, timeout):
        r = self.results.get(timeout=timeout)
        self.proc.join()
        return r


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def med(values):
    v = [x for x in values if x == x]
    return statistics.median(v) if v else float("nan")


# MARK: - Measurements


def latency(env, rnd, rate, seconds):
    k1, k2 = env.k[0], env.k[1]
    ch = "fed.lat.%d.r%d" % (rate, rnd)
    local, remote = Subscriber(k1.port, ch), Subscriber(k2.port, ch)
    c1, c2, t1 = k1.cpu(), k2.cpu(), thread_cpu(k1.pid)
    pub = Publisher(k1.port, ch, rate, seconds)
    p = pub.finish(seconds + 120)
    total = p["sent"]
    try:
        wait_for("k2 to hold %s" % ch, 60, lambda: k2.xlen(ch) >= total, 0.05)
    except RuntimeError as e:
        print("!! %s (k2 holds %d of %d)" % (e, k2.xlen(ch), total), flush=True)
    time.sleep(0.3)  # the last deliveries on their way to the subscriber
    gl, gr = local.finish(), remote.finish()
    c1, c2 = k1.cpu() - c1, k2.cpu() - c2
    t1 = {name: round((v - t1.get(name, 0.0)) / total * 1e6, 1) for name, v in thread_cpu(k1.pid).items()}

    def lat(got):
        return [(ns - int(payload.split()[1])) / 1e6 for ns, payload in got]

    ll, lr = lat(gl), lat(gr)
    # The same paced load on k0, a kernel without `federation:` (pinned as k1 is).
    k0 = env.k0
    lch = "local.lat.%d.r%d" % (rate, rnd)
    lsub = Subscriber(k0.port, lch)
    c0 = k0.cpu()
    Publisher(k0.port, lch, rate, seconds).finish(seconds + 120)
    time.sleep(0.3)
    c_local = k0.cpu() - c0
    gp = lat(lsub.finish())
    seqs = [int(payload.split()[0]) for _, payload in gr]
    return {"rate": rate, "seconds": seconds, "sent": total, "pub_errors": p["errors"],
            "local_n": len(ll), "local_p50_ms": pct(ll, 50), "local_p99_ms": pct(ll, 99), "local_max_ms": max(ll, default=float("nan")),
            "fed_n": len(lr), "fed_p50_ms": pct(lr, 50), "fed_p99_ms": pct(lr, 99), "fed_max_ms": max(lr, default=float("nan")),
            "fed_doubled": len(seqs) - len(set(seqs)), "fed_in_order": seqs == sorted(seqs),
            "k1_us_cpu_per_pub": c1 / total * 1e6, "k0_us_cpu_per_pub": c_local / total * 1e6,
            "k0_p50_ms": pct(gp, 50), "k0_p99_ms": pct(gp, 99), "k0_max_ms": max(gp, default=float("nan")), "k0_n": len(gp), "k2_us_cpu_per_delivery": c2 / max(1, len(lr)) * 1e6,
            "k1_threads_us_cpu_per_pub": {n: v for n, v in t1.items() if v > 0}}


def benchmark(env, topic, n):
    """redis-benchmark PUBLISH on k1; returns (wall s, rps it printed)."""
    argv = pinned(env.args.rest_cpus, ["redis-benchmark", "-h", "127.0.0.1", "-p", str(env.k[0].port), "-c", "50",
                                       "-n", str(n), "-P", "16", "--csv", "PUBLISH", topic, "0123456789abcdef"])
    t = time.monotonic()
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - t
    if out.returncode != 0:
        raise RuntimeError("redis-benchmark failed: %s" % out.stderr.decode(errors="replace"))
    rps = float("nan")
    for line in out.stdout.decode().splitlines()[1:]:
        cols = [x.strip('"') for x in line.split('","')]
        if len(cols) > 1:
            rps = float(cols[1])
    return wall, rps


def throughput(env, rnd, n):
    k1, k2 = env.k[0], env.k[1]
    rows = {}
    order = ["local", "fed"] if rnd % 2 else ["fed", "local"]
    for kind in order:
        topic = "%s.tp.r%d" % ("local" if kind == "local" else "fed", rnd)
        c1, c2, cc = k1.cpu(), k2.cpu(), sum(cpu_seconds(p) for p in env.cluster.pids())
        m0 = int(k1.fed("federation_mirrored_entries") or 0)
        t0 = time.monotonic()
        wall, rps = benchmark(env, topic, n)
        ack_cpu = k1.cpu() - c1
        row = {"acked_per_s": rps, "wall_s": wall, "k1_us_cpu_per_pub_acked": ack_cpu / n * 1e6}
        if kind == "fed":
            # federation_mirrored_entries leaves out a batch WAIT fell short on
            # (the resent script appends nothing): k2 holding all ends it too.
            wait_for("k1 to mirror %s" % topic, 300,
                     lambda: int(k1.fed("federation_mirrored_entries") or 0) - m0 >= n or k2.xlen(topic) >= n, 0.01)
            t_m = time.monotonic() - t0
            c1m = k1.cpu() - c1
            wait_for("k2 to hold %s" % topic, 300, lambda: k2.xlen(topic) >= n, 0.01)
            t_e = time.monotonic() - t0
            row.update({"mirrored_s": t_m, "e2e_s": t_e, "e2e_per_s": n / t_e,
                        "k1_us_cpu_per_pub_mirrored": c1m / n * 1e6,
                        "k2_us_cpu_per_import": (k2.cpu() - c2) / n * 1e6,
                        "cluster_us_cpu_per_entry": (sum(cpu_seconds(p) for p in env.cluster.pids()) - cc) / n * 1e6})
        else:
            time.sleep(1.0)  # the same settling as the federated row has
        rows[kind] = row
    return {"n": n, "local": rows["local"], "fed": rows["fed"]}


def worker_main(port, ready, stop, done, results):
    """An instance of `worker`: takes each task pushed, ACKs it at once
    (the ACKs of one read in one write); records (receive ns, payload)."""
    c = Conn(port)
    c.command("AGENT", "JOIN", "worker")
    c.sock.settimeout(0.2)
    ready.set()
    got = []
    while True:
        try:
            if not c.buffered():
                c._fill()
            acks = []
            while True:
                r = c.reply()
                if isinstance(r, list) and len(r) >= 5 and r[0] == b"task":
                    got.append((c.fill_ns, r[4]))
                    acks.append(encode("ACK", r[1], r[2]))
                if not c.buffered():
                    break
            if acks:
                c.send(b"".join(acks))
                with done.get_lock():
                    done.value += len(acks)
        except socket.timeout:
            if stop.is_set():
                break
    c.close()
    results.put(got)


class Worker:
    def __init__(self, port, done):
        self.ready, self.stop, self.results = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=worker_main, args=(port, self.ready, self.stop, done, self.results), daemon=True)
        self.proc.start()
        if not self.ready.wait(30):
            raise RuntimeError("worker on %d did not join" % port)

    def finish(self):
        self.stop.set()
        got = self.results.get(timeout=120)
        self.proc.join()
        return got


def xadd_main(port, topic, names, paced_rate, results):
    """XADDs a task per name, pipelined in hundreds, or `paced_rate`/s with
    payload `name send_ns`."""
    c = Conn(port, timeout=30)
    t = time.monotonic_ns()
    if paced_rate:
        interval = 1e9 / paced_rate
        sent = 0
        while sent < len(names):
            now = time.monotonic_ns()
            due = min(len(names), int((now - t) / interval) + 1)
            if due > sent:
                c.send(b"".join(encode("XADD", topic, "*", "payload", b"%s %d" % (names[i], now)) for i in range(sent, due)))
                for _ in range(due - sent):
                    c.reply()
                sent = due
            time.sleep(0.0005)
    else:
        for k in range(0, len(names), 100):
            chunk = names[k:k + 100]
            c.send(b"".join(encode("XADD", topic, "*", "payload", n) for n in chunk))
            for _ in chunk:
                c.reply()
    c.close()
    results.put(time.monotonic_ns() - t)


def run_tasks(env, kernels_with_workers, publishers, topic, n, paced_rate=0):
    """Workers on each of `kernels_with_workers` (a kernel twice: two
    workers), `n` tasks XADDed to `topic` spread over `publishers`; returns
    (seconds until all were done, every (receive ns, payload) done, CPU s per kernel, cluster CPU s)."""
    done = multiprocessing.Value("q", 0)
    workers = [Worker(k.port, done) for k in kernels_with_workers]
    time.sleep(0.5)  # the kernels' claimers learn of the instances (no room is asked of the cluster before)
    kernels = sorted({k.name: k for k in kernels_with_workers + publishers}.values(), key=lambda k: k.name)
    cpu0 = {k.name: k.cpu() for k in kernels}
    cc = sum(cpu_seconds(p) for p in env.cluster.pids()) if any(k.name != "k0" for k in kernels) else 0.0
    names = [b"t%d" % i for i in range(n)]
    q = multiprocessing.Queue()
    procs = []
    t0 = time.monotonic()
    for i, k in enumerate(publishers):
        mine = names[i::len(publishers)]
        p = multiprocessing.Process(target=xadd_main, args=(k.port, topic, mine, paced_rate / len(publishers), q), daemon=True)
        p.start()
        procs.append(p)
    for p in procs:
        q.get(timeout=600)
        p.join()
    wait_for("%d tasks of %s done" % (n, topic), 600, lambda: done.value >= n, 0.005)
    wall = time.monotonic() - t0
    time.sleep(1.0)  # a task done twice would come now
    cpu = {k.name: k.cpu() - cpu0[k.name] for k in kernels}
    cluster = (sum(cpu_seconds(p) for p in env.cluster.pids()) - cc) if cc else 0.0
    got = []
    by = {}
    for w, k in zip(workers, kernels_with_workers):
        g = w.finish()
        got += g
        by[k.name] = by.get(k.name, 0) + len(g)
    return wall, got, cpu, cluster, by


def tasks(env, rnd, n, rate):
    k1, k2, k3 = env.k
    k0 = env.k0
    row = {"n": n, "rate": rate}
    order = ["fed", "local"] if rnd % 2 else ["local", "fed"]
    for kind in order:
        if kind == "fed":
            wall, got, cpu, cluster, by = run_tasks(env, [k1, k1, k2, k2], [k1, k2, k3], "fed.tasks.r%d" % rnd, n)
        else:
            wall, got, cpu, cluster, by = run_tasks(env, [k0, k0], [k0], "local.tasks.r%d" % rnd, n)
        payloads = [p for _, p in got]
        row[kind] = {"per_s": n / wall, "done": len(set(payloads)), "twice": len(payloads) - len(set(payloads)),
                     "by_kernel": by, "us_cpu_per_task": {k: v / n * 1e6 for k, v in cpu.items()},
                     "cluster_us_cpu_per_task": cluster / n * 1e6}
        # Paced, from a kernel with no instance (k3), or k0 itself.
        m = int(rate * 5)
        if kind == "fed":
            wall, got, cpu, cluster, by = run_tasks(env, [k1, k1, k2, k2], [k3], "fed.tasks.lat.r%d" % rnd, m, rate)
        else:
            wall, got, cpu, cluster, by = run_tasks(env, [k0, k0], [k0], "local.tasks.lat.r%d" % rnd, m, rate)
        lat = [(ns - int(p.split()[1])) / 1e6 for ns, p in got]
        row[kind].update({"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat, default=float("nan"))})
    return row


def gaps(times_ns):
    t = sorted(times_ns)
    best, at = 0, 0
    for a, b in zip(t, t[1:]):
        if b - a > best:
            best, at = b - a, a
    return best / 1e6, at


def failover(env, rnd, rate, before_s, after_s, stall_s):
    k1, k2 = env.k[0], env.k[1]
    ch = "fed.fo.r%d" % rnd
    slot, master = env.cluster.master_of("vimana:{%s}" % ch)
    sub = Subscriber(k2.port, ch)
    pub = Publisher(k1.port, ch, rate, before_s + after_s)
    time.sleep(before_s)
    killed_ns = time.monotonic_ns()
    env.cluster.kill(master)
    e0 = int(k1.fed("federation_errors") or 0)

    def promoted():
        try:
            return env.cluster.master_of("vimana:{%s}" % ch)[1] != master
        except (RuntimeError, TypeError, IndexError):
            return False

    try:
        wait_for("a replica of %d to be promoted" % master, 60, promoted, 0.1)
        promoted_s = (time.monotonic_ns() - killed_ns) / 1e9
    except RuntimeError:
        promoted_s = None
    p = pub.finish(before_s + after_s + 120)
    errors_while_publishing = int(k1.fed("federation_errors") or 0) - e0
    acked = len(p["acks"]) - p["errors"]

    def settled():
        return k2.xlen(ch) >= acked

    # The killed node stays down until k2 holds everything, or --fo-stall
    # seconds after the publisher stopped; then it is started again (as
    # an operator would) and k2 is given another minute.
    restarted_after = None
    try:
        wait_for("k2 to hold %s" % ch, stall_s, settled, 0.05)
    except RuntimeError:
        restarted_after = (time.monotonic_ns() - killed_ns) / 1e9
        env.cluster.restart(master)
        try:
            wait_for("k2 to hold %s after the restart" % ch, 60, settled, 0.05)
        except RuntimeError:
            pass
    all_after = (time.monotonic_ns() - killed_ns) / 1e9 if settled() else None
    time.sleep(0.5)
    got = sub.finish()
    seqs = [int(payload.split()[0]) for _, payload in got]
    # What k2's ledger holds (XRANGE), besides what its subscriber saw.
    held = call(k2.port, "XRANGE", ch, "-", "+", timeout=30) or []
    held_seqs = [int(e[1][1].split()[0]) for e in held]
    acked_before_kill = sum(1 for t in p["acks"] if t < killed_ns)
    delivered_before_kill = sum(1 for t, _ in got if t < killed_ns)
    ack_gap, ack_at = gaps(p["acks"])
    # The same figure over the seconds before the kill: what this machine's load gives without a failover.
    ack_gap_before, _ = gaps([t for t in p["acks"] if t < killed_ns])
    del_gap, del_at = gaps([ns for ns, _ in got])
    new_master = env.cluster.master_of("vimana:{%s}" % ch)[1]
    cluster_len = call(new_master, "XLEN", "vimana:{%s}" % ch)
    if restarted_after is None:
        env.cluster.restart(master)
    env.cluster.wait_healthy(120)
    return {"rate": rate, "slot": slot, "killed": master, "new_master": new_master,
            "acked": acked, "pub_errors": p["errors"],
            "ack_gap_ms": ack_gap, "ack_gap_before_kill_ms": ack_gap_before, "ack_gap_after_kill_ms": (ack_at - killed_ns) / 1e6,
            "delivery_gap_ms": del_gap, "delivery_gap_after_kill_ms": (del_at - killed_ns) / 1e6,
            "k2_lag_at_kill": acked_before_kill - delivered_before_kill, "replica_promoted_after_s": promoted_s,
            "k2_first_new_after_s": min(((t - killed_ns) / 1e9 for t, pl in got if int(pl.split()[0]) >= acked_before_kill),
                                        default=None),
            "k2_delivered_after_kill_before_gap": sum(1 for t, _ in got if killed_ns <= t <= del_at),
            "k2_delivered": len(seqs), "k2_delivered_doubled": len(seqs) - len(set(seqs)),
            "k2_held": len(held_seqs), "k2_held_doubled": len(held_seqs) - len(set(held_seqs)),
            "k2_lost": len(set(range(acked)) - set(held_seqs)), "k2_in_order": held_seqs == sorted(held_seqs),
            "cluster_xlen": cluster_len, "killed_node_restarted_after_s": restarted_after, "k2_all_after_s": all_after,
            "k1_mirror_errors_while_publishing": errors_while_publishing,
            "k1_wait_shortfalls": k1.fed("federation_wait_shortfalls"), "k1_errors": k1.fed("federation_errors")}


def catchup(env, rnd, n):
    k1, k2 = env.k[0], env.k[1]
    topic = "fed.cu.r%d" % rnd
    t = time.monotonic()
    env.cluster.stop_all()
    stop_s = time.monotonic() - t
    wall, rps = benchmark(env, topic, n)
    # k1 has every entry acknowledged; k2 has none of them.
    try:
        wait_for("k1's federation to notice", 30, lambda: k1.fed("federation_status") == "degraded", 0.1)
    except RuntimeError as e:
        print("!! %s" % e, flush=True)
    held_before = k2.xlen(topic)
    c1, c2 = k1.cpu(), k2.cpu()
    t_start = time.monotonic()
    env.cluster.start_all()

    def ok_everywhere():
        return all(info_field(p, None, "cluster_state", command=("CLUSTER", "INFO")) == "ok" for p in env.cluster.ports)

    wait_for("cluster_state:ok on every node", 120, ok_everywhere, 0.02)
    t_ok = time.monotonic()
    marks = {}

    def progress():
        now = time.monotonic()
        if "linked" not in marks and env.cluster.problem(linked=True) is None:
            marks["linked"] = now
        if "mirrored" not in marks and k1.fed("federation_mirror_lag") == "0":
            marks["mirrored"] = now
        if "all" not in marks and k2.xlen(topic) >= n:
            marks["all"] = now
        return len(marks) == 3

    wait_for("k2 to hold %s" % topic, 600, progress, 0.02)
    t_done = marks["all"]
    c1, c2 = k1.cpu() - c1, k2.cpu() - c2
    env.cluster.wait_healthy(120)
    return {"n": n, "stop_s": stop_s, "published_per_s": rps, "k2_held_before": held_before,
            "start_to_ok_s": t_ok - t_start, "ok_to_all_s": t_done - t_ok,
            "catchup_per_s": n / (t_done - t_ok), "ok_to_replicas_linked_s": marks["linked"] - t_ok,
            "ok_to_k1_mirrored_s": marks["mirrored"] - t_ok, "k1_us_cpu_per_entry": c1 / n * 1e6,
            "k2_us_cpu_per_entry": c2 / n * 1e6, "k2_final": k2.xlen(topic)}


# MARK: - Main


class Env:
    pass


def table(title, header, rows):
    print("\n" + title)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def f(x, d=1):
    if isinstance(x, float) and x != x:
        return "–"
    return ("{:,.%df}" % d).format(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vimana", default=".build/release/vimana")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="latency,throughput,failover,catchup,tasks")
    ap.add_argument("--task-count", type=int, default=30000)
    ap.add_argument("--task-rate", type=int, default=1000)
    ap.add_argument("--rates", default="1000,10000")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--tp-count", type=int, default=200000)
    ap.add_argument("--fo-rate", type=int, default=2000)
    ap.add_argument("--fo-after", type=float, default=12)
    ap.add_argument("--fo-stall", type=float, default=10,
                    help="seconds after the publisher stops before the killed node is started again if k2 lacks entries")
    ap.add_argument("--catchup", type=int, default=100000)
    ap.add_argument("--k1-cpus", default="0")
    ap.add_argument("--rest-cpus", default="1")
    ap.add_argument("--settle", type=float, default=15,
                    help="seconds to wait after the cluster formed: its replicas rewrite their AOF after the first sync, "
                         "and WAIT answers late meanwhile (a first batch waited 0.8 s)")
    ap.add_argument("--json", action="store_true", help="print each round as a JSON line too")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, ledgers)")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        args.k1_cpus = args.rest_cpus = ""
    binary = os.path.abspath(args.vimana)
    only = set(args.only.split(","))
    multiprocessing.set_start_method("fork")
    # Subscribers and publishers are children of this process: pin it.
    if args.rest_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.rest_cpus.split(",")})
    # SIGTERM, SIGINT: through the `finally` below, which stops every node and kernel.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = tempfile.mkdtemp(prefix="vimana-federation-bench-")
    env = Env()
    env.args = args
    began = time.monotonic()
    try:
        print("# federation.py: %s, rounds %d, load average %s at start, k1 on CPU %s, the rest on CPU %s"
              % (binary, args.rounds, " ".join("%.2f" % x for x in os.getloadavg()), args.k1_cpus or "any", args.rest_cpus or "any"))
        t = time.monotonic()
        env.cluster = Cluster(os.path.join(root, "cluster"), args.rest_cpus)
        print("# cluster of 9 nodes formed in %.1f s (ports %s)" % (time.monotonic() - t, " ".join(map(str, env.cluster.ports))))
        seeds = env.cluster.ports[:3]
        env.k = [Kernel(binary, root, "k%d" % (i + 1), seeds, args.k1_cpus if i == 0 else args.rest_cpus) for i in range(3)]
        env.k0 = Kernel(binary, root, "k0", [], args.k1_cpus)
        # Every kernel's federation reaches the cluster before measuring.
        for k in env.k:
            wait_for("%s federation ok" % k.name, 60, lambda k=k: k.fed("federation_status") == "ok", 0.1)
        time.sleep(max(0.0, args.settle - 5))
        idle = [(k, k.cpu()) for k in env.k + [env.k0]]
        time.sleep(5)
        print("# idle CPU over 5 s (%% of a core): %s" % ", ".join("%s %.1f" % (k.name, (k.cpu() - c) / 5 * 100) for k, c in idle))
        results = {"latency": [], "throughput": [], "failover": [], "catchup": [], "tasks": []}
        for rnd in range(1, args.rounds + 1):
            if "latency" in only:
                for rate in [int(r) for r in args.rates.split(",")]:
                    results["latency"].append(latency(env, rnd, rate, args.seconds))
                    emit(args, "latency", rnd, results["latency"][-1])
            if "throughput" in only:
                results["throughput"].append(throughput(env, rnd, args.tp_count))
                emit(args, "throughput", rnd, results["throughput"][-1])
            if "tasks" in only:
                results["tasks"].append(tasks(env, rnd, args.task_count, args.task_rate))
                emit(args, "tasks", rnd, results["tasks"][-1])
        for rnd in range(1, args.rounds + 1):
            if "failover" in only:
                results["failover"].append(failover(env, rnd, args.fo_rate, 3.0, args.fo_after, args.fo_stall))
                emit(args, "failover", rnd, results["failover"][-1])
        for rnd in range(1, args.rounds + 1):
            if "catchup" in only:
                results["catchup"].append(catchup(env, rnd, args.catchup))
                emit(args, "catchup", rnd, results["catchup"][-1])
        report(results)
        for k in env.k:
            k.dead()
        print("\n# k1 INFO federation at the end: " + " ".join(
            "%s=%s" % (x, env.k[0].fed("federation_" + x)) for x in
            ("mirrored_entries", "wait_shortfalls", "errors", "skipped_entries", "malformed_entries")))
        print("# k2 INFO federation at the end: imported_entries=%s malformed_entries=%s errors=%s"
              % (env.k[1].fed("federation_imported_entries"), env.k[1].fed("federation_malformed_entries"),
                 env.k[1].fed("federation_errors")))
        print("# %.0f s in all, load average %s at the end" % (time.monotonic() - began, " ".join("%.2f" % x for x in os.getloadavg())))
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        if args.keep:
            print("# kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


def emit(args, kind, rnd, row):
    if args.json:
        print(json.dumps({"measurement": kind, "round": rnd, **row}), flush=True)
    else:
        print("# %s round %d done" % (kind, rnd), flush=True)


def report(results):
    tk = results["tasks"]
    if tk:
        rows = []
        for kind, name in (("local", "k0 alone (no federation): 2 instances, tasks XADDed on k0"),
                           ("fed", "federated: 2 instances on k1, 2 on k2, tasks XADDed on k1, k2, k3")):
            rs = [r[kind] for r in tk]
            kernels = sorted(rs[0]["us_cpu_per_task"])
            rows.append([name, f(med([r["per_s"] for r in rs]), 0), "%d/%d" % (min(r["done"] for r in rs), tk[0]["n"]),
                         str(max(r["twice"] for r in rs)),
                         ", ".join("%s %s" % (k, f(med([r["us_cpu_per_task"][k] for r in rs]), 1)) for k in kernels),
                         f(med([r["cluster_us_cpu_per_task"] for r in rs]), 1),
                         ", ".join("%s %d" % (k, med([r["by_kernel"].get(k, 0) for r in rs])) for k in sorted(rs[0]["by_kernel"])),
                         f(med([r["p50_ms"] for r in rs]), 2), f(med([r["p99_ms"] for r in rs]), 2)])
        table("## Tasks: %d tasks as fast as they are taken, then %d/s for 5 s (medians of %d rounds)" % (tk[0]["n"], tk[0]["rate"], len(tk)),
              ["", "tasks done /s", "done (fewest round)", "done twice (most)", "µs CPU per task, each kernel",
               "cluster µs CPU per task", "done on", "XADD -> instance p50 ms (paced)", "p99 ms"], rows)
    lat = results["latency"]
    if lat:
        rows = []
        names = {"k0": "k0, no federation: publisher and subscriber on k0",
                 "local": "k1: publisher and subscriber on k1", "fed": "k1 -> k2: publisher on k1, subscriber on k2"}
        cpu = {"k0": ("k0", "k0_us_cpu_per_pub"), "local": ("k1", "k1_us_cpu_per_pub"), "fed": ("k2", "k2_us_cpu_per_delivery")}
        for rate in sorted({r["rate"] for r in lat}):
            rs = [r for r in lat if r["rate"] == rate]
            for who in ("k0", "local", "fed"):
                rows.append(["%s/s, %s" % (f(rate, 0), names[who]),
                             f(med([r[who + "_p50_ms"] for r in rs]), 2), f(med([r[who + "_p99_ms"] for r in rs]), 2),
                             f(med([r[who + "_max_ms"] for r in rs]), 2),
                             "%d/%d" % (min(r[who + "_n"] for r in rs), rs[0]["sent"]),
                             "%s %s" % (cpu[who][0], f(med([r[cpu[who][1]] for r in rs]), 1))])
        table("## Publish -> delivery, ms (medians of %d rounds)" % (len(lat) // max(1, len({r["rate"] for r in lat}))),
              ["rate, path", "p50", "p99", "max", "received (fewest round)",
               "µs CPU per publish (k0, k1) or per delivery (k2)"], rows)
        for rate in sorted({r["rate"] for r in lat}):
            rs = [r for r in lat if r["rate"] == rate]
            names = sorted({n for r in rs for n in r["k1_threads_us_cpu_per_pub"]})
            print("k1's threads at %s/s, µs CPU per publish (medians): %s" % (f(rate, 0), ", ".join(
                "%s %s" % (n, f(med([r["k1_threads_us_cpu_per_pub"].get(n, 0.0) for r in rs]), 1)) for n in names)))
        bad = [r for r in lat if r["fed_doubled"] or not r["fed_in_order"] or r["pub_errors"]]
        if bad:
            print("!! latency rounds with doubled, out-of-order deliveries or publish errors: %s" % bad)
    tp = results["throughput"]
    if tp:
        rows = [["local.tp (recorded, not federated)", f(med([r["local"]["acked_per_s"] for r in tp]), 0),
                 f(med([r["local"]["k1_us_cpu_per_pub_acked"] for r in tp]), 2), "–", "–", "–", "–", "–"],
                ["fed.tp (federated)", f(med([r["fed"]["acked_per_s"] for r in tp]), 0),
                 f(med([r["fed"]["k1_us_cpu_per_pub_acked"] for r in tp]), 2),
                 f(med([r["fed"]["k1_us_cpu_per_pub_mirrored"] for r in tp]), 2),
                 f(med([r["fed"]["mirrored_s"] for r in tp]), 2),
                 f(med([r["fed"]["e2e_per_s"] for r in tp]), 0),
                 f(med([r["fed"]["k2_us_cpu_per_import"] for r in tp]), 2),
                 f(med([r["fed"]["cluster_us_cpu_per_entry"] for r in tp]), 2)]]
        table("## Throughput on k1: redis-benchmark -c 50 -P 16 -n %d PUBLISH <topic> <16 B> (medians)" % tp[0]["n"],
              ["topic", "acked /s", "k1 µs CPU/pub (acks)", "k1 µs CPU/pub (until mirrored)", "s until mirrored",
               "end to end /s (k2 holds all)", "k2 µs CPU/import", "cluster µs CPU/entry"], rows)
    fo = results["failover"]
    if fo:
        def opt(x):
            return "–" if x is None else f(x, 1)

        rows = [["round %d" % (i + 1), str(r["killed"]), "%s (%s)" % (f(r["ack_gap_ms"], 1), f(r["ack_gap_before_kill_ms"], 1)),
                 f(r["delivery_gap_ms"], 0),
                 f(r["delivery_gap_after_kill_ms"], 0), str(r["k2_lag_at_kill"]), opt(r["replica_promoted_after_s"]),
                 opt(r["k2_first_new_after_s"]), opt(r["killed_node_restarted_after_s"]), opt(r["k2_all_after_s"]),
                 str(r["acked"]), str(r["k2_held"]), str(r["k2_lost"]),
                 "%d/%d" % (r["k2_held_doubled"], r["k2_delivered_doubled"]), str(r["cluster_xlen"]),
                 "yes" if r["k2_in_order"] else "NO", str(r["k1_mirror_errors_while_publishing"])] for i, r in enumerate(fo)]
        rows.append(["median", "", f(med([r["ack_gap_ms"] for r in fo]), 1), f(med([r["delivery_gap_ms"] for r in fo]), 0),
                     "", "", "", "", "", "", "", "", "", "", "", "", ""])
        table("## Failover: kill -9 of the topic's master under %d publishes/s on k1" % fo[0]["rate"],
              ["", "killed port", "longest ack gap on k1 ms (before the kill)", "longest delivery gap on k2 ms", "gap began ms after kill",
               "k2 behind k1 at the kill (entries)", "s from the kill to CLUSTER SLOTS naming a new master",
               "s from the kill to k2's first delivery of an entry acked after it", "killed node started again after s", "k2 holds all after s", "acked", "k2 holds", "lost",
               "doubled (held/delivered)", "cluster XLEN", "in order", "k1 mirror errors while publishing"], rows)
    cu = results["catchup"]
    if cu:
        rows = [["round %d" % (i + 1), f(r["published_per_s"], 0), f(r["start_to_ok_s"], 2),
                 f(r["ok_to_replicas_linked_s"], 2), f(r["ok_to_k1_mirrored_s"], 2), f(r["ok_to_all_s"], 2),
                 f(r["catchup_per_s"], 0), f(r["k1_us_cpu_per_entry"], 2), f(r["k2_us_cpu_per_entry"], 2),
                 "%d/%d" % (r["k2_final"], r["n"])] for i, r in enumerate(cu)]
        rows.append(["median", f(med([r["published_per_s"] for r in cu]), 0), f(med([r["start_to_ok_s"] for r in cu]), 2),
                     f(med([r["ok_to_replicas_linked_s"] for r in cu]), 2), f(med([r["ok_to_k1_mirrored_s"] for r in cu]), 2),
                     f(med([r["ok_to_all_s"] for r in cu]), 2), f(med([r["catchup_per_s"] for r in cu]), 0),
                     f(med([r["k1_us_cpu_per_entry"] for r in cu]), 2), f(med([r["k2_us_cpu_per_entry"] for r in cu]), 2), ""])
        table("## Catch-up: %d entries published on k1 while the cluster was down" % cu[0]["n"],
              ["", "published /s (cluster down)", "s from start to cluster_state:ok", "s from ok to every replica linked",
               "s from ok to k1's mirror lag 0", "s from ok to k2 holding all",
               "entries/s", "k1 µs CPU/entry", "k2 µs CPU/entry", "k2 holds"], rows)


if __name__ == "__main__":
    main()
