#!/usr/bin/env python3
"""Tests of vimana_ledger.py against ledgers written by make_fixture.py, both
built from Protocol/LEDGER.md alone. Standard library only:

    python3 -m unittest tools/ledger/test_vimana_ledger.py
    python3 tools/ledger/test_vimana_ledger.py
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_fixture as mf  # noqa: E402
import vimana_ledger as vl  # noqa: E402


def read_all(directory, **kw):
    """(records, error): every record read_ledger yields, then what it raised."""
    out = []
    try:
        for r in vl.read_ledger(directory, **kw):
            out.append(r)
    except vl.LedgerError as e:
        return out, e
    return out, None


def run_cli(*argv):
    """(exit status, stdout text, stderr text) of the CLI run in-process."""
    out, err = io.BytesIO(), io.StringIO()
    code = vl.main(list(argv), out, err)
    return code, out.getvalue().decode("utf-8"), err.getvalue()


def segment_files(directory):
    return sorted(n for n in os.listdir(directory) if n.endswith(".seg"))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def frame_offsets(path):
    """Offsets of the frames of a well-formed segment, from their headers."""
    data, offs, off = read_bytes(path), [], 0
    while off < len(data):
        offs.append(off)
        off += 36 + struct.unpack_from("<I", data, off + 24)[0]
    return offs, len(data)


class LedgerTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self._tmp.name, "ledger")

    def tearDown(self):
        self._tmp.cleanup()

    def assertSameRecords(self, got, want):
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            for key in ("seq", "id_ms", "id_seq", "timestamp_us", "client_id", "topic_bytes",
                        "client_name_bytes", "publisher_bytes", "origin_bytes", "origin_seq", "fields_bytes",
                        "segment", "offset"):
                self.assertEqual(g[key], w[key], "record %d: %s" % (w["seq"], key))
            self.assertEqual(g["id"], "%d-%d" % (w["id_ms"], w["id_seq"]))


# MARK: - Round trip

class RoundTripTests(LedgerTestCase):
    def test_every_kind_of_record_reads_back_byte_for_byte(self):
        w = mf.LedgerWriter(self.dir)
        w.append("plain", [("payload", b"hello")])
        w.append("binary", [("payload", bytes(range(256)))], client_name=b"\xff\xfename")
        w.append("empty", [("payload", b"")], client_name="")
        w.append("", [(b"", b"")])
        w.commit()
        w.append("日本語.トピック", [("ключ", "значение"), ("k", "v")], client_name="издатель")
        w.append(b"bad\xffutf8", [(b"\x80", b"\xc3\x28")])
        w.append("many", [("f%d" % i, os.urandom(i % 50)) for i in range(1000)])
        w.append("dup", [("a", "1"), ("a", "2"), ("b", "")])
        w.append("nofields", [])
        w.append("extremes", [("x", "y")], client_id=2 ** 64 - 1, timestamp_us=-1,
                 stream_id=(2 ** 64 - 1, 2 ** 64 - 1))
        w.commit()
        w.seal()
        w.append("after-seal", [("payload", b"z" * 100000)])
        w.close()
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertSameRecords(got, w.written)
        by_topic = {r["topic_bytes"]: r for r in got}
        self.assertEqual(by_topic["日本語.トピック".encode()]["topic"], "日本語.トピック")
        self.assertEqual(by_topic["日本語.トピック".encode()]["client_name"], "издатель")
        self.assertEqual(by_topic["日本語.トピック".encode()]["fields"], [["ключ", "значение"], ["k", "v"]])
        odd = by_topic[b"bad\xffutf8"]
        self.assertEqual(odd["topic"].encode("utf-8", "surrogateescape"), b"bad\xffutf8")
        self.assertEqual(odd["fields"], [["\ufffd", "\ufffd("]])
        self.assertEqual(by_topic[b"binary"]["client_name"].encode("utf-8", "surrogateescape"), b"\xff\xfename")
        self.assertIsNone(by_topic[b"empty"]["client_name"])
        self.assertEqual(by_topic[b"empty"]["fields_bytes"], [(b"payload", b"")])
        self.assertEqual(by_topic[b""]["fields_bytes"], [(b"", b"")])
        self.assertEqual(by_topic[b"extremes"]["id"], "%d-%d" % (2 ** 64 - 1, 2 ** 64 - 1))
        self.assertEqual(by_topic[b"extremes"]["timestamp_us"], -1)
        self.assertEqual(len(by_topic[b"many"]["fields"]), 1000)
        self.assertEqual(by_topic[b"nofields"]["fields"], [])
        self.assertEqual(run_cli("verify", self.dir)[0], 0)

    def test_publisher_reads_back_from_version_2_and_is_none_in_version_1(self):
        # A ledger begun before version 2 (its frames keep no publisher) and
        # appended to since, in one segment and the next: each frame is read
        # by its own version, and both verify.
        w = mf.LedgerWriter(self.dir, version=1)
        w.append("orders", [("payload", b"old")], client_name="web", publisher="ignored")
        w.commit()
        w.version = 2
        w.append("orders", [("payload", b"new")], client_name="web", publisher="alice")
        w.append("orders", [("payload", b"kernel's")])
        w.commit()
        w.seal()
        w.append("orders", [("payload", b"later")], publisher=b"b\xffob")
        w.version = 1
        w.commit()
        w.version = 2
        w.append("orders", [("payload", b"last")], publisher="carol")
        w.close()
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertSameRecords(got, w.written)
        self.assertEqual([r["publisher"] for r in got], [None, "alice", None, None, "carol"])
        self.assertEqual([r["publisher_bytes"] for r in got], [b"", b"alice", b"", b"", b"carol"])
        self.assertEqual([r["client_name"] for r in got], ["web", "web", None, None, None])
        self.assertEqual(run_cli("verify", self.dir)[0], 0)
        code, out, _ = run_cli("dump", self.dir, "--json")
        self.assertEqual(code, 0)
        self.assertEqual([json.loads(line)["publisher"] for line in out.splitlines()], [None, "alice", None, None, "carol"])

    def test_origin_reads_back_from_version_3_beside_versions_1_and_2(self):
        # Version 3 (LEDGER.md section 3) adds where a record came from: a
        # record another kernel published keeps that kernel's node id and its
        # sequence there; one published here has neither. One segment holds
        # frames of all three versions, each read by its own.
        w = mf.LedgerWriter(self.dir, version=1)
        w.append("orders", [("payload", b"v1")], publisher="ignored", origin="ignored", origin_seq=9)
        w.commit()
        w.version = 2
        w.append("orders", [("payload", b"v2")], publisher="alice", origin="ignored", origin_seq=9)
        w.commit()
        w.version = 3
        w.append("orders", [("payload", b"local")], publisher="bob")
        w.append("orders", [("payload", b"remote")], publisher="carol", origin="node-b", origin_seq=42)
        w.append("orders", [("payload", b"odd")], origin=b"n\xffde", origin_seq=2 ** 64 - 1)
        w.close()
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertSameRecords(got, w.written)
        self.assertEqual([r["origin"] for r in got], [None, None, None, "node-b", "n\udcffde"])
        self.assertEqual([r["origin_bytes"] for r in got], [b"", b"", b"", b"node-b", b"n\xffde"])
        self.assertEqual([r["origin_seq"] for r in got], [0, 0, 0, 42, 2 ** 64 - 1])
        self.assertEqual([r["publisher"] for r in got], [None, "alice", "bob", "carol", None])
        self.assertEqual(run_cli("verify", self.dir)[0], 0)
        code, out, _ = run_cli("dump", self.dir, "--json")
        self.assertEqual(code, 0)
        rows = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([(r.get("origin"), r.get("origin_seq")) for r in rows],
                         [(None, None)] * 3 + [("node-b", 42), ("n\ufffdde", 2 ** 64 - 1)])
        self.assertEqual([list(r) for r in rows][3], ["seq", "id", "ts", "topic", "client_id", "client_name",
                                                     "publisher", "origin", "origin_seq", "fields"])
        self.assertNotIn("origin", rows[2])
        code, out, _ = run_cli("dump", self.dir)
        self.assertEqual(code, 0)
        self.assertEqual([line.split(" ", 3)[3] for line in out.splitlines()],
                         ["payload=v1", "payload=v2", "payload=local", "@node-b:42 payload=remote",
                          '@"n\\xffde":18446744073709551615 payload=odd'])

    def test_standard_fixture_reads_back_and_verifies_with_its_indexes(self):
        w = mf.build(self.dir, records=1500, payload_bytes=200, segment_bytes=50000)
        self.assertGreaterEqual(len(segment_files(self.dir)), 3)
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertSameRecords(got, w.written)
        code, out, _ = run_cli("verify", self.dir, "--index")
        self.assertEqual(code, 0, out)
        self.assertEqual(out.splitlines()[-1], "ok: %d segments, %d frames, 1500 records"
                         % (len(segment_files(self.dir)), (1500 + 7) // 8))

    def test_ledger_may_start_after_sequence_one_and_end_in_an_empty_segment(self):
        # Retention retires the oldest segments; a seal just before shutdown
        # leaves an empty active segment.
        w = mf.LedgerWriter(self.dir, first_seq=1000)
        for i in range(10):
            w.append("t", [("payload", str(i))])
        w.commit()
        w.seal()
        w.close()
        self.assertEqual(segment_files(self.dir)[-1], "00000000000000001010.seg")
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertEqual([r["seq"] for r in got], list(range(1000, 1010)))
        self.assertEqual(run_cli("verify", self.dir, "--index")[0], 0)

    def test_tmp_files_and_strangers_are_ignored(self):
        w = mf.build(self.dir, records=50)
        for name in ("00000000000000000001.idx.tmp", "00000000000000000099.seg.tmp", "notes.txt"):
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(b"junk")
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertSameRecords(got, w.written)


# MARK: - --from

class FromTests(LedgerTestCase):
    def setUp(self):
        super().setUp()
        # Incompressible payloads, so each segment spans several 64 KiB index entries.
        self.w = mf.build(self.dir, records=3000, per_frame=5, payload_bytes=400, segment_bytes=250000)
        self.segments = vl.list_segments(self.dir)
        self.assertGreaterEqual(len(self.segments), 3)

    def index_of(self, seg):
        return vl.load_index(seg, os.path.getsize(seg.path))[0]

    def test_index_and_scan_give_the_same_records_from_any_sequence(self):
        starts = {0, 1, 2, 3, 2999, 3000, 3001, 5000}
        for seg in self.segments:
            starts |= {seg.first_seq - 1, seg.first_seq, seg.first_seq + 1}
            idx = self.index_of(seg)
            self.assertGreaterEqual(len(idx.entries), 3)
            for e in idx.entries:
                starts |= {e[0] - 1, e[0], e[0] + 1}
        starts |= set(range(1, 3000, 37))
        last_first = self.segments[-1].first_seq
        for s in sorted(starts):
            want = [r for r in self.w.written if r["seq"] >= s]
            via_index = vl.LedgerReader(self.dir)
            got_index = list(via_index.records(from_seq=s))
            got_scan = list(vl.LedgerReader(self.dir, use_index=False).records(from_seq=s))
            self.assertSameRecords(got_index, want)
            self.assertSameRecords(got_scan, want)
            if s > last_first:
                self.assertIn("scan (the last segment is read from its start)", via_index.located)
            elif s > 1 and s not in {seg.first_seq for seg in self.segments}:
                self.assertIn(": index (entry at offset ", via_index.located, s)

    def test_index_jumps_over_frames_that_a_scan_reads(self):
        seg = self.segments[1]
        entry = self.index_of(seg).entries[2]
        s = entry[0] + 3
        via_index, via_scan = vl.LedgerReader(self.dir), vl.LedgerReader(self.dir, use_index=False)
        self.assertEqual([r["seq"] for r in via_index.records(s)], [r["seq"] for r in via_scan.records(s)])
        self.assertEqual(via_index.located, "sequence %d in %s: index (entry at offset %d)" % (s, seg.name, entry[1]))
        self.assertEqual(via_scan.located, "sequence %d in %s: scan (index not used)" % (s, seg.name))
        self.assertLess(via_index.headers_only, via_scan.headers_only)
        code, out, _ = run_cli("stats", self.dir, "--from", str(s))
        self.assertEqual(code, 0)
        self.assertIn("from: sequence %d in %s: index (entry at offset %d)" % (s, seg.name, entry[1]), out)

    def test_frames_written_after_the_index_are_found_from_its_covered_end(self):
        # The server crashed after sealing a segment but before rewriting its
        # index: the index covers less than the segment.
        shutil.rmtree(self.dir)
        w = mf.LedgerWriter(self.dir)
        for i in range(40):
            w.append("t", [("payload", "p%d" % i)])
            w.commit()
            if i == 29:
                w.write_index()
        w.seal(index=False)
        w.append("t", [("payload", "next segment")])
        w.close()
        reader = vl.LedgerReader(self.dir)
        self.assertSameRecords(list(reader.records(35)), w.written[34:])
        self.assertIn("sequence 35 in %s: index (past its covered" % mf.segment_name(1), reader.located)
        self.assertEqual(run_cli("verify", self.dir, "--index")[0], 0)

    def test_damage_before_from_in_the_last_segment_is_found_wherever_the_read_starts(self):
        # The server rescans the active segment on start, so damage there
        # matters even to a read that starts after it: followed by valid
        # frames it is corruption (the server refuses to start), not a torn tail.
        seg = self.segments[-1]
        offs, size = frame_offsets(seg.path)
        data = bytearray(read_bytes(seg.path))
        data[offs[3] + 40] ^= 0x10
        write_bytes(seg.path, bytes(data))
        want = [r for r in self.w.written if seg.first_seq - 5 <= r["seq"] < seg.first_seq + 15]
        got, err = read_all(self.dir, from_seq=seg.first_seq - 5)
        self.assertSameRecords(got, want)
        self.assertIsInstance(err, vl.Corrupt)
        self.assertEqual((err.frame, err.offset, err.kind), (3, offs[3], vl.DATA_CRC))
        self.assertEqual((err.damage.kind, err.damage.end, err.damage.resume), ("followed", offs[4], seg.first_seq + 20))
        got, err = read_all(self.dir, from_seq=seg.first_seq + 50)
        self.assertEqual(got, [])
        self.assertEqual((err.frame, err.offset, err.kind), (3, offs[3], vl.DATA_CRC))
        # Reading past the damage, as `vimana ledger repair` keeps the frames after it.
        reader = vl.LedgerReader(self.dir, skip_damage=True)
        got = list(reader.records(seg.first_seq + 50))
        self.assertSameRecords(got, [r for r in self.w.written if r["seq"] >= seg.first_seq + 50])
        self.assertEqual([(e.frame, e.offset) for e in reader.skipped], [(3, offs[3])])


# MARK: - Redis glob

class GlobTests(LedgerTestCase):
    CASES = [
        # pattern, string, matches (Redis stringmatchlen; Vimana's Glob.swift)
        ("*", "anything", True),
        ("*", "", False),              # Redis: an empty string matches no pattern
        ("", "", True),
        ("", "a", False),
        ("a*", "a", True),
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*c", "ac", True),
        ("a*c", "abdc", True),
        ("a*c", "abd", False),
        ("a**b", "ab", True),
        ("a*b*c", "aXbYc", True),
        ("orders.*", "orders.eu", True),
        ("orders.*", "orders", False),
        ("*.eu", "orders.eu", True),
        ("h?llo", "hello", True),
        ("h?llo", "hllo", False),
        ("?", "é", False),             # bytes, not characters
        ("??", "é", True),
        ("h[ae]llo", "hallo", True),
        ("h[ae]llo", "hillo", False),
        ("h[^e]llo", "hallo", True),
        ("h[^e]llo", "hello", False),
        ("h[a-b]llo", "hbllo", True),
        ("h[a-b]llo", "hcllo", False),
        ("[z-a]", "m", True),          # a reversed range matches too
        ("[0-9][0-9]", "42", True),
        ("[0-9][0-9]", "4x", False),
        ("[^0-9]", "x", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("\\?", "?", True),
        ("\\?", "a", False),
        ("a\\", "a\\", True),          # a trailing backslash is itself
        ("[\\]]", "]", True),
        ("[\\^]", "^", True),
        ("[]", "]", False),            # Redis: `[]` is an empty class, not `]`
        ("[abc", "b", True),           # an unterminated class still matches
        ("[abc", "d", False),
        ("[a-]", "-", False),          # Redis reads `a-]` as the range a..]
        ("[a-]", "_", True),
        ("ça.*", "ça.va", True),
        ("[ç]", "ç", False),           # a class holds bytes
        ("a*a*a*a*a*a*a*a*a*a*b", "a" * 60, False),   # backtracking is cut off
    ]

    def test_redis_glob_table(self):
        for pattern, string, want in self.CASES:
            self.assertEqual(vl.glob_match(pattern, string), want, "%r ~ %r" % (pattern, string))
            self.assertEqual(vl.glob_match(pattern.encode(), string.encode()), want)

    def test_topic_filter_selects_what_the_glob_matches(self):
        w = mf.build(self.dir, records=400)
        for pattern in ("orders.*", "*.eu", "orders.[eu][us]", "[^o]*", "çà.*", "nothing", "*"):
            got, err = read_all(self.dir, topic_glob=pattern)
            self.assertIsNone(err)
            want = [r for r in w.written if vl.glob_match(pattern, r["topic_bytes"])]
            self.assertTrue(want or pattern == "nothing", pattern)
            self.assertSameRecords(got, want)
        code, out, _ = run_cli("dump", self.dir, "--topic", "*.eu", "--from", "100")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertEqual(len(lines), len([r for r in w.written if r["topic_bytes"] == b"orders.eu"
                                          and r["seq"] >= 100]))
        self.assertTrue(all(line.split(" ")[2] == "orders.eu" for line in lines))


# MARK: - Torn tails and corruption

class TornTailTests(LedgerTestCase):
    def test_a_cut_at_every_byte_of_the_last_frame_is_a_torn_tail(self):
        w = mf.build(self.dir, records=300, per_frame=10, payload_bytes=60, segment_bytes=6000)
        last = os.path.join(self.dir, segment_files(self.dir)[-1])
        original = read_bytes(last)
        offs, size = frame_offsets(last)
        start = offs[-1]
        whole = [r for r in w.written if not (r["segment"] == os.path.basename(last) and r["offset"] == start)]
        self.assertGreater(size - start, 100)
        for cut in range(start, size):
            with open(last, "wb") as f:
                f.write(original[:cut])
            got, err = read_all(self.dir)
            self.assertSameRecords(got, whole)
            if cut == start:
                self.assertIsNone(err)  # a clean end: nothing torn
                continue
            self.assertIsInstance(err, vl.TornTail, cut)
            self.assertEqual((err.segment, err.frame, err.offset, err.dropped),
                             (os.path.basename(last), len(offs) - 1, start, cut - start))
            self.assertIn("torn tail: %d bytes after the last whole frame" % (cut - start), str(err))
            if cut % 9 == 0 or cut == size - 1:
                code, out, errtext = run_cli("dump", self.dir, "--json")
                self.assertEqual(code, 0)
                self.assertEqual([json.loads(line)["seq"] for line in out.splitlines()],
                                 [r["seq"] for r in whole])
                self.assertIn("torn tail: %d bytes" % (cut - start), errtext)
                self.assertEqual(run_cli("dump", self.dir, "--strict")[0], 1)
                code, out, _ = run_cli("verify", self.dir)
                self.assertEqual(code, 1)
                self.assertIn("problem: %s: torn tail: %d bytes after the last whole frame (frame %d at offset %d"
                              % (os.path.basename(last), cut - start, len(offs) - 1, start), out)
                # --from stops at the same place.
                got, err = read_all(self.dir, from_seq=whole[-3]["seq"])
                self.assertSameRecords(got, whole[-3:])
                self.assertEqual((err.frame, err.offset, err.dropped), (len(offs) - 1, start, cut - start))

    def test_a_garbled_frame_followed_by_valid_ones_in_the_active_segment_is_corruption(self):
        w = mf.build(self.dir, records=100, per_frame=10, segment_bytes=1 << 30)
        seg = os.path.join(self.dir, segment_files(self.dir)[-1])
        offs, size = frame_offsets(seg)
        data = bytearray(read_bytes(seg))
        data[offs[4] + 50] ^= 0xFF
        write_bytes(seg, bytes(data))
        got, err = read_all(self.dir)
        self.assertSameRecords(got, w.written[:40])
        self.assertIsInstance(err, vl.Corrupt)
        self.assertNotIsInstance(err, vl.TornTail)
        self.assertEqual((err.frame, err.offset, err.kind), (4, offs[4], vl.DATA_CRC))
        result = vl.verify_ledger(self.dir)
        self.assertEqual(len(result.problems), 1, result.problems)
        self.assertIn("frame 4 at offset %d: %s" % (offs[4], vl.DATA_CRC), result.problems[0])
        self.assertIn("corrupt: 5 valid frames (50 records) follow, sequences 41-50 lost", result.problems[0])
        self.assertIn("the server refuses to start (run vimana ledger repair)", result.problems[0])
        self.assertEqual((result.frames, result.records), (9, 90))
        code, out, errtext = run_cli("dump", self.dir, "--json")
        self.assertEqual(code, 1)
        self.assertEqual([json.loads(line)["seq"] for line in out.splitlines()],
                         [r["seq"] for r in w.written if not 41 <= r["seq"] <= 50])
        self.assertIn("frame 4 at offset %d" % offs[4], errtext)

    def test_garbage_that_holds_the_magic_after_a_cut_frame_is_still_a_torn_tail(self):
        w = mf.build(self.dir, records=100, per_frame=10, segment_bytes=1 << 30)
        seg = os.path.join(self.dir, segment_files(self.dir)[-1])
        offs, size = frame_offsets(seg)
        data = read_bytes(seg)
        # The last frame cut short, then bytes that look like a frame header but are not one.
        fake = mf.encode_frame(w.written[-1]["seq"] + 1, 1, b"not a record")
        write_bytes(seg, data[:size - 20] + b"VMLF" + os.urandom(100) + fake[:30])
        got, err = read_all(self.dir)
        self.assertSameRecords(got, w.written[:90])
        self.assertIsInstance(err, vl.TornTail)
        self.assertEqual((err.frame, err.offset, err.records, err.exact), (9, offs[9], 10, False))

    def test_a_whole_last_frame_with_a_damaged_header_is_corruption(self):
        # Its length field points past the end of the file, but its data is all
        # there: it was written whole (and may have been acknowledged).
        w = mf.build(self.dir, records=100, per_frame=10, segment_bytes=1 << 30)
        seg = os.path.join(self.dir, segment_files(self.dir)[-1])
        offs, size = frame_offsets(seg)
        data = bytearray(read_bytes(seg))
        data[offs[9] + 26] ^= 0x40  # compressed length
        write_bytes(seg, bytes(data))
        got, err = read_all(self.dir)
        self.assertSameRecords(got, w.written[:90])
        self.assertIsInstance(err, vl.Corrupt)
        self.assertEqual((err.kind, err.damage.kind, err.damage.whole), (vl.HEADER_CRC, "trailing", 10))

    def test_a_cut_sealed_segment_is_an_error_not_a_torn_tail(self):
        w = mf.build(self.dir, records=300, per_frame=10, segment_bytes=6000)
        name = segment_files(self.dir)[1]
        seg = os.path.join(self.dir, name)
        offs, size = frame_offsets(seg)
        with open(seg, "r+b") as f:
            f.truncate(size - 5)
        got, err = read_all(self.dir)
        self.assertNotIsInstance(err, vl.TornTail)
        self.assertEqual((err.segment, err.frame, err.offset, err.kind), (name, len(offs) - 1, offs[-1], vl.TRUNCATED))
        self.assertEqual(got[-1]["seq"], [r for r in w.written if r["segment"] == name][-11]["seq"])
        code, out, errtext = run_cli("dump", self.dir)
        self.assertEqual(code, 1)
        # The dump goes on with the next segment; only the cut frame's records are missing.
        lost = [r for r in w.written if r["segment"] == name and r["offset"] == offs[-1]]
        self.assertEqual([int(line.split(" ")[0]) for line in out.splitlines()],
                         [r["seq"] for r in w.written if r not in lost])
        self.assertIn("%s: frame %d at offset %d: truncated" % (name, len(offs) - 1, offs[-1]), errtext)


class BitFlipTests(LedgerTestCase):
    def flip_every_bit(self, seg_number, frame_number):
        mf.build(self.dir, records=60, per_frame=4, payload_bytes=20, segment_bytes=600)
        names = segment_files(self.dir)
        self.assertGreaterEqual(len(names), 3)
        name = names[seg_number]
        path = os.path.join(self.dir, name)
        original = read_bytes(path)
        offs, size = frame_offsets(path)
        start = offs[frame_number]
        end = offs[frame_number + 1] if frame_number + 1 < len(offs) else size
        kinds = set()
        for bit in range((end - start) * 8):
            data = bytearray(original)
            data[start + bit // 8] ^= 1 << (bit % 8)
            with open(path, "wb") as f:
                f.write(bytes(data))
            result = vl.verify_ledger(self.dir)
            self.assertEqual(len(result.problems), 1, (bit, result.problems))
            problem = result.problems[0]
            self.assertTrue(problem.startswith("%s: frame %d at offset %d: " % (name, frame_number, start)), problem)
            self.assertIn("corrupt: %d valid frames" % (len(offs) - frame_number - 1), problem)
            _, err = read_all(self.dir)
            self.assertEqual((err.segment, err.frame, err.offset), (name, frame_number, start))
            kinds.add(err.kind)
        with open(path, "wb") as f:
            f.write(original)
        self.assertEqual(vl.verify_ledger(self.dir).problems, [])
        return kinds

    def test_every_bit_flip_in_a_sealed_segment_frame_is_found_where_it_is(self):
        kinds = self.flip_every_bit(1, 1)
        self.assertTrue({vl.BAD_MAGIC, vl.BAD_VERSION, vl.BAD_FLAGS, vl.HEADER_CRC, vl.DATA_CRC} <= kinds, kinds)

    def test_every_bit_flip_in_the_active_segment_before_its_last_frame_is_corruption_where_it_is(self):
        self.flip_every_bit(-1, 0)

    def test_every_bit_flip_in_the_last_frame_is_a_torn_tail_unless_its_data_is_whole(self):
        mf.build(self.dir, records=60, per_frame=4, payload_bytes=20, segment_bytes=600)
        name = segment_files(self.dir)[-1]
        path = os.path.join(self.dir, name)
        original = read_bytes(path)
        offs, size = frame_offsets(path)
        start = offs[-1]
        unnoticed = 0
        for bit in range((size - start) * 8):
            data = bytearray(original)
            data[start + bit // 8] ^= 1 << (bit % 8)
            write_bytes(path, bytes(data))
            _, err = read_all(self.dir)
            self.assertEqual((err.segment, err.frame, err.offset), (name, len(offs) - 1, start), bit)
            # A damaged header on whole data cannot be a crash in mid-write.
            if bit < 36 * 8:
                self.assertIsInstance(err, vl.Corrupt, bit)
            elif isinstance(err, vl.Corrupt):
                # A flip zlib does not notice (in bits it ignores): the records are all there.
                self.assertEqual(err.damage.whole, 4, bit)
                unnoticed += 1
            else:
                self.assertIsInstance(err, vl.TornTail, bit)
        self.assertLess(unnoticed, (size - start) * 8 // 50)


class InvalidFrameTests(LedgerTestCase):
    """Frames whose CRCs are right but whose content is wrong: each kind of
    failure the document names, in a sealed segment followed by a good one."""

    def rec(self, seq, **kw):
        return mf.encode_record(seq, 1000 + seq, 0, 1, 1, "t", b"", [("payload", b"x" * 10)], **kw)

    def check(self, bad_frame, kind, first_name=1, problems=1):
        os.makedirs(self.dir)
        good = mf.encode_frame(1, 2, self.rec(1) + self.rec(2))
        with open(os.path.join(self.dir, mf.segment_name(first_name)), "wb") as f:
            f.write(good + bad_frame)
        with open(os.path.join(self.dir, mf.segment_name(100)), "wb") as f:
            f.write(mf.encode_frame(100, 1, self.rec(100)))
        got, err = read_all(self.dir)
        self.assertNotIsInstance(err, vl.TornTail)
        self.assertIsInstance(err, vl.LedgerError)
        self.assertEqual(err.kind, kind, str(err))
        if first_name == 1:
            self.assertEqual((err.segment, err.frame, err.offset), (mf.segment_name(1), 1, len(good)))
            self.assertEqual([r["seq"] for r in got], [1, 2])
        result = vl.verify_ledger(self.dir)
        self.assertEqual(len(result.problems), problems, result.problems)
        self.assertIn(": %s" % kind, result.problems[0])
        return err

    def test_frame_sequence_not_following_the_previous_frame(self):
        # A valid frame that skips a sequence is damage of no bytes, followed by
        # that frame; the segment then ends at 5, and the next one starts at 100.
        self.check(mf.encode_frame(4, 1, self.rec(4)), vl.SEQUENCE, problems=2)
        result = vl.verify_ledger(self.dir)
        self.assertIn("corrupt: 1 valid frames (1 records) follow, sequence 3 lost in 0 damaged bytes", result.problems[0])
        self.assertIn("gap: segment starts at sequence 100", result.problems[1])

    def test_first_frame_not_at_the_segment_name(self):
        err = self.check(b"", vl.SEQUENCE, first_name=7)
        self.assertEqual((err.frame, err.offset), (0, 0))

    def test_record_sequence_not_following_the_frame_header(self):
        self.check(mf.encode_frame(3, 2, self.rec(3) + self.rec(5)), vl.SEQUENCE)

    def test_zero_records(self):
        self.check(mf.encode_frame(3, 0, b""), vl.BAD_COUNT)

    def test_unknown_flags(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), flags=2), vl.BAD_FLAGS)

    def test_unknown_versions(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), version=4), vl.BAD_VERSION)
        shutil.rmtree(self.dir)
        self.check(mf.encode_frame(3, 1, self.rec(3), version=0), vl.BAD_VERSION)

    def test_version_1_header_on_version_3_records(self):
        # The publisher's length is read as the field count: the record does not parse.
        self.check(mf.encode_frame(3, 1, self.rec(3), version=1), vl.RECORD)

    def test_version_2_header_on_version_3_records(self):
        # The origin's length is read as the field count: the record does not parse.
        self.check(mf.encode_frame(3, 1, self.rec(3), version=2), vl.RECORD)

    def test_version_3_header_on_version_2_records(self):
        # The field count is read as the origin's length: the record does not parse.
        self.check(mf.encode_frame(3, 1, self.rec(3, version=2), version=3), vl.RECORD)

    def test_magic(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), magic=b"VMLX"), vl.BAD_MAGIC)

    def test_header_crc(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), header_crc=1), vl.HEADER_CRC)

    def test_data_crc(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), data_crc=1), vl.DATA_CRC)

    def test_uncompressed_length_too_small_and_too_large(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), uncompressed_length=10), vl.LENGTH)
        shutil.rmtree(self.dir)
        self.check(mf.encode_frame(3, 1, self.rec(3), uncompressed_length=1000), vl.LENGTH)

    def test_not_zlib(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), zdata=b"not zlib at all"), vl.INFLATE)

    def test_raw_deflate_without_zlib_header(self):
        c = zlib.compressobj(wbits=-15)
        self.check(mf.encode_frame(3, 1, self.rec(3), zdata=c.compress(self.rec(3)) + c.flush()), vl.INFLATE)

    def test_incomplete_zlib_stream(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), zdata=zlib.compress(self.rec(3))[:-4]), vl.INFLATE)

    def test_bytes_after_the_zlib_stream(self):
        self.check(mf.encode_frame(3, 1, self.rec(3), zdata=zlib.compress(self.rec(3)) + b"\0"), vl.INFLATE)

    def test_record_length_past_the_data(self):
        self.check(mf.encode_frame(3, 1, self.rec(3, length=500)), vl.RECORD)

    def test_record_length_not_what_its_fields_use(self):
        r = self.rec(3)
        longer = struct.pack("<I", len(r) - 4 + 2) + r[4:] + b"\0\0"  # L counts 2 bytes no field uses
        err = self.check(mf.encode_frame(3, 1, longer), vl.RECORD)
        self.assertIn("length says %d bytes, its fields use %d" % (len(r) - 2, len(r) - 4), str(err))

    def test_fewer_records_than_the_count(self):
        self.check(mf.encode_frame(3, 3, self.rec(3) + self.rec(4)), vl.RECORD)

    def test_bytes_after_the_last_record(self):
        self.check(mf.encode_frame(3, 1, self.rec(3) + b"\0" * 80), vl.RECORD)

    def test_field_length_past_the_record(self):
        r = bytearray(self.rec(3))
        struct.pack_into("<I", r, len(r) - 14, 1 << 30)  # the payload's value length
        self.check(mf.encode_frame(3, 1, bytes(r)), vl.RECORD)

    def test_segments_that_overlap(self):
        os.makedirs(self.dir)
        for name, first in ((1, 1), (2, 2), (10, 10)):
            with open(os.path.join(self.dir, mf.segment_name(name)), "wb") as f:
                f.write(mf.encode_frame(first, 2, self.rec(first) + self.rec(first + 1)))
        got, err = read_all(self.dir)
        self.assertEqual((err.segment, err.frame, err.offset, err.kind), (mf.segment_name(2), 0, 0, vl.SEQUENCE))
        self.assertEqual([r["seq"] for r in got], [1, 2])
        code, out, _ = run_cli("verify", self.dir)
        self.assertEqual(code, 1)
        # A gap that no repair left is a problem too (a segment is missing).
        self.assertIn("problem: %s: frame 0 at offset 0: gap" % mf.segment_name(10), out)

    def test_a_missing_segment_stops_the_read_unless_damaged_names_the_gap(self):
        # LEDGER.md section 1: a gap between segments is damage, except where
        # damaged/ names it; section 7's reader checks it, and so must this one.
        os.makedirs(self.dir)
        for first in (1, 10):
            with open(os.path.join(self.dir, mf.segment_name(first)), "wb") as f:
                f.write(mf.encode_frame(first, 2, self.rec(first) + self.rec(first + 1)))
        got, err = read_all(self.dir)
        self.assertEqual((err.segment, err.frame, err.offset, err.kind), (mf.segment_name(10), 0, 0, vl.SEQUENCE))
        self.assertIn("gap", str(err))
        self.assertEqual([r["seq"] for r in got], [1, 2])
        # dump goes on past it, as past corruption, and says so.
        code, out, err_text = run_cli("dump", self.dir)
        self.assertEqual((code, len(out.splitlines())), (1, 4))
        self.assertIn("%s: frame 0 at offset 0: sequence discontinuity: gap" % mf.segment_name(10), err_text)
        os.makedirs(os.path.join(self.dir, "damaged"))
        with open(os.path.join(self.dir, "damaged", "%020d-%020d.%s.0.damaged" % (3, 10, mf.segment_name(1))), "wb"):
            pass
        got, err = read_all(self.dir)
        self.assertIsNone(err)
        self.assertEqual([r["seq"] for r in got], [1, 2, 10, 11])
        self.assertEqual(run_cli("dump", self.dir)[0], 0)

    def test_stream_ids_of_a_topic_must_increase(self):
        w = mf.LedgerWriter(self.dir)
        w.append("t", [("a", "1")], stream_id=(5, 1))
        w.append("u", [("a", "1")], stream_id=(1, 0))
        w.append("t", [("a", "1")], stream_id=(5, 1))
        w.close()
        self.assertIsNone(read_all(self.dir)[1])  # a ledger promise, not a frame check
        code, out, _ = run_cli("verify", self.dir)
        self.assertEqual(code, 1)
        self.assertIn(": stream ID not increasing: 5-1 of topic t (sequence 3) after 5-1 (sequence 1)", out)


# MARK: - Index files

class IndexFallbackTests(LedgerTestCase):
    def setUp(self):
        super().setUp()
        # One sealed segment (the index is used in sealed segments) and an active one.
        self.w = mf.build(self.dir, records=1200, per_frame=4, payload_bytes=400, segment_bytes=1 << 30)
        self.w.seal()
        self.w.append("t", [("payload", "in the active segment")])
        self.w.close()
        self.seg = os.path.join(self.dir, segment_files(self.dir)[0])
        self.idx = self.seg[:-4] + ".idx"
        self.size = os.path.getsize(self.seg)
        self.index = vl.load_index(vl.list_segments(self.dir)[0], self.size)[0]
        self.assertGreaterEqual(len(self.index.entries), 3)

    def rewrite(self, **change):
        i = self.index
        fields = dict(first_seq=i.first_seq, covered=i.covered, next_seq=i.next_seq, min_ts=i.min_ts,
                      max_ts=i.max_ts, entries=i.entries, topics=i.topics, sealed=i.sealed)
        fields.update(change)
        with open(self.idx, "wb") as f:
            f.write(mf.encode_index(**fields))

    def assertFallsBack(self, why, s=700):
        reader = vl.LedgerReader(self.dir)
        self.assertSameRecords(list(reader.records(s)), [r for r in self.w.written if r["seq"] >= s])
        self.assertIn(why, reader.located)
        self.assertIn("scan", reader.located)
        return reader

    def test_valid_index_is_used(self):
        reader = vl.LedgerReader(self.dir)
        list(reader.records(700))
        self.assertIn("index (entry at offset", reader.located)

    def test_corrupt_crc(self):
        data = bytearray(read_bytes(self.idx))
        data[20] ^= 1
        write_bytes(self.idx, bytes(data))
        self.assertFallsBack("(index bad CRC)")
        code, out, _ = run_cli("stats", self.dir, "--from", "700")
        self.assertIn("from: sequence 700 in %s: scan (index bad CRC)" % os.path.basename(self.seg), out)
        self.assertIn("index bad CRC", out)
        code, out, _ = run_cli("verify", self.dir)
        self.assertEqual(code, 0)
        self.assertIn("warning: %s: index: ignored: bad CRC" % os.path.basename(self.idx), out)
        self.assertEqual(run_cli("verify", self.dir, "--index")[0], 1)

    def test_covering_more_bytes_than_the_segment(self):
        self.rewrite(covered=self.size + 1)
        self.assertFallsBack("covers %d bytes, the segment has %d" % (self.size + 1, self.size))

    def test_file_longer_than_its_contents(self):
        data = read_bytes(self.idx)
        body = data[:-4] + b"\0" * 8
        write_bytes(self.idx, body + struct.pack("<I", zlib.crc32(body)))
        self.assertFallsBack("8 bytes after the topic table")

    def test_truncated_and_missing(self):
        data = read_bytes(self.idx)
        write_bytes(self.idx, data[:30])
        self.assertFallsBack("shorter than a header")
        os.remove(self.idx)
        self.assertFallsBack("(index missing)")
        self.assertEqual(run_cli("verify", self.dir, "--index")[0], 0)  # an index is optional

    def test_wrong_magic_and_first_sequence(self):
        self.rewrite(first_seq=2)
        self.assertFallsBack("first sequence 2")

    def test_entry_that_is_not_a_frame(self):
        entries = list(self.index.entries)
        e = entries[2]
        entries[2] = (e[0], e[1] + 7, e[2], e[3])
        self.rewrite(entries=entries)
        self.assertFallsBack("(index entry at offset %d: bad magic)" % (e[1] + 7), s=entries[2][0] + 1)
        code, out, _ = run_cli("verify", self.dir)
        self.assertEqual(code, 0)
        self.assertIn("index: entries differ from entry 2", out)

    def test_covered_end_that_is_not_a_frame_boundary(self):
        # A stale index from an earlier layout (say, before compaction) whose
        # covered end falls inside a frame: the jump lands on garbage, so the
        # reader rescans rather than report a frame that is not bad.
        self.rewrite(covered=self.index.covered - 10, next_seq=self.index.next_seq - 3)
        reader = vl.LedgerReader(self.dir)
        s = self.index.next_seq - 2
        self.assertSameRecords(list(reader.records(s)), [r for r in self.w.written if r["seq"] >= s])
        self.assertIn("index (past its covered %d bytes); index led to a bad frame at offset %d, rescanned"
                      % (self.index.covered - 10, self.index.covered - 10), reader.located)

    def test_index_entries_must_follow_the_64_kib_rule_for_verify_index(self):
        entries = list(self.index.entries)
        del entries[1]
        self.rewrite(entries=entries)
        self.assertEqual(run_cli("verify", self.dir)[0], 0)
        code, out, _ = run_cli("verify", self.dir, "--index")
        self.assertEqual(code, 1)
        self.assertIn("index: entries differ from entry 1", out)
        # Still a valid index for reading: a reader only needs entries at frames.
        reader = vl.LedgerReader(self.dir)
        self.assertSameRecords(list(reader.records(900)), [r for r in self.w.written if r["seq"] >= 900])
        self.assertIn("index (entry at offset", reader.located)


# MARK: - CLI output

class CliTests(LedgerTestCase):
    def setUp(self):
        super().setUp()
        w = mf.LedgerWriter(self.dir)
        w.append("orders", [("payload", "hello world")], client_id=7, client_name="web", timestamp_us=1500,
                 publisher="default")
        w.append("orders", [("a", "1"), ("a", "2")], client_id=8, timestamp_us=2500)
        w.append("bin", [("k=1", b"\x00\xff\n"), ("e", b""), ("u", "ü")], timestamp_us=3500)
        w.close()

    def test_text_dump(self):
        code, out, _ = run_cli("dump", self.dir)
        self.assertEqual(code, 0)
        self.assertEqual(out.splitlines(), [
            '1 1-0 orders payload="hello world"',
            "2 2-0 orders a=1 a=2",
            '3 3-0 bin "k=1"="\\x00\\xff\\n" e="" u=ü',
        ])

    def test_json_dump(self):
        code, out, _ = run_cli("dump", self.dir, "--json", "--from", "1")
        self.assertEqual(code, 0)
        rows = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(rows[0], {"seq": 1, "id": "1-0", "ts": "1970-01-01T00:00:00.001500Z", "topic": "orders", "client_id": 7,
                                   "client_name": "web", "publisher": "default", "fields": {"payload": "hello world"}})
        self.assertEqual(rows[1]["fields"], [["a", "1"], ["a", "2"]])  # repeated names: pairs
        self.assertIsNone(rows[1]["client_name"])
        self.assertEqual(rows[2]["fields"], {"k=1": "\x00\ufffd\n", "e": "", "u": "ü"})

    def test_stats(self):
        code, out, _ = run_cli("stats", self.dir)
        self.assertEqual(code, 0)
        self.assertIn("records: 3 (sequences 1..3)", out)
        self.assertIn("segments: 1 (1 read)", out)
        self.assertRegex(out, r"segment 00000000000000000001\.seg: 3 records \(1\.\.3\), 1 frames, \d+ bytes, "
                              r"raw \d+, compressed \d+, ratio [\d.]+, index valid, covers all \d+ bytes, "
                              r"1 entries, 2 topics")
        self.assertIn("topics: 2\n  orders 2\n  bin 1\n", out)

    def test_command_line_script(self):
        script = os.path.join(HERE, "vimana_ledger.py")
        p = subprocess.run([sys.executable, script, "dump", self.dir, "--json", "--topic", "o*"],
                           capture_output=True, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([json.loads(line)["seq"] for line in p.stdout.splitlines()], [1, 2])
        p = subprocess.run([sys.executable, script, "verify", os.path.join(self.dir, "nope")],
                           capture_output=True, check=False)
        self.assertEqual(p.returncode, 2)
        fixture = os.path.join(self._tmp.name, "cli-fixture")
        p = subprocess.run([sys.executable, os.path.join(HERE, "make_fixture.py"), fixture, "--records", "100"],
                           capture_output=True, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([sys.executable, script, "verify", fixture, "--index"], capture_output=True, check=False)
        self.assertEqual(p.returncode, 0, p.stdout)


if __name__ == "__main__":
    unittest.main()
