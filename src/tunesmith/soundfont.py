"""SoundFont repair for symusic 0.5.x's synthesizer.

symusic 0.5.x ignores two SoundFont generators, ``overridingRootKey`` (58) and ``coarseTune``
(51), so most General MIDI instruments of TimGM6mb and FluidR3_GM sound semitones off key
(symusic issue #55; TimGM6mb's piano A4 came out 23 semitones sharp). ``fix_root_keys`` moves
what those generators say into the sample headers, which symusic does read. The SF2 layout
(RIFF chunks, ``pdta`` with ``inst``/``ibag``/``igen``/``shdr``) is that of the SoundFont 2.04
specification; a header record is 46 bytes with ``byOriginalPitch`` at offset 40.
"""

from __future__ import annotations

import struct
from pathlib import Path

from .errors import DataError


def _riff_chunks(data: bytes | bytearray, start: int, end: int):
    while start + 8 <= end:
        cid, size = struct.unpack_from("<4sI", data, start)
        yield cid, start, size
        start += 8 + size + (size & 1)


def fix_root_keys(data: bytes, *, source: str | Path = "<soundfont>") -> bytes:
    """Return SF2/SF3 bytes that symusic 0.5.x plays in tune (other synthesizers hear no change).

    symusic 0.5.x skips the generators ``overridingRootKey`` (58) and ``coarseTune`` (51), so most
    instruments of TimGM6mb and FluidR3_GM sound semitones off key (symusic issue #55). Each zone
    that sets them gets a copy of its sample header with ``byOriginalPitch`` = root - coarse tune.
    """
    out = bytearray(data)
    try:
        pdta = next(o for c, o, _ in _riff_chunks(out, 12, len(out)) if c == b"LIST" and out[o + 8 : o + 12] == b"pdta")
        pdta_size = struct.unpack_from("<I", out, pdta + 4)[0]
        sub = {c.decode("latin-1"): (o + 8, s) for c, o, s in _riff_chunks(out, pdta + 12, pdta + 8 + pdta_size)}
        shdr_at, shdr_size = sub["shdr"]
        headers = [bytes(out[shdr_at + i : shdr_at + i + 46]) for i in range(0, shdr_size - 45, 46)]
        copies = _retune_zones(out, sub, headers)
    except (StopIteration, KeyError, IndexError, struct.error) as exc:
        raise DataError(source, f"not a readable SoundFont ({type(exc).__name__} {exc} in its preset data)") from exc
    extra = [headers[s][:40] + bytes([root]) + headers[s][41:] for s, root in copies]
    shdr = b"".join(headers[:-1] + extra + headers[-1:])  # the last header is the terminal "EOS"
    out[shdr_at : shdr_at + shdr_size] = shdr
    struct.pack_into("<I", out, shdr_at - 4, len(shdr))
    struct.pack_into("<I", out, pdta + 4, pdta_size + len(shdr) - shdr_size)
    struct.pack_into("<I", out, 4, len(out) - 8)
    return bytes(out)


def _retune_zones(out: bytearray, sub: dict[str, tuple[int, int]], headers: list[bytes]) -> dict[tuple[int, int], int]:
    """Rewrite the instrument zones of ``out`` in place; return ``{(sample, root): new sample index}``."""
    inst = [struct.unpack_from("<H", out, sub["inst"][0] + i + 20)[0] for i in range(0, sub["inst"][1], 22)]
    ibag = [struct.unpack_from("<H", out, sub["ibag"][0] + i)[0] for i in range(0, sub["ibag"][1], 4)]
    copies: dict[tuple[int, int], int] = {}
    for first_bag, end_bag in zip(inst[:-1], inst[1:]):
        global_root = None
        for bag in range(first_bag, end_bag):
            at = [sub["igen"][0] + 4 * g for g in range(ibag[bag], ibag[bag + 1])]
            gens = {op: (a, amount) for a in at for op, amount in [struct.unpack_from("<Hh", out, a)]}
            if 53 not in gens:  # a zone without a sample is the instrument's global zone
                global_root = gens.get(58, (0, None))[1] if bag == first_bag else global_root
                continue
            sample = gens[53][1] & 0xFFFF
            override = gens.get(58, (0, global_root))[1]
            if (override is None and 51 not in gens) or sample >= len(headers) - 1:
                continue
            own = headers[sample][40] if headers[sample][40] <= 127 else 60  # 255 = unpitched: read as 60
            root = override if override is not None and 0 <= override <= 127 else own
            root = min(127, max(0, root - gens.get(51, (0, 0))[1]))
            for op in {51, 58} & gens.keys():  # coarse tune -> 0, root key override -> the new root
                struct.pack_into("<Hh", out, gens[op][0], op, 0 if op == 51 else root)
            if root != own:
                copies.setdefault((sample, root), len(headers) - 1 + len(copies))
                struct.pack_into("<HH", out, gens[53][0], 53, copies[(sample, root)])
    return copies
