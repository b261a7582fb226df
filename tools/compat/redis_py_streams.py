#!/usr/bin/env python3
"""A program written for Redis Streams, run unchanged against a server: a
redis-py test suite in the usual shape (FLUSHALL in setUp), with producers
that cap their streams with MAXLEN, consumers in groups that XACK and XDEL
what they processed, trimming by MINID, DEL and a stream made again.

    tools/compat/redis_py_streams.py --host 127.0.0.1 --port 7379

The same suite passes against redis-server 7.0 (the Swift test runs it
against both), so a failure against Vimana is Vimana's. Exit status 0 and
one summary line when every case passes; 1 and unittest's report
otherwise; 2 when the redis package is missing or the arguments are wrong.
"""
import argparse
import sys
import unittest

try:
    import redis
except ImportError:
    print("redis_py_streams: FAIL: python3 cannot import the 'redis' package "
          "(install it: python3 -m pip install redis, or run tools/install-deps.sh test)")
    sys.exit(2)

PROG = "redis_py_streams"
ADDRESS = {}


class StreamsSuite(unittest.TestCase):
    def setUp(self):
        self.r = redis.Redis(**ADDRESS, decode_responses=True)
        self.r.flushall()
        self.assertEqual(self.r.dbsize(), 0)

    def tearDown(self):
        self.r.close()

    def test_a_producer_caps_its_stream_with_maxlen(self):
        for i in range(1500):
            self.r.xadd("readings", {"n": i}, maxlen=1000, approximate=True)
        self.assertGreaterEqual(self.r.xlen("readings"), 1000)
        self.assertLess(self.r.xlen("readings"), 1100)
        for i in range(50):
            self.r.xadd("exact", {"n": i}, maxlen=10, approximate=False)
        self.assertEqual(self.r.xlen("exact"), 10)
        first = self.r.xrange("exact", count=1)[0][1]
        self.assertEqual(first, {"n": "40"})
        self.assertEqual(self.r.xinfo_stream("exact")["entries-added"], 50)

    def test_consumers_in_a_group_ack_and_delete_what_they_processed(self):
        self.r.xgroup_create("jobs", "workers", id="0", mkstream=True)
        ids = [self.r.xadd("jobs", {"job": i}) for i in range(20)]
        done = 0
        for consumer in ("w1", "w2"):
            for _, entries in self.r.xreadgroup("workers", consumer, {"jobs": ">"}, count=10):
                for id, fields in entries:
                    self.assertEqual(self.r.xack("jobs", "workers", id), 1)
                    self.assertEqual(self.r.xdel("jobs", id), 1)
                    done += 1
        self.assertEqual(done, 20)
        self.assertEqual(self.r.xlen("jobs"), 0)
        self.assertEqual(self.r.xpending("jobs", "workers")["pending"], 0)
        info = self.r.xinfo_stream("jobs")
        self.assertEqual(info["entries-added"], 20)
        self.assertEqual(info["max-deleted-entry-id"], ids[-1])
        self.assertEqual(self.r.xreadgroup("workers", "w1", {"jobs": ">"}), [])

    def test_a_deleted_pending_entry_reads_as_nil_and_autoclaim_drops_it(self):
        self.r.xgroup_create("q", "g", id="0", mkstream=True)
        a = self.r.xadd("q", {"x": 1})
        b = self.r.xadd("q", {"x": 2})
        self.r.xreadgroup("g", "c", {"q": ">"})
        self.assertEqual(self.r.xdel("q", a), 1)
        history = self.r.xreadgroup("g", "c", {"q": "0"})[0][1]
        self.assertEqual([id for id, _ in history], [a, b])
        self.assertIn(history[0][1], (None, {}))
        claimed = self.r.xautoclaim("q", "g", "d", min_idle_time=0, start_id="0-0")
        self.assertEqual([id for id, _ in claimed[1]], [b])
        self.assertEqual(claimed[2], [a])

    def test_trimming_by_minid_and_xtrim(self):
        for i in range(1, 11):
            self.r.xadd("log", {"i": i}, id=f"{i}-0")
        self.assertEqual(self.r.xtrim("log", minid="6-0", approximate=False), 5)
        self.assertEqual(self.r.xrange("log", count=1)[0][0], "6-0")
        self.assertEqual(self.r.xtrim("log", maxlen=2, approximate=False), 3)
        self.assertEqual([id for id, _ in self.r.xrange("log")], ["9-0", "10-0"])
        self.assertEqual(self.r.xtrim("nothing", maxlen=0), 0)

    def test_delete_and_make_again(self):
        self.r.xadd("orders", {"item": "pen"}, id="5-0")
        self.assertEqual(self.r.delete("orders", "absent"), 1)
        self.assertEqual(self.r.exists("orders"), 0)
        self.assertEqual(self.r.xlen("orders"), 0)
        self.assertEqual(self.r.xadd("orders", {"item": "ink"}, id="1-0"), "1-0")
        self.assertEqual(self.r.type("orders"), "stream")
        self.assertEqual(self.r.unlink("orders"), 1)
        self.assertEqual(self.r.keys("*"), [])

    def test_flushall_between_cases_leaves_nothing_behind(self):
        self.r.xadd("left.behind", {"a": 1})
        self.r.xgroup_create("left.behind", "g", id="$")
        self.r.flushdb()
        self.assertEqual(self.r.dbsize(), 0)
        self.assertEqual(list(self.r.scan_iter(match="left.*")), [])
        with self.assertRaises(redis.ResponseError):
            self.r.xinfo_groups("left.behind")


def main():
    parser = argparse.ArgumentParser(description="a redis-py Streams test suite with FLUSHALL in setUp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7379)
    args = parser.parse_args()
    ADDRESS.update(host=args.host, port=args.port, socket_timeout=30)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(StreamsSuite)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=1).run(suite)
    if not result.wasSuccessful():
        print(f"{PROG}: FAIL")
        return 1
    print(f"{PROG}: OK: {result.testsRun} cases, FLUSHALL before each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
