#!/usr/bin/env python3
"""LEDGER SCAN throughput, and science's cost under a publish load.

  tools/bench/ledger_scan.py BINARY [--records 1000000] [--count 10000] [--science-msgs 200000]

Starts a fresh server (`vimana serve --no-system-agents --port 0`, fsync everysec, a fresh
ledger), fills it with RECORDS small entries (`redis-benchmark -c 50 -P 16 XADD scan.bulk * f
<16 bytes>`), then reads the whole ledger with `LEDGER SCAN <cursor> COUNT <count>` on one raw
socket, page after page, and prints records/s (the client's parse of each reply included) and
the server's CPU seconds for the scan (/proc/PID/stat). It does it twice: right after filling
(segments still in the page cache, the active one in small frames) and after a restart on the
same ledger.

Then (unless --science-msgs 0) it starts a server with the system agents wired (science
checkpointing each second), publishes SCIENCE_MSGS messages with `vimana bench` and prints
science's CPU seconds and peak RSS over the run (the process `vimana agent science`, from
/proc), and how long science took to catch up with the ledger's end after the load.
"""
import argparse
import os
import re
import shutil
import socket
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


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b":"):
        return line
    if kind == b"-":
        raise RuntimeError(line)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind in (b"*", b"%"):
        n = int(rest) * (2 if kind == b"%" else 1)
        return [read_reply(f) for _ in range(max(n, 0))]
    raise RuntimeError("unexpected reply %r" % line)


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_port(log_path, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("server exited: " + open(log_path).read())
        m = re.search(r"port=(\d+)", open(log_path).read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    sys.exit("server did not start")


def start(binary, work, system_agents):
    cfg = os.path.join(work, "phoenix.yaml")
    with open(cfg, "w") as f:
        f.write("ledger:\n  dir: %s\n  fsync: everysec\n" % os.path.join(work, "ledger"))
        f.write("system:\n  science:\n    checkpoint_interval: 1s\n")
    log = os.path.join(work, "log.%d" % time.monotonic_ns())
    args = [binary, "serve", "--port", "0", "--http-port", "off", "--config", cfg]
    if not system_agents:
        args.append("--no-system-agents")
    proc = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    return proc, wait_port(log, proc)


def stop(proc):
    proc.terminate()
    proc.wait()


def scan_all(port, pid, count):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    cursor, records = b"0", 0
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    while True:
        s.sendall(command("LEDGER", "SCAN", cursor, "COUNT", count))
        r = read_reply(f)
        page = r[7]
        records += len(page)
        if r[1] == cursor or not page:
            break
        cursor = r[1]
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    s.close()
    return records, elapsed, cpu


def call(port, *args):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    s.sendall(command(*args))
    r = read_reply(f)
    s.close()
    return r


def ask_messages(port, topic):
    """science's `topic_stats` messages for `topic` over the last hour."""
    sub = socket.create_connection(("127.0.0.1", port))
    f = sub.makefile("rb")
    sub.sendall(command("SUBSCRIBE", "bench.reply"))
    read_reply(f)
    task = '{"action":"topic_stats","id":1,"reply_to":"bench.reply","args":{"topic":"%s"}}' % topic
    call(port, "PUBLISH", "tasks.science", task)
    reply = read_reply(f)
    sub.close()
    m = re.search(rb'"messages":(\d+),"publishers"', reply[2])
    return int(m.group(1)) if m else reply


def science_pid(server_pid):
    for _ in range(300):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmd = open("/proc/%s/cmdline" % entry, "rb").read().split(b"\0")
                stat = open("/proc/%s/stat" % entry).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == server_pid and cmd[1:3] == [b"agent", b"science"]:
                return int(entry)
        time.sleep(0.1)
    sys.exit("science did not start")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--records", type=int, default=1000000)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--science-msgs", type=int, default=200000)
    a = p.parse_args()
    work = tempfile.mkdtemp()
    try:
        proc, port = start(a.binary, work, False)
        subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-P", "16", "-n", str(a.records), "XADD", "scan.bulk",
                        "*", "f", "0123456789abcdef"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for label in ("warm", "after restart"):
            n, elapsed, cpu = scan_all(port, proc.pid, a.count)
            print("LEDGER SCAN %s: %d records in %.2f s: %.0f records/s; server CPU %.2f s (%.2f us/record)"
                  % (label, n, elapsed, n / elapsed, cpu, cpu * 1e6 / max(n, 1)))
            if label == "warm":
                stop(proc)
                proc, port = start(a.binary, work, False)
        stop(proc)
        if a.science_msgs <= 0:
            return
        shutil.rmtree(os.path.join(work, "ledger"))
        proc, port = start(a.binary, work, True)
        sci = science_pid(proc.pid)
        time.sleep(2)
        cpu0, peak = cpu_seconds(sci), rss_kib(sci)
        t0 = time.perf_counter()
        bench = subprocess.Popen([a.binary, "bench", "--port", str(port), "--pub", "4", "--msgs", str(a.science_msgs),
                                  "--size", "64", "--pipeline", "16", "--topic", "load.a"], stdout=subprocess.PIPE, text=True)
        while bench.poll() is None:
            peak = max(peak, rss_kib(sci))
            time.sleep(0.1)
        load = time.perf_counter() - t0
        end = int(call(port, "LEDGER", "SCAN", "$")[1])
        # Caught up: science's checkpointed cursor (its last checkpoint's) reached the end.
        while True:
            entries = call(port, "XREVRANGE", "events.science", "+", "-", "COUNT", "1")
            fields = entries[0][1] if entries else []
            cursor = next((int(fields[i + 1]) for i in range(0, len(fields), 2) if fields[i] == b"cursor"), 0)
            peak = max(peak, rss_kib(sci))
            if cursor >= end or time.perf_counter() - t0 > 120:
                break
            time.sleep(0.1)
        caught = time.perf_counter() - t0
        cpu = cpu_seconds(sci) - cpu0
        counted = ask_messages(port, "load.a")
        assert counted == a.science_msgs, "science counted %r of %d" % (counted, a.science_msgs)
        print("science under load: %d messages published in %.2f s, all counted; science CPU %.2f s (%.2f us/message), peak RSS %.1f MiB,"
              " checkpointed up to the end %.2f s after the load began" % (a.science_msgs, load, cpu, cpu * 1e6 / a.science_msgs,
                                                                         peak / 1024, caught))
        stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
