"""bench/fcgi.py - the one FastCGI client of the benchmark's Python tools:
a request to keygate-api over its unix socket, as a web server sends it.
"""
import socket
import struct

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def rec(rtype, content=b""):
    return struct.pack(">BBHHBB", 1, rtype, 1, len(content), 0, 0) + content


def nv(name, value):
    out = b""
    for part in (name, value):
        n = len(part)
        out += bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return out + name + value


def call(sock, key, method, path, body=b""):
    params = {"REQUEST_METHOD": method, "REQUEST_URI": "/keygate" + path,
              "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
              "HTTP_X_API_KEY": key}
    if body:
        params["CONTENT_LENGTH"] = str(len(body))
        params["CONTENT_TYPE"] = "application/json"
    payload = b"".join(nv(k.encode(), v.encode()) for k, v in params.items())
    msg = rec(BEGIN, struct.pack(">HB5x", 1, 0)) + rec(PARAMS, payload) + rec(PARAMS)
    if body:
        msg += rec(STDIN, body)
    msg += rec(STDIN)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(msg)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    out, i = b"", 0
    while i + 8 <= len(buf):
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", buf[i:i + 8])
        if rtype == STDOUT:
            out += buf[i + 8:i + 8 + clen]
        i += 8 + clen + plen
    head, _, body = out.partition(b"\r\n\r\n")
    status = int(head.split(b"\r\n")[0].split()[1])
    return status, body
