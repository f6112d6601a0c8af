#!/usr/bin/env python3
"""bench/report.py - turn bench/run's raw results into bench/RESULTS.md.

    python3 bench/report.py --work DIR --out bench/RESULTS.md

Reads DIR/results/{machine,direct,servers,rss,api,flush}.txt,
DIR/results/previous.md (the results this run replaces), DIR/seed.json and
DIR/profiles/*.txt.  Every figure is the median over the rounds; ratios
are median over median of the row and of the null row of the same path.
"""

import argparse
import json
import os
import statistics
import sys

DIRECT_PATHS = [
    ("keep1", "kept connection, 1 process, 1 connection"),
    ("new1", "new connection per request, 1 process, 1 connection"),
    ("keep2", "kept connections, 2 processes, 2 connections"),
    ("new2", "new connection per request, 2 processes, 2 connections"),
    ("keep1-pinned", "kept connection, 1 process, loader and authorizer pinned to one CPU"),
    ("new1-pinned", "new connection per request, 1 process, pinned to one CPU"),
]
SCEN = {
    "valid": "valid key, uniform, plan with rate limit + quota",
    "null": "**null authorizer**",
    "zipf": "valid key, Zipf(1.0), rate limit + quota",
    "nolimits": "valid key, uniform, plan without limits",
    "invalid": "invalid checksum",
    "unknown": "unknown key",
    "revoked": "revoked key",
    "ratelimited": "rate-limited key (429)",
    "none": "**no authorizer**",
    "dbm": "mod_authn_dbm Basic, {SHA}, 100k users",
    "verify": "keygate-api POST /v1/verify, valid key in the body (not consumed)",
}
DIRECT_SCENS = ("null", "valid", "zipf", "nolimits", "invalid", "unknown", "revoked", "ratelimited",
                "verify")
# rows compared with the previous run: (section, path, scenario label, column)
PREVIOUS = [("direct", p, SCEN[sc], col) for p in ("keep1", "keep2", "keep1-pinned", "new1")
            for sc in ("valid", "nolimits") for col in ("CPU vs null",)] + \
           [("server", srv, SCEN["valid"], "req/s vs null")
            for srv in ("apache-authnz", "apache-fcgid", "lighttpd", "nginx")]
SERVERS = [
    ("apache-authnz", "Apache 2.4 event + mod_authnz_fcgi (TCP, 2 keygate-authz workers)"),
    ("apache-fcgid", "Apache 2.4 event + mod_fcgid FcgidAccessChecker (spawned, up to 16)"),
    ("lighttpd", "lighttpd 1.4 mode authorizer (bin-path, max-procs 2)"),
    ("nginx", "nginx auth_request + fastcgi_pass (unix, 2 workers)"),
    ("apache-dbm", "Apache 2.4 event + mod_authn_dbm (native peer)"),
    ("apache-module", "Apache 2.4 event + mod_keygate (in-process)"),
    ("nginx-module", "nginx + ngx_http_keygate_module (in-process, 2 workers)"),
]
# Rows measured in another server's instance: their null and none rows are that server's.
REFERENCE = {"apache-dbm": "apache-authnz", "apache-module": "apache-authnz", "nginx-module": "nginx"}


def module_targets(w, servers, sstat):
    """The in-process modules against their targets (issue 15), valid keys with limits."""
    checks = []
    for srv, ref, label in (("apache-module", "apache-authnz", "Apache + mod_keygate"),
                            ("nginx-module", "nginx", "nginx + ngx_http_keygate_module")):
        if (srv, "valid") not in servers:
            continue
        rps, p99 = sstat(srv, "valid", "rps"), sstat(srv, "valid", "p99_us")
        none_r, none_p99 = sstat(ref, "none", "rps"), sstat(ref, "none", "p99_us")
        fcgi = sstat(ref, "valid", "rps")
        if rps and none_r:
            checks.append((label, "req/s vs no authentication", rps / none_r, ">= 0.90", rps / none_r >= 0.90))
        if p99 and none_p99:
            checks.append((label, "p99 vs no authentication", p99 / none_p99, "<= 1.10", p99 / none_p99 <= 1.10))
        if rps and fcgi:
            checks.append((label, "req/s vs the FastCGI authorizer", rps / fcgi, "-", None))
        dbm = sstat("apache-dbm", "dbm", "rps") if srv == "apache-module" else None
        if rps and dbm:
            checks.append((label, "req/s vs mod_authn_dbm {SHA}", rps / dbm, "> 1", rps / dbm > 1))
    if not checks:
        return
    w("### In-process modules against their targets")
    w("")
    w("Valid keys with a rate limit and a quota, same server instance and rounds as its "
      "no-authentication and FastCGI rows.")
    w("")
    w("| server | measure | ratio | target | met |")
    w("|---|---|---|---|---|")
    for label, what, ratio, target, met in checks:
        w("| {} | {} | {:.2f} | {} | {} |".format(label, what, ratio, target,
                                                  "-" if met is None else ("yes" if met else "**no**")))
    w("")


def parse_kv(line):
    d = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            d[k] = v
    return d


def read_rows(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    rows.append(parse_kv(line))
    return rows


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fnum(v, digits=0):
    if v is None:
        return "-"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def fratio(v):
    return "-" if v is None else "{:.2f}".format(v)


def group(rows):
    g = {}
    for r in rows:
        g.setdefault((r["path"], r["scen"]), []).append(r)
    return g


def fl(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None


def statuses(rs):
    tot = {}
    for r in rs:
        for k, v in r.items():
            if k.startswith("s") and k[1:].isdigit():
                tot[k[1:]] = tot.get(k[1:], 0) + int(v)
    n = sum(tot.values())
    if n == 0:
        return "-"
    return " ".join("{}:{:.0f}%".format(k, 100.0 * v / n) for k, v in sorted(tot.items()))


def read_previous(path):
    """{(section, path, row label, column): value} from an earlier RESULTS.md."""
    out, section, sub, header = {}, None, None, None
    if not os.path.exists(path):
        return out, None
    commit = None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("| commit |"):
                commit = line.split("|")[2].strip()
            if line.startswith("## "):
                section = {"## Direct FastCGI": "direct",
                           "## Through the web servers": "server"}.get(line.strip())
                sub = header = None
            elif line.startswith("### ") and section:
                sub = line[4:].split(" (")[0]
                header = None
            elif line.startswith("|") and section and sub:
                cells = [c.strip() for c in line.strip("|").split("|")]
                if header is None:
                    header = cells
                elif not cells[0].startswith("---"):
                    for name, v in zip(header[1:], cells[1:]):
                        try:
                            out[(section, sub, cells[0], name)] = float(v.replace(",", ""))
                        except ValueError:
                            pass
    return out, commit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = os.path.join(a.work, "results")
    machine = {}
    with open(os.path.join(res, "machine.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                machine[k] = v
    seed = {}
    if os.path.exists(os.path.join(a.work, "seed.json")):
        with open(os.path.join(a.work, "seed.json")) as f:
            seed = json.load(f)
    direct = group(read_rows(os.path.join(res, "direct.txt")))
    servers = group(read_rows(os.path.join(res, "servers.txt")))
    rss = {r["who"]: r for r in read_rows(os.path.join(res, "rss.txt"))}
    api = read_rows(os.path.join(res, "api.txt"))
    flush = read_rows(os.path.join(res, "flush.txt"))
    previous, prev_commit = read_previous(os.path.join(res, "previous.md"))

    out = []
    w = out.append
    targets = []

    def target(name, value, ok, note=""):
        targets.append((name, value, "n/a" if ok is None else ("**met**" if ok else "**missed**"), note))

    def dstat(path, scen, key):
        return med([fl(r, key) for r in direct.get((path, scen), [])])

    def sstat(path, scen, key):
        return med([fl(r, key) for r in servers.get((path, scen), [])])

    # ---- targets
    if direct:
        v, n = dstat("keep2", "valid", "rps"), dstat("keep2", "null", "rps")
        r = v / n if v and n else None
        target("Direct, kept conn, 2 processes, 1M keys, limits on: req/s >= 90% of null",
               "{} vs {} req/s = {:.0%}".format(fnum(v), fnum(n), r) if r else "-", r and r >= 0.90)
        v, n = dstat("keep2", "valid", "p99_us"), dstat("keep2", "null", "p99_us")
        r = v / n if v and n else None
        target("... p99 <= 2x null", "{} vs {} us = {:.2f}x".format(fnum(v, 1), fnum(n, 1), r) if r else "-",
               r and r <= 2.0)
        v, n = dstat("keep2", "invalid", "rps"), dstat("keep2", "null", "rps")
        r = v / n if v and n else None
        target("... invalid checksum: req/s >= 98% of null", "{:.0%}".format(r) if r else "-", r and r >= 0.98)
        for scen in ("unknown", "revoked"):
            for path in ("keep1", "keep2"):
                cv, cs = dstat(path, "valid", "cpu_us"), dstat(path, scen, "cpu_us")
                r = cs / cv if cv and cs else None
                target("... {} key costs no more than a valid one (CPU/request, {})".format(scen, path),
                       "{} vs {} us = {:.2f}x".format(fnum(cs, 1), fnum(cv, 1), r) if r else "-",
                       r and r <= 1.05, "5% tolerance")
        for label, scen, path, limit in (
                ("CPU/request, kept connection, valid key, no limits <= 1.35x null", "nolimits", "keep1", 1.35),
                ("CPU/request, kept connection, valid key, limits on <= 1.65x null", "valid", "keep1", 1.65),
                ("CPU/request, new connection, valid key, limits on <= 1.0x null", "valid", "new1", 1.0),
                ("CPU/request, new connection, valid key, no limits <= 1.0x null", "nolimits", "new1", 1.0)):
            k, n = dstat(path, scen, "cpu_us"), dstat(path, "null", "cpu_us")
            r = k / n if k and n else None
            kp, np_ = dstat(path + "-pinned", scen, "cpu_us"), dstat(path + "-pinned", "null", "cpu_us")
            rp = kp / np_ if kp and np_ else None
            target(label, "{} vs {} us = {:.2f}x".format(fnum(k, 1), fnum(n, 1), r) if r else "-",
                   r and r <= limit,
                   "pinned to one CPU: {} vs {} us = {:.2f}x".format(fnum(kp, 1), fnum(np_, 1), rp) if rp else "")
    if direct:
        for path in ("keep1", "keep2"):
            v, k = dstat(path, "verify", "rps"), dstat(path, "valid", "rps")
            r = v / k if v and k else None
            target("keygate-api POST /v1/verify, {}: req/s >= 80% of the authorizer's".format(path),
                   "{} vs {} req/s = {:.0%}".format(fnum(v), fnum(k), r) if r else "-", r and r >= 0.80,
                   "same store, direct FastCGI; the authorizer's row consumes rate and quota, verify does not")
    if api:
        r = api[-1]
        c, d = fl(r, "create_cpu_us"), fl(r, "revoke_cpu_us")
        target("keygate-api management call < 1 ms of CPU each",
               "create {} us, revoke {} us (n={})".format(fnum(c), fnum(d), r.get("n")),
               c is not None and d is not None and c < 1000 and d < 1000,
               "wall: create {} us, revoke {} us (synchronous commits)".format(
                   fnum(fl(r, "create_wall_us")), fnum(fl(r, "revoke_wall_us"))))
    if previous:
        for sec, path, label, col in PREVIOUS:
            old = previous.get((sec, path, label, col))
            scen = [k for k, v in SCEN.items() if v == label][0]
            if sec == "direct":
                k, n = dstat(path, scen, "cpu_us"), dstat(path, "null", "cpu_us")
            else:
                k, n = sstat(path, scen, "rps"), sstat(path, "null", "rps")
            new = k / n if k and n else None
            if old is None or new is None:
                continue
            change = new / old - 1
            target("{} {}, {}: within 10% of the previous run".format(path, scen, col),
                   "{:.2f} -> {:.2f} ({:+.0%})".format(old, new, change), abs(change) <= 0.10,
                   "previous run: commit {}".format(prev_commit or "?"))
    if servers:
        for srv, _ in SERVERS[:4]:
            v, n = sstat(srv, "valid", "rps"), sstat(srv, "null", "rps")
            r = v / n if v and n else None
            target("{}: req/s >= 95% of null".format(srv),
                   "{} vs {} = {:.0%}".format(fnum(v), fnum(n), r) if r else "-", r and r >= 0.95)
            v, n = sstat(srv, "valid", "p99_us"), sstat(srv, "null", "p99_us")
            r = v / n if v and n else None
            target("{}: p99 <= 1.25x null".format(srv),
                   "{} vs {} us = {:.2f}x".format(fnum(v), fnum(n), r) if r else "-", r and r <= 1.25)
    if "kgrss" in rss:
        r = rss["kgrss"]
        priv = int(r.get("Private_Clean", 0)) + int(r.get("Private_Dirty", 0))
        target("One authorizer process <= 4 MiB private RSS (after 1M requests)",
               "{:.2f} MiB (Private_Clean+Private_Dirty); RssAnon {:.2f} MiB".format(
                   priv / 1024, int(r.get("RssAnon", 0)) / 1024), priv <= 4096)
    if seed:
        target("Store <= 300 bytes per key", "{:.0f} bytes/key ({} keys, *.db files)".format(
            seed["bytes_per_key"], fnum(seed["store_keys"])), seed["bytes_per_key"] <= 300,
            "plus the key index, derived from them: {:.0f} bytes/key".format(seed["index_bytes_per_key"])
            if "index_bytes_per_key" in seed else "")
        target("Import of 1M digests <= 60 s", "{:.1f} s ({} digests, one `key import --sha256`)".format(
            seed["import_digests_s"], fnum(seed["import_digests"])), seed["import_digests_s"] <= 60)

    # ---- document
    w("# keygate benchmark results")
    w("")
    w("Generated by `bench/run` (issue 6); re-run with `make bench` or `bench/run --builddir BUILD`.")
    w("")
    w("## Machine and versions")
    w("")
    w("| | |")
    w("|---|---|")
    for k, label in (("date", "date"), ("nproc", "nproc"), ("cpu", "CPU"), ("kernel", "kernel"),
                     ("os", "OS"), ("mem", "memory"), ("keygate", "keygate"), ("git", "commit"),
                     ("cflags", "CFLAGS"), ("pkg_libfcgi0ldbl", "libfcgi"), ("pkg_libdb5.3", "Berkeley DB"),
                     ("pkg_libssl3", "OpenSSL"), ("pkg_apache2", "Apache"),
                     ("pkg_libapache2-mod-fcgid", "mod_fcgid"), ("pkg_lighttpd", "lighttpd"),
                     ("pkg_nginx-light", "nginx-light"), ("pkg_wrk", "wrk"), ("uptime", "load at start"), ("idle", "idle CPUs"),
                     ("rounds", "rounds"), ("duration", "measured s per row"), ("warmup", "warm-up s per row"),
                     ("waited", "s waited for a quiet machine"), ("fcgid_procs", "mod_fcgid processes after warm-up"),
                     ("fcgid_procs_end", "mod_fcgid processes at the end")):
        w("| {} | {} |".format(label, machine.get(k, "-").replace("|", "/")))
    w("")
    w("Commands: `{}` (work directory `{}`). Each row: `bench/fcgi-load` (direct) or "
      "`wrk -t2 -c8 -s bench/wrk-keys.lua` (servers) for the warm-up, then the measured run; "
      "before each row the run waits until the machine's other users keep fewer than 0.7 CPUs busy "
      "(over one second, from /proc/stat), and a row during which they kept more than 0.3 CPUs busy "
      "(machine's user+system+steal time minus the CPU time of bench/run's process tree) is measured "
      "again, up to 4 times, keeping the quietest. Niced processes (the project's nice-10 fuzzers) are "
      "not counted as interference; their CPU use during each row is recorded as `niced`."
      .format(machine.get("cmdline", ""), machine.get("work", "")))
    allrows = [r for rs in list(direct.values()) + list(servers.values()) for r in rs]
    if allrows:
        oth = sorted(fl(r, "others") for r in allrows if fl(r, "others") is not None)
        nic = [fl(r, "niced") for r in allrows if fl(r, "niced") is not None]
        tries = [int(r.get("tries", 1)) for r in allrows]
        if oth:
            w("")
            w("Interference over the {} kept rows: others' CPUs median {:.2f}, max {:.2f}; niced CPUs "
              "median {:.2f}, max {:.2f}; {} rows needed more than one try.".format(
                  len(oth), statistics.median(oth), max(oth), statistics.median(nic) if nic else 0,
                  max(nic) if nic else 0, sum(1 for t in tries if t > 1)))
    w("")
    w("## Targets")
    w("")
    w("| target | measured | | note |")
    w("|---|---|---|---|")
    for t in targets:
        w("| {} | {} | {} | {} |".format(*t))
    w("")

    # The reading of the numbers (what a missed target costs, the profile
    # behind it) is written by hand in bench/analysis.md and kept with them.
    analysis = os.path.join(os.path.dirname(os.path.abspath(__file__)), "analysis.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            w(f.read().rstrip("\n"))
        w("")

    if direct:
        w("## Direct FastCGI")
        w("")
        w("`fcgi-load` over a unix socket to `keygate-authz --listen unix:... --workers N` and "
          "`null-authz` with the same process model; AUTHORIZER role, 28 params as Apache sends them, "
          "the key as `Authorization: Bearer`. Median of the rounds. CPU = on-CPU time of the "
          "authorizer's processes (`/proc/PID/task/*/schedstat`) over the measured window divided by "
          "the requests answered; the range is min-max over the rounds.")
        w("")
        for path, desc in DIRECT_PATHS:
            if not any(p == path for p, _ in direct):
                continue
            w("### {} ({})".format(path, desc))
            w("")
            w("| scenario | req/s | p50 us | p99 us | p99.9 us | req/s vs null | p99 vs null "
              "| CPU us/req | CPU range | CPU vs null | loader CPU us/req | statuses |")
            w("|---|---|---|---|---|---|---|---|---|---|---|---|")
            nr, np99, nc = dstat(path, "null", "rps"), dstat(path, "null", "p99_us"), dstat(path, "null", "cpu_us")
            for scen in DIRECT_SCENS:
                rs = direct.get((path, scen))
                if not rs:
                    continue
                rps, p50, p99, p999, cpu = (dstat(path, scen, k) for k in ("rps", "p50_us", "p99_us", "p999_us", "cpu_us"))
                cpus = [fl(r, "cpu_us") for r in rs if fl(r, "cpu_us") is not None]
                w("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    SCEN[scen], fnum(rps), fnum(p50, 1), fnum(p99, 1), fnum(p999, 1),
                    fratio(rps / nr if rps and nr else None), fratio(p99 / np99 if p99 and np99 else None),
                    fnum(cpu, 1), "{:.1f}-{:.1f}".format(min(cpus), max(cpus)) if cpus else "-",
                    fratio(cpu / nc if cpu and nc else None), fnum(dstat(path, scen, "loader_cpu_us"), 1),
                    statuses(rs)))
            w("")

    if servers:
        w("## Through the web servers")
        w("")
        w("`wrk -t2 -c8` with `bench/wrk-keys.lua` (a key drawn per request from the scenario's file, "
          "sent as `Authorization: Bearer`), GET of a 41-byte static file under "
          "`/PREFIX/v1/items/4711?limit=10&page=2`, HTTP keep-alive; each server runs the keygate, "
          "null and no-authorizer variants side by side under their own prefix "
          "(configurations: `bench/servers.sh`, derived from contrib/). \"probe\" is the status "
          "curl got for the scenario's first key after the row.")
        w("")
        for srv, desc in SERVERS:
            if not any(p == srv for p, _ in servers):
                continue
            w("### {} ({})".format(srv, desc))
            w("")
            w("| row | req/s | p50 us | p99 us | req/s vs null | p99 vs null | req/s vs none | p99 vs none | probe | non-2xx |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            ref = REFERENCE.get(srv, srv)
            nr, np99 = sstat(ref, "null", "rps"), sstat(ref, "null", "p99_us")
            none_r, none_p99 = sstat(ref, "none", "rps"), sstat(ref, "none", "p99_us")
            for row in ("null", "none", "valid", "zipf", "invalid", "unknown", "revoked", "ratelimited", "dbm"):
                rs = servers.get((srv, row))
                if not rs:
                    continue
                rps, p50, p99 = (sstat(srv, row, k) for k in ("rps", "p50_us", "p99_us"))
                non2xx = med([fl(r, "non2xx") for r in rs])
                n = med([fl(r, "requests") for r in rs])
                w("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    SCEN[row], fnum(rps), fnum(p50), fnum(p99),
                    fratio(rps / nr if rps and nr else None), fratio(p99 / np99 if p99 and np99 else None),
                    fratio(rps / none_r if rps and none_r else None),
                    fratio(p99 / none_p99 if p99 and none_p99 else None), rs[-1].get("probe", "-"),
                    "{:.0%}".format(non2xx / n) if n else "-"))
            w("")
        if ("apache-dbm", "dbm") in servers:
            w("The mod_authn_dbm row is divided by the Apache null row of mod_authnz_fcgi "
              "(same server, same MPM); its \"vs none\" is against Apache without authorization.")
            w("")
        module_targets(w, servers, sstat)

    if api or flush:
        w("## keygate-api and the flushes")
        w("")
        w("| measure | value |")
        w("|---|---|")
        if api:
            r = api[-1]
            w("| `bench/api-mgmt.py`: {} creates (`POST /v1/keys`), then {} revokes, one at a time, "
              "1 keygate-api worker | create {} us CPU ({} us wall), revoke {} us CPU ({} us wall) |".format(
                  r.get("n"), r.get("n"), fnum(fl(r, "create_cpu_us")), fnum(fl(r, "create_wall_us")),
                  fnum(fl(r, "revoke_cpu_us")), fnum(fl(r, "revoke_wall_us"))))
        if flush:
            r = flush[-1]
            w("| the kg-flush threads of 2 authorizer workers during a keep2 row of {} req/s "
              "(valid keys with limits) | {} ms of CPU a second; {} ledger and {} history flushes a "
              "second, each one synchronous transaction |".format(
                  fnum(fl(r, "rps")), fnum(fl(r, "flush_cpu_ms_per_s"), 2),
                  fnum(fl(r, "ledger_per_s"), 2), fnum(fl(r, "history_per_s"), 2)))
        w("")

    w("## Memory and store")
    w("")
    w("| measure | value |")
    w("|---|---|")
    for who, label in (("kgrss", "keygate-authz worker"), ("nullrss", "null-authz worker")):
        if who in rss:
            r = rss[who]
            priv = int(r.get("Private_Clean", 0)) + int(r.get("Private_Dirty", 0))
            w("| {} after {} requests (kept connection, valid keys with limits) | Private_Clean+Private_Dirty "
              "{:.2f} MiB (clean {} kB, dirty {} kB); RssAnon {} kB; RssFile {} kB; RssShmem {} kB; Rss {} kB; Pss {} kB |".format(
                  label, fnum(float(r.get("n", 0))), priv / 1024, r.get("Private_Clean"), r.get("Private_Dirty"),
                  r.get("RssAnon"), r.get("RssFile"), r.get("RssShmem"), r.get("Rss"), r.get("Pss")))
    if seed:
        w("| keys in the benchmark store | {} ({} organizations x {}, + 1,000 revoked, + 1,000 rate-limited) |".format(
            fnum(seed["store_keys"]), fnum(seed["orgs"]), seed["keys_per_org"]))
        w("| store size, *.db files (allocated) | {:.1f} MB = **{:.0f} bytes/key** |".format(
            seed["db_files_bytes"] / 1e6, seed["bytes_per_key"]))
        if "index_bytes" in seed:
            w("| key index (derived from the *.db files, rebuilt when deleted) | {:.1f} MB = {:.0f} bytes/key |".format(
                seed["index_bytes"] / 1e6, seed["index_bytes_per_key"]))
        w("| files of the store directory | {} |".format(", ".join(
            "{} {:.1f} MB".format(k, v / 1e6) for k, v in seed["db_files"].items() if v > 100000)))
        w("| single-org store of 1M imported digests, *.db files | {:.0f} bytes/key |".format(
            seed["scratch_bytes_per_key"]))
        w("| `keygate key import --sha256` of {} digests, one run | **{:.1f} s** ({}) |".format(
            fnum(seed["import_digests"]), seed["import_digests_s"], seed.get("import_digests_msg", "")))
        w("| `keygate key import` of {} raw keys, {} runs of {} (one per org) | {:.1f} s |".format(
            fnum(seed["keys"]), fnum(seed["import_raw_batches"]), seed["keys_per_org"], seed["import_raw_s"]))
        w("| `keygate org create` x {} | {:.1f} s |".format(fnum(seed["orgs"]), seed["org_create_s"]))
    w("")

    prof = os.path.join(a.work, "profiles")
    names = [n for n in ("kg-keep", "null-keep", "kg-new", "null-new", "kg-invalid-keep",
                         "kg-keep2", "null-keep2")
             if os.path.exists(os.path.join(prof, n + ".sym.txt"))]
    if names:
        w("## Profiles")
        w("")
        w("`perf record -e cpu-clock -g -a` (no hardware counters in this VM, and attaching to a PID "
          "records nothing with Debian's perf 6.1 on this kernel) while `fcgi-load -c 1` (-c 2 for *-keep2) "
          "runs valid keys with limits (kg-*) or against the null authorizer; `perf report --pid WORKERS "
          "--no-children --sort dso,sym`, entries >= 0.5% of the workers' samples. "
          "Full reports: `{}/`.".format(prof))
        for n in names:
            w("")
            w("### {}".format(n))
            w("")
            load = ""
            try:
                with open(os.path.join(prof, n + ".load")) as f:
                    kv = parse_kv(f.read())
                load = "{} req/s, server CPU {} us/req".format(kv.get("rps", "?"), kv.get("cpu_us", "-"))
            except OSError:
                pass
            if load:
                w("Load during the profile: " + load)
                w("")
            syms = []
            try:
                with open(os.path.join(prof, n + ".sym.txt")) as f:
                    for l in f:
                        parts = l.split()
                        if len(parts) >= 4 and parts[0].endswith("%") and not l.startswith("#"):
                            syms.append((float(parts[0][:-1]), parts[1], " ".join(parts[3:])))
            except OSError:
                pass
            dsos = {}
            for pct, dso, _ in syms:
                dsos[dso] = dsos.get(dso, 0) + pct
            w("By library: " + ", ".join("{} {:.1f}%".format(d, p) for d, p in
                                         sorted(dsos.items(), key=lambda x: -x[1]) if p >= 0.5))
            w("")
            w("```")
            for pct, dso, sym in syms[:30]:
                w("{:6.2f}%  {:<20} {}".format(pct, dso, sym))
            w("```")
    w("")
    w("Raw results (one line per row and round): `{}`.".format(res))
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
