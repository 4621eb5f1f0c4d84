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
(thinned) stream and its head (through the first PAGES record).
"""
import os
import struct
import sys

PAGES_KEPT = 2
T_PAGES, T_END, T_COMMIT, T_ABORT = 3, 6, 7, 8
FZ_O_PLAIN, FZ_O_RESEAL = 0x01, 0x20
HDR = struct.Struct('<IHHII')


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
        for n, data in seeds.items():
            with open(os.path.join(out, n), 'wb') as f:
                f.write(data)
            print('%s: %d bytes' % (n, len(data)))


main()
