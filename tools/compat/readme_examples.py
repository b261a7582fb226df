#!/usr/bin/env python3
"""Runs the examples of README.md the way a newcomer would, against real
servers, so that the README cannot drift from what the code does (as
protocol_examples.py does for Protocol/PROTOCOL.md).

    tools/compat/readme_examples.py --vimana .build/debug/vimana [--doc README.md]
    tools/compat/readme_examples.py --vimana .build/debug/vimana --doc docs/SYSTEM-AGENTS.md \
        --section "A day in the city" --port 7379

What is run, in document order:

  ```sh       each line is a shell command, run with bash (comments and
              all). Commands that wait for messages (redis-cli subscribe,
              psubscribe and xread block; vimana sub) are left running in the
              background, as in a second terminal: the next line runs once
              the server lists them as waiting (CLIENT LIST, cmd=subscribe,
              psubscribe or xread). They must still be running at the end of
              the block; `#> ` lines after one are what it has printed by
              then (waited for up to WAIT seconds). Every other command must
              exit 0 within TIMEOUT seconds and print no Redis error (a line
              starting with ERR, NOGROUP, WRONGPASS..., or redis-cli's `AUTH
              failed: `), unless lines starting with `#> ` follow it: then
              they are what it prints, exactly (its non-empty lines, trailing
              blanks set aside, stdout and stderr together), errors included,
              but that in a `#> ` line {int} stands for any integer and {ID}
              for any stream ID (ms-seq), as in protocol_examples.py.
  ```python   run with python3; must exit 0.
  ```yaml     a phoenix.yaml snippet: `vimana check` must accept it.
  ```yaml F   the same, and the snippet is the file F of the scratch
              directory from then on (what the reader saves as F), for the
              commands after it to use: `vimana serve --config F`.
  ```         (no language) a netcat session when it starts with
              `$ nc HOST PORT`: the next line is typed (sent with LF, as nc
              does) and the lines after it are exactly what the server
              answers (each ending in CR LF). An untagged block that does not
              start with `$ ` is more of what the section's first session
              receives. The sessions of one section share a server.
  ```console, ```text and other info strings: not run (docs/OPERATIONS.md
              marks ```console the commands that change the machine as
              root or need the installed service).

Where. Commands run in a scratch directory that stands for the repository
root: config/ and tools/ there are links to the repository's, the ledger a
server writes (data/ledger) is the scratch directory's own, and `vimana` on
PATH is the binary given with --vimana (what `make install` would put there).

Servers and ports: the substitution. The README talks to 127.0.0.1:7379 and
serves HTTP on 7380; a test must take neither (another program may hold
them, and tests run in parallel), nor talk to whatever listens there. So,
in each command (its trailing `# comment` set aside):
  - a `vimana serve` line is run with ` --port 0 --http-port 0` appended (the
    last value of a flag wins), and the port in its `listening` log line is
    the block's server port;
  - a block with no `vimana serve` line talks to the server `make run`
    starts, `vimana serve` with the built-in default configuration, started
    the same way (with those two flags) before the block;
  - `7379` is replaced by the block's server port, and `vimana pub`, `sub`
    and `bench`, which default to 7379, get `--port <that port>` appended
    when they have no --port.
A server runs until the end of its block, then gets SIGTERM and must exit 0.

One section against a given server (--section TITLE --port P): only the
examples under the heading `## TITLE` (up to the next `## ` or `# `
heading) are run, all against the server already listening on P (the
caller started it with the section's configuration): `7379` is replaced by
P, no server is started or stopped, and a `vimana serve` line is not run
(the given server stands for it).

Not run: `make ...` lines. `make run`, `make test` and `make install` build
the release binary (minutes), and `make test` would run this very test; what
`make run` serves is the default server above, and `make install` has a test
of its own (CLITests.makeInstallPutsTheBinaryInPrefixBin).

Exit status 0 with a summary line when every example holds, 1 at the first
one that does not (with the document's line number), 2 on bad arguments.
Standard library only.
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PROG = "readme_examples"
PORT = "7379"       # the README's RESP port, replaced by the block's server port
TIMEOUT = 300.0     # seconds a command may take (the README's benches take seconds)
START = 60.0        # seconds a server may take to start listening
WAIT = 10.0         # seconds to wait for a waiter to subscribe, or for netcat replies
QUIET = 0.2         # seconds of silence that end a netcat session
WAITER = re.compile(r"^redis-cli .*\b(subscribe|psubscribe|xread block)\b|^vimana sub\b", re.I)
CLIENT = re.compile(rb"\bid=(\d+)\b[^\n]*?\bcmd=([a-z|]+)")
ERROR = re.compile(r"^(\(error\) |AUTH failed: )?(ERR|NOGROUP|NOAUTH|NOPERM|WRONGPASS|WRONGTYPE|BUSYGROUP) ", re.M)
PRINTS = "#> "      # a line of a ```sh block: a line the command above it prints
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LISTENING = re.compile(r"\blistening\b.*?\bport=(\d+)")


class Failure(Exception):
    pass


# MARK: - The document

def units(path, only=None):
    """The examples of the document (of its section `## <only>` alone when
    given), in order: (kind, line number, payload).
    kind is "sh", "python" or "yaml" with the block's lines (for "yaml", the
    pair (file name or None, lines)), or "nc" with a list of (line number,
    lines) blocks: one section's netcat sessions."""
    out = []
    fence, start, lines, section = None, 0, [], None
    inside = only is None   # within the section asked for
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if fence is None:
                if line.startswith("## ") or line.startswith("# "):
                    section = n
                    inside = only is None or line == "## " + only
                elif not inside:
                    continue
                elif line.startswith("```"):
                    fence, start, lines = line[3:].strip(), n, []
                continue
            if line.strip() != "```":
                lines.append((n, line))
                continue
            kind, _, name = fence.partition(" ")
            name = name.strip() or None
            if kind == "yaml" and name is not None:
                if not FILE_NAME.match(name):
                    raise Failure(f"{path}:{start}: ```yaml {name}: not a plain file name")
                out.append((kind, start, (name, lines)))
            elif fence in ("sh", "python", "yaml"):
                out.append((fence, start, (None, lines) if fence == "yaml" else lines))
            elif fence == "" and lines:
                first = lines[0][1]
                continues = out and out[-1][0] == "nc" and out[-1][3] == section
                if first.startswith("$ nc "):
                    if continues:
                        out[-1][2].append((start, lines))
                    else:
                        out.append(("nc", start, [(start, lines)], section))
                elif not first.startswith("$ ") and continues:
                    out[-1][2].append((start, lines))
            fence = None
    if fence is not None:
        raise Failure(f"{path}:{start}: unterminated ``` block")
    if only is not None and not out:
        raise Failure(f"{path}: no examples under a heading `## {only}`")
    return [u[:3] for u in out]


# MARK: - Servers

class Run:
    """The scratch directory, and the processes of the block being run."""

    def __init__(self, repo, vimana, given_port=None):
        self.dir = tempfile.mkdtemp(prefix="vimana-readme-")
        for name in ("config", "tools"):
            os.symlink(os.path.join(repo, name), os.path.join(self.dir, name))
        os.mkdir(os.path.join(self.dir, "bin"))
        os.symlink(os.path.abspath(vimana), os.path.join(self.dir, "bin", "vimana"))
        self.env = dict(os.environ, PATH=os.path.join(self.dir, "bin") + os.pathsep + os.environ.get("PATH", ""))
        self.server = None      # (process, log path, where)
        self.port = None
        self.waiters = []       # (process, output path, where, the lines it must have printed)
        self.servers = 0
        self.given_port = given_port    # --port: every example talks to that server

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, command, output):
        with open(output, "wb") as out:
            return subprocess.Popen(["bash", "-c", command], cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def serve(self, command, where):
        """Starts `command` (a `vimana serve` line) on free ports; waits for its listening line.
        With --port, the given server stands for it."""
        if self.given_port is not None:
            self.port = self.given_port
            return
        self.servers += 1
        log = os.path.join(self.dir, "server-%d.log" % self.servers)
        p = self.spawn(command + " --port 0 --http-port 0", log)
        deadline = time.monotonic() + START
        while time.monotonic() < deadline:
            text = read(log)
            m = LISTENING.search(text)
            if m:
                self.server, self.port = (p, log, where), m.group(1)
                return
            if p.poll() is not None:
                break
            time.sleep(0.02)
        stop(p)
        raise Failure(f"{where}: the server did not start: {command}\n{read(log)[-3000:]}")

    def clients(self):
        """CLIENT LIST as (id, last command) pairs, one per connection."""
        with socket.create_connection(("127.0.0.1", int(self.port)), timeout=WAIT) as s:
            s.sendall(b"CLIENT LIST\r\n")
            data = b""
            # A bulk string: $<length>\r\n<bytes>\r\n.
            while b"\r\n" not in data or len(data) < data.index(b"\r\n") + 4 + int(data[1:data.index(b"\r\n")]):
                chunk = s.recv(65536)
                if not chunk:
                    raise Failure(f"the server closed the connection during CLIENT LIST: {data!r}")
                data += chunk
        return [(int(m.group(1)), m.group(2).decode()) for m in CLIENT.finditer(data)]

    def end_block(self):
        """Stops the waiters (they must still be running) and the server (it must exit 0)."""
        try:
            for p, output, where, expected in self.waiters:
                deadline = time.monotonic() + WAIT
                while expected and not printed_as(read(output), expected) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if p.poll() is not None:
                    raise Failure(f"{where}: exited with status {p.returncode} while it should wait:\n{read(output)}")
                text = read(output)
                if expected and not printed_as(text, expected):
                    raise Failure(f"{where}: printed {printed(text)!r}\nthe document says {expected!r}")
                if not expected and ERROR.search(text):
                    raise Failure(f"{where}: printed an error:\n{text}")
            if self.server:
                p, log, where = self.server
                p.send_signal(signal.SIGTERM)
                try:
                    status = p.wait(timeout=WAIT)
                except subprocess.TimeoutExpired:
                    raise Failure(f"{where}: the server did not stop on SIGTERM:\n{read(log)[-3000:]}")
                if status != 0:
                    raise Failure(f"{where}: the server exited with status {status}:\n{read(log)[-3000:]}")
        finally:
            for p, _, _, _ in self.waiters:
                stop(p)
            if self.server:
                stop(self.server[0])
            self.waiters, self.server = [], None
            self.port = self.given_port


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def stop(p):
    """SIGKILL to the whole process group (bash and what it started)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()


# MARK: - Examples

def printed(text):
    """A command's output as `#> ` lines show it: its non-empty lines, trailing blanks set aside."""
    return [out.rstrip() for out in text.splitlines() if out.strip()]


def line_pattern(expected):
    """A `#> ` line as a regex: literal text, {int} any integer, {ID} any stream ID."""
    parts = re.split(r"(\{int\}|\{ID\})", expected)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else ("-?[0-9]+" if p == "{int}" else "[0-9]+-[0-9]+")
                              for i, p in enumerate(parts)))


def printed_as(text, expected):
    """Whether `text` prints exactly the `#> ` lines `expected`."""
    lines = printed(text)
    return len(lines) == len(expected) and all(line_pattern(e).fullmatch(line) for e, line in zip(expected, lines))


def code(line):
    """The command without its trailing `# comment` (a # after whitespace, outside quotes)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                continue
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def client_command(line, port):
    """`line` as run against the block's server on `port` (see the module's doc)."""
    command = code(line).replace(PORT, port)
    if re.match(r"vimana (pub|sub|bench)\b", command) and "--port" not in command:
        command += " --port " + port
    return command


def run_sh(run, path, lines):
    commands, prints = [], {}   # prints: a command's line number -> the lines it must print
    for n, line in lines:
        if line.startswith(PRINTS):
            if not commands or commands[-1][1].startswith("make "):
                raise Failure(f"{path}:{n}: a `{PRINTS.strip()}` line follows no command that runs")
            prints.setdefault(commands[-1][0], []).append(line[len(PRINTS):].rstrip())
        elif line.strip() and not line.lstrip().startswith("#"):
            commands.append((n, line))
    commands = [(n, line) for n, line in commands if not line.startswith("make ")]
    if not commands:
        return 0
    if not any(line.startswith("vimana serve") for _, line in commands):
        run.serve("vimana serve", f"{path}:{commands[0][0]} (the server `make run` starts)")
    ran = 0
    for n, line in commands:
        where = f"{path}:{n}"
        if n in prints and line.startswith("vimana serve"):
            raise Failure(f"{where}: `{PRINTS.strip()}` lines after a server")
        if line.startswith("vimana serve"):
            if run.server:
                raise Failure(f"{where}: a second `vimana serve` in one block")
            run.serve(code(line), where)
            if run.given_port is None:
                ran += 1
            continue
        if run.port is None:
            raise Failure(f"{where}: uses the server before the block's `vimana serve` line")
        command = client_command(line, run.port)
        output = os.path.join(run.dir, "output.txt")
        if WAITER.search(line):
            # Counted by the command it waits in: a server's own agents may
            # come and go in blocking XREADs meanwhile.
            # The waiter is the connection newer than every one before it
            # (CLIENT LIST ids only grow) whose last command is the wait.
            kinds = ("xread",) if re.search(r"\bxread block\b", line, re.I) else ("subscribe", "psubscribe")
            newest = max((i for i, _ in run.clients()), default=0)
            waiter_output = os.path.join(run.dir, "waiter-%d.txt" % n)
            p = run.spawn(command, waiter_output)
            run.waiters.append((p, waiter_output, where, prints.get(n, [])))
            deadline = time.monotonic() + WAIT
            while not any(i > newest and cmd in kinds for i, cmd in run.clients()):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise Failure(f"{where}: never waited for messages: {line}\n{read(waiter_output)}")
                time.sleep(0.02)
        else:
            p = run.spawn(command, output)
            try:
                status = p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                stop(p)
                raise Failure(f"{where}: still running after {TIMEOUT:.0f}s: {line}\n{read(output)[-3000:]}")
            text = read(output)
            if status != 0:
                raise Failure(f"{where}: exit status {status}: {line}\n{text[-3000:]}")
            if n in prints:
                if not printed_as(text, prints[n]):
                    raise Failure(f"{where}: {line}\nprinted {printed(text)!r}\nthe document says {prints[n]!r}")
            elif ERROR.search(text):
                raise Failure(f"{where}: printed an error: {line}\n{text[-3000:]}")
        ran += 1
    return ran


def run_python(run, path, start, lines):
    run.serve("vimana serve", f"{path}:{start} (the server `make run` starts)")
    script = os.path.join(run.dir, "example.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write("\n".join(line for _, line in lines).replace(PORT, run.port) + "\n")
    output = os.path.join(run.dir, "output.txt")
    p = run.spawn("python3 example.py", output)
    try:
        status = p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(p)
        raise Failure(f"{path}:{start}: the Python example still runs after {TIMEOUT:.0f}s:\n{read(output)}")
    if status != 0:
        raise Failure(f"{path}:{start}: the Python example exited with status {status}:\n{read(output)}")


def run_yaml(run, path, start, payload):
    name, lines = payload
    config = os.path.join(run.dir, "example.yaml")
    for target in [config] + ([os.path.join(run.dir, name)] if name else []):
        with open(target, "w", encoding="utf-8") as f:
            f.write("\n".join(line for _, line in lines) + "\n")
    output = os.path.join(run.dir, "output.txt")
    p = run.spawn("vimana check example.yaml", output)
    if p.wait(timeout=TIMEOUT) != 0:
        raise Failure(f"{path}:{start}: vimana check refuses the YAML example:\n{read(output)}")


def run_nc(run, path, blocks):
    """Netcat sessions: `$ nc HOST PORT`, the typed line, then the reply."""
    run.serve("vimana serve", f"{path}:{blocks[0][0]} (the server `make run` starts)")
    sessions = []
    try:
        for start, lines in blocks:
            texts = [line for _, line in lines]
            if texts[0].startswith("$ nc "):
                if len(texts) < 2:
                    raise Failure(f"{path}:{start}: a netcat session without a typed line")
                s = socket.create_connection(("127.0.0.1", int(run.port)), timeout=WAIT)
                sessions.append(s)
                s.sendall(texts[1].encode("utf-8") + b"\n")
                expected = texts[2:]
            else:
                s = sessions[0]
                expected = texts
            want = "".join(t + "\r\n" for t in expected).encode("utf-8")
            got = b""
            deadline = time.monotonic() + WAIT
            while not got.startswith(want) or len(got) < len(want):
                ready, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
                chunk = s.recv(65536) if ready else b""
                if not chunk:
                    raise Failure(f"{path}:{start}: want {want!r}, got {got!r}")
                got += chunk
            if got != want:
                raise Failure(f"{path}:{start}: want {want!r}, got {got!r}")
        for s in sessions:
            ready, _, _ = select.select([s], [], [], QUIET)
            if ready:
                raise Failure(f"{path}:{blocks[-1][0]}: unexpected bytes after the session: {s.recv(65536)!r}")
    finally:
        for s in sessions:
            s.close()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    parser = argparse.ArgumentParser(description="run README.md's examples against real servers")
    parser.add_argument("--vimana", required=True, help="the vimana binary to put on PATH")
    parser.add_argument("--doc", default=os.path.join(repo, "README.md"))
    parser.add_argument("--section", help="run only the examples under the heading `## SECTION`")
    parser.add_argument("--port", type=int, help="run every example against the server listening on this port")
    args = parser.parse_args()
    if args.port is not None and not 0 < args.port < 65536:
        print(f"{PROG}: --port {args.port}: not a port", file=sys.stderr)
        return 2
    if not os.access(args.vimana, os.X_OK):
        print(f"{PROG}: {args.vimana}: not an executable", file=sys.stderr)
        return 2
    # As in a terminal: a parent (the test runner) may have left these blocked,
    # and the README's programs would inherit that.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    path = os.path.relpath(args.doc, repo)
    if path.startswith(".."):
        path = os.path.abspath(args.doc)
    run = Run(repo, args.vimana, None if args.port is None else str(args.port))
    run.port = run.given_port
    counts = {"sh": 0, "python": 0, "yaml": 0, "nc": 0}
    try:
        for kind, start, payload in units(args.doc, args.section):
            try:
                if kind == "sh":
                    counts["sh"] += run_sh(run, path, payload)
                elif kind == "python":
                    run_python(run, path, start, payload)
                    counts["python"] += 1
                elif kind == "yaml":
                    run_yaml(run, path, start, payload)
                    counts["yaml"] += 1
                else:
                    run_nc(run, path, payload)
                    counts["nc"] += len(payload)
            finally:
                run.end_block()
    except Failure as e:
        print(f"{PROG}: FAIL {e}")
        return 1
    except OSError as e:
        print(f"{PROG}: FAIL {e}")
        return 1
    finally:
        run.close()
    where = path if args.section is None else f"{path} (## {args.section})"
    print(f"{PROG}: OK: {counts['sh']} shell commands, {counts['python']} Python and {counts['yaml']} YAML "
          f"examples, {counts['nc']} netcat blocks in {where} hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
