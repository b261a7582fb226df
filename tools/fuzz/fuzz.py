#!/usr/bin/env python3
"""A grammar-aware fuzzer for the vimana server (Python standard library only).

    tools/fuzz/fuzz.py [--binary .build/release/vimana] [--seconds 300] [--seed N]
    tools/fuzz/fuzz.py --replay FINDING.json [--binary ...]

It starts `vimana serve` on loopback ports with a configuration that declares
agents, reads the grammar from the server under test (COMMAND DOCS: every
command and subcommand, each argument's keyword token and type), and sends
commands built from it with hostile arguments: the extreme integers (0, -1,
+-2^63, 2^64, 10^20, ...), empty, huge and binary strings, stream IDs such as
18446744073709551615-18446744073709551615, `$`, `>`, and IDs learnt from the
server's replies (so claims, ACKs and NACKs reach held tasks). Most commands
of a batch name the same key, group and consumer, so that what one stores (an
ENTRIESREAD, a RETRYCOUNT) is used by the next (a delivery, a claim, XINFO);
--grammar-binary takes the grammar from another build. Commands are
pipelined in batches, encoded as RESP multibulk or inline, over several
connections (some in RESP3, some joined as agent instances), and each batch's
bytes are split at random points across writes; now and then a byte is
corrupted or a connection is closed mid-command.

After every batch a separate connection must get PONG to a PING within
--hang-seconds, and the process must still run. A crash (the process exited
or died by a signal) or a hang stops the run: the fuzzer prints the server's
stderr tail and the exact bytes that led there, shrinks them (each batch
dropped that is not needed to reproduce), writes the reproducer to
--out/finding-<seed>-<n>.json, and exits 1. `--replay FILE` sends a
reproducer again to a fresh server. Exit status: 0 when the time ran out with
nothing found, 1 on a finding, 2 on a usage or setup error.

The seed (printed at the start; --seed or $FUZZ_SEED to fix it) decides every
random choice; IDs learnt from replies depend on the clock, so a finding is
always reported as bytes, never as a seed alone.
"""
import argparse
import base64
import json
import os
import random
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

# The server under test declares these, so AGENT JOIN, task pushes, NACK and
# the built-in path are reachable; small segments make the ledger roll (and
# write group snapshots) within a run.
CONFIG = """\
ledger:
  segment_bytes: 64KiB
agents:
  - id: worker
    subscribes: ["w", "tasks.*"]
    ack_wait: 300ms
    max_deliver: 3
    prefetch: 2
  - id: echo
    kind: builtin
    subscribes: ["echo.requests"]
"""

# Numbers that break naive arithmetic: bounds, one past them, the first BLOCK
# whose nanoseconds overflow, and what is not a decimal integer.
HOSTILE_INTEGERS = [
    b"0", b"-1", b"1", b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
    b"-9223372036854775809", b"18446744073709551615", b"18446744073709551616", b"100000000000000000000",
    b"9223372036855", b"2147483648", b"-2147483649", b"3153600000001", b"576460752303423488",
    b"abc", b"", b"+1", b"-0", b"007", b"1.5", b"1e3", b"0x10", b" 1", b"-",
]
HOSTILE_IDS = [
    b"0", b"0-0", b"$", b">", b"-", b"+", b"*", b"1-1", b"1-*", b"(1-1", b"(0", b"-1", b"1-", b"-1-1",
    b"18446744073709551615-18446744073709551615", b"18446744073709551615-*", b"18446744073709551615",
    b"18446744073709551616-0", b"9223372036854775807-9223372036854775807", b"(18446744073709551615-18446744073709551615",
    b"0-18446744073709551615", b"", b"x",
]
# How long a server that stopped answering gets to exit (Swift prints a
# symbolicated backtrace first) before it is reported as hung instead.
CRASH_REPORT_SECONDS = 20
KEYS = [b"t", b"w", b"tasks.a", b"echo.requests", b"s", b"dead.worker", b"_vimana.groups", b"_x"]
GROUPS = [b"g", b"worker", b"echo", b"h"]
CONSUMERS = [b"c", b"d", b"worker-0"]


class Server:
    """`vimana serve` on ephemeral ports, its stderr kept in a file."""

    def __init__(self, binary, workdir):
        self.dir = tempfile.mkdtemp(prefix="server-", dir=workdir)
        config = os.path.join(self.dir, "phoenix.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--no-system-agents", "--config", config, "--port", "0", "--http-port", "-1", "--log-format", "json",
             "--log-level", "info", "--ledger-dir", os.path.join(self.dir, "ledger")],
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.port = self._wait_for_port()

    def _wait_for_port(self):
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.stderr_path, "rb") as f:
                m = re.search(rb'"event":"listening"[^\n]*?"port":(\d+)', f.read())
            if m:
                return int(m.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        tail = self.stderr_tail()
        self.stop()
        raise SetupError("the server did not start:\n" + tail)

    def running(self):
        return self.process.poll() is None

    def exit_description(self):
        code = self.process.poll()
        if code is None:
            return "running"
        if code < 0:
            try:
                return "killed by signal %d (%s)" % (-code, __import__("signal").Signals(-code).name)
            except ValueError:
                return "killed by signal %d" % -code
        return "exited with status %d" % code

    def stderr_tail(self, lines=40):
        """The crash report when there is one (from Swift's first line about
        it: the error and the crashed thread's frames), else the last lines."""
        self.stderr.flush()
        with open(self.stderr_path, "rb") as f:
            text = f.read().decode("utf-8", "replace").splitlines()
        for k, line in enumerate(text):
            if "Fatal error" in line or "crashed" in line or "Crash" in line:
                return "\n".join(text[max(0, k - 2):k + lines])
        return "\n".join(text[-lines:])

    def stop(self):
        if self.running():
            self.process.kill()
        self.process.wait()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SetupError(Exception):
    pass


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_value(sock, buf):
    """One RESP value from `sock` (blocking, with its timeout), parsing from
    the bytearray `buf` and reading more as needed. Maps and sets become lists."""
    def line():
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                out = bytes(buf[:i])
                del buf[:i + 2]
                return out
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf.extend(chunk)

    head = line()
    kind, rest = head[:1], head[1:]
    if kind in (b"+", b"-"):
        return rest.decode("utf-8", "replace") if kind == b"+" else Exception(rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind == b"_":
        return None
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        while len(buf) < n + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf.extend(chunk)
        out = bytes(buf[:n])
        del buf[:n + 2]
        return out
    if kind in (b"*", b">", b"~", b"%"):
        n = int(rest)
        if n < 0:
            return None
        return [read_value(sock, buf) for _ in range(n * 2 if kind == b"%" else n)]
    raise ValueError("unexpected reply %r" % head)


def command_bytes(args):
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class Grammar:
    """Commands and their arguments as COMMAND DOCS describes them (but SHUTDOWN)."""

    def __init__(self, port):
        sock = connect(port)
        sock.sendall(b"COMMAND DOCS\r\n")
        docs = read_value(sock, bytearray())
        sock.close()
        self.commands = []  # (words, [argument dicts])

        def pairs(flat):
            return [(flat[i].decode() if isinstance(flat[i], bytes) else flat[i], flat[i + 1])
                    for i in range(0, len(flat) - 1, 2)]

        def walk(name, doc):
            fields = dict(pairs(doc))
            args = []
            for a in fields.get("arguments") or []:
                f = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in pairs(a)}
                flags = [x.decode() if isinstance(x, bytes) else x for x in f.get("flags") or []]
                args.append({"name": f.get("name", ""), "type": f.get("type", "string"), "token": f.get("token"),
                             "optional": "optional" in flags, "multiple": "multiple" in flags})
            subs = fields.get("subcommands")
            if subs:
                for sub, subdoc in pairs(subs):
                    walk(sub, subdoc)
            else:
                self.commands.append((name.encode().split(b"|"), args))

        for name, doc in pairs(docs):
            # SHUTDOWN stops the server by design: an exit it causes is no crash.
            if name.lower() == "shutdown":
                continue
            walk(name, doc)
        if not self.commands:
            raise SetupError("COMMAND DOCS listed no commands")
        groups = {}
        for words, args in self.commands:
            groups.setdefault(words[0], []).append((words, args))
        self.by_command = list(groups.values())


class Generator:
    def __init__(self, rng, grammar):
        self.rng = rng
        self.grammar = grammar
        self.ids = [b"1-1", b"1-2"]  # learnt from replies: XADD results, task pushes
        # The key, group and consumer most commands of a batch name, so that
        # what one command stores (an ENTRIESREAD, a RETRYCOUNT) is used by
        # the next (a delivery, a claim, XINFO).
        self.focus = {}

    def learn(self, data):
        for m in re.finditer(rb"\$\d+\r\n(\d{1,20}-\d{1,20})\r\n", data):
            if len(self.ids) > 64:
                self.ids.pop(self.rng.randrange(len(self.ids)))
            self.ids.append(m.group(1))

    def hostile_string(self):
        r = self.rng
        return r.choice([
            b"", b" ", b"\r\n", b"\x00", b'"', b"'", b"\\", "ü".encode(), b"*", b"?", b"[",
            b"a" * r.choice([1, 200, 4096, 70_000]),
            bytes(r.randrange(256) for _ in range(r.randrange(1, 40))),
            r.choice(HOSTILE_INTEGERS), r.choice(HOSTILE_IDS),
        ])

    def integer(self):
        r = self.rng
        roll = r.random()
        if roll < 0.25:
            return str(r.choice([0, 1, 2, 3, 5, 10, 100, 1000])).encode()
        if roll < 0.85:
            return r.choice(HOSTILE_INTEGERS)
        return str(r.randrange(-2 ** 64, 2 ** 64) >> r.randrange(64)).encode()

    def value(self, arg):
        r = self.rng
        if r.random() < 0.05:
            return self.hostile_string()
        t, name = arg["type"], arg["name"]
        if t == "integer":
            return self.integer()
        focused = "key" if t == "key" or name == "topic" else name
        if focused in self.focus and r.random() < 0.75:
            return self.focus[focused]
        if t == "key":
            return r.choice(KEYS)
        if t == "pattern":
            return r.choice([b"*", b"t*", b"tasks.?", b"[a-", b"\\", b"w"])
        if name in ("id", "start", "end", "lastid"):
            roll = r.random()
            if roll < 0.4:
                return r.choice(self.ids)
            if roll < 0.7:  # the special IDs, which reach blocking and delivery
                return r.choice([b"$", b">", b"0", b"-", b"+", b"0-0"])
            return r.choice(HOSTILE_IDS)
        if name == "group":
            return r.choice(GROUPS)
        if name == "consumer":
            return r.choice(CONSUMERS)
        if name == "agent-id":
            return r.choice([b"worker", b"echo", b"nosuch", b""])
        if name in ("topic", "channel"):
            return r.choice(KEYS)
        if "|" in name:  # a choice such as normal|pubsub or yes|no
            return r.choice(name.encode().split(b"|") + [b"x"])
        return r.choice([b"m", b"payload", b"f", b"v", self.hostile_string()])

    def command(self):
        r = self.rng
        # A command, then one of its subcommands: containers do not crowd out the rest.
        words, args = r.choice(r.choice(self.grammar.by_command))
        out = [w.upper() if r.random() < 0.7 else w for w in words]
        repeat = 1
        for a in args:
            if a["optional"] and r.random() < 0.5:
                continue
            if a["token"]:
                out.append(a["token"].encode() if r.random() < 0.8 else a["token"].lower().encode())
            if a["type"] == "pure-token":
                continue
            if a["multiple"]:
                # Keys and their IDs come in equal numbers (XREAD's STREAMS).
                repeat = repeat if a["type"] != "key" else r.choice([1, 1, 2, 3])
                out += [self.value(a) for _ in range(repeat)]
            else:
                out.append(self.value(a))
        # Mutations: arity, order and unknown options.
        if len(out) > 1 and r.random() < 0.08:
            del out[r.randrange(1, len(out))]
        if r.random() < 0.08:
            out.insert(r.randrange(1, len(out) + 1), self.hostile_string())
        if len(out) > 2 and r.random() < 0.05:
            i, j = r.randrange(1, len(out)), r.randrange(1, len(out))
            out[i], out[j] = out[j], out[i]
        return out

    def encode(self, args):
        r = self.rng
        safe = all(a and len(a) < 512 and not any(c in b' \t\r\n"\'\\\x00' for c in a) for a in args)
        if safe and r.random() < 0.25:
            return b" ".join(args) + r.choice([b"\r\n", b"\n"])
        return command_bytes(args)

    def batch(self):
        r = self.rng
        self.focus = {"key": r.choice(KEYS), "group": r.choice(GROUPS), "consumer": r.choice(CONSUMERS)}
        data = b"".join(self.encode(self.command()) for _ in range(r.randint(1, 8)))
        roll = r.random()
        if roll < 0.02 and data:
            i = r.randrange(len(data))
            data = data[:i] + bytes([r.randrange(256)]) + data[i + 1:]
        elif roll < 0.03:
            data += r.choice([b"*-1\r\n", b"*0\r\n", b"$-1\r\n", b"*999999999\r\n", b"*2\r\n$99999999999\r\n",
                              b"*1\r\n$4\r\nPI", b"\r\n\r\n", b'ECHO "x\r\n'])
        return data

    def splits(self, data):
        """`data` cut at random points: each piece is one write."""
        r = self.rng
        if len(data) < 2 or r.random() < 0.5:
            return [data]
        cuts = sorted(r.sample(range(1, len(data)), min(len(data) - 1, r.randint(1, 6))))
        return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


class Finding(Exception):
    def __init__(self, kind, detail):
        super().__init__(kind)
        self.kind, self.detail = kind, detail


class Session:
    """Fuzz connections to one server, and the transcript of what they sent:
    a list of steps (connection, 'open' | 'send' | 'close', bytes)."""

    CONNECTIONS = 4

    def __init__(self, server, hang_seconds):
        self.server = server
        self.hang = hang_seconds
        self.socks = [None] * self.CONNECTIONS
        self.transcript = []
        self.probe = None

    def step(self, conn, kind, data=b""):
        self.transcript.append((conn, kind, data))
        if kind == "open":
            self._close(conn)
            try:
                self.socks[conn] = connect(self.server.port, timeout=self.hang)
            except OSError:
                self.socks[conn] = None
        elif kind == "close":
            self._close(conn)
        elif self.socks[conn] is not None:
            try:
                self.socks[conn].sendall(data)
            except socket.timeout:
                # The server stopped reading this connection for a whole
                # --hang-seconds: fine if it still answers others (a paused
                # publisher); check() decides.
                self._close(conn)
            except OSError:
                self._close(conn)

    def _close(self, conn):
        if self.socks[conn] is not None:
            self.socks[conn].close()
            self.socks[conn] = None

    def drain(self):
        """Reads what each connection has (never waits): the server's output
        buffers must not fill while nobody reads."""
        got = b""
        for i, s in enumerate(self.socks):
            if s is None:
                continue
            while True:
                try:
                    if not select.select([s], [], [], 0)[0]:
                        break
                    chunk = s.recv(1 << 20)
                except OSError:
                    self._close(i)
                    break
                if not chunk:
                    self._close(i)
                    break
                got += chunk[:1 << 16]
        return got

    def check(self):
        """Raises Finding when the server died or does not answer PING."""
        for attempt in range(2):
            if not self.server.running():
                raise Finding("crash", self.server.exit_description())
            try:
                if self.probe is None:
                    self.probe = connect(self.server.port, timeout=self.hang)
                self.probe.settimeout(self.hang)
                self.probe.sendall(b"PING\r\n")
                buf = bytearray()
                if read_value(self.probe, buf) == "PONG" and not buf:
                    return
            except (OSError, ConnectionError, ValueError):
                pass
            # A fuzz command may have killed the probe (CLIENT KILL): a new one must work.
            if self.probe is not None:
                self.probe.close()
                self.probe = None
        # A trapping process may take seconds to print its backtrace and exit.
        try:
            self.server.process.wait(timeout=CRASH_REPORT_SECONDS)
        except subprocess.TimeoutExpired:
            raise Finding("hang", "no PONG within %.1f s on a new connection" % self.hang)
        raise Finding("crash", self.server.exit_description())

    def close(self):
        for i in range(self.CONNECTIONS):
            self._close(i)
        if self.probe is not None:
            self.probe.close()


def replay(binary, workdir, transcript, hang_seconds):
    """Sends `transcript` to a fresh server; returns the Finding it causes, or None."""
    server = Server(binary, workdir)
    session = Session(server, hang_seconds)
    try:
        for conn, kind, data in transcript:
            if kind == "check":
                session.drain()
                session.check()
            else:
                session.step(conn, kind, data)
        session.drain()
        session.check()
        return None
    except Finding as f:
        f.stderr = server.stderr_tail()
        return f
    finally:
        session.close()
        server.stop()


def grammar_of(binary, workdir):
    """The grammar another build's COMMAND DOCS gives (to fuzz an older build
    with the current command table)."""
    server = Server(binary, workdir)
    try:
        return Grammar(server.port)
    finally:
        server.stop()


def batches(transcript):
    """The transcript cut after each 'check' step."""
    out, current = [], []
    for s in transcript:
        current.append(s)
        if s[1] == "check":
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def shrink(binary, workdir, transcript, finding, hang_seconds, budget):
    """Drops batches that are not needed to reproduce `finding` (ddmin-style,
    chunks halving), within `budget` seconds."""
    deadline = time.time() + budget
    parts = batches(transcript)
    chunk = max(1, len(parts) // 2)
    while chunk >= 1 and time.time() < deadline:
        i, removed = 0, False
        while i < len(parts) and time.time() < deadline:
            candidate = parts[:i] + parts[i + chunk:]
            flat = [s for p in candidate for s in p]
            f = replay(binary, workdir, flat, hang_seconds) if flat else None
            if f is not None and f.kind == finding.kind:
                parts = candidate
                removed = True
            else:
                i += chunk
        if not removed:
            chunk //= 2
    return [s for p in parts for s in p]


def show(transcript, limit=600):
    lines = []
    for conn, kind, data in transcript:
        if kind == "send":
            lines.append("  conn %d send %r" % (conn, data[:limit] + (b"..." if len(data) > limit else b"")))
        elif kind != "check":
            lines.append("  conn %d %s" % (conn, kind))
    return "\n".join(lines)


def save(out_dir, seed, n, finding, transcript):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "finding-%d-%d.json" % (seed, n))
    with open(path, "w") as f:
        json.dump({"kind": finding.kind, "detail": finding.detail, "seed": seed,
                   "steps": [[c, k, base64.b64encode(d).decode()] for c, k, d in transcript]}, f, indent=1)
    return path


def load(path):
    with open(path) as f:
        doc = json.load(f)
    return [(c, k, base64.b64decode(d)) for c, k, d in doc["steps"]]


def fuzz(args):
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 32)
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="vimana-fuzz-")
    print("fuzz: seed %d, %s, %d s, binary %s" % (seed, "restart every %d batches" % args.restart_every,
                                                    args.seconds, args.binary), flush=True)
    started = time.time()
    deadline = started + args.seconds
    total_batches = servers = 0
    grammar = None
    try:
        while time.time() < deadline:
            server = Server(args.binary, workdir)
            servers += 1
            session = Session(server, args.hang_seconds)
            if grammar is None:
                grammar = Grammar(server.port) if args.grammar_binary is None else grammar_of(args.grammar_binary, workdir)
            gen = Generator(rng, grammar)
            try:
                for _ in range(args.restart_every):
                    if time.time() >= deadline:
                        break
                    conn = rng.randrange(Session.CONNECTIONS)
                    # Reconnect often: a connection blocked (XREAD BLOCK 0) or
                    # subscribed runs little of what it is sent.
                    if session.socks[conn] is None or rng.random() < 0.15:
                        session.step(conn, "open")
                        prelude = b""
                        if rng.random() < 0.3:
                            prelude += b"HELLO 3\r\n"
                        if rng.random() < 0.25:
                            prelude += b"AGENT JOIN worker\r\n"
                        if prelude:
                            session.step(conn, "send", prelude)
                    for piece in gen.splits(gen.batch()):
                        session.step(conn, "send", piece)
                    if rng.random() < 0.01:
                        session.step(conn, "close")
                    gen.learn(session.drain())
                    session.transcript.append((conn, "check", b""))
                    session.check()
                    total_batches += 1
            except Finding as finding:
                finding.stderr = server.stderr_tail()
                transcript = session.transcript
                session.close()
                server.stop()
                report(args, seed, total_batches, finding, transcript, workdir)
                return 1
            session.close()
            server.stop()
    except SetupError as e:
        print("fuzz: setup failed: %s" % e, file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("fuzz: nothing found in %.0f s: %d batches, %d servers, seed %d"
          % (time.time() - started, total_batches, servers, seed), flush=True)
    return 0


def report(args, seed, n, finding, transcript, workdir):
    print("fuzz: FOUND a %s (%s) after %d batches, seed %d" % (finding.kind, finding.detail, n, seed), flush=True)
    print("fuzz: server stderr (tail):\n" + finding.stderr, flush=True)
    small = transcript
    confirmed = replay(args.binary, workdir, transcript, args.hang_seconds)
    if confirmed is None:
        print("fuzz: replaying the whole transcript did not reproduce it (timing-dependent?)", flush=True)
    elif args.shrink_seconds > 0:
        small = shrink(args.binary, workdir, transcript, confirmed, args.hang_seconds, args.shrink_seconds)
    path = save(args.out, seed, n, finding, small)
    print("fuzz: input (%d of %d steps; 'check' steps are a PING on another connection):\n%s"
          % (len(small), len(transcript), show(small)), flush=True)
    print("fuzz: reproducer written to %s; run: %s --replay %s --binary %s"
          % (path, sys.argv[0], path, args.binary), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=".build/release/vimana")
    p.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 300)))
    p.add_argument("--seed", type=int, default=int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None)
    p.add_argument("--hang-seconds", type=float, default=5.0, help="longest wait for PONG")
    p.add_argument("--restart-every", type=int, default=400, help="batches per server (bounds a transcript)")
    p.add_argument("--shrink-seconds", type=float, default=120.0, help="time to spend shrinking a finding")
    p.add_argument("--out", default=".build/fuzz", help="where reproducers are written")
    p.add_argument("--replay", metavar="FILE", help="send a reproducer to a fresh server")
    p.add_argument("--grammar-binary", metavar="PATH",
                   help="read COMMAND DOCS from this build instead (to fuzz an older build with a newer grammar)")
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        print("fuzz: no executable at %s (build it first)" % args.binary, file=sys.stderr)
        return 2
    if args.replay:
        workdir = tempfile.mkdtemp(prefix="vimana-fuzz-")
        try:
            f = replay(args.binary, workdir, load(args.replay), args.hang_seconds)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if f is None:
            print("fuzz: replay: no crash, no hang")
            return 0
        print("fuzz: replay: %s (%s)\n%s" % (f.kind, f.detail, f.stderr))
        return 1
    return fuzz(args)


if __name__ == "__main__":
    sys.exit(main())
