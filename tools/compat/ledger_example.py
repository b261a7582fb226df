#!/usr/bin/env python3
"""Runs the reader of Protocol/LEDGER.md section 7 ("Reading a ledger, in
short") as a stranger would copy it, so that the document cannot drift from
what the server writes:

    tools/compat/ledger_example.py --vimana .build/debug/vimana [--doc Protocol/LEDGER.md]

1. The section's one ```python block is written to a file, imported, and run
   as a script.
2. A real server (`vimana serve`, on free ports, a fresh ledger directory,
   64 KiB segments, compaction off) is sent records of every shape: PUBLISH
   and XADD, a client name and none, empty, repeated, non-UTF-8 and
   non-ASCII names and values, frames stored and deflated, the kernel's own
   journal records; then it is stopped with SIGTERM and must exit 0.
3. Every record the block reads is exactly what `vimana ledger dump --json`
   prints for that ledger, in the same order, and the block as a script
   prints one line per record and exits 0.
4. Removals: before the stop, the server is sent XDEL, XTRIM (exact and
   `~`), XADD with MAXLEN, DEL and XADD again, and each topic's XRANGE is
   read; section 9's one ```python block (`live`, on section 7's records)
   must yield exactly those entries, topic by topic.
5. Damage: on copies of that ledger, each check the document lists (a frame
   header field, a CRC, the zlib stream, a record, a missing segment, the
   end of the file) is broken in turn, with every other check still passing
   (CRCs recomputed). The block must raise its `Damage` naming the segment
   and offset of the broken frame, after yielding exactly the records
   before it, and `vimana ledger verify` must fail on the same copy. A gap
   that `damaged/` names, files that are not segments, and the highest
   sequence a frame may reach must read without Damage and verify.

Exit status 0 with a summary line when all of it holds, 1 at the first thing
that does not, 2 on bad arguments. Standard library only.
"""
import argparse
import base64
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib

PROG = "ledger_example"
SECTION = "## 7. Reading a ledger, in short"
REMOVALS = "## 9. Removals: XDEL, XTRIM, DEL"
START = 60.0       # seconds the server may take to start listening
WAIT = 30.0        # seconds a reply, a stop or a vimana ledger command may take
CONFIG = """\
ledger:
  segment_bytes: 64KiB      # several segments from a few hundred KiB
  compaction_level: off     # sealed segments keep their many small frames
agents:
  - id: worker              # its consumer group is journaled on _vimana.groups
    subscribes: ["tasks.*"]
"""
ROUNDS = 90                 # round trips of writes, about 3 KiB of compressed records each: 4 segments
# ...usually. A segment is sealed only between fsyncs (LEDGER.md: one fsync of
# a segment at a time), so on a machine whose disk is slow an fsync in flight
# lets a segment grow past segment_bytes; the writes go on until there are
# SEGMENTS files, up to MAX_ROUNDS.
SEGMENTS = 4
MAX_ROUNDS = 2000
MAX_SEQUENCE = 2**63 - 1
HEADER = struct.Struct("<4sHHQIIII")    # a frame header without its CRC


class Failure(Exception):
    pass


# MARK: - The document

def extract(path, wanted=SECTION):
    """The source of the one ```python block of section `wanted`."""
    blocks, section, current = [], False, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if current is not None:
                if line.strip() == "```":
                    blocks.append("".join(current))
                    current = None
                else:
                    current.append(line)
            elif line.startswith("## "):
                section = line.strip() == wanted
            elif section and line.strip() == "```python":
                current = []
    if len(blocks) != 1:
        raise Failure(f"{path}: want one ```python block under {wanted!r}, found {len(blocks)}")
    return blocks[0]


def load(source, directory):
    path = os.path.join(directory, "ledger_in_short.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("ledger_in_short", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("records", "Damage", "live"):
        if not hasattr(module, name):
            raise Failure(f"the blocks of sections 7 and 9 define no `{name}`")
    return module, path


# MARK: - A ledger written by the server

def command(*args):
    args = [a if isinstance(a, bytes) else str(a).encode("utf-8") for a in args]
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def round_trip(sock, payload):
    """Sends `payload` and a PING; returns what came back before the PONG."""
    sock.sendall(payload + command("PING"))
    data, deadline = b"", time.monotonic() + WAIT
    while not data.endswith(b"+PONG\r\n"):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise Failure(f"the server closed the connection; got {data[-300:]!r}")
        data += chunk
    if data.startswith(b"-") or b"\r\n-" in data:
        raise Failure(f"the server refused a write: {data[-300:]!r}")
    return data


def write_ledger(vimana, directory, scratch):
    config = os.path.join(scratch, "phoenix.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    log = os.path.join(scratch, "server.log")
    with open(log, "wb") as out:
        server = subprocess.Popen([vimana, "serve", "--no-system-agents", "--config", config, "--ledger-dir", directory, "--port", "0",
                                   "--http-port", "0", "--log-format", "json"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out)
    try:
        port, deadline = None, time.monotonic() + START
        while port is None:
            for line in read(log).splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "listening":
                    port = event["port"]
            if port is None and (server.poll() is not None or time.monotonic() > deadline):
                raise Failure(f"the server did not start:\n{read(log)[-3000:]}")
            time.sleep(0.02)
        named = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        anonymous = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        noise = random.Random(ROUNDS)
        round_trip(named, command("CLIENT", "SETNAME", "writer"))
        round_trip(anonymous, command("PUBLISH", "tasks.x", "a task: the worker's group is journaled"))
        i = 0
        while i < ROUNDS or len(segments(directory)) < SEGMENTS:
            if i == MAX_ROUNDS:
                raise Failure(f"{MAX_ROUNDS} rounds of writes made {len(segments(directory))} segments of "
                              f"segment_bytes 64KiB, want {SEGMENTS}:\n{read(log)[-3000:]}")
            round_trip(named, command("XADD", "orders", "*", "item", "pen-%d" % i, "qty", str(i))
                       + command("PUBLISH", "events.audit", '{"n":%d}' % i)
                       # More than 2 KiB of records in one commit: a deflated frame, not a stored one;
                       # random, so that they fill segments even compressed.
                       + command("XADD", "big", "*", "payload", base64.b64encode(noise.randbytes(2400))))
            round_trip(anonymous, command("XADD", "odd", "*", "", "", "dup", "1", "dup", "2")
                       + command("XADD", "bytes", "*", b"\xff\xfe", b"a\r\nb\x00c\x80", "k", "\\")
                       + command("XADD", "unicode", "*", "naïve", "ü \u2028 \x85 \U0001F600"))
            i += 1
        seen = remove_some(named)
        named.close()
        anonymous.close()
        server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            raise Failure(f"the server did not stop on SIGTERM:\n{read(log)[-3000:]}")
        if status != 0:
            raise Failure(f"the server exited with status {status}:\n{read(log)[-3000:]}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return seen


# The topics a client wrote, whose XRANGE section 9's reader must match.
TOPICS = [b"orders", b"big", b"odd", b"bytes", b"unicode", b"events.audit", b"gone"]


def remove_some(sock):
    """Removes entries every way there is; returns each topic's XRANGE after."""
    ids = {t: [e[0] for e in entries(round_trip(sock, command("XRANGE", t, "-", "+")))] for t in (b"orders", b"odd")}
    round_trip(sock, command("XDEL", "orders", ids[b"orders"][0], ids[b"orders"][3], ids[b"orders"][-1])
               + command("XTRIM", "big", "MAXLEN", "5")
               + command("XTRIM", "odd", "MINID", ids[b"odd"][len(ids[b"odd"]) // 2])
               + command("XTRIM", "bytes", "MAXLEN", "~", "10")
               + command("XADD", "events.audit", "MAXLEN", "=", "3", "*", "payload", "last")
               + command("XADD", "gone", "*", "a", "1") + command("DEL", "gone", "unicode")
               + command("XADD", "unicode", "*", "again", "after DEL")
               + command("XDEL", "orders", ids[b"orders"][1]))
    return {t: entries(round_trip(sock, command("XRANGE", t, "-", "+"))) for t in TOPICS}


def entries(reply):
    """The (ID, [(name, value)]) of an XRANGE reply (RESP2), followed by +PONG."""
    at = 0

    def line():
        nonlocal at
        end = reply.index(b"\r\n", at)
        text, at = reply[at:end], end + 2
        return text

    def value():
        nonlocal at
        head = line()
        if head[:1] == b"*":
            return [value() for _ in range(int(head[1:]))]
        if head[:1] == b"$":
            n = int(head[1:])
            data = reply[at:at + n]
            at += n + 2
            return data
        raise Failure(f"unexpected reply {reply[:300]!r}")

    return [(e[0], list(zip(e[1][0::2], e[1][1::2]))) for e in value()]


def check_removals(module, directory, seen):
    """Section 9's `live` over section 7's records yields each topic's XRANGE."""
    got = {t: [] for t in TOPICS}
    for r in module.live(module.records(directory)):
        if r["topic"] in got:
            got[r["topic"]].append((r["id"].encode(), r["fields"]))
    for t in TOPICS:
        if got[t] != seen[t]:
            raise Failure(f"section 9's live() on {t!r}: {len(got[t])} entries, XRANGE answered {len(seen[t])}: "
                          f"{got[t][:3]!r} ... against {seen[t][:3]!r} ...")
    if not any(seen.values()) or seen[b"gone"] or len(seen[b"big"]) != 5:
        raise Failure(f"the removals did not do what they should: {[(t, len(seen[t])) for t in TOPICS]}")
    return sum(len(v) for v in seen.values())


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


# MARK: - What vimana ledger dump --json prints

def dump_object(r, format_timestamp):
    """The object `vimana ledger dump --json` prints for a record read by the
    block (Sources/vimana/LedgerFormat.swift, jsonLine): strings as UTF-8 or,
    when any of the record's bytes are not UTF-8, every string with `\\`
    doubled and each such byte as \\xHH, and "escaped": true."""
    pieces = [r["topic"], r["client_name"], r["publisher"], r["origin"]] + [b for pair in r["fields"] for b in pair]
    escaped = False
    for b in pieces:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            escaped = True

    def text(b):
        return b.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace") if escaped else b.decode("utf-8")
    names = [n for n, _ in r["fields"]]
    pairs = [[text(n), text(v)] for n, v in r["fields"]]
    obj = {"seq": r["seq"], "id": r["id"], "ts": format_timestamp(r["timestamp_us"]), "topic": text(r["topic"]),
           "client_id": r["client_id"], "client_name": text(r["client_name"]) if r["client_name"] else None,
           "publisher": text(r["publisher"]) if r["publisher"] else None}
    if r["origin"]:
        # Only a record received from another kernel has an origin (LEDGER.md section 3).
        obj["origin"], obj["origin_seq"] = text(r["origin"]), r["origin_seq"]
    obj["fields"] = dict(pairs) if len(set(names)) == len(names) else pairs
    if escaped:
        obj["escaped"] = True
    return obj


def vimana_ledger(vimana, *args):
    p = subprocess.run([vimana, "ledger"] + list(args), stdin=subprocess.DEVNULL, capture_output=True, timeout=WAIT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def compare_with_dump(module, script, vimana, directory, format_timestamp):
    try:
        got = list(module.records(directory))
    except module.Damage as e:
        raise Failure(f"the block of section 7 finds damage in a ledger the server wrote: {e}")
    status, out, err = vimana_ledger(vimana, "dump", directory, "--json", "--all")
    if status != 0:
        raise Failure(f"vimana ledger dump --json --all exited with status {status}: {err}")
    # Without --all the dump leaves out what section 9's markers removed, and nothing else.
    status, plain, err = vimana_ledger(vimana, "dump", directory, "--json")
    kept = {r["seq"] for r in module.live(got)} | {r["seq"] for r in got if r["topic"].startswith(b"_vimana.")}
    printed = [json.loads(line)["seq"] for line in plain.splitlines()]
    if status != 0 or printed != [r["seq"] for r in got if r["seq"] in kept] or len(printed) == len(got):
        raise Failure(f"vimana ledger dump (without --all) printed {len(printed)} records, want the {len(kept)} "
                      f"section 9 keeps of {len(got)} (status {status}: {err})")
    lines = out.splitlines()
    if len(lines) != len(got):
        raise Failure(f"the block reads {len(got)} records, vimana ledger dump prints {len(lines)}")
    for r, line in zip(got, lines):
        want = json.loads(line)
        mine = dump_object(r, format_timestamp)
        # Field order matters too: json.loads keeps the printed order.
        if mine != want or (isinstance(want["fields"], dict) and list(mine["fields"]) != list(want["fields"])):
            raise Failure(f"record {r['seq']}: the block reads {mine}, vimana ledger dump prints {want}")
    # As a script, one line per record, beginning with its sequence and ID.
    p = subprocess.run([sys.executable, script, directory], capture_output=True, timeout=WAIT)
    printed = p.stdout.decode("utf-8", "replace").splitlines()
    if p.returncode != 0 or len(printed) != len(got) or any(
            not line.startswith("%d %s " % (r["seq"], r["id"])) for r, line in zip(got, printed)):
        raise Failure(f"the block run as a script exited {p.returncode} with {len(printed)} lines for "
                      f"{len(got)} records:\n{p.stdout[:500]!r}\n{p.stderr.decode('utf-8', 'replace')[-1500:]}")
    return got


# MARK: - Damage

def segments(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".seg"))


def frames(path):
    """(offset, first, count, uncompressed length, compressed bytes) of each
    frame of a segment the server wrote whole."""
    with open(path, "rb") as f:
        data = f.read()
    out, offset = [], 0
    while offset < len(data):
        _, _, _, first, count, raw_length, length, _ = HEADER.unpack_from(data, offset)
        out.append((offset, first, count, raw_length, data[offset + 36:offset + 36 + length]))
        offset += 36 + length
    return out, data


def frame(first, count, raw_length, compressed, magic=b"VMLF", version=3, flags=0, length=None, data_crc=None):
    """A frame with its CRCs computed (unless given): only what is asked is wrong."""
    head = HEADER.pack(magic, version, flags, first, count, raw_length,
                       len(compressed) if length is None else length,
                       zlib.crc32(compressed) if data_crc is None else data_crc)
    return head + struct.pack("<I", zlib.crc32(head)) + compressed


def deflate(raw, wbits=15):
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return z.compress(raw) + z.flush()


def first_record(raw):
    """(the first record's bytes, the rest) of a frame's records."""
    end = 4 + struct.unpack_from("<I", raw, 0)[0]
    return raw[:end], raw[end:]


def recorded(raw, change):
    """A frame's records with the first record changed by `change` (a function of its bytes)."""
    record, rest = first_record(raw)
    return change(bytearray(record)) + rest


def shifted(raw, by):
    """A frame's records with every sequence `by` more."""
    out, at = bytearray(raw), 0
    while at < len(out):
        struct.pack_into("<Q", out, at + 4, struct.unpack_from("<Q", out, at + 4)[0] + by)
        at += 4 + struct.unpack_from("<I", out, at)[0]
    return bytes(out)


def set_u64(at, value):
    def change(b):
        struct.pack_into("<Q", b, at, value)
        return bytes(b)
    return change


def record_field_count_plus_one(b):
    # After L, five 8-byte numbers, the topic, the client name, the publisher
    # and the origin (each a length and bytes), then the origin sequence (version 3).
    at = 44
    for _ in range(4):
        at += 4 + struct.unpack_from("<I", b, at)[0]
    at += 8
    struct.pack_into("<I", b, at, struct.unpack_from("<I", b, at)[0] + 1)
    return bytes(b)


def relaid(raw, version, origin=None):
    """A frame's records (version 3) laid out as `version`: version 2 drops
    the origin and its sequence, version 1 the publisher too. `origin`
    (version 3): each record's origin and origin sequence set to (node id,
    its own sequence + 1000), as a record received from that kernel."""
    out, at = bytearray(), 0
    while at < len(raw):
        record = raw[at:at + 4 + struct.unpack_from("<I", raw, at)[0]]
        publisher_at = 44
        for _ in range(2):             # the topic and the client name
            publisher_at += 4 + struct.unpack_from("<I", record, publisher_at)[0]
        origin_at = publisher_at + 4 + struct.unpack_from("<I", record, publisher_at)[0]
        fields_at = origin_at + 4 + struct.unpack_from("<I", record, origin_at)[0] + 8
        if version == 1:
            body = record[4:publisher_at] + record[fields_at:]
        elif version == 2:
            body = record[4:origin_at] + record[fields_at:]
        else:
            sequence = struct.unpack_from("<Q", record, 4)[0]
            body = (record[4:origin_at] + struct.pack("<I", len(origin)) + origin
                    + struct.pack("<Q", sequence + 1000) + record[fields_at:])
        out += struct.pack("<I", len(body)) + body
        at += len(record)
    return bytes(out)


def record_longer_than_fields(b):
    struct.pack_into("<I", b, 0, struct.unpack_from("<I", b, 0)[0] + 1)
    return bytes(b) + b"\0"


def frame_mutations():
    """(name, function of (first, count, raw length, compressed, header bytes) -> frame bytes)."""
    def raw_of(f):
        return zlib.decompress(f[3])
    return [
        ("header CRC", lambda f: f[4][:32] + struct.pack("<I", zlib.crc32(f[4][:32]) ^ 1) + f[4][36:]),
        ("magic", lambda f: frame(f[0], f[1], f[2], f[3], magic=b"VMLG")),
        ("version 4", lambda f: frame(f[0], f[1], f[2], f[3], version=4)),
        ("version 0", lambda f: frame(f[0], f[1], f[2], f[3], version=0)),
        ("version 1 on records of version 3", lambda f: frame(f[0], f[1], f[2], f[3], version=1)),
        ("version 2 on records of version 3", lambda f: frame(f[0], f[1], f[2], f[3], version=2)),
        ("version 3 on records of version 2",
         lambda f: frame(f[0], f[1], len(relaid(raw_of(f), 2)), deflate(relaid(raw_of(f), 2)))),
        ("flags bit 0", lambda f: frame(f[0], f[1], f[2], f[3], flags=1)),
        ("flags bit 15", lambda f: frame(f[0], f[1], f[2], f[3], flags=0x8000)),
        ("record count 0", lambda f: frame(f[0], 0, f[2], f[3])),
        ("an empty frame of 0 records before it", lambda f: frame(f[0], 0, 0, deflate(b"")) + f[4]),
        ("record count one more", lambda f: frame(f[0], f[1] + 1, f[2], f[3])),
        ("record count one less", lambda f: frame(f[0], f[1] - 1, f[2], f[3])),
        ("first sequence one more", lambda f: frame(f[0] + 1, f[1], f[2], f[3])),
        ("first sequence one less", lambda f: frame(f[0] - 1, f[1], f[2], f[3])),
        ("the frame and its records one sequence later", lambda f: frame(f[0] + 1, f[1], f[2], deflate(shifted(raw_of(f), 1)))),
        ("uncompressed length one more", lambda f: frame(f[0], f[1], f[2] + 1, f[3])),
        ("uncompressed length one less", lambda f: frame(f[0], f[1], f[2] - 1, f[3])),
        ("compressed length one more", lambda f: frame(f[0], f[1], f[2], f[3], length=len(f[3]) + 1)),
        ("data CRC", lambda f: frame(f[0], f[1], f[2], f[3], data_crc=zlib.crc32(f[3]) ^ 1)),
        ("a bit of the data", lambda f: frame(f[0], f[1], f[2], f[3][:-5] + bytes([f[3][-5] ^ 1]) + f[3][-4:],
                                              data_crc=zlib.crc32(f[3]))),
        ("a byte after the zlib stream", lambda f: frame(f[0], f[1], f[2], f[3] + b"\0")),
        ("two zlib streams", lambda f: frame(f[0], f[1], f[2], deflate(raw_of(f)[:10]) + deflate(raw_of(f)[10:]))),
        ("raw deflate, no zlib header", lambda f: frame(f[0], f[1], f[2], deflate(raw_of(f), -15))),
        ("gzip instead of zlib", lambda f: frame(f[0], f[1], f[2], deflate(raw_of(f), 31))),
        ("a record's sequence", lambda f: frame(f[0], f[1], f[2], deflate(recorded(raw_of(f), set_u64(4, f[0] + 1))))),
        ("bytes after the last record", lambda f: frame(f[0], f[1], f[2] + 4, deflate(raw_of(f) + b"\0" * 4))),
        ("a record longer than its fields",
         lambda f: frame(f[0], f[1], f[2] + 1, deflate(recorded(raw_of(f), record_longer_than_fields)))),
        ("a record's field count", lambda f: frame(f[0], f[1], f[2], deflate(recorded(raw_of(f), record_field_count_plus_one)))),
        ("a record's length past the data",
         lambda f: frame(f[0], f[1], f[2], deflate(recorded(raw_of(f), lambda b: bytes(b[:0]) + struct.pack("<I", 1 << 20) + bytes(b[4:]))))),
    ]


class Copies:
    """Copies of the server's ledger, one per case, in `scratch`."""

    def __init__(self, source, scratch):
        self.source, self.scratch, self.count = source, scratch, 0

    def make(self):
        self.count += 1
        path = os.path.join(self.scratch, "copy-%d" % self.count)
        shutil.copytree(self.source, path)
        return path


def expect_damage(module, vimana, directory, name, case, where, before):
    """The block raises Damage naming `where`, after exactly the records
    `before`; vimana ledger verify fails on the same directory."""
    got = []
    try:
        for r in module.records(directory):
            got.append(r)
    except module.Damage as e:
        if not str(e).startswith(where):
            raise Failure(f"{case}: the block's Damage says {str(e)!r}, not where the damage is ({where})")
    except Exception as e:
        raise Failure(f"{case}: the block raised {type(e).__name__}: {e}, not its Damage")
    else:
        raise Failure(f"{case}: the block of section 7 reads {len(got)} records and finds nothing wrong")
    if [r["seq"] for r in got] != [r["seq"] for r in before]:
        raise Failure(f"{case}: the block yields {len(got)} records before its Damage, want the {len(before)} "
                      f"of the valid frames before the damage")
    status, out, err = vimana_ledger(vimana, "verify", directory)
    if status != 1 or name not in out:
        raise Failure(f"{case}: vimana ledger verify exits {status} and does not name {name}, yet the block "
                      f"finds damage there:\n{out}{err}")


def expect_whole(module, vimana, directory, case, want):
    try:
        got = [r["seq"] for r in module.records(directory)]
    except module.Damage as e:
        raise Failure(f"{case}: the block of section 7 finds damage where there is none: {e}")
    if got != want:
        raise Failure(f"{case}: the block reads sequences {got[:5]}… ({len(got)}), want {want[:5]}… ({len(want)})")
    status, out, err = vimana_ledger(vimana, "verify", directory)
    if status != 0:
        raise Failure(f"{case}: vimana ledger verify exits {status}, while the block reads it whole:\n{out}{err}")


def damage_cases(module, script, vimana, source, scratch, records, format_timestamp):
    copies = Copies(source, scratch)
    names = segments(source)
    if len(names) < 3:
        raise Failure(f"the server wrote {len(names)} segments; the cases below need 3 (more rounds?)")
    # A sealed segment's frame that is neither its first nor its last.
    target = names[1]
    found, _ = frames(os.path.join(source, target))
    if len(found) < 3:
        raise Failure(f"{target} has {len(found)} frames; the cases below need 3")
    offset, first, count, raw_length, compressed = found[1]
    whole = frame(first, count, raw_length, compressed)
    before = [r for r in records if r["seq"] < first]
    cases = 0
    for case, mutate in frame_mutations():
        path = copies.make()
        seg = os.path.join(path, target)
        with open(seg, "rb") as f:
            data = f.read()
        if data[offset:offset + len(whole)] != whole:
            raise Failure(f"{target}: the frame at offset {offset} is not what this script rebuilds from it")
        bad = mutate((first, count, raw_length, compressed, whole))
        with open(seg, "wb") as f:
            f.write(data[:offset] + bad + data[offset + len(whole):])
        expect_damage(module, vimana, path, target, case, f"{target}: frame at offset {offset}", before)
        cases += 1

    # A frame of version 1 (a ledger written before the publisher was kept,
    # appended to since), one of version 2 (before the origin was) and one
    # of version 3 whose records came from another kernel (their origin set),
    # among frames of version 3: whole, each record read by its frame's
    # version as vimana ledger dump reads it.
    path = copies.make()
    seg = os.path.join(path, target)
    with open(seg, "rb") as f:
        data = f.read()
    changed = {}                       # the first sequence of each frame replaced, and how its records read now
    for k, (version, change) in enumerate([(1, {"publisher": b""}), (2, {}), (3, {"origin": b"node-b.2"})]):
        f_offset, f_first, f_count, _, f_compressed = found[k]
        raw = relaid(zlib.decompress(f_compressed), version, change.get("origin"))
        data = data[:f_offset] + frame(f_first, f_count, len(raw), deflate(raw), version=version) \
            + data[f_offset + 36 + len(f_compressed):]
        # Later frames moved: the offsets of `found` after this one, by the size difference.
        grown = len(deflate(raw)) - len(f_compressed)
        found = found[:k + 1] + [(o + grown, *rest) for o, *rest in found[k + 1:]]
        changed[f_first] = (f_count, change)
    with open(seg, "wb") as f:
        f.write(data)
    os.remove(os.path.join(path, target[:-4] + ".idx"))  # its offsets moved: rebuilt from the segment
    expect_whole(module, vimana, path, "frames of versions 1, 2 and 3 (one with an origin) among frames of version 3",
                 [r["seq"] for r in records])
    mixed = compare_with_dump(module, script, vimana, path, format_timestamp)
    origins = 0
    for r, was in zip(mixed, records):
        want = was
        for f_first, (f_count, change) in changed.items():
            if f_first <= r["seq"] < f_first + f_count:
                want = dict(was, **change)
                if "origin" in change:
                    want["origin_seq"] = r["seq"] + 1000
                    origins += 1
        if r != want or (was["origin"], was["origin_seq"]) != (b"", 0) or (
                was["topic"] == b"orders" and was["publisher"] != b"default"):
            raise Failure(f"frames of versions 1, 2 and 3: record {r['seq']} reads {r}, want {want}")
    if not origins:
        raise Failure("frames of versions 1, 2 and 3: no record read with an origin")
    cases += 1

    # The end of the last segment: a frame cut short, and bytes after the last frame.
    last = names[-1]
    last_frames, data = frames(os.path.join(source, last))
    if not last_frames:
        raise Failure(f"the active segment {last} is empty")
    end_offset, end_first = last_frames[-1][0], last_frames[-1][1]
    for case, tail, where, before_seq in [
            ("the last frame cut short", data[:-1], end_offset, end_first),
            ("the last frame's header cut short", data[:end_offset + 20], end_offset, end_first),
            ("zeros after the last frame", data + b"\0" * 40, len(data), records[-1]["seq"] + 1)]:
        path = copies.make()
        with open(os.path.join(path, last), "wb") as f:
            f.write(tail)
        expect_damage(module, vimana, path, last, case, f"{last}: frame at offset {where}",
                      [r for r in records if r["seq"] < before_seq])
        cases += 1

    # A missing segment: the next one does not start where the previous ended.
    gap_first, gap_end = int(target[:20]), int(names[2][:20])
    path = copies.make()
    os.remove(os.path.join(path, target))
    os.remove(os.path.join(path, target[:-4] + ".idx"))
    expect_damage(module, vimana, path, names[2], "a missing segment", names[2],
                  [r for r in records if r["seq"] < gap_first])
    cases += 1

    # The same gap, named in damaged/ as `vimana ledger repair` names one: legitimate.
    path = copies.make()
    os.remove(os.path.join(path, target))
    os.remove(os.path.join(path, target[:-4] + ".idx"))
    os.mkdir(os.path.join(path, "damaged"))
    with open(os.path.join(path, "damaged", "%020d-%020d.%s.0.damaged" % (gap_first, gap_end, target)), "wb") as f:
        f.write(b"the bytes repair removed")
    expect_whole(module, vimana, path, "a gap that damaged/ names",
                 [r["seq"] for r in records if not gap_first <= r["seq"] < gap_end])
    cases += 1

    # Files that are not segments: a name above 2^63 - 1, a temporary file, a stranger.
    path = copies.make()
    for stranger in ["%020d.seg" % (MAX_SEQUENCE + 1), target + ".tmp", "notes.seg", "1.seg"]:
        with open(os.path.join(path, stranger), "wb") as f:
            f.write(b"not a segment")
    expect_whole(module, vimana, path, "files that are not segments", [r["seq"] for r in records])
    cases += 1

    # The highest sequences: first + count may be 2^63 - 1, not more.
    raw, _ = first_record(zlib.decompress(found[0][4]))
    for first_seq, ok in [(MAX_SEQUENCE - 2, True), (MAX_SEQUENCE - 1, False)]:
        path = os.path.join(scratch, "highest-%d" % first_seq)
        os.mkdir(path)
        # The same record twice, the second one stream ID later (IDs of a topic increase).
        id_seq = struct.unpack_from("<Q", raw, 20)[0]
        later = set_u64(20, id_seq + 1)(bytearray(raw))
        two = set_u64(4, first_seq)(bytearray(raw)) + set_u64(4, first_seq + 1)(bytearray(later))
        seg = "%020d.seg" % first_seq
        with open(os.path.join(path, seg), "wb") as f:
            f.write(frame(first_seq, 2, len(two), deflate(two)))
        if ok:
            expect_whole(module, vimana, path, "a frame ending at sequence 2^63 - 1", [first_seq, first_seq + 1])
        else:
            expect_damage(module, vimana, path, seg, "a frame ending past sequence 2^63 - 1",
                          f"{seg}: frame at offset 0", [])
        cases += 1
    return cases


# MARK: - Main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.abspath(os.path.join(here, "..", ".."))
    parser = argparse.ArgumentParser(description="run Protocol/LEDGER.md section 7's reader against a real ledger")
    parser.add_argument("--vimana", required=True, help="the vimana binary")
    parser.add_argument("--doc", default=os.path.join(repo, "Protocol", "LEDGER.md"))
    args = parser.parse_args()
    if not os.access(args.vimana, os.X_OK):
        print(f"{PROG}: {args.vimana}: not an executable", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.join(repo, "tools", "ledger"))
    from vimana_ledger import format_timestamp
    scratch = tempfile.mkdtemp(prefix="vimana-ledger-example-")
    try:
        module, script = load(extract(args.doc) + "\n\n" + extract(args.doc, REMOVALS), scratch)
        ledger = os.path.join(scratch, "ledger")
        seen = write_ledger(args.vimana, ledger, scratch)
        kept = check_removals(module, ledger, seen)
        records = compare_with_dump(module, script, args.vimana, ledger, format_timestamp)
        written = len(segments(ledger))
        cases = damage_cases(module, script, args.vimana, ledger, scratch, records, format_timestamp)
    except Failure as e:
        print(f"{PROG}: FAIL {e}")
        return 1
    except (OSError, subprocess.SubprocessError) as e:
        print(f"{PROG}: FAIL {e}")
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{PROG}: OK: the reader of {os.path.relpath(args.doc, repo)} section 7 reads the {len(records)} records "
          f"of {written} segments as vimana ledger dump does, and finds all {cases} cases of damage "
          f"where vimana ledger verify does; section 9's live() keeps the {kept} entries XRANGE answered after removals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
