#!/usr/bin/env python3
"""api_test.py - keygate-api over FastCGI, endpoint by endpoint.

Run by tests/fcgi/api.sh, which makes the store and the keys and starts
keygate-api on a unix socket; their names come in the environment.  Each
check prints a TAP line; the exit status is the number of failures (capped).

The FastCGI client here is written from the specification (RESPONDER
role, params, STDIN), apart from the project's C client, so that a body
goes byte for byte as the test gives it."""
import concurrent.futures
import json
import os
import socket
import struct
import subprocess
import sys
import time

SOCK = os.environ["API_SOCK"]
KEYGATE = os.environ["KEYGATE"]
DB = os.environ["DB"]
KEYS = json.loads(os.environ["API_KEYS"])   # role -> [key, id]
PASS = FAIL = 0

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7


def rec(rtype, content=b"", rid=1):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def nv(name, value):
    out = b""
    for part in (name, value):
        n = len(part)
        out += bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return out + name + value


SEND_FAILED = None   # the last call's failed write (a connection closed before the request was read)


def call(method, path, key=None, body=None, raw_body=None, headers=None, prefix="/keygate",
         length=True, stdin_delay=0, sock=SOCK):
    """One request: (status, headers dict, body bytes).  length: send
    CONTENT_LENGTH with a body (True), not at all (False), or this value;
    stdin_delay: seconds between the params and STDIN, as a web server
    that writes them apart."""
    global SEND_FAILED
    params = {
        "REQUEST_METHOD": method, "REQUEST_URI": prefix + path,
        "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
    }
    data = raw_body if raw_body is not None else (
        json.dumps(body).encode() if body is not None else b"")
    if data and length is not False:
        params["CONTENT_LENGTH"] = str(len(data)) if length is True else str(length)
    if data:
        params["CONTENT_TYPE"] = "application/json"
    if key is not None:
        params["HTTP_AUTHORIZATION"] = "Bearer " + key
    params.update(headers or {})
    payload = b"".join(nv(k.encode(), v.encode() if isinstance(v, str) else v)
                       for k, v in params.items())
    out = rec(BEGIN, struct.pack(">HB5x", 1, 0))
    for i in range(0, len(payload), 65535):
        out += rec(PARAMS, payload[i:i + 65535])
    out += rec(PARAMS)
    head_len = len(out)
    for i in range(0, len(data), 65535):
        out += rec(STDIN, data[i:i + 65535])
    out += rec(STDIN)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(sock)
    SEND_FAILED = None
    try:
        if stdin_delay:
            s.sendall(out[:head_len])
            time.sleep(stdin_delay)
            out = out[head_len:]
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError) as e:
        SEND_FAILED = e  # the answer may already be there
    stdout = b""
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    s.close()
    i = 0
    while i + 8 <= len(buf):
        _v, rtype, _rid, clen, plen, _r = struct.unpack(">BBHHBB", buf[i:i + 8])
        if rtype == STDOUT:
            stdout += buf[i + 8:i + 8 + clen]
        i += 8 + clen + plen
    head, _, rest = stdout.partition(b"\r\n\r\n")
    status, hdrs = 0, {}
    for line in head.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(": ")
        if name == "Status":
            status = int(value.split()[0])
        elif name:
            hdrs[name.lower()] = value
    return status, hdrs, rest


def j(method, path, key=None, body=None, **kw):
    status, hdrs, raw = call(method, path, key, body, **kw)
    try:
        doc = json.loads(raw) if raw.strip() else None
    except ValueError:
        doc = "not-json:" + raw[:80].decode("latin-1")
    return status, doc, hdrs


def ok(cond, what):
    global PASS, FAIL
    if cond:
        PASS += 1
        print("ok - " + what)
    else:
        FAIL += 1
        print("not ok - " + what)
    sys.stdout.flush()


def error_code(doc):
    try:
        assert list(doc) == ["error"] and sorted(doc["error"]) == ["code", "message"]
        return doc["error"]["code"]
    except Exception:
        return "not-an-error-body"


def expect(what, want_status, want_code, method, path, key=None, body=None, **kw):
    status, doc, hdrs = j(method, path, key, body, **kw)
    code = error_code(doc) if want_code else None
    ok(status == want_status and code == want_code,
       "%s: %d %s (got %d %s)" % (what, want_status, want_code or "", status, code or ""))
    return status, doc, hdrs


def audit_count():
    out = subprocess.run([KEYGATE, "--db", DB, "audit", "--json"], capture_output=True, check=True)
    return len(json.loads(out.stdout))


ADMIN, RW, RO, PLAIN, VERIFY = (KEYS[r][0] for r in ("admin", "rw", "ro", "plain", "verify"))
OTHER_RW = KEYS["other_rw"][0]
LIVE, LIVE_ID = KEYS["live"]

# --- health, routing, methods ---
status, doc, _ = j("GET", "/v1/health")
ok(status == 200 and doc == {"status": "ok", "store": "ok", "role": "standalone"}, "health without a key")
for what, args in (("an answer", ("GET", "/v1/health")), ("an error", ("GET", "/v1/nothing"))):
    _, _, raw = call(*args)
    ok(raw.endswith(b"}\n") and not raw.endswith(b"\n\n"),
       "%s ends with one newline (fuzz_api: it had two): %r" % (what, raw[-4:]))
status, doc, _ = j("GET", "/v1/health", prefix="http://api.example.com:8080/keygate")
ok(status == 200 and doc["status"] == "ok",
   "REQUEST_URI in absolute form, as Apache passes it for such a request line (%d)" % status)
expect("... outside the prefix", 404, "not_found", "GET", "/v1/health", prefix="http://h/other")
expect("an unknown path", 404, "not_found", "GET", "/v1/nothing", ADMIN)
expect("outside the prefix", 404, "not_found", "GET", "/v1/self", ADMIN, prefix="/other")
status, doc, hdrs = expect("a method the path does not take", 405, "method_not_allowed", "PUT", "/v1/keys", ADMIN)
ok(hdrs.get("allow") == "GET, HEAD, POST", "... with Allow (%s)" % hdrs.get("allow"))
ok(hdrs.get("content-type") == "application/json", "answers are application/json")

# a web server writing the empty STDIN record apart from the params
status, doc, _ = j("GET", "/v1/health", stdin_delay=0.3)
ok(status == 200 and SEND_FAILED is None,
   "STDIN 0.3 s after the params: answered once it is read, the write does not fail (%d, %s)"
   % (status, SEND_FAILED))
status, doc, _ = j("POST", "/v1/self", PLAIN, {}, stdin_delay=0.3)
ok(status == 200 and SEND_FAILED is None, "... a body too (%d, %s)" % (status, SEND_FAILED))

# --- who may call what ---
status, doc, hdrs = expect("no key", 401, "missing_api_key", "GET", "/v1/self")
ok(hdrs.get("www-authenticate", "").startswith("Bearer realm="), "... with WWW-Authenticate")
expect("a made-up key", 401, "invalid_api_key", "GET", "/v1/self", "kg_live_" + "A" * 38)
expect("two different keys", 400, "conflicting_api_keys", "GET", "/v1/self", RW,
       headers={"HTTP_X_API_KEY": RO})
status, doc, _ = j("GET", "/v1/self", PLAIN)
ok(status == 200 and doc["key"]["id"] == KEYS["plain"][1] and doc["org"]["id"] == "acme" and
   doc["org"]["state"] == "active" and "limits" in doc, "self: any valid key sees itself")
ok("digest" not in json.dumps(doc) and PLAIN not in json.dumps(doc), "... and never a digest or its secret")
ok(j("POST", "/v1/self", PLAIN)[0] == 200, "POST /v1/self too")
for method, path, body in [("GET", "/v1/keys", None), ("POST", "/v1/keys", {"name": "x"}),
                           ("POST", "/v1/verify", {"key": LIVE}), ("GET", "/v1/usage", None),
                           ("GET", "/v1/orgs", None), ("GET", "/v1/plans", None), ("GET", "/v1/audit", None),
                           ("POST", "/v1/orgs/acme/credits", {"amount": 5})]:
    expect("%s %s without its scope" % (method, path), 403, "insufficient_scope", method, path, PLAIN, body)
expect("keys:read may not write", 403, "insufficient_scope", "POST", "/v1/keys", RO, {"name": "x"})
expect("keys:read may not revoke", 403, "insufficient_scope", "DELETE", "/v1/keys/" + LIVE_ID, RO)

# --- keys ---
status, doc, _ = j("GET", "/v1/keys", RO)
ids = [k["id"] for k in doc["keys"]]
ok(status == 200 and LIVE_ID in ids and all(k["org"] == "acme" for k in doc["keys"]),
   "list: its organization's keys only (%d)" % len(ids))
ok(KEYS["other_rw"][1] not in ids, "... never another organization's")
expect("another organization's key by id: 404", 404, "not_found", "GET", "/v1/keys/" + KEYS["other_rw"][1], RO)
expect("... ?org=another: 404", 404, "not_found", "GET", "/v1/keys?org=beta", RO)
expect("an unknown query parameter", 400, "invalid_request", "GET", "/v1/keys?colour=red", RO)
expect("limit out of range", 400, "invalid_request", "GET", "/v1/keys?limit=1001", RO)
expect("a bad state", 400, "invalid_request", "GET", "/v1/keys?state=frozen", RO)
expect("an admin's ?org= longer than any id: 404 (fuzz_api: it overran a buffer)", 404, "not_found",
       "GET", "/v1/keys?org=" + "j" * 200, ADMIN)
before = audit_count()
expect("a rule holding a key: 400 (fuzz_api: the 201 echoed it)", 400, "invalid_request",
       "POST", "/v1/keys", RW, {"name": "ci", "allow": ["GET /v1/x/" + RW + "/y"]})
ok(audit_count() == before, "... and nothing audited")

before = audit_count()
status, doc, _ = j("POST", "/v1/keys", RW, {"name": "ci", "mode": "test", "scopes": ["keys:read"]})
ok(status == 201 and doc["key"].startswith("kg_test_") and doc["object"]["name"] == "ci" and
   doc["object"]["scopes"] == ["keys:read"], "create: 201 with the secret and the object")
new_key, new_id = doc["key"], doc["object"]["id"]
ok(audit_count() == before + 1, "... and one audit record")
status, doc, _ = j("POST", "/v1/keys", RW, {"name": "streamed", "mode": "test"}, length=False)
ok(status == 201 and doc["object"]["name"] == "streamed",
   "a body without CONTENT_LENGTH (a chunked body Apache streams): read to the end of STDIN (%d)" % status)
status, doc, _ = j("GET", "/v1/keys/" + new_id, RO)
ok(status == 200 and "key" not in doc and doc["display"].startswith("kg_test_"), "show: no secret, a display prefix")
status, doc, _ = j("GET", "/v1/self", new_key)
ok(status == 200 and doc["key"]["id"] == new_id, "the new key works at once")
before = audit_count()
expect("escalation: keys:write creating an admin key", 403, "insufficient_scope", "POST", "/v1/keys", RW,
       {"name": "x", "scopes": ["admin"]})
expect("... or a verify key", 403, "insufficient_scope", "POST", "/v1/keys", RW, {"scopes": ["verify"]})
expect("creating in another organization", 404, "not_found", "POST", "/v1/keys", RW, {"org": "beta"})
expect("a name with CR/LF", 400, "invalid_request", "POST", "/v1/keys", RW, {"name": "a\r\nX-Evil: 1"})
expect("an unknown scope", 400, "invalid_request", "POST", "/v1/keys", RW, {"scopes": ["root"]})
expect("a bad rule", 400, "invalid_request", "POST", "/v1/keys", RW, {"allow": ["GET v1"]})
expect("a bad rate", 400, "invalid_request", "POST", "/v1/keys", RW, {"rate": "fast"})
expect("a bad mode", 400, "invalid_request", "POST", "/v1/keys", RW, {"mode": "prod"})
ok(audit_count() == before, "refused requests write no audit record")

# bad JSON, every way
for what, raw in [("truncated", b'{"name": "x"'), ("trailing garbage", b'{"name": "x"} x'),
                  ("wrong type", b'{"name": 5}'), ("unknown field", b'{"nmae": "x"}'),
                  ("deep nesting", b'{"name": ' + b'[' * 100 + b']' * 100 + b'}'),
                  ("invalid UTF-8", b'{"name": "\xc3\x28"}'), ("a NUL", b'{"name": "a\\u0000b"}'),
                  ("a raw NUL", b'{"name": "a\x00b"}'), ("a duplicate member", b'{"name": "a", "name": "b"}'),
                  ("a lone surrogate", b'{"name": "\\ud800"}'), ("not an object", b'["name"]'),
                  ("empty", b' ')]:
    status, hdrs, raw_out = call("POST", "/v1/keys", RW, raw_body=raw)
    try:
        code = error_code(json.loads(raw_out))
    except ValueError:
        code = "not-json"
    ok(status == 400 and code == "invalid_request", "malformed body, %s: 400 invalid_request" % what)
status, hdrs, raw_out = call("POST", "/v1/keys", RW, raw_body=b" " * (10 << 20))
ok(status == 413 and error_code(json.loads(raw_out)) == "too_large", "a 10 MB body: 413 too_large (%d)" % status)
for ctype in ("text/plain", "application/jsonp", "application/x-www-form-urlencoded"):
    status, hdrs, raw_out = call("POST", "/v1/keys", RW, body={"name": "ct"}, headers={"CONTENT_TYPE": ctype})
    ok(status == 400 and error_code(json.loads(raw_out)) == "invalid_request",
       "a body sent as %s: 400 invalid_request" % ctype)
status, hdrs, raw_out = call("POST", "/v1/keys", RW, raw_body=b" " * (512 << 10))
ok(status == 413 and error_code(json.loads(raw_out)) == "too_large" and SEND_FAILED is None,
   "512 KiB: 413 too_large, the body read (up to 1 MiB) so that the sender's writes do not fail (%d, %s)"
   % (status, SEND_FAILED))
status, hdrs, raw_out = call("POST", "/v1/keys", RW, raw_body=b" " * (100 << 10), length=False)
ok(status == 413 and error_code(json.loads(raw_out)) == "too_large" and SEND_FAILED is None,
   "100 KiB without CONTENT_LENGTH: 413 too_large (%d, %s)" % (status, SEND_FAILED))
for what, length in [("longer than", 5), ("shorter than", 500), ("of", "ten")]:
    status, doc, _ = j("POST", "/v1/self", RW, raw_body=b"{}" + b" " * 20, length=length)
    ok(status == 400 and error_code(doc) == "invalid_request",
       "a body %s CONTENT_LENGTH %s: 400 invalid_request (%d)" % (what, length, status))
ok(audit_count() == before, "none of them changed anything")
for ctype in ("application/json; charset=utf-8", "Application/JSON"):
    status, hdrs, raw_out = call("POST", "/v1/keys", RW, body={"name": "ct"}, headers={"CONTENT_TYPE": ctype})
    ok(status == 201, "a body sent as %s is JSON (%d)" % (ctype, status))
    j("DELETE", "/v1/keys/" + json.loads(raw_out)["object"]["id"], RW)

# revoke twice, rotate a revoked key
status, doc, _ = j("DELETE", "/v1/keys/" + new_id, RW)
ok(status == 200 and doc["state"] == "revoked" and doc["revoked_at"], "revoke: 200 with the object")
ok(j("GET", "/v1/self", new_key)[0] == 401, "... the next request with it is a 401")
status, doc, _ = j("DELETE", "/v1/keys/" + new_id, RW)
ok(status == 200 and doc["state"] == "revoked", "revoke twice: 200 again (idempotent)")
expect("rotate a revoked key", 409, "conflict", "POST", "/v1/keys/%s/rotate" % new_id, RW, {"grace": "1h"})
status, doc, _ = j("POST", "/v1/keys", RW, {"name": "to-rotate"})
rot_key, rot_id = doc["key"], doc["object"]["id"]
status, doc, _ = j("POST", "/v1/keys/%s/rotate" % rot_id, RW, {"grace": "1h"})
ok(status == 201 and doc["replaces"] == rot_id and doc["object"]["name"] == "to-rotate" and
   doc["key"].startswith("kg_live_"), "rotate: 201, the successor's key and object, and replaces")
ok(doc["object"]["replaces"] == rot_id, "... the successor names the key it replaces")
ok(j("GET", "/v1/keys/" + rot_id, RW)[1]["replaced_by"] == doc["object"]["id"],
   "... and the old key its successor")
ok(j("GET", "/v1/self", rot_key)[0] == 200 and j("GET", "/v1/self", doc["key"])[0] == 200,
   "... both work during the grace")
expect("rotate with a grace over 30 days", 400, "invalid_request", "POST",
       "/v1/keys/%s/rotate" % doc["object"]["id"], RW, {"grace": "31d"})

# --- secrets again, from the store's vault (keys:reveal) ---
succ_key, succ_id = doc["key"], doc["object"]["id"]
REVEAL, OTHER_REVEAL = KEYS["reveal"][0], KEYS["other_reveal"][0]
before = audit_count()
status, doc, _ = j("GET", "/v1/keys/%s/secret" % succ_id, REVEAL)
ok(status == 200 and doc == {"key": succ_key}, "reveal: 200 with the very key rotate answered, and nothing else")
ok(audit_count() == before + 1, "... audited")
rec0 = json.loads(subprocess.run([KEYGATE, "--db", DB, "audit", "--json", "--limit", "1"],
                                 capture_output=True, check=True).stdout)[0]
ok(rec0["action"] == "key.reveal" and rec0["target"] == succ_id and
   rec0["actor"] == "key:" + KEYS["reveal"][1] and succ_key not in json.dumps(rec0),
   "... as key.reveal by the calling key, without the secret")
status, doc, _ = j("GET", "/v1/keys/%s/secret" % LIVE_ID, ADMIN)
ok(status == 200 and doc == {"key": LIVE}, "reveal by admin: a key made with the CLI")
expect("reveal without keys:reveal", 403, "insufficient_scope", "GET", "/v1/keys/%s/secret" % succ_id, RW)
expect("reveal another organization's key", 404, "not_found", "GET", "/v1/keys/%s/secret" % succ_id,
       OTHER_REVEAL)
expect("reveal a missing key", 404, "not_found", "GET", "/v1/keys/key_0000000000000000/secret", ADMIN)
expect("reveal with a query", 400, "invalid_request", "GET", "/v1/keys/%s/secret?x=1" % succ_id, ADMIN)
expect("reveal with a body", 400, "invalid_request", "GET", "/v1/keys/%s/secret" % succ_id, ADMIN, {"a": 1})
expect("reveal by POST", 405, "method_not_allowed", "POST", "/v1/keys/%s/secret" % succ_id, ADMIN)
j("DELETE", "/v1/keys/" + succ_id, ADMIN)
expect("reveal a revoked key: nothing kept", 404, "not_found", "GET", "/v1/keys/%s/secret" % succ_id, ADMIN)

# the plan's key limit under 8 concurrent creates: exactly the limit
def create_in(org):
    return j("POST", "/v1/keys", ADMIN, {"org": org, "name": "race"})[0]
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    results = list(ex.map(create_in, ["gamma"] * 8))
ok(sorted(results) == [201] * 3 + [403] * 5,
   "8 concurrent creates against a max of 3: exactly 3 (%s)" % sorted(results))
status, doc, _ = j("POST", "/v1/keys", ADMIN, {"org": "gamma"})
ok(status == 403 and error_code(doc) == "key_limit_reached", "... the next: 403 key_limit_reached")

# pagination is stable while keys are made
seen, cursor, made = [], "", 0
while True:
    status, doc, _ = j("GET", "/v1/keys?org=delta&limit=3" + ("&cursor=" + cursor if cursor else ""), ADMIN)
    seen += [k["id"] for k in doc["keys"]]
    j("POST", "/v1/keys", ADMIN, {"org": "delta", "name": "more"})
    made += 1
    cursor = doc["next_cursor"]
    if not cursor:
        break
ok(len(seen) == len(set(seen)) and len(seen) >= 10, "paging 10 keys by 3 while adding: none twice (%d)" % len(seen))

# --- verify ---
status, doc, _ = j("POST", "/v1/verify", VERIFY, {"key": LIVE, "path": "/v1/items"})
ok(status == 200 and doc["valid"] is True and doc["status"] == 200 and doc["code"] == "ok" and
   doc["key"]["id"] == LIVE_ID and doc["org"]["id"] == "acme", "verify: the decision for a good key")
status, doc, _ = j("POST", "/v1/verify", VERIFY, {"key": "kg_live_" + "B" * 38})
ok(status == 200 and doc["valid"] is False and doc["status"] == 401 and doc["code"] == "invalid_api_key",
   "verify: 200 with the denial for a bad key")
status, doc, _ = j("POST", "/v1/verify", VERIFY, {"key": LIVE, "path": "/admin/x"})
ok(status == 200 and doc["status"] == 403, "verify: the route rules apply to the verified key")
expect("verify without a key field", 400, "invalid_request", "POST", "/v1/verify", VERIFY, {"path": "/"})
expect("verify with an unknown field", 400, "invalid_request", "POST", "/v1/verify", VERIFY,
       {"key": LIVE, "extra": 1})

# --- admin: orgs, plans, credits, audit ---
status, doc, _ = j("PUT", "/v1/plans/api-plan", ADMIN, {"rate": "10/s", "quota": "1000/month", "max_keys": 4})
ok(status == 201 and doc["name"] == "api-plan" and doc["max_keys"] == 4, "PUT a new plan: 201")
status, doc, _ = j("PUT", "/v1/plans/api-plan", ADMIN, {"max_keys": None})
ok(status == 200 and doc["max_keys"] is None and doc["rate"] == "10/s", "PUT changes only the fields given")
status, doc, _ = j("POST", "/v1/orgs", ADMIN, {"id": "newco", "plan": "api-plan", "name": "New Co"})
ok(status == 201 and doc["id"] == "newco" and doc["plan"] == "api-plan", "POST /v1/orgs: 201")
expect("the same org again", 409, "conflict", "POST", "/v1/orgs", ADMIN, {"id": "newco", "plan": "api-plan"})
status, doc, _ = j("PATCH", "/v1/orgs/newco", ADMIN, {"suspended": True})
ok(status == 200 and doc["state"] == "suspended", "PATCH: suspended")
expect("a plan in use cannot be deleted", 409, "conflict", "DELETE", "/v1/plans/api-plan", ADMIN)
status, doc, _ = j("POST", "/v1/orgs/payg/credits", ADMIN, {"amount": 50})
ok(status == 200 and doc["balance"] == 50, "credits +50: the new balance (%s)" % doc)
expect("taking back more than the balance", 409, "conflict", "POST", "/v1/orgs/payg/credits", ADMIN,
       {"amount": -51})
status, doc, _ = j("POST", "/v1/orgs/payg/credits", ADMIN, {"amount": -20})
ok(status == 200 and doc["balance"] == 30, "credits -20: 30")
expect("a fractional amount", 400, "invalid_request", "POST", "/v1/orgs/payg/credits", ADMIN, {"amount": 1.5})
status, doc, _ = j("GET", "/v1/audit?limit=5", ADMIN)
actions = [r["action"] for r in doc["records"]]
ok(status == 200 and actions[0] == "org.credit" and doc["records"][0]["actor"] == "key:" + KEYS["admin"][1],
   "audit: the newest first, with the calling key as actor (%s)" % actions[:3])
ok(all(r["remote"] == "127.0.0.1" for r in doc["records"]), "... and its address")

# --- usage ---
status, doc, _ = j("GET", "/v1/usage?from=2026-11-01&to=2026-11-30", RO)
ok(status == 200 and doc["org"] == "acme" and len(doc["days"]) == 30, "usage: one day a row")
expect("usage, from after to", 400, "invalid_request", "GET", "/v1/usage?from=2026-11-30&to=2026-11-01", RO)
expect("usage, 401 days", 400, "invalid_request", "GET", "/v1/usage?from=2025-01-01&to=2026-02-05", RO)
expect("usage of another org", 404, "not_found", "GET", "/v1/usage?org=beta", RO)

# --- GET /metrics: by scope, or by address (the second keygate-api: metrics-allow = 10.9.0.0/16 ::1) ---
METRICS_TYPE = "text/plain; version=0.0.4"
status, hdrs, text = call("GET", "/metrics", ADMIN)
ok(status == 200 and hdrs.get("content-type") == METRICS_TYPE and
   b'keygate_requests_total{program="keygate-api",status="200",code="ok"}' in text,
   "GET /metrics with an admin key: 200, %s, keygate-api's counts (%d %s)"
   % (METRICS_TYPE, status, hdrs.get("content-type")))
ok(text.endswith(b"\n") and not text.endswith(b"\n\n"), "... the text as keygate metrics prints it")
def api_ok_count(sock=SOCK):
    text = call("GET", "/metrics", ADMIN, sock=sock)[2].decode()
    for line in text.splitlines():
        if line.startswith('keygate_requests_total{program="keygate-api",status="200",code="ok"} '):
            return int(line.split()[1])
    return -1
before = api_ok_count()
for _ in range(5):
    j("GET", "/v1/health")
after = api_ok_count()
# the five and the first GET /metrics; the second is counted once answered
ok(after == before + 6, "... counted as other answers: 5 health checks and a scrape later, %d -> %d" % (before, after))
expect("GET /metrics with a keys:write key", 403, "insufficient_scope", "GET", "/metrics", RW)
status, doc, hdrs = expect("GET /metrics without a key, no metrics-allow", 401, "missing_api_key", "GET", "/metrics")
ok(hdrs.get("www-authenticate", "").startswith("Bearer realm="), "... with WWW-Authenticate")
expect("GET /metrics with a bad key", 401, "invalid_api_key", "GET", "/metrics", "kg_live_" + "C" * 38)
status, doc, hdrs = expect("POST /metrics", 405, "method_not_allowed", "POST", "/metrics", ADMIN)
ok(hdrs.get("allow") == "GET, HEAD", "... Allow: GET, HEAD (%s)" % hdrs.get("allow"))
status, hdrs, text = call("HEAD", "/metrics", ADMIN)
ok(status == 200 and hdrs.get("content-type") == METRICS_TYPE, "HEAD /metrics: 200")
expect("GET /metrics?x=1", 400, "invalid_request", "GET", "/metrics?x=1", ADMIN)
expect("GET /metrics with a body", 400, "invalid_request", "GET", "/metrics", ADMIN, {"a": 1})
for path in ("/metrics/", "/v1/metrics", "/metrics/x", "//metrics", "/Metrics"):
    expect("GET %s" % path, 404, "not_found", "GET", path, ADMIN)
M = os.environ["API_SOCK_METRICS"]
for addr, want in [("10.9.1.2", 200), ("10.9.255.255", 200), ("::ffff:10.9.0.1", 200), ("::1", 200),
                   ("10.8.0.1", 401), ("10.10.0.1", 401), ("127.0.0.1", 401), ("", 401),
                   ("10.9.1.2 ", 401), ("::2", 401)]:
    status, hdrs, text = call("GET", "/metrics", headers={"REMOTE_ADDR": addr}, sock=M)
    ok(status == want, "metrics-allow 10.9.0.0/16 ::1, no key, from '%s': %d (%d)" % (addr, want, status))
status, hdrs, text = call("GET", "/metrics", RW, headers={"REMOTE_ADDR": "10.9.1.2"}, sock=M)
ok(status == 200, "from an allowed address the key is not read: 200 with a keys:write key (%d)" % status)
status, hdrs, text = call("GET", "/metrics", "kg_live_" + "D" * 38, headers={"REMOTE_ADDR": "10.9.1.2"}, sock=M)
ok(status == 200, "... nor a bad one (%d)" % status)
status, doc, _ = j("GET", "/v1/self", headers={"REMOTE_ADDR": "10.9.1.2"}, sock=M)
ok(status == 401, "metrics-allow opens /metrics only: /v1/self without a key is 401 (%d)" % status)
status, hdrs, text = call("GET", "/metrics", ADMIN, headers={"REMOTE_ADDR": "192.0.2.1"}, sock=M)
ok(status == 200, "elsewhere an admin key still reads it (%d)" % status)

print("# %d passed, %d failed" % (PASS, FAIL))
sys.exit(min(FAIL, 99))
