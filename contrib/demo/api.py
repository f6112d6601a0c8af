#!/usr/bin/python3
"""keygate demo API: a tiny JSON API that knows nothing about keys and
trusts the identity the web server hands it after keygate said yes.

Two ways to run it:
  as a CGI program (lighttpd, Apache mod_cgi): the identity is in the
      environment (ORG_ID... under lighttpd, Org_Id... under Apache);
  as an HTTP server behind a proxy (Apache mod_proxy, nginx):
      api.py --port N   (or --port-file FILE: any free port, written there)
      the identity is in the X-Keygate-* request headers.
"""
import json
import os
import sys

# What keygate tells the backend, and where each front-end puts it.
FIELDS = [
    # JSON name, CGI env names (lighttpd, Apache), proxied header
    ("org_id", ("ORG_ID", "Org_Id"), "X-Keygate-Org-Id"),
    ("plan", ("PLAN", "Plan"), "X-Keygate-Plan"),
    ("key_id", ("KEY_ID", "Key_Id"), "X-Keygate-Key-Id"),
    ("key_mode", ("KEY_MODE", "Key_Mode"), "X-Keygate-Key-Mode"),
    ("user_id", ("USER_ID", "User_Id"), "X-Keygate-User-Id"),
    ("rate_limit_remaining", ("RATELIMIT_REMAINING", "RateLimit_Remaining"),
     "X-Keygate-RateLimit-Remaining"),
    ("quota_remaining", ("QUOTA_REMAINING", "Quota_Remaining"),
     "X-Keygate-Quota-Remaining"),
]


def answer(method, path, lookup_env, lookup_header):
    doc = {"message": "Hello from the keygate demo API.",
           "method": method, "path": path}
    for name, envs, header in FIELDS:
        value = None
        for e in envs:
            value = value or lookup_env(e)
        value = value or lookup_header(header)
        doc[name] = value or None
    return json.dumps(doc, indent=2) + "\n"


def cgi():
    body = answer(os.environ.get("REQUEST_METHOD", "GET"),
                  os.environ.get("REQUEST_URI", "/"),
                  os.environ.get, lambda h: None)
    sys.stdout.write("Status: 200 OK\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\n\r\n" + body)


def serve(port, port_file):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            body = answer(self.command, self.path, lambda e: None,
                          self.headers.get).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = reply

        def log_message(self, fmt, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


def main(argv):
    if "GATEWAY_INTERFACE" in os.environ:
        cgi()
    elif len(argv) == 3 and argv[1] == "--port":
        serve(int(argv[2]), None)
    elif len(argv) == 3 and argv[1] == "--port-file":
        serve(0, argv[2])
    else:
        sys.stderr.write("usage: api.py --port N | --port-file FILE (or run as CGI)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
