#!/usr/bin/env python3
"""bench/repl-writes.py - a steady write load on keygate-api, timed.

    python3 bench/repl-writes.py --sock PATH --key KEY [--rate 1000]
                                 [--seconds 10] [--threads 4] [--label L]

THREADS threads share RATE key creations a second (POST /v1/keys), each
on its own schedule (a late call is not made up for by a burst), for
SECONDS, and one line of key=value pairs is printed: the rate reached,
the latency of a call (p50, p99, max, in ms) and the calls that failed.
On a replication master every create is a transaction acknowledged by a
quorum of sites, so its latency is the master's commit latency plus the
API's own work (measure the same on a single host for the difference).
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcgi import call  # noqa: E402


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(p / 100.0 * len(v) + 0.999999) - 1))]


def worker(a, per_s, stop_at, lat, errors, lock):
    period = 1.0 / per_s
    nxt = time.monotonic()
    mine, bad = [], 0
    while True:
        now = time.monotonic()
        if now >= stop_at:
            break
        if now < nxt:
            time.sleep(nxt - now)
        t0 = time.monotonic()
        try:
            status, _ = call(a.sock, a.key, "POST", "/v1/keys", b'{"name":"repl-bench"}')
            ok = status == 201
        except OSError:
            ok = False
        t1 = time.monotonic()
        if ok:
            mine.append((t1 - t0) * 1000.0)
        else:
            bad += 1
        nxt = max(nxt + period, t1 - period)  # behind schedule: no burst
    with lock:
        lat.extend(mine)
        errors[0] += bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--label", default="writes")
    a = ap.parse_args()
    lat, errors, lock = [], [0], threading.Lock()
    t0 = time.monotonic()
    stop_at = t0 + a.seconds
    ts = [threading.Thread(target=worker, args=(a, a.rate / a.threads, stop_at, lat, errors, lock))
          for _ in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    print("label=%s n=%d rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f failed=%d" % (
        a.label, len(lat), len(lat) / secs, pct(lat, 50), pct(lat, 99),
        max(lat) if lat else float("nan"), errors[0]))


if __name__ == "__main__":
    main()
