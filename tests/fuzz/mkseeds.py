#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns streams recorded by tests/fuzz/record.sh into fuzz_recv seeds.

    tests/fuzz/mkseeds.py OUTDIR STREAM...

Each seed is fuzz_recv's input: the mode byte the source sends after the
TLS handshake ('E', or 'P' with the listener's plaintext option), an
options byte (fuzz_recv.c, FZ_O_*), then stream bytes.  A recording keeps
its records as received, but every PAGES record keeps only its first
PAGES_KEPT pages (count and length adjusted) so that seeds stay small;
a complete stream is marked FZ_O_RESEAL, the fuzzer then gives its END
the digest and counts of the thinned stream.  Per recording: the whole
(thinned) stream; for a migration also its head (through the first PAGES
record); for the first migration also the same without reseal (END's
digest refused) and with its HOLE ranges sent as ZERO gfns.  The destination's answers to the first
migration (ACCEPT, READY, RESUMED; ACCEPT of a check; an ERROR) are built
from docs/PROTOCOL.md: the recordings are the destination's side only.
"""
import os
import struct
import sys

PAGES_KEPT = 2
ZERO_KEPT = 64
T_HELLO, T_PAGES, T_ZERO, T_END, T_COMMIT, T_ABORT, T_HOLE = 1, 3, 4, 6, 7, 8, 10
T_ACCEPT, T_READY, T_ERROR, T_RESUMED = 0x81, 0x82, 0x83, 0x84
FZ_O_PLAIN, FZ_O_DEST, FZ_O_CHECK, FZ_O_RESEAL = 0x01, 0x08, 0x10, 0x20
MAGIC = 0x52474d4b
HDR = struct.Struct('<IHHII')


def rec(typ, payload, flags=0, count=0):
    return HDR.pack(MAGIC, typ, flags, len(payload), count) + payload


def hole_as_zero(typ, flags, count, payload, raw):
    """A HOLE record as ZERO gfns (its first ZERO_KEPT pages): a source may
    send zero pages either way."""
    if typ != T_HOLE:
        return thin(typ, flags, count, payload, raw)
    gfns = []
    for i in range(count):
        gfn, n = struct.unpack_from('<QQ', payload, 16 * i)
        gfns += range(gfn, gfn + min(n, ZERO_KEPT - len(gfns)))
    return rec(T_ZERO, b''.join(struct.pack('<Q', g) for g in gfns), count=len(gfns))


def answers(session):
    """What a destination answers (docs/PROTOCOL.md), for the source's
    decoder: these are built from the specification, not recorded."""
    accept = struct.pack('<IIQ', 1, 0, 3) + session
    ready = struct.pack('<QQ', 0x1234567890abcdef, 75)
    resumed = struct.pack('<IHHQQQQ', 3, 0, 0, 2048, 0, 5000, 12000)
    msg = b'cpu: avx512f missing here\nmemory: 4096 MiB needed, 1024 MiB available'
    error = struct.pack('<II', 6, 0) + msg
    return {
        'answers-migration': bytes([0, FZ_O_DEST]) + rec(T_ACCEPT, accept) +
        rec(T_READY, ready) + rec(T_RESUMED, resumed),
        'answers-check': bytes([0, FZ_O_DEST | FZ_O_CHECK]) + rec(T_ACCEPT, accept),
        'answers-refused': bytes([0, FZ_O_DEST]) + rec(T_ERROR, error),
    }


def records(b):
    off = 0
    while off + HDR.size <= len(b):
        magic, typ, flags, length, count = HDR.unpack_from(b, off)
        end = off + HDR.size + length
        if end > len(b):
            raise SystemExit('mkseeds: a record is cut at byte %d' % off)
        yield typ, flags, count, b[off + HDR.size:end], b[off:end]
        off = end


def thin(typ, flags, count, payload, raw):
    if typ != T_PAGES or count <= PAGES_KEPT:
        return raw
    gfns = payload[:8 * PAGES_KEPT]
    pages = payload[8 * count:8 * count + 4096 * PAGES_KEPT]
    body = gfns + pages
    return HDR.pack(0x52474d4b, typ, flags, len(body), PAGES_KEPT) + body


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seen = {}
    for path in sys.argv[2:]:
        recs = list(records(open(path, 'rb').read()))
        types = [r[0] for r in recs]
        kind = ('migration' if T_COMMIT in types else 'aborted' if T_ABORT in types
                else 'check')
        seen[kind] = seen.get(kind, 0) + 1
        name = str(seen[kind])
        whole = b''.join(thin(*r) for r in recs)
        opt = FZ_O_RESEAL if T_END in types else 0
        seeds = {'%s-%s' % (kind, name): b'E' + bytes([opt]) + whole}
        if kind == 'check':
            seeds['check-plain-%s' % name] = b'P' + bytes([FZ_O_PLAIN]) + whole
        if kind == 'migration':
            head = b''.join(thin(*r) for r in recs[:types.index(T_PAGES) + 1])
            seeds['head-%s-%s' % (kind, name)] = b'E\x00' + head
        if kind == 'migration' and name == '1':
            # the digest as recorded does not fit the thinned stream: END refused
            seeds['%s-%s-digest' % (kind, name)] = b'E\x00' + whole
            if T_HOLE in types:
                zero = b''.join(hole_as_zero(*r) for r in recs)
                seeds['%s-%s-zero' % (kind, name)] = b'E' + bytes([FZ_O_RESEAL]) + zero
            seeds.update(answers(recs[0][3][32:48]))
        for n, data in seeds.items():
            with open(os.path.join(out, n), 'wb') as f:
                f.write(data)
            print('%s: %d bytes' % (n, len(data)))


main()
