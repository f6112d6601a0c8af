#!/usr/bin/env python3
"""A proxied HTTP backend for the server tests: answers every request 200
with what it received, one item a line:

    method GET
    uri /v1/x
    header X-Keygate-Org-Id: acme

Usage: echo-backend.py PORTFILE -- binds 127.0.0.1 on a port the kernel
picks and writes the port number to PORTFILE once it listens."""
import http.server
import os
import sys


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        lines = ["method %s" % self.command, "uri %s" % self.path]
        lines += ["header %s: %s" % (k, v) for k, v in self.headers.items()]
        body = ("\n".join(lines) + "\n").encode("utf-8", "replace")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = answer

    def log_message(self, fmt, *args):
        pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
