"""ledger-used.py ORG COUNTER: reads `db5.3_dump -p ledger.db` on stdin and
prints the sum of ORG's COUNTER (day, month or credits) over the records of
every counter file.  The record is keygate's version 2 ledger record: a
version byte, the type byte 'L', then LEB128 varints: the day, month and
credit quota words (period << 40 | used) and the time of the flush."""
import re
import sys


def unescape(text):
    return re.sub(rb"\\([0-9a-fA-F]{2}|\\)",
                  lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1), 16)]),
                  text)


def varints(data):
    value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            yield value
            value = shift = 0


def main():
    org = sys.argv[1].encode()
    which = {"day": 0, "month": 1, "credits": 2}[sys.argv[2]]
    lines = sys.stdin.buffer.read().split(b"\n")
    if b"HEADER=END" not in lines:
        print(0)
        return
    body = [l for l in lines[lines.index(b"HEADER=END") + 1:] if l.startswith(b" ")]
    total = 0
    for key, value in zip(body[0::2], body[1::2]):
        key, value = unescape(key[1:]), unescape(value[1:])
        if key.startswith(org + b"\0") and len(key) == len(org) + 9 and value[1:2] == b"L":
            total += list(varints(value[2:]))[which] & ((1 << 40) - 1)
    print(total)


main()
