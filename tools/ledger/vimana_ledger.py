#!/usr/bin/env python3
"""Reads a Vimana ledger directory (Protocol/LEDGER.md, format versions 1 to 3) with
nothing but the Python standard library: the proof that the document alone is
enough to read what the server writes.

    vimana_ledger.py dump DIR [--from SEQ] [--topic PATTERN] [--json] [--strict] [--all]
    vimana_ledger.py verify DIR [--index]
    vimana_ledger.py stats DIR [--from SEQ] [--topic PATTERN]

dump    one line per record. Text: `SEQ ID TOPIC name=value ...`, where a
        topic, name or value that is empty, not UTF-8, or holds a space, a
        quote, a backslash, `=` (names only) or a control character is
        written "quoted" with \\\\ \\" \\n \\r \\t \\xHH escapes; a record that
        came from another kernel (its origin is not empty, LEDGER.md section
        3) has `@ORIGIN:OSEQ` after its topic, ORIGIN written the same way.
        --json: one object per line,
        {"seq","id","ts","topic","client_id","client_name","publisher","fields"},
        and "origin" and "origin_seq" after "publisher" when the origin is not empty,
        with ts the record's time as `vimana ledger dump --json` prints it
        (RFC 3339, UTC, microseconds: "2026-11-25T09:51:45.123456Z") and
        fields an object when the names are unique, else [[name, value],
        ...]; bytes that are not UTF-8 become U+FFFD. A torn tail on the last
        segment (LEDGER.md section 5) ends the output as the server's recovery
        would (a note on stderr, exit 0); --strict makes it an error (exit 1).
        Corruption is noted on stderr (exit 1) and the output goes on with the
        next valid frame, as `vimana ledger repair` would keep it. Entries
        that XDEL, XTRIM or DEL removed (LEDGER.md section 9) are left out,
        their markers on _vimana.removals kept; --all prints them too.
verify  checks every frame of every segment, past damage, that segments
        follow each other (a gap is legitimate only where DIR/damaged names
        it), and that each topic's stream IDs increase; prints each problem
        with its segment, frame number (0-based) and byte offset, and says
        whether damage is a torn tail or corruption; exit 0 when there is none.
        Index files are checked too; a bad one is a warning (the index
        is optional and readers fall back to scanning) unless --index.
stats   records, segments, raw and compressed bytes, ratio, one line per
        segment (with its index's state), topics with counts, and -- with
        --from -- whether the start was found through the index or a scan.

As a library:

    from vimana_ledger import read_ledger, LedgerError, TornTail
    try:
        for rec in read_ledger("data/ledger", from_seq=100, topic_glob="orders.*"):
            print(rec["id"], rec["topic"], rec["fields"])
    except TornTail:
        pass            # the server would truncate here on start
    except Corrupt as e:
        print(e.damage.describe())  # the server refuses to start: vimana ledger repair

Each record is a dict: seq, id ("ms-seq"), id_ms, id_seq, timestamp_us,
client_id, client_name, publisher, origin, origin_seq, topic, fields, segment
(file name), offset (of its frame's header), and the exact bytes: topic_bytes,
client_name_bytes, publisher_bytes, origin_bytes, fields_bytes ([(name, value),
...]). `publisher` (the user who published, LEDGER.md section 3) is None when
the record has none: the server's own records, and every record of a version 1
frame. `origin` (the node id of the kernel the record was first published on,
when it came from another kernel through federation) is None, and `origin_seq`
(its sequence in that kernel's ledger) 0, for a record published on this
kernel and every record of a version 1 or 2 frame. `topic` and `client_name` are decoded
from UTF-8 with errors="surrogateescape", so they are lossless:
s.encode("utf-8", "surrogateescape") gives the bytes back. `client_name` is
None when the record has none (N = 0). `fields` is [[name, value], ...] decoded
with errors="replace", for display; use fields_bytes for the exact bytes.

Validation. Every frame that yields records is checked as LEDGER.md section
2 defines a valid frame. With --from, the frames of a sealed segment wholly
before SEQ are passed over as the server does: found through the segment's
index when it is valid (frames before the entry are not read at all), and
checked by header alone (magic, version, flags, header CRC, sequence, present
in the file). The last (active) segment is what the server rescans on start:
it is walked from its start, the frames before SEQ checked by header and data
CRC, so that crash damage anywhere in it ends the output where the server's
recovery would cut the file. `verify` checks everything.

It only reads: no file in the directory is created, changed or removed, so
it can run beside a server. When a server holds the directory's lock, a note
on stderr says so (its active segment may be growing while it is read).

Exit status: 0 ok, 1 a problem in the ledger, 2 bad arguments, an unreadable
directory, or one that is not a ledger (no segment files, no ledger.lock).
"""
import argparse
import fcntl
import json
import os
import struct
import sys
import zlib

__all__ = [
    "read_ledger", "LedgerReader", "LedgerError", "TornTail", "Corrupt", "Damage", "classify_damage",
    "next_valid_frame", "repaired_gaps", "Index", "IndexInvalid",
    "load_index", "parse_index", "list_segments", "glob_match", "verify_ledger", "format_timestamp", "main",
]

PROG = "vimana_ledger"

# MARK: - Format (Protocol/LEDGER.md)

FRAME_MAGIC = b"VMLF"
INDEX_MAGIC = b"VMLI"
# A frame's version is the layout of its records (section 2): 2 adds the publisher, 3 the origin.
FRAME_VERSIONS = (1, 2, 3)
INDEX_VERSION = 1
# magic, version, flags, first seq, count, uncompressed len, compressed len, data CRC, header CRC
FRAME_HEADER = struct.Struct("<4sHHQIIIII")
FRAME_HEADER_SIZE = FRAME_HEADER.size  # 36
# seq, stream ID ms, stream ID seq, timestamp µs (signed), client id: after the 4-byte L
RECORD_FIXED = struct.Struct("<QQQqQ")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
# The smallest record: L plus the fixed part plus three empty length fields.
RECORD_MIN = U32.size + RECORD_FIXED.size + 3 * U32.size
# magic, version, flags, first seq, covered, next seq, min ts, max ts, E, K.
# The document does not say whether the timestamps are signed; records'
# timestamps are, so these are read as signed too.
INDEX_HEADER = struct.Struct("<4sHHQQQqqII")
INDEX_ENTRY = struct.Struct("<QQQQ")          # first seq, offset, min ms, max ms
INDEX_TOPIC_TAIL = struct.Struct("<QQQQQ")    # count, first ms, first seq, last ms, last seq
INDEX_SEALED = 0x0001
INDEX_COMPACTED = 0x0002
# A new index entry once at least this much segment has passed since the last.
INDEX_SPACING = 64 * 1024
SEGMENT_DIGITS = 20
# Held with flock(LOCK_EX) by a running server; holds its pid (section 1).
LOCK_FILE = "ledger.lock"
# Sequence numbers stay below 2^63 (section 2): first + count is at most
# MAX_SEQUENCE. A damaged frame's zlib stream is inflated to at
# most the largest uncompressed length a header can state.
MAX_SEQUENCE = (1 << 63) - 1
MAX_FRAME_RAW = 2 ** 32 - 1
# Where `vimana ledger repair` keeps the bytes it removes (section 6).
DAMAGED_DIR = "damaged"

# Why a frame is invalid: the `kind` of a LedgerError.
BAD_MAGIC = "bad magic"
BAD_VERSION = "bad version"
BAD_FLAGS = "unknown flags"
BAD_COUNT = "bad record count"
SEQ_OVERFLOW = "sequence overflow"
HEADER_CRC = "header CRC mismatch"
TRUNCATED = "truncated"
DATA_CRC = "data CRC mismatch"
INFLATE = "inflate failure"
LENGTH = "length mismatch"
RECORD = "record parse error"
SEQUENCE = "sequence discontinuity"
# Not a frame check: a ledger-wide promise of section 3, checked by verify.
STREAM_ID = "stream ID not increasing"


# MARK: - Errors

class LedgerError(Exception):
    """A frame that is not valid: where it is (segment file name, 0-based
    frame number or None when unknown, byte offset of its header) and what
    failed (`kind`, one of the constants above, and a `detail`)."""

    def __init__(self, segment, frame, offset, kind, detail=""):
        self.segment, self.frame, self.offset = segment, frame, offset
        self.kind, self.detail = kind, detail
        super().__init__(str(self))

    def where(self):
        frame = "?" if self.frame is None else self.frame
        return "%s: frame %s at offset %d" % (self.segment, frame, self.offset)

    def __str__(self):
        return "%s: %s%s" % (self.where(), self.kind, ": " + self.detail if self.detail else "")


class TornTail(LedgerError):
    """A torn tail (LEDGER.md section 5): an invalid frame in the last
    (active) segment that no valid frame follows and that was not written
    whole. The server keeps the valid frames before it and truncates the file
    there, so a reader stops there too: `dropped` bytes follow the last whole
    frame; `records` were in them by their readable headers (`exact` False when
    some bytes belong to no readable header)."""

    def __init__(self, cause, file_size, records=0, exact=False):
        self.cause, self.dropped = cause, file_size - cause.offset
        self.records, self.exact = records, exact
        super().__init__(cause.segment, cause.frame, cause.offset, cause.kind, cause.detail)

    def __str__(self):
        return "%s: torn tail: %d bytes after the last whole frame (%s)" % (
            self.segment, self.dropped, LedgerError.__str__(self)[len(self.segment) + 2:])


class Corrupt(LedgerError):
    """Damage that is not a torn tail (LEDGER.md section 5), with what
    classify_damage found: `damage` (a Damage). In the last segment the server
    refuses to start on it; `vimana ledger repair` removes it."""

    def __init__(self, cause, damage):
        self.cause, self.damage = cause, damage
        super().__init__(cause.segment, cause.frame, cause.offset, cause.kind, cause.detail)

    def __str__(self):
        return LedgerError.__str__(self) + "; " + self.damage.describe()


class IndexInvalid(Exception):
    """An index file that must be ignored (the reason is the message)."""


# MARK: - Segments and frames

class Segment:
    """One `NNNN….seg` file; `size` is taken when it is opened for reading."""

    def __init__(self, directory, name):
        self.name = name
        self.path = os.path.join(directory, name)
        self.index_path = self.path[:-4] + ".idx"
        self.first_seq = int(name[:SEGMENT_DIGITS])
        self.size = None


class Frame:
    """A frame as read: `records` is None when it was skipped by header."""
    __slots__ = ("segment", "number", "offset", "first", "count", "raw_length",
                 "compressed_length", "records")

    def __init__(self, segment, number, offset, first, count, raw_length, compressed_length):
        self.segment, self.number, self.offset = segment, number, offset
        self.first, self.count = first, count
        self.raw_length, self.compressed_length = raw_length, compressed_length
        self.records = None

    @property
    def end(self):
        return self.offset + FRAME_HEADER_SIZE + self.compressed_length

    @property
    def next_seq(self):
        return self.first + self.count


def is_segment_name(name):
    digits = name[:-4]
    return (name.endswith(".seg") and len(digits) == SEGMENT_DIGITS
            and all("0" <= c <= "9" for c in digits) and int(digits) <= MAX_SEQUENCE)


def list_segments(directory):
    """The segments of a ledger directory in sequence (= name) order; other
    files (`*.idx`, `*.tmp`, anything else) are left alone."""
    return [Segment(directory, n) for n in sorted(os.listdir(directory)) if is_segment_name(n)]


def read_frame_header(f, seg, number, offset, expected_seq, at_least=False):
    """The header of the frame at `offset`, checked (magic, version, flags,
    header CRC, count, sequence, whole frame present); raises LedgerError.
    With at_least, any first sequence >= expected_seq is accepted."""
    left = seg.size - offset
    if left < FRAME_HEADER_SIZE:
        raise LedgerError(seg.name, number, offset, TRUNCATED,
                          "%d bytes left, a frame header is %d" % (left, FRAME_HEADER_SIZE))
    f.seek(offset)
    buf = f.read(FRAME_HEADER_SIZE)
    if len(buf) < FRAME_HEADER_SIZE:
        raise LedgerError(seg.name, number, offset, TRUNCATED, "file shrank while reading")
    magic, version, flags, first, count, ulen, clen, _, hcrc = FRAME_HEADER.unpack(buf)
    if magic != FRAME_MAGIC:
        raise LedgerError(seg.name, number, offset, BAD_MAGIC, "%r, expected %r" % (magic, FRAME_MAGIC))
    if version not in FRAME_VERSIONS:
        raise LedgerError(seg.name, number, offset, BAD_VERSION, "%d, expected one of %s" % (version, FRAME_VERSIONS))
    if flags != 0:
        raise LedgerError(seg.name, number, offset, BAD_FLAGS, "0x%04x" % flags)
    crc = zlib.crc32(buf[:32])
    if crc != hcrc:
        raise LedgerError(seg.name, number, offset, HEADER_CRC, "computed 0x%08x, stored 0x%08x" % (crc, hcrc))
    if count == 0:
        raise LedgerError(seg.name, number, offset, BAD_COUNT, "0 records")
    if first + count > MAX_SEQUENCE:
        raise LedgerError(seg.name, number, offset, SEQ_OVERFLOW, "first sequence %d + %d records passes 2^63 - 1" % (first, count))
    if first != expected_seq and not (at_least and first > expected_seq):
        raise LedgerError(seg.name, number, offset, SEQUENCE,
                          "frame starts at sequence %d, expected %d" % (first, expected_seq))
    if left - FRAME_HEADER_SIZE < clen:
        raise LedgerError(seg.name, number, offset, TRUNCATED, "frame is %d bytes, %d left in the file"
                          % (FRAME_HEADER_SIZE + clen, left))
    return buf


def read_frame_data(f, seg, frame, header):
    """The compressed bytes of a frame whose header passed
    read_frame_header, checked against the header's data CRC."""
    f.seek(frame.offset + FRAME_HEADER_SIZE)
    data = f.read(frame.compressed_length)
    if len(data) != frame.compressed_length:
        raise LedgerError(seg.name, frame.number, frame.offset, TRUNCATED, "file shrank while reading")
    stored = FRAME_HEADER.unpack(header)[7]
    crc = zlib.crc32(data)
    if crc != stored:
        raise LedgerError(seg.name, frame.number, frame.offset, DATA_CRC,
                          "computed 0x%08x, stored 0x%08x" % (crc, stored))
    return data


def read_frame_records(f, seg, frame, header):
    """Reads, checks and decodes the data of a frame whose header passed
    read_frame_header; returns its records."""
    def fail(kind, detail):
        return LedgerError(seg.name, frame.number, frame.offset, kind, detail)
    data = read_frame_data(f, seg, frame, header)
    # Bounded so that a lying length cannot make us inflate a bomb.
    z = zlib.decompressobj()
    try:
        raw = z.decompress(data, frame.raw_length + 1)
    except zlib.error as e:
        raise fail(INFLATE, str(e))
    if len(raw) > frame.raw_length:
        raise fail(LENGTH, "inflates to more than the %d bytes in the header" % frame.raw_length)
    if not z.eof:
        raise fail(INFLATE, "zlib stream is incomplete")
    if z.unused_data:
        raise fail(INFLATE, "%d bytes after the end of the zlib stream" % len(z.unused_data))
    if len(raw) != frame.raw_length:
        raise fail(LENGTH, "inflates to %d bytes, header says %d" % (len(raw), frame.raw_length))
    try:
        return decode_records(raw, frame.first, frame.count, seg.name, frame.offset, FRAME_HEADER.unpack(header)[1])
    except _RecordError as e:
        raise fail(e.kind, str(e))


class _RecordError(Exception):
    def __init__(self, kind, detail):
        self.kind = kind
        super().__init__(detail)


def decode_records(raw, first_seq, count, segment="", offset=0, version=FRAME_VERSIONS[-1]):
    """Exactly `count` records from inflated frame data (LEDGER.md section 3)
    of a frame of `version`, with sequences first_seq, first_seq + 1, ...;
    raises _RecordError."""
    if count * RECORD_MIN > len(raw):
        raise _RecordError(RECORD, "%d records cannot fit in %d bytes" % (count, len(raw)))
    records, pos = [], 0
    for i in range(count):
        if len(raw) - pos < U32.size:
            raise _RecordError(RECORD, "record %d: %d bytes left, no room for its length" % (i, len(raw) - pos))
        (length,) = U32.unpack_from(raw, pos)
        pos += U32.size
        end = pos + length
        if end > len(raw):
            raise _RecordError(RECORD, "record %d: length %d runs past the frame data" % (i, length))
        rec, used = _decode_record(raw, pos, end, i, version)
        if used != end:
            raise _RecordError(RECORD, "record %d: length says %d bytes, its fields use %d"
                               % (i, length, used - pos))
        if rec["seq"] != first_seq + i:
            raise _RecordError(SEQUENCE, "record %d has sequence %d, expected %d"
                               % (i, rec["seq"], first_seq + i))
        rec["segment"], rec["offset"] = segment, offset
        records.append(rec)
        pos = end
    if pos != len(raw):
        raise _RecordError(RECORD, "%d bytes after record %d" % (len(raw) - pos, count - 1))
    return records


def _decode_record(raw, pos, end, i, version):
    """One record body in raw[pos:end]; returns (dict, position after it)."""
    def take(n, what):
        nonlocal pos
        if end - pos < n:
            raise _RecordError(RECORD, "record %d: %s needs %d bytes, %d left in the record"
                               % (i, what, n, end - pos))
        pos += n
        return pos - n

    def field(what):
        (n,) = U32.unpack_from(raw, take(U32.size, what + " length"))
        start = take(n, what)
        return raw[start:start + n]

    seq, ms, idseq, ts, client = RECORD_FIXED.unpack_from(raw, take(RECORD_FIXED.size, "fixed part"))
    topic = field("topic")
    name = field("client name")
    publisher = field("publisher") if version >= 2 else b""
    origin, origin_seq = b"", 0
    if version >= 3:
        origin = field("origin")
        (origin_seq,) = U64.unpack_from(raw, take(U64.size, "origin sequence"))
    (nfields,) = U32.unpack_from(raw, take(U32.size, "field count"))
    fields = []
    for k in range(nfields):
        fields.append((field("field %d name" % k), field("field %d value" % k)))
    rec = {
        "seq": seq, "id": "%d-%d" % (ms, idseq), "id_ms": ms, "id_seq": idseq,
        "timestamp_us": ts, "client_id": client,
        "client_name": name.decode("utf-8", "surrogateescape") if name else None,
        "publisher": publisher.decode("utf-8", "surrogateescape") if publisher else None,
        "origin": origin.decode("utf-8", "surrogateescape") if origin else None, "origin_seq": origin_seq,
        "topic": topic.decode("utf-8", "surrogateescape"),
        "fields": [[k.decode("utf-8", "replace"), v.decode("utf-8", "replace")] for k, v in fields],
        "topic_bytes": topic, "client_name_bytes": name, "publisher_bytes": publisher, "origin_bytes": origin,
        "fields_bytes": fields,
    }
    return rec, pos


# MARK: - Damage (LEDGER.md section 5)

class Damage:
    """A stretch where no valid frame starts, from the invalid frame at
    `offset` (where sequence `first_lost` was expected). kind:
      "followed"  a valid frame follows at `end`, first sequence `resume`: corruption;
      "torn"      runs to the end of the last segment, a torn tail (`records`, `exact`);
      "trailing"  runs to the end, not a torn tail (sealed segment, or a frame
                  written whole: `whole` records)."""

    def __init__(self, kind, offset, end, first_lost, resume=None, records=0, exact=False, whole=None):
        self.kind, self.offset, self.end, self.first_lost = kind, offset, end, first_lost
        self.resume, self.records, self.exact, self.whole = resume, records, exact, whole
        self.frames_after = self.records_after = 0
        self.last = False

    def lost(self):
        if self.resume is None or self.resume <= self.first_lost:
            return "no sequence" if self.resume is not None else "sequences from %d" % self.first_lost
        if self.resume - self.first_lost == 1:
            return "sequence %d" % self.first_lost
        return "sequences %d-%d" % (self.first_lost, self.resume - 1)

    def describe(self):
        if self.kind == "followed":
            return "corrupt: %d valid frames (%d records) follow, %s lost in %d damaged bytes; %s (run vimana ledger repair)" % (
                self.frames_after, self.records_after, self.lost(), self.end - self.offset,
                "the server refuses to start" if self.last else "reads across it answer an error")
        if self.kind == "trailing" and self.whole is not None and self.last:
            return "corrupt: the frame was written whole (%d records) but is damaged; " \
                   "the server refuses to start (run vimana ledger repair)" % self.whole
        if self.kind == "trailing":
            return "damaged to the end of the segment (%d bytes; run vimana ledger repair)" % (self.end - self.offset)
        return "torn tail: the server cuts these %d bytes on start, dropping %d%s records" % (
            self.end - self.offset, self.records, "" if self.exact else " or more")


def _plain_header(f, seg, offset):
    """(first sequence, count, compressed length) of a header that passes
    magic, version, flags, CRC and count, whether or not its frame is whole;
    None otherwise."""
    if seg.size - offset < FRAME_HEADER_SIZE:
        return None
    f.seek(offset)
    buf = f.read(FRAME_HEADER_SIZE)
    if len(buf) < FRAME_HEADER_SIZE:
        return None
    magic, version, flags, first, count, _, clen, _, hcrc = FRAME_HEADER.unpack(buf)
    if magic != FRAME_MAGIC or version not in FRAME_VERSIONS or flags != 0 or zlib.crc32(buf[:32]) != hcrc \
            or count == 0 or first + count > MAX_SEQUENCE:
        return None
    return first, count, clen


def next_valid_frame(f, seg, start, min_seq):
    """(offset, first sequence) of the first frame at or after `start` that
    is valid in every way of section 2 except that its first sequence may be
    any >= min_seq; None when there is none. Every candidate holding the
    magic is checked in full: garbage that happens to contain it is no frame."""
    f.seek(start)
    data = f.read(max(0, seg.size - start))
    pos = data.find(FRAME_MAGIC)
    while 0 <= pos <= len(data) - FRAME_HEADER_SIZE:
        offset = start + pos
        try:
            header = read_frame_header(f, seg, None, offset, min_seq, at_least=True)
            _, _, _, first, count, ulen, clen, _, _ = FRAME_HEADER.unpack(header)
            read_frame_records(f, seg, Frame(seg.name, None, offset, first, count, ulen, clen), header)
            return offset, first
        except LedgerError:
            pos = data.find(FRAME_MAGIC, pos + 1)
    return None


def written_whole(f, seg, offset, expected):
    """How many records the frame at `offset` holds if it was written whole,
    whatever its header says: the bytes after its 36 header bytes begin with
    a complete zlib stream that inflates to one or more whole records, in
    the layout of any version, whose sequences start at `expected`. None
    otherwise."""
    f.seek(offset + FRAME_HEADER_SIZE)
    data = f.read(max(0, seg.size - offset - FRAME_HEADER_SIZE))
    if not data:
        return None
    z = zlib.decompressobj()
    try:
        raw = z.decompress(data, MAX_FRAME_RAW)
    except zlib.error:
        return None
    if not z.eof or not raw:
        return None
    count, pos = 0, 0
    while pos < len(raw):
        if len(raw) - pos < U32.size:
            return None
        pos += U32.size + U32.unpack_from(raw, pos)[0]
        count += 1
    if pos != len(raw):
        return None
    for version in FRAME_VERSIONS:
        try:
            decode_records(raw, expected, count, version=version)
            return count
        except _RecordError:
            pass
    return None


def cut_records(f, seg, offset, expected):
    """(records, exact): the records of the frames from `offset` to the end
    of the file, summed from each readable header in turn; exact is False
    when bytes remain that no readable header accounts for."""
    records = 0
    while offset < seg.size:
        h = _plain_header(f, seg, offset)
        if h is None or h[0] != expected:
            break
        records += h[1]
        expected, offset = h[0] + h[1], offset + FRAME_HEADER_SIZE + h[2]
    return records, offset >= seg.size


def classify_damage(f, seg, offset, expected, last):
    """What the invalid frame at `offset` (where sequence `expected` was due)
    starts, by the rules of LEDGER.md section 5; `last`: the active segment."""
    found = next_valid_frame(f, seg, offset, expected)
    if found is not None:
        d = Damage("followed", offset, found[0], expected, resume=found[1])
        d.last = last
        return d
    # In a sealed segment any damage is corruption: no need to look closer.
    whole = written_whole(f, seg, offset, expected) if last else None
    if whole is not None or not last:
        d = Damage("trailing", offset, seg.size, expected, whole=whole)
    else:
        records, exact = cut_records(f, seg, offset, expected)
        d = Damage("torn", offset, seg.size, expected, records=records, exact=exact)
    d.last = last
    return d


def repaired_gaps(directory):
    """{(first, next)}: the gaps between segments that `vimana ledger repair`
    left, from the names `EEEE…-FFFF….<segment>.<offset>.damaged` (20-digit
    sequences) in DIR/damaged (LEDGER.md section 1)."""
    try:
        names = os.listdir(os.path.join(directory, DAMAGED_DIR))
    except OSError:
        return set()
    gaps = set()
    for name in names:
        a, b = name[:SEGMENT_DIGITS], name[SEGMENT_DIGITS + 1:2 * SEGMENT_DIGITS + 1]
        if name.endswith(".damaged") and name[SEGMENT_DIGITS:SEGMENT_DIGITS + 1] == "-" \
                and name[2 * SEGMENT_DIGITS + 1:2 * SEGMENT_DIGITS + 2] == "." \
                and a.isdigit() and b.isdigit() and a.isascii() and b.isascii():
            gaps.add((int(a), int(b)))
    return gaps


# MARK: - Index files

class Index:
    """A parsed, self-consistent `.idx` file (LEDGER.md section 4)."""

    def __init__(self, sealed, first_seq, covered, next_seq, min_ts, max_ts, entries, topics):
        self.sealed, self.first_seq, self.covered, self.next_seq = sealed, first_seq, covered, next_seq
        self.min_ts, self.max_ts = min_ts, max_ts
        self.entries = entries  # [(first seq, offset, min ms, max ms)]
        self.topics = topics    # [(name, count, (first ms, seq), (last ms, seq))]

    def entry_for(self, seq):
        """The last entry whose first sequence is <= seq (entries are sorted)."""
        lo, hi = 0, len(self.entries)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.entries[mid][0] <= seq:
                lo = mid + 1
            else:
                hi = mid
        return self.entries[lo - 1] if lo else None

    def describe(self, segment_size):
        cover = ("all %d bytes" % self.covered if self.covered == segment_size
                 else "%d of %d bytes" % (self.covered, segment_size))
        return "valid%s, covers %s, %d entries, %d topics" % (
            ", sealed" if self.sealed else "", cover, len(self.entries), len(self.topics))


def parse_index(data, first_seq, segment_size):
    """The index in `data` for a segment whose name says `first_seq` and that
    has `segment_size` bytes; raises IndexInvalid when a reader must ignore it."""
    tail = U32.size
    if len(data) < INDEX_HEADER.size + tail:
        raise IndexInvalid("%d bytes, shorter than a header" % len(data))
    (stored,) = U32.unpack_from(data, len(data) - tail)
    if zlib.crc32(data[:-tail]) != stored:
        raise IndexInvalid("bad CRC")
    magic, version, flags, first, covered, next_seq, min_ts, max_ts, ne, nt = INDEX_HEADER.unpack_from(data)
    if magic != INDEX_MAGIC:
        raise IndexInvalid("bad magic %r" % magic)
    if version != INDEX_VERSION:
        raise IndexInvalid("version %d" % version)
    if flags & ~(INDEX_SEALED | INDEX_COMPACTED):
        raise IndexInvalid("unknown flags 0x%04x" % flags)
    if first != first_seq:
        raise IndexInvalid("first sequence %d, the segment's name says %d" % (first, first_seq))
    if covered > segment_size:
        raise IndexInvalid("covers %d bytes, the segment has %d" % (covered, segment_size))
    pos, end = INDEX_HEADER.size, len(data) - tail
    if ne * INDEX_ENTRY.size > end - pos:
        raise IndexInvalid("%d entries do not fit in the file" % ne)
    entries = []
    for _ in range(ne):
        entries.append(INDEX_ENTRY.unpack_from(data, pos))
        pos += INDEX_ENTRY.size
    topics = []
    for _ in range(nt):
        if end - pos < U32.size:
            raise IndexInvalid("topic table runs past the end")
        (n,) = U32.unpack_from(data, pos)
        if end - pos - U32.size < n + INDEX_TOPIC_TAIL.size:
            raise IndexInvalid("topic table runs past the end")
        name = data[pos + U32.size:pos + U32.size + n]
        count, fms, fseq, lms, lseq = INDEX_TOPIC_TAIL.unpack_from(data, pos + U32.size + n)
        topics.append((name, count, (fms, fseq), (lms, lseq)))
        pos += U32.size + n + INDEX_TOPIC_TAIL.size
    if pos != end:
        raise IndexInvalid("%d bytes after the topic table" % (end - pos))
    if next_seq < first:
        raise IndexInvalid("next sequence %d before the first %d" % (next_seq, first))
    if next_seq > MAX_SEQUENCE:
        raise IndexInvalid("next sequence %d beyond 2^63 - 1" % next_seq)
    for a, b in zip(topics, topics[1:]):
        if not a[0] < b[0]:
            raise IndexInvalid("topics out of order or repeated at %r" % b[0])
    for name, count, _, _ in topics:
        if count > next_seq - first:
            raise IndexInvalid("topic %r has %d records, the segment %d" % (name, count, next_seq - first))
    if (covered == 0) != (ne == 0) or (covered == 0 and next_seq != first):
        raise IndexInvalid("covers %d bytes with %d entries and next sequence %d" % (covered, ne, next_seq))
    if entries and (entries[0][0] != first or entries[0][1] != 0):
        raise IndexInvalid("first entry is not the segment's first frame")
    for a, b in zip(entries, entries[1:]):
        if not (a[0] < b[0] and a[1] < b[1]):
            raise IndexInvalid("entries out of order at offset %d" % b[1])
    if entries and (entries[-1][0] >= next_seq or entries[-1][1] >= covered):
        raise IndexInvalid("last entry beyond the covered range")
    return Index(bool(flags & INDEX_SEALED), first, covered, next_seq, min_ts, max_ts, entries, topics)


def load_index(seg, segment_size):
    """(Index, None) when the segment's index is usable, else (None, why)."""
    try:
        with open(seg.index_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None, "missing"
    except OSError as e:
        return None, "unreadable: %s" % e.strerror
    try:
        return parse_index(data, seg.first_seq, segment_size), None
    except IndexInvalid as e:
        return None, str(e)


# MARK: - Redis glob

def glob_match(pattern, string):
    """True when `string` matches the Redis glob `pattern` (Redis's
    stringmatchlen, as in Vimana's Glob.swift): `*` any run, `?` one byte,
    `[abc]`, `[a-z]` (reversed ranges too), `[^x]`, `\\` escapes the next
    byte. Bytes, not characters: `é` is two `?`. As in Redis, an empty
    string matches no pattern, not even `*`. str arguments are UTF-8 encoded."""
    if isinstance(pattern, str):
        pattern = pattern.encode("utf-8", "surrogateescape")
    if isinstance(string, str):
        string = string.encode("utf-8", "surrogateescape")
    return _glob(pattern, 0, string, 0, [False], 0)


def _glob(p, pi, s, si, skip_longer, depth):
    if depth > 1000:  # Redis's recursion limit
        return False
    pn, sn = len(p), len(s)
    while pi < pn and si < sn:
        c = p[pi]
        if c == 0x2A:  # '*'
            while pi + 1 < pn and p[pi + 1] == 0x2A:
                pi += 1
            if pi + 1 == pn:
                return True
            while si < sn:
                if _glob(p, pi + 1, s, si, skip_longer, depth + 1):
                    return True
                # A later '*' already failed on a shorter suffix: longer ones cannot match.
                if skip_longer[0]:
                    return False
                si += 1
            skip_longer[0] = True
            return False
        elif c == 0x3F:  # '?'
            si += 1
        elif c == 0x5B:  # '['
            pi += 1
            negate = pi < pn and p[pi] == 0x5E  # '^'
            if negate:
                pi += 1
            matched = False
            while True:
                if pi >= pn:
                    pi -= 1  # unterminated class: the outer advance lands at the end
                    break
                elif p[pi] == 0x5C and pn - pi >= 2:  # '\' inside a class
                    pi += 1
                    if p[pi] == s[si]:
                        matched = True
                elif p[pi] == 0x5D:  # ']'
                    break
                elif pn - pi >= 3 and p[pi + 1] == 0x2D:  # 'a-z'
                    lo, hi = sorted((p[pi], p[pi + 2]))
                    pi += 2
                    if lo <= s[si] <= hi:
                        matched = True
                elif p[pi] == s[si]:
                    matched = True
                pi += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            si += 1
        else:
            if c == 0x5C and pn - pi >= 2:  # '\' escapes the next byte
                pi += 1
            if p[pi] != s[si]:
                return False
            si += 1
        pi += 1
        if si == sn:
            while pi < pn and p[pi] == 0x2A:
                pi += 1
            break
    return pi == pn and si == sn


# MARK: - Reading

class LedgerReader:
    """Reads the segments of one directory. After (or during) a read,
    `located` says how --from found its start (index or scan, and why) and
    `headers_only` counts frames skipped by header."""

    def __init__(self, directory, use_index=True, skip_damage=False):
        self.directory = directory
        self.segments = list_segments(directory)
        self.use_index = use_index
        self.located = None
        self.headers_only = 0
        # With skip_damage, corruption (not a torn tail) is noted in `skipped`
        # and reading goes on at the next valid frame, as repair would keep it.
        self.skip_damage = skip_damage
        self.skipped = []

    def records(self, from_seq=None, topic_glob=None):
        """Yields record dicts in sequence order (see the module comment);
        raises LedgerError at the first invalid frame: TornTail for a torn
        tail (after yielding every record before it), Corrupt for other damage
        in the last segment (unless skip_damage)."""
        if isinstance(topic_glob, str):
            topic_glob = topic_glob.encode("utf-8", "surrogateescape")
        return self._records(from_seq, topic_glob)

    def _records(self, from_seq, topic_glob):
        for frame in self.frames(from_seq):
            for rec in frame.records:
                if from_seq is not None and rec["seq"] < from_seq:
                    continue
                if topic_glob is not None and not glob_match(topic_glob, rec["topic_bytes"]):
                    continue
                yield rec

    def frames(self, from_seq=None):
        """Yields each frame holding a record at or after from_seq, decoded."""
        segs = self.segments
        start = 0
        if from_seq is not None:
            for i, seg in enumerate(segs):
                if seg.first_seq <= from_seq:
                    start = i
        prev = None  # (segment name, next sequence) of the last segment read whole
        repaired = repaired_gaps(self.directory)
        for i in range(start, len(segs)):
            seg, last = segs[i], i == len(segs) - 1
            if prev is not None and seg.first_seq < prev[1]:
                # Segments that overlap are not a torn write: an error even for the last one.
                raise LedgerError(seg.name, 0, 0, SEQUENCE, "segment starts at sequence %d, %s ended at %d"
                                  % (seg.first_seq, prev[0], prev[1] - 1))
            if prev is not None and seg.first_seq > prev[1] and (prev[1], seg.first_seq) not in repaired:
                # A gap that damaged/ does not name: a segment is missing (LEDGER.md section 1).
                e = LedgerError(seg.name, 0, 0, SEQUENCE, "gap: segment starts at sequence %d, %s ended at %d"
                                % (seg.first_seq, prev[0], prev[1] - 1))
                if not self.skip_damage:
                    raise e
                self.skipped.append(e)
            next_seq = seg.first_seq
            walk = self._segment_frames(seg, from_seq if i == start else None, last)
            while walk is not None:
                try:
                    for frame in walk:
                        next_seq = frame.next_seq
                        if frame.records is not None:
                            yield frame
                    walk = None
                except LedgerError as e:
                    if isinstance(e, TornTail) or getattr(e, "expected", None) is None:
                        raise
                    with open(seg.path, "rb") as f:
                        d = classify_damage(f, seg, e.offset, e.expected, last)
                    if d.kind == "torn":
                        raise TornTail(e, seg.size, d.records, d.exact)
                    if not self.skip_damage or (last and d.kind != "followed"):
                        raise Corrupt(e, d) if last else e
                    self.skipped.append(Corrupt(e, d))
                    if d.kind != "followed":
                        next_seq = None  # damaged to its end: on to the next segment
                        break
                    number = None if e.frame is None else e.frame + 1
                    walk = self._resume(seg, d.end, number, d.resume, from_seq if i == start else None, last)
            prev = (seg.name, next_seq) if next_seq is not None else None

    def _resume(self, seg, offset, number, expected, from_seq, last):
        """Frames from the valid frame at `offset` on (after damage)."""
        with open(seg.path, "rb") as f:
            seg.size = os.fstat(f.fileno()).st_size
            yield from self._walk(f, seg, offset, number, expected, from_seq, check_crc=last)

    def _segment_frames(self, seg, from_seq, last):
        with open(seg.path, "rb") as f:
            seg.size = os.fstat(f.fileno()).st_size
            if from_seq is None or from_seq <= seg.first_seq:
                if from_seq is not None:
                    self.located = "sequence %d: at or before the start of %s, read from there" % (from_seq, seg.name)
                yield from self._walk(f, seg, 0, 0, seg.first_seq, from_seq)
                return
            if last:
                # The server rescans the active segment on start and cuts it at
                # the first bad frame, wherever that is: so the frames before
                # from_seq are walked from the start and their data CRCs
                # checked, and a torn tail ends the output where recovery would.
                self.located = "sequence %d in %s: scan (the last segment is read from its start)" % (
                    from_seq, seg.name)
                yield from self._walk(f, seg, 0, 0, seg.first_seq, from_seq, check_crc=True)
                return
            start = self._locate(f, seg, from_seq)
            if start is None:
                yield from self._walk(f, seg, 0, 0, seg.first_seq, from_seq)
                return
            resume = from_seq
            try:
                for frame in self._walk(f, seg, start[0], None, start[1], from_seq):
                    if frame.records is not None:
                        resume = frame.next_seq
                    yield frame
            except LedgerError as e:
                # Frame numbers are unknown after a jump: count headers from the
                # start. If that walk does not land on the bad frame, the index
                # misled us: rescan, yielding only records not yet yielded.
                n = self._frame_number_at(f, seg, e.offset)
                if n is not None:
                    e.frame = n
                    raise
                self.located += "; index led to a bad frame at offset %d, rescanned" % e.offset
                for frame in self._walk(f, seg, 0, 0, seg.first_seq, resume):
                    if frame.records is not None:
                        frame.records = [r for r in frame.records if r["seq"] >= resume]
                    yield frame

    def _locate(self, f, seg, from_seq):
        """(offset, first sequence) of a frame at or before from_seq's found
        through the index, or None to scan; sets self.located."""
        where = "sequence %d in %s" % (from_seq, seg.name)
        if not self.use_index:
            self.located = "%s: scan (index not used)" % where
            return None
        index, why = load_index(seg, seg.size)
        if index is None:
            self.located = "%s: scan (index %s)" % (where, why)
            return None
        if from_seq >= index.next_seq:
            self.located = "%s: index (past its covered %d bytes)" % (where, index.covered)
            return index.covered, index.next_seq
        seq, offset, _, _ = index.entry_for(from_seq)
        try:
            read_frame_header(f, seg, None, offset, seq)
        except LedgerError as e:
            self.located = "%s: scan (index entry at offset %d: %s)" % (where, offset, e.kind)
            return None
        self.located = "%s: index (entry at offset %d)" % (where, offset)
        return offset, seq

    def _walk(self, f, seg, offset, number, expected, from_seq, check_crc=False):
        """Frames from `offset` to the end of the segment; those wholly before
        from_seq are checked by header (and data CRC with check_crc) only,
        and come with records None."""
        while offset < seg.size:
            try:
                header = read_frame_header(f, seg, number, offset, expected)
                _, _, _, first, count, ulen, clen, _, _ = FRAME_HEADER.unpack(header)
                frame = Frame(seg.name, number, offset, first, count, ulen, clen)
                if from_seq is not None and frame.next_seq <= from_seq:
                    self.headers_only += 1
                    if check_crc:
                        read_frame_data(f, seg, frame, header)
                else:
                    frame.records = read_frame_records(f, seg, frame, header)
            except LedgerError as e:
                e.expected = expected  # the sequence due here: where damage classification starts
                raise
            yield frame
            offset, expected = frame.end, frame.next_seq
            number = None if number is None else number + 1

    def _frame_number_at(self, f, seg, target):
        """The number of the frame whose header is at `target`, counting valid
        headers from the segment's start; None when the walk does not land there."""
        offset, expected, n = 0, seg.first_seq, 0
        while offset < target:
            try:
                header = read_frame_header(f, seg, n, offset, expected)
            except LedgerError:
                return None
            _, _, _, first, count, _, clen, _, _ = FRAME_HEADER.unpack(header)
            offset, expected, n = offset + FRAME_HEADER_SIZE + clen, first + count, n + 1
        return n if offset == target else None


def read_ledger(directory, from_seq=None, topic_glob=None, use_index=True):
    """Records of the ledger in `directory` at or after from_seq whose topic
    matches the Redis glob topic_glob; see LedgerReader.records."""
    return LedgerReader(directory, use_index).records(from_seq, topic_glob)


# MARK: - Verify

class _IndexModel:
    """What a correct index says about the frames fed to it, as this reader
    understands LEDGER.md section 4: an entry at the first frame and at each
    frame that starts at least INDEX_SPACING bytes after the previous entry."""

    def __init__(self, first_seq):
        self.covered, self.next_seq = 0, first_seq
        self.min_ts = self.max_ts = None
        self.entries, self.topics = [], {}

    def add(self, frame):
        if not self.entries or frame.offset - self.entries[-1][1] >= INDEX_SPACING:
            self.entries.append([frame.first, frame.offset, None, None])
        entry = self.entries[-1]
        for r in frame.records:
            ms, ts = r["id_ms"], r["timestamp_us"]
            entry[2] = ms if entry[2] is None else min(entry[2], ms)
            entry[3] = ms if entry[3] is None else max(entry[3], ms)
            self.min_ts = ts if self.min_ts is None else min(self.min_ts, ts)
            self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)
            sid = (r["id_ms"], r["id_seq"])
            t = self.topics.setdefault(r["topic_bytes"], [0, sid, sid])
            t[0] += 1
            t[2] = sid
        self.covered, self.next_seq = frame.end, frame.next_seq

    def differences(self, index):
        """Ways `index` differs from this model (empty when it matches)."""
        out = []
        if index.covered != self.covered:
            return ["covers %d bytes, which is not the end of a valid frame" % index.covered]
        if index.next_seq != self.next_seq:
            out.append("next sequence %d, the frames say %d" % (index.next_seq, self.next_seq))
        if self.min_ts is not None and (index.min_ts, index.max_ts) != (self.min_ts, self.max_ts):
            out.append("timestamps %d..%d, the records say %d..%d"
                       % (index.min_ts, index.max_ts, self.min_ts, self.max_ts))
        want = [tuple(e) for e in self.entries]
        if list(index.entries) != want:
            k = next((k for k, (a, b) in enumerate(zip(index.entries, want)) if a != b),
                     min(len(want), len(index.entries)))
            out.append("entries differ from entry %d: index has %s, expected %s (%d vs %d entries)"
                       % (k, index.entries[k] if k < len(index.entries) else "none",
                          want[k] if k < len(want) else "none", len(index.entries), len(want)))
        have = {name: (count, a, b) for name, count, a, b in index.topics}
        want_topics = {name: (t[0], t[1], t[2]) for name, t in self.topics.items()}
        if len(index.topics) != len(have):
            out.append("a topic appears twice in the topic table")
        for name in sorted(set(have) | set(want_topics)):
            if have.get(name) != want_topics.get(name):
                out.append("topic %r: index has %s, the records say %s"
                           % (name, have.get(name), want_topics.get(name)))
        return out


class VerifyResult:
    def __init__(self):
        self.problems, self.warnings = [], []
        self.segments = self.frames = self.records = 0


def verify_ledger(directory, strict_index=False):
    """Checks every frame of every segment (and the index files, which count
    as problems only with strict_index); returns a VerifyResult whose
    `problems` is empty when the ledger is valid."""
    result = VerifyResult()
    reader = LedgerReader(directory, use_index=False)
    for name in sorted(os.listdir(directory)):
        if name.endswith(".seg") and not is_segment_name(name):
            result.warnings.append("%s: not a segment name (20 digits + .seg); ignored" % name)
    last_ids = {}   # topic -> (stream ID, seq) of its last record
    prev = None     # (segment name, next sequence) of the previous segment, when its end is known
    repaired = repaired_gaps(directory)
    for i, seg in enumerate(reader.segments):
        last = i == len(reader.segments) - 1
        result.segments += 1
        if prev is not None and seg.first_seq != prev[1]:
            msg = "%s: frame 0 at offset 0: %s: segment starts at sequence %d, %s ended at %d" % (
                seg.name, SEQUENCE, seg.first_seq, prev[0], prev[1] - 1)
            if seg.first_seq > prev[1] and (prev[1], seg.first_seq) in repaired:
                # A gap `vimana ledger repair` left: its records were lost to damage.
                result.warnings.append(msg.replace(SEQUENCE, "repaired gap"))
            else:
                result.problems.append(msg if seg.first_seq < prev[1] else msg.replace(SEQUENCE, "gap"))
        index, why, model = None, "missing", None
        next_seq, bad, end_known = seg.first_seq, False, True
        damage = []     # (Damage, LedgerError, frames and records counted before it)
        try:
            with open(seg.path, "rb") as f:
                seg.size = os.fstat(f.fileno()).st_size
                index, why = load_index(seg, seg.size)
                model = _IndexModel(seg.first_seq) if index is not None else None
                offset, number, expected = 0, 0, seg.first_seq
                while True:
                    try:
                        for frame in reader._walk(f, seg, offset, number, expected, None):
                            result.frames += 1
                            result.records += frame.count
                            next_seq = frame.next_seq
                            if model is not None and not damage and frame.end <= index.covered:
                                model.add(frame)
                            for r in frame.records:
                                key, sid = r["topic_bytes"], (r["id_ms"], r["id_seq"])
                                before = last_ids.get(key)
                                if before is not None and sid <= before[0]:
                                    result.problems.append(
                                        "%s: frame %d at offset %d: %s: %s of topic %s (sequence %d) "
                                        "after %d-%d (sequence %d)"
                                        % (seg.name, frame.number, frame.offset, STREAM_ID, r["id"],
                                           _quote(key), r["seq"], before[0][0], before[0][1], before[1]))
                                last_ids[key] = (sid, r["seq"])
                                # A DEL starts the topic afresh, IDs included; an XSETID sets the ID the
                                # next entry must be above, lower than a removed entry's too (LEDGER.md section 9).
                                if key == REMOVALS_TOPIC:
                                    marker = dict(r["fields_bytes"])
                                    if marker.get(b"op") == b"del":
                                        last_ids.pop(marker.get(b"topic"), None)
                                    elif marker.get(b"op") == b"setid":
                                        ms, _, sq = marker.get(b"last-id", b"").partition(b"-")
                                        if ms.isdigit() and sq.isdigit():
                                            last_ids[marker.get(b"topic")] = ((int(ms), int(sq)), r["seq"])
                        break
                    except LedgerError as e:
                        # Past the damage to the next valid frame (LEDGER.md section 5).
                        d = classify_damage(f, seg, e.offset, e.expected, last)
                        damage.append((d, e, result.frames, result.records))
                        bad = True
                        if d.kind != "followed":
                            end_known = False
                            break
                        offset, number, expected = d.end, e.frame + 1, d.resume
                for d, e, frames, records in damage:
                    d.frames_after, d.records_after = result.frames - frames, result.records - records
                    if d.kind == "torn":
                        result.problems.append("%s; %s" % (TornTail(e, seg.size, d.records, d.exact), d.describe()))
                    else:
                        result.problems.append(str(Corrupt(e, d)))
        except OSError as e:
            result.problems.append("%s: %s" % (seg.name, e.strerror))
            bad, end_known = True, False
        prev = (seg.name, next_seq) if end_known else None
        issues = []
        if index is None and why != "missing":
            issues.append("ignored: " + why)
        elif index is not None:
            if bad and index.covered > model.covered:
                issues.append("covers %d bytes, past the first bad frame" % index.covered)
            else:
                issues.extend(model.differences(index))
            if index.sealed and last:
                issues.append("sealed flag set on the active (last) segment")
        for issue in issues:
            (result.problems if strict_index else result.warnings).append(
                "%s: index: %s" % (seg.name[:-4] + ".idx", issue))
    return result


# MARK: - Rendering

def _quote(b, is_name=False):
    """Text-mode form of a topic, name or value (see the module comment)."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        s = None
    if s and s.isprintable() and not any(c in s for c in ' "\\' + ("=" if is_name else "")):
        return s
    out = []
    i = 0
    while i < len(b):
        c = b[i]
        if c in (0x5C, 0x22):
            out.append("\\" + chr(c))
        elif c in (0x0A, 0x0D, 0x09):
            out.append({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}[c])
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            # Keep whole printable UTF-8 characters; escape everything else byte by byte.
            n = 2 if c >> 5 == 6 else 3 if c >> 4 == 14 else 4 if c >> 3 == 30 else 0
            try:
                ch = b[i:i + n].decode("utf-8") if n else None
            except UnicodeDecodeError:
                ch = None
            if ch and ch.isprintable():
                out.append(ch)
                i += n
                continue
            out.append("\\x%02x" % c)
        i += 1
    return '"' + "".join(out) + '"'


def format_text(rec):
    parts = [str(rec["seq"]), rec["id"], _quote(rec["topic_bytes"])]
    if rec["origin_bytes"]:
        parts.append("@%s:%d" % (_quote(rec["origin_bytes"]), rec["origin_seq"]))
    parts += ["%s=%s" % (_quote(k, True), _quote(v)) for k, v in rec["fields_bytes"]]
    return " ".join(parts)


def format_timestamp(micros):
    """RFC 3339 in UTC with microseconds, as `vimana ledger dump --json`
    writes it: 2026-11-25T09:51:45.123456Z. Any 64-bit value is formatted
    (proleptic Gregorian calendar; a year outside 0-9999 as %04d prints it),
    where datetime stops at year 9999."""
    seconds, fraction = divmod(micros, 1_000_000)
    days, second_of_day = divmod(seconds, 86_400)
    # Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        year, month, day, second_of_day // 3600, second_of_day // 60 % 60, second_of_day % 60, fraction)


def format_json(rec):
    names = [k for k, _ in rec["fields"]]
    fields = dict(rec["fields"]) if len(set(names)) == len(names) else rec["fields"]
    name, publisher, origin = rec["client_name_bytes"], rec["publisher_bytes"], rec["origin_bytes"]
    obj = {
        "seq": rec["seq"], "id": rec["id"], "ts": format_timestamp(rec["timestamp_us"]),
        "topic": rec["topic_bytes"].decode("utf-8", "replace"),
        "client_id": rec["client_id"],
        "client_name": name.decode("utf-8", "replace") if name else None,
        "publisher": publisher.decode("utf-8", "replace") if publisher else None,
    }
    if origin:
        # Only a record from another kernel has one (LEDGER.md section 3).
        obj["origin"], obj["origin_seq"] = origin.decode("utf-8", "replace"), rec["origin_seq"]
    obj["fields"] = fields
    line = json.dumps(obj, ensure_ascii=False)
    # Characters that some line splitters (Python's str.splitlines, older
    # JavaScript) take for line ends are escaped, so one record stays one line.
    return line.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def server_holding(directory):
    """The pid of the server holding `directory`'s lock ("unknown" when the
    lock file names none), or None when no server holds it. Changes nothing:
    the lock file is opened read-only, and a shared lock is taken and dropped
    at once to find out (LEDGER.md section 1)."""
    try:
        fd = os.open(os.path.join(directory, LOCK_FILE), os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0)
            digits = text.split(b"\n", 1)[0]
            return digits.decode("ascii") if b"\n" in text and digits.isdigit() else "unknown"
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# MARK: - CLI

REMOVALS_TOPIC = b"_vimana.removals"


def removals(directory):
    """What the markers of LEDGER.md section 9 removed: a test for a record."""
    floors, listed = {}, {}
    try:
        for rec in LedgerReader(directory, skip_damage=True).records(None, REMOVALS_TOPIC.decode()):
            marker = dict(rec["fields_bytes"])
            topic = marker.get(b"topic")
            if topic is None or not marker.get(b"floor", b"").isdigit():
                continue
            floors[topic] = max(floors.get(topic, 0), int(marker[b"floor"]))
            listed.setdefault(topic, set()).update(int(s) for s in marker.get(b"sequences", b"").split())
    except LedgerError:
        pass  # the second pass reports it
    return lambda rec: rec["seq"] < floors.get(rec["topic_bytes"], 0) or rec["seq"] in listed.get(rec["topic_bytes"], ())


def _dump(args, out, err):
    # Past corruption, as `vimana ledger repair` would keep the frames after it.
    reader = LedgerReader(args.dir, skip_damage=True)
    fmt = format_json if args.json else format_text
    removed = (lambda rec: False) if args.all else removals(args.dir)
    code = 0
    try:
        for rec in reader.records(args.from_seq, args.topic):
            if removed(rec):
                continue
            out.write((fmt(rec) + "\n").encode("utf-8"))
    except TornTail as e:
        err.write("%s: %s\n" % (PROG, e))
        code = 1 if args.strict else 0
    except LedgerError as e:
        err.write("%s: %s\n" % (PROG, e))
        code = 1
    for e in reader.skipped:
        err.write("%s: %s\n" % (PROG, e))
        code = 1
    return code


def _verify(args, out, err):
    result = verify_ledger(args.dir, strict_index=args.index)
    for line in result.problems:
        out.write(("problem: %s\n" % line).encode("utf-8"))
    for line in result.warnings:
        out.write(("warning: %s\n" % line).encode("utf-8"))
    verdict = "ok" if not result.problems else "%d problems" % len(result.problems)
    out.write(("%s: %d segments, %d frames, %d records\n"
               % (verdict, result.segments, result.frames, result.records)).encode("utf-8"))
    return 1 if result.problems else 0


def _stats(args, out, err):
    reader = LedgerReader(args.dir)
    topic = args.topic.encode("utf-8", "surrogateescape") if args.topic is not None else None
    per_seg, topics = {}, {}
    total = {"records": 0, "frames": 0, "raw": 0, "compressed": 0}
    first = last = None
    problem, code = None, 0
    try:
        for frame in reader.frames(args.from_seq):
            s = per_seg.setdefault(frame.segment, {"records": 0, "frames": 0, "raw": 0, "compressed": 0,
                                                   "first": None, "last": None})
            for d in (s, total):
                d["frames"] += 1
                d["raw"] += frame.raw_length
                d["compressed"] += frame.compressed_length
            for r in frame.records:
                if args.from_seq is not None and r["seq"] < args.from_seq:
                    continue
                if topic is not None and not glob_match(topic, r["topic_bytes"]):
                    continue
                s["records"] += 1
                total["records"] += 1
                s["first"] = r["seq"] if s["first"] is None else s["first"]
                s["last"] = r["seq"]
                first = r["seq"] if first is None else first
                last = r["seq"]
                topics[r["topic_bytes"]] = topics.get(r["topic_bytes"], 0) + 1
    except TornTail as e:
        problem = str(e)
    except LedgerError as e:
        problem, code = str(e), 1

    def ratio(d):
        return "%.2f" % (d["raw"] / d["compressed"]) if d["compressed"] else "-"

    lines = [
        "ledger: %s" % args.dir,
        "records: %d%s" % (total["records"], " (sequences %d..%d)" % (first, last) if first is not None else ""),
        "segments: %d (%d read)" % (len(reader.segments), len(per_seg)),
        "frames: %d" % total["frames"],
        "raw bytes: %d" % total["raw"],
        "compressed bytes: %d (plus %d bytes of frame headers)" % (
            total["compressed"], FRAME_HEADER_SIZE * total["frames"]),
        "ratio: %s" % ratio(total),
    ]
    if reader.located:
        lines.append("from: %s" % reader.located)
    for seg in reader.segments:
        s = per_seg.get(seg.name)
        if s is None:
            continue
        size = seg.size if seg.size is not None else os.path.getsize(seg.path)
        index, why = load_index(seg, size)
        span = "%d..%d" % (s["first"], s["last"]) if s["first"] is not None else "-"
        lines.append("segment %s: %d records (%s), %d frames, %d bytes, raw %d, compressed %d, ratio %s, index %s"
                     % (seg.name, s["records"], span, s["frames"], size, s["raw"], s["compressed"], ratio(s),
                        index.describe(size) if index else why))
    if problem:
        lines.append(("problem: " if code else "") + problem)
    lines.append("topics: %d" % len(topics))
    for name in sorted(topics, key=lambda t: (-topics[t], t)):
        lines.append("  %s %d" % (_quote(name), topics[name]))
    out.write(("\n".join(lines) + "\n").encode("utf-8"))
    return code


def _parser():
    p = argparse.ArgumentParser(prog=PROG, description="Read a Vimana ledger directory (Protocol/LEDGER.md).")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="print records")
    v = sub.add_parser("verify", help="check every frame of every segment")
    s = sub.add_parser("stats", help="counts, sizes, topics")
    for q in (d, v, s):
        q.add_argument("dir")
    for q in (d, s):
        q.add_argument("--from", dest="from_seq", type=int, metavar="SEQ", help="start at this sequence")
        # argv arrives surrogate-escaped, so any bytes of the pattern survive to the match.
        q.add_argument("--topic", metavar="PATTERN", help="Redis glob on topics")
    d.add_argument("--json", action="store_true", help="JSON lines")
    d.add_argument("--strict", action="store_true", help="a torn tail is an error")
    d.add_argument("--all", action="store_true", help="also the entries XDEL, XTRIM and DEL removed (LEDGER.md section 9)")
    v.add_argument("--index", action="store_true", help="a bad index file is a problem, not a warning")
    return p


def main(argv=None, out=None, err=None):
    """Runs the CLI; `out` takes bytes (default: stdout's buffer), `err` text."""
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr
    args = _parser().parse_args(argv)
    if not os.path.isdir(args.dir):
        err.write("%s: %s: not a directory\n" % (PROG, args.dir))
        return 2
    try:
        names = os.listdir(args.dir)
    except OSError as e:
        err.write("%s: %s\n" % (PROG, e))
        return 2
    if LOCK_FILE not in names and not any(is_segment_name(n) for n in names):
        # Every directory a server has opened has both: a mistyped path is not an empty ledger.
        err.write("%s: %s: not a ledger directory (no segment files, no %s)\n" % (PROG, args.dir, LOCK_FILE))
        return 2
    pid = server_holding(args.dir)
    if pid is not None:
        # This reader never writes; a server that is running may still be appending.
        err.write("%s: note: a server (pid %s) is running on %s; reading only, and the active segment may be growing\n"
                  % (PROG, pid, args.dir))
    run = {"dump": _dump, "verify": _verify, "stats": _stats}[args.command]
    try:
        return run(args, out, err)
    except BrokenPipeError:
        # `dump | head`: the reader went away; that is not our failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        err.write("%s: %s\n" % (PROG, e))
        return 2


if __name__ == "__main__":
    sys.exit(main())
