#!/usr/bin/env python3
"""bench/api-mgmt.py - what a management call costs keygate-api.

    python3 bench/api-mgmt.py --sock PATH --key KEY --pid MASTER [-n N] [--label L]

Sends N creates (POST /v1/keys, {"name":"bench"}) one after the other,
then revokes each (DELETE /v1/keys/ID), on a keygate-api with one worker,
and prints one line of key=value pairs: the CPU time the API's processes
spent per create and per revoke (on-CPU time from
/proc/PID/task/*/schedstat of MASTER and its children, over each phase,
divided by N), and the wall time of each call.  The caller's key needs
keys:write.  Both calls commit synchronously, so their wall time is
mostly the disk's; the CPU is the API's own work.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcgi import call  # noqa: E402  (bench/fcgi.py, beside this file)


def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def cpu_ns(pid):
    total = 0
    for p in tree(pid):
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--label", default="api/mgmt")
    a = ap.parse_args()
    ids = []
    c0, t0 = cpu_ns(a.pid), time.monotonic()
    for _ in range(a.n):
        status, body = call(a.sock, a.key, "POST", "/v1/keys", b'{"name":"bench"}')
        if status != 201:
            raise SystemExit("api-mgmt: create answered %d: %s" % (status, body[:200]))
        ids.append(json.loads(body)["object"]["id"])
    c1, t1 = cpu_ns(a.pid), time.monotonic()
    for kid in ids:
        status, body = call(a.sock, a.key, "DELETE", "/v1/keys/" + kid)
        if status != 200:
            raise SystemExit("api-mgmt: revoke answered %d: %s" % (status, body[:200]))
    c2, t2 = cpu_ns(a.pid), time.monotonic()
    print("label=%s n=%d create_cpu_us=%.1f revoke_cpu_us=%.1f create_wall_us=%.1f revoke_wall_us=%.1f" % (
        a.label, a.n, (c1 - c0) / 1e3 / a.n, (c2 - c1) / 1e3 / a.n,
        (t1 - t0) * 1e6 / a.n, (t2 - t1) * 1e6 / a.n))


if __name__ == "__main__":
    main()
