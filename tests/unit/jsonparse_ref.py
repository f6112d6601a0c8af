#!/usr/bin/env python3
# tests/unit/jsonparse_ref.py - Python's json module as the reference for
# tests/unit/test_jsonparse.c's differential check.
#
#   jsonparse_ref.py DEPTH_MAX VALUES_MAX STRING_MAX INPUT_MAX < docs
#
# Reads one document per line, hex-encoded, and answers one line each:
#   OK <tree>        Python accepts it and so must src/jsonparse.c, with
#                    the same tree (the form is described at canon())
#   REFUSE <why,...> Python accepts it where src/jsonparse.c refuses on
#                    purpose; the reasons, each one of:
#                      constant   NaN, Infinity, -Infinity: not RFC 8259
#                      duplicate  a member name twice in one object
#                      surrogate  a lone or reversed \u surrogate
#                      nul        a NUL in a string or name (C strings)
#                      depth      nested deeper than DEPTH_MAX
#                      values     more than VALUES_MAX values
#                      string     a string longer than STRING_MAX bytes
#                      size       longer than INPUT_MAX bytes
#   ERR              Python refuses it, and so must src/jsonparse.c
#
# The bytes are decoded as strict UTF-8 first: json.loads() on bytes
# would also take UTF-16 and UTF-32, and 'surrogatepass' UTF-8.  Python
# keeps the numbers' text here (parse_int, parse_float) so that neither
# its float conversion nor its int digit limit hides a difference.
import json
import sys


class Num(str):
    pass


class Const(str):
    pass


class Obj(list):
    """An object as its (name, value) pairs in order: duplicates kept."""


def hexs(s):
    return s.encode("utf-8", "surrogatepass").hex()


def canon(v):
    """n t f, #text for a number, s<hex>; for a string, [a,b] and
    {<hex>:v,...} (names as hex UTF-8, members in document order)."""
    if v is None:
        return "n"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, (Num, Const)):
        return "#" + v
    if isinstance(v, str):
        return "s" + hexs(v) + ";"
    if not isinstance(v, Obj):
        return "[" + ",".join(canon(x) for x in v) + "]"
    return "{" + ",".join(hexs(k) + ":" + canon(x) for k, x in v) + "}"


def reasons(v, limits, depth=0):
    depth_max, _, string_max = limits
    out = set()
    count = 1

    def text(s):
        r = set()
        if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
            r.add("surrogate")
        if "\0" in s:
            r.add("nul")
        elif len(s.encode("utf-8", "surrogatepass")) > string_max:
            r.add("string")
        return r

    if isinstance(v, Const):
        out.add("constant")
    elif isinstance(v, Num) or v is None or isinstance(v, bool):
        pass
    elif isinstance(v, str):
        out |= text(v)
    else:
        if depth + 1 > depth_max:
            out.add("depth")
        if not isinstance(v, Obj):
            children = v
        else:
            names = [k for k, _ in v]
            if len(set(names)) != len(names):
                out.add("duplicate")
            for k in names:
                out |= text(k)
            children = [x for _, x in v]
        for x in children:
            r, n = reasons(x, limits, depth + 1)
            out |= r
            count += n
    return out, count


def main():
    depth_max, values_max, string_max, input_max = map(int, sys.argv[1:5])
    for line in sys.stdin:
        doc = bytes.fromhex(line.strip())
        try:
            text = doc.decode("utf-8")
            v = json.loads(text, object_pairs_hook=Obj, parse_int=Num,
                           parse_float=Num, parse_constant=Const)
        except RecursionError:
            print("REFUSE depth")
            continue
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            print("ERR")
            continue
        why, count = reasons(v, (depth_max, values_max, string_max))
        if count > values_max:
            why.add("values")
        if len(doc) > input_max:
            why.add("size")
        if why:
            print("REFUSE " + ",".join(sorted(why)))
        else:
            print("OK " + canon(v))


main()
