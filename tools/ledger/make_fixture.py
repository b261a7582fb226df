#!/usr/bin/env python3
"""Writes a Vimana ledger directory as Protocol/LEDGER.md describes it, so the
reader (vimana_ledger.py) can be tested before, and apart from, the Swift
writer. It shares no code with the reader on purpose: each is written from
the document alone, and the tests check that they agree.

    make_fixture.py DIR [--records N] [--per-frame N] [--segment-bytes B]
                        [--payload-bytes N] [--seed S] [--no-index]

writes N records (PUBLISH-like, one `payload` field of random bytes, and some
XADD-like ones with several fields) over a few topics, one frame per
--per-frame records (a group commit), sealing a segment once it reaches
--segment-bytes, with an index for every segment. Prints one line per file.

As a library, LedgerWriter appends records, commit() writes them as one
frame, seal() closes the segment (writing its index) and opens the next;
encode_record / encode_frame / encode_index build single pieces, with
overrides for making deliberately bad ones.
"""
import argparse
import os
import random
import struct
import zlib

FRAME_MAGIC = b"VMLF"
INDEX_MAGIC = b"VMLI"
VERSION = 3          # of frames: 2 adds the publisher, 3 the origin (section 3)
INDEX_VERSION = 1
FRAME_HEADER_SIZE = 36
INDEX_SPACING = 64 * 1024   # a new index entry once this much segment has passed
INDEX_SEALED = 1
FIRST_TIMESTAMP_US = 1_700_000_000_000_000


def segment_name(seq, ext=".seg"):
    return "%020d%s" % (seq, ext)


def _bytes(v):
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _sized(b):
    return struct.pack("<I", len(b)) + b


# MARK: - Pieces

def encode_record(seq, id_ms, id_seq, timestamp_us, client_id, topic, client_name, fields, length=None,
                  publisher=b"", version=VERSION, origin=b"", origin_seq=0):
    """One record (section 3) in the layout of `version` (1: no publisher;
    2: no origin); `length` overrides L."""
    body = struct.pack("<QQQqQ", seq, id_ms, id_seq, timestamp_us, client_id)
    body += _sized(_bytes(topic)) + _sized(_bytes(client_name or b""))
    if version >= 2:
        body += _sized(_bytes(publisher or b""))
    if version >= 3:
        body += _sized(_bytes(origin or b"")) + struct.pack("<Q", origin_seq)
    body += struct.pack("<I", len(fields))
    for name, value in fields:
        body += _sized(_bytes(name)) + _sized(_bytes(value))
    return struct.pack("<I", len(body) if length is None else length) + body


def encode_frame(first_seq, count, raw, level=1, magic=FRAME_MAGIC, version=VERSION, flags=0,
                 uncompressed_length=None, zdata=None, data_crc=None, header_crc=None):
    """One frame (section 2) holding `count` records whose bytes are `raw`.
    The keyword arguments override what would be written, to make bad frames
    whose CRCs are nevertheless right (unless a CRC itself is overridden)."""
    z = zlib.compress(raw, level) if zdata is None else zdata
    head = struct.pack("<4sHHQIIII", magic, version, flags, first_seq, count,
                       len(raw) if uncompressed_length is None else uncompressed_length,
                       len(z), zlib.crc32(z) if data_crc is None else data_crc)
    return head + struct.pack("<I", zlib.crc32(head) if header_crc is None else header_crc) + z


def encode_index(first_seq, covered, next_seq, min_ts, max_ts, entries, topics, sealed=False, flags=None):
    """An index file (section 4). entries: [(first seq, offset, min ms, max
    ms)]; topics: [(name, count, (first ms, seq), (last ms, seq))]."""
    out = struct.pack("<4sHHQQQqqII", INDEX_MAGIC, INDEX_VERSION,
                      (INDEX_SEALED if sealed else 0) if flags is None else flags,
                      first_seq, covered, next_seq, min_ts, max_ts, len(entries), len(topics))
    for e in entries:
        out += struct.pack("<QQQQ", *e)
    for name, count, first, last in topics:
        out += _sized(_bytes(name)) + struct.pack("<QQQQQ", count, first[0], first[1], last[0], last[1])
    return out + struct.pack("<I", zlib.crc32(out))


# MARK: - Writer

class LedgerWriter:
    """Appends records to a ledger directory the way the document says the
    server does: one frame per commit() (group commit), segments named by
    their first sequence, sparse indexes written whole through a .tmp file."""

    def __init__(self, directory, first_seq=1, level=1, start_us=FIRST_TIMESTAMP_US, version=VERSION):
        os.makedirs(directory, exist_ok=True)
        self.directory, self.level = directory, level
        self.version = version  # of the frames commit() writes; may change between commits
        self.next_seq = first_seq
        self.clock = start_us
        self.last_ids = {}     # topic -> last stream ID, as Redis keeps per stream
        self.pending = []      # records not yet in a frame
        self.written = []      # every record written, as dicts (the truth for tests)
        self._open_segment()

    def _open_segment(self):
        # Records queued but not yet written belong to the new segment.
        self.segment_first = self.pending[0]["seq"] if self.pending else self.next_seq
        self.segment_path = os.path.join(self.directory, segment_name(self.segment_first))
        self.frames = []       # (offset, end, first, count, records) of this segment
        self.size = 0
        open(self.segment_path, "wb").close()

    def append(self, topic, fields, client_id=0, client_name=b"", timestamp_us=None, stream_id=None, publisher=b"",
               origin=b"", origin_seq=0):
        """Queues one record (fields: [(name, value)]) and returns it. The
        stream ID defaults to what XADD * would give: the time in ms, or the
        topic's last ID plus one when that is not smaller."""
        topic = _bytes(topic)
        if timestamp_us is None:
            self.clock += 137
            timestamp_us = self.clock
        if stream_id is None:
            ms, seq = max(timestamp_us // 1000, 0), 0
            last = self.last_ids.get(topic)
            if last is not None and ms <= last[0]:
                ms, seq = last[0], last[1] + 1
            stream_id = (ms, seq)
        self.last_ids[topic] = stream_id
        rec = {"seq": self.next_seq, "id_ms": stream_id[0], "id_seq": stream_id[1],
               "timestamp_us": timestamp_us, "client_id": client_id, "topic_bytes": topic,
               "client_name_bytes": _bytes(client_name), "publisher_bytes": _bytes(publisher),
               "origin_bytes": _bytes(origin), "origin_seq": origin_seq,
               "fields_bytes": [(_bytes(k), _bytes(v)) for k, v in fields]}
        self.next_seq += 1
        self.pending.append(rec)
        return rec

    def commit(self):
        """Writes the pending records as one frame; returns its offset (None if nothing was pending)."""
        if not self.pending:
            return None
        recs, self.pending = self.pending, []
        raw = b"".join(encode_record(r["seq"], r["id_ms"], r["id_seq"], r["timestamp_us"], r["client_id"],
                                     r["topic_bytes"], r["client_name_bytes"], r["fields_bytes"],
                                     publisher=r["publisher_bytes"], version=self.version,
                                     origin=r["origin_bytes"], origin_seq=r["origin_seq"]) for r in recs)
        frame = encode_frame(recs[0]["seq"], len(recs), raw, self.level, version=self.version)
        for r in recs:
            if self.version < 2:
                r["publisher_bytes"] = b""  # a version 1 record keeps none
            if self.version < 3:
                r["origin_bytes"], r["origin_seq"] = b"", 0  # nor does a version 2 one keep an origin
        with open(self.segment_path, "ab") as f:
            f.write(frame)
        offset = self.size
        self.size += len(frame)
        self.frames.append((offset, self.size, recs[0]["seq"], len(recs), recs))
        for r in recs:
            r["segment"], r["offset"] = os.path.basename(self.segment_path), offset
        self.written.extend(recs)
        return offset

    def write_index(self, sealed=False):
        """Writes the index of the current segment, covering every frame so far."""
        entries, topics = [], {}
        min_ts = max_ts = 0
        for offset, _, first, _, recs in self.frames:
            if not entries or offset - entries[-1][1] >= INDEX_SPACING:
                entries.append([first, offset, None, None])
            e = entries[-1]
            for r in recs:
                e[2] = r["id_ms"] if e[2] is None else min(e[2], r["id_ms"])
                e[3] = r["id_ms"] if e[3] is None else max(e[3], r["id_ms"])
                sid = (r["id_ms"], r["id_seq"])
                t = topics.setdefault(r["topic_bytes"], [0, sid, sid])
                t[0] += 1
                t[2] = sid
        stamps = [r["timestamp_us"] for f in self.frames for r in f[4]]
        if stamps:
            min_ts, max_ts = min(stamps), max(stamps)
        next_seq = self.frames[-1][2] + self.frames[-1][3] if self.frames else self.segment_first
        data = encode_index(self.segment_first, self.size, next_seq, min_ts, max_ts,
                            [tuple(e) for e in entries],
                            [(name, t[0], t[1], t[2]) for name, t in sorted(topics.items())], sealed)
        path = self.segment_path[:-4] + ".idx"
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        return path

    def seal(self, index=True):
        """Seals the segment (its index flagged sealed) and opens the next
        one, named by its first sequence: records still pending go there."""
        if index:
            self.write_index(sealed=True)
        self._open_segment()

    def close(self, index=True):
        """Commits what is pending and indexes the active segment."""
        self.commit()
        if index:
            self.write_index()


# MARK: - A standard fixture

def build(directory, records=1000, per_frame=8, segment_bytes=64 << 10, payload_bytes=100,
          seed=1, index=True, topics=("orders.eu", "orders.us", "audit", "çà.unicode")):
    """A deterministic ledger: every 7th record is XADD-like (several fields),
    the others PUBLISH-like with one `payload` field of random bytes. Returns
    the writer; `writer.written` lists the records."""
    rng = random.Random(seed)
    w = LedgerWriter(directory)
    for i in range(records):
        topic = topics[rng.randrange(len(topics))]
        if i % 7 == 3:
            fields = [("user", "u%d" % rng.randrange(100)), ("qty", str(rng.randrange(10))), ("note", "")]
        else:
            fields = [("payload", bytes(rng.randrange(256) for _ in range(rng.randrange(payload_bytes + 1))))]
        w.append(topic, fields, client_id=rng.randrange(1, 5), client_name="" if i % 3 else "pub-%d" % (i % 5))
        if len(w.pending) >= per_frame:
            # As the server: a segment that has reached its size is sealed
            # before the next frame, so the active segment is never empty here.
            if w.size >= segment_bytes:
                w.seal(index)
            w.commit()
    w.close(index)
    return w


def main(argv=None):
    p = argparse.ArgumentParser(prog="make_fixture", description="Write a test ledger (Protocol/LEDGER.md).")
    p.add_argument("dir")
    p.add_argument("--records", type=int, default=1000)
    p.add_argument("--per-frame", type=int, default=8, help="records per frame (group commit)")
    p.add_argument("--segment-bytes", type=int, default=64 << 10, help="seal a segment at this size")
    p.add_argument("--payload-bytes", type=int, default=100, help="largest random payload")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-index", action="store_true")
    a = p.parse_args(argv)
    build(a.dir, a.records, a.per_frame, a.segment_bytes, a.payload_bytes, a.seed, not a.no_index)
    for name in sorted(os.listdir(a.dir)):
        print("%s %d" % (name, os.path.getsize(os.path.join(a.dir, name))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
