#!/usr/bin/env python3
"""A FastCGI responder for the server tests: answers every request 200
with the params it received, one a line ("param ORG_ID=acme").

Usage: fcgi-echo.py PORTFILE -- listens on 127.0.0.1 on a port the kernel
picks and writes the port number to PORTFILE once it listens."""
import os
import socket
import struct
import sys
import threading

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_record(conn):
    _ver, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", read_exact(conn, 8))
    content = read_exact(conn, clen)
    read_exact(conn, plen)
    return rtype, rid, content


def record(rtype, rid, content):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def length(data, i):
    if data[i] < 128:
        return data[i], i + 1
    return struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF, i + 4


def parse_params(data):
    params, i = [], 0
    while i < len(data):
        nlen, i = length(data, i)
        vlen, i = length(data, i)
        params.append((data[i:i + nlen].decode("latin-1"),
                       data[i + nlen:i + nlen + vlen].decode("latin-1")))
        i += nlen + vlen
    return params


def serve(conn):
    try:
        rid, raw = 1, b""
        while True:
            rtype, rid, content = read_record(conn)
            if rtype == PARAMS:
                raw += content
            elif rtype == STDIN and not content:
                break
        lines = ["param %s=%s" % kv for kv in sorted(parse_params(raw))]
        body = ("\n".join(lines) + "\n").encode("latin-1", "replace")
        out = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body
        msg = b""
        for i in range(0, len(out), 32768):
            msg += record(STDOUT, rid, out[i:i + 32768])
        msg += record(STDOUT, rid, b"")
        msg += record(END, rid, struct.pack(">IB3x", 0, 0))
        conn.sendall(msg)
    except (EOFError, OSError):
        pass
    finally:
        conn.close()


def main():
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(tmp, sys.argv[1])
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
