"""Memorization: the longest passage of a generated piece found verbatim in the training pieces.

A piece is read as its melody line, the *skyline*: at each distinct onset time the highest
pitched note (in a chorale, the soprano). The line becomes a sequence of tokens
``(interval in semitones, inter-onset interval in 1/48 beats)`` between consecutive melody
notes, so a passage matches whatever its transposition, and its rhythm must match exactly.
``k`` matching tokens are a passage of ``k + 1`` notes.

All training sequences go into one suffix automaton (each followed by its own separator), built
once in time linear in their total length; each generated piece is then matched in time linear
in its own length. 350 chorales take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

from tunesmith.music import Piece

__all__ = ["MelodyIndex", "longest_copied_passage", "melody_tokens", "memorization"]

TICKS_PER_BEAT = 48
"""Inter-onset intervals are rounded to this grid (covers sixteenths and triplets)."""

Token = tuple[int, int]


def melody_tokens(piece: Piece) -> tuple[list[Token], list[float]]:
    """The skyline melody of ``piece`` as ``(tokens, onsets)``.

    ``onsets``: the melody's onset times in beats, ``len = m``; ``tokens``: ``len = m - 1``, each
    ``(pitch[i+1] - pitch[i], round((onset[i+1] - onset[i]) * TICKS_PER_BEAT))``. Drums ignored.
    """
    top: dict[int, tuple[float, int]] = {}
    for track in piece.tracks:
        if track.is_drum:
            continue
        for n in track.notes:
            tick = round(n.time * TICKS_PER_BEAT)
            if tick not in top or n.pitch > top[tick][1]:
                top[tick] = (n.time, n.pitch)
    line = [top[t] for t in sorted(top)]
    tokens = [(b[1] - a[1], round((b[0] - a[0]) * TICKS_PER_BEAT)) for a, b in zip(line, line[1:])]
    return tokens, [t for t, _ in line]


class MelodyIndex:
    """A suffix automaton over the melody tokens of the training pieces.

    ``MelodyIndex(pieces).longest(tokens)`` finds the longest run of ``tokens`` that occurs in
    one training piece, which piece, and where it starts in both.
    """

    def __init__(self, pieces: Sequence[Piece]) -> None:
        self.names = [p.name for p in pieces]
        self._next: list[dict] = [{}]
        self._link = [-1]
        self._len = [0]
        self._end = [-1]  # an end position in the concatenated text of some occurrence
        self._owner: list[int] = []  # concatenated position -> training piece index
        self._offset: list[int] = []  # start position of each piece in the concatenated text
        last = 0
        for index, piece in enumerate(pieces):
            self._offset.append(len(self._owner))
            for symbol in [*melody_tokens(piece)[0], ("end", index)]:  # a separator of its own
                last = self._extend(last, symbol, len(self._owner))
                self._owner.append(index)

    def _extend(self, last: int, symbol: object, position: int) -> int:
        nxt, link, length, end = self._next, self._link, self._len, self._end
        cur = len(length)
        nxt.append({})
        length.append(length[last] + 1)
        link.append(0)
        end.append(position)
        p = last
        while p != -1 and symbol not in nxt[p]:
            nxt[p][symbol] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][symbol]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                clone = len(length)
                nxt.append(dict(nxt[q]))
                length.append(length[p] + 1)
                link.append(link[q])
                end.append(end[q])
                while p != -1 and nxt[p].get(symbol) == q:
                    nxt[p][symbol] = clone
                    p = link[p]
                link[q] = link[cur] = clone
        return cur

    def longest(self, tokens: Sequence[Token]) -> tuple[int, int, int, int]:
        """``(length, query_start, piece_index, start)`` of the longest run of ``tokens`` found in
        one training piece: it is ``tokens[query_start : query_start + length]``, and starts at
        token ``start`` of training piece ``piece_index``. ``(0, -1, -1, -1)`` when none matches."""
        state, length, best = 0, 0, (0, -1, -1, -1)
        nxt, link, lens, end = self._next, self._link, self._len, self._end
        for i, symbol in enumerate(tokens):
            while state and symbol not in nxt[state]:
                state = link[state]
                length = lens[state]
            if symbol in nxt[state]:
                state = nxt[state][symbol]
                length += 1
            if length > best[0]:
                stop = end[state]  # the occurrence ends at `stop`; its first token is stop - length + 1
                owner = self._owner[stop]
                best = (length, i - length + 1, owner, stop - length + 1 - self._offset[owner])
        return best


def longest_copied_passage(piece: Piece, index: MelodyIndex) -> dict[str, float | int | str]:
    """The longest melody passage of ``piece`` found (transposed or not) in ``index``'s pieces.

    Returns ``notes`` (passage length in notes: matched tokens + 1, or 0/1 for a line of 0/1
    notes), ``beats`` (from the passage's first to its last onset), ``source`` (the training
    piece's name, "" when nothing matched) and ``start_beat`` (where the passage starts in
    ``piece``).
    """
    tokens, onsets = melody_tokens(piece)
    length, start, owner, _ = index.longest(tokens)
    if length == 0:
        return {"notes": min(len(onsets), 1), "beats": 0.0, "source": "", "start_beat": 0.0}
    return {
        "notes": length + 1,
        "beats": float(onsets[start + length] - onsets[start]),
        "source": index.names[owner],
        "start_beat": float(onsets[start]),
    }


def memorization(generated: Sequence[Piece], train: Sequence[Piece], *, min_notes: int = 16) -> dict:
    """Longest copied passage of every generated piece against the training pieces.

    Returns ``pieces`` (one :func:`longest_copied_passage` dict per generated piece, with its
    ``name``), ``max_notes``, ``mean_notes``, ``max_beats``, ``mean_beats`` and ``copied_rate``:
    the share of pieces whose longest copied passage has at least ``min_notes`` notes.
    """
    index = MelodyIndex(train)
    rows = [{"name": p.name, **longest_copied_passage(p, index)} for p in generated]
    notes, beats = [r["notes"] for r in rows], [r["beats"] for r in rows]
    count = max(len(rows), 1)
    return {
        "pieces": rows,
        "max_notes": max(notes, default=0),
        "mean_notes": sum(notes) / count,
        "max_beats": max(beats, default=0.0),
        "mean_beats": sum(beats) / count,
        "copied_rate": sum(n >= min_notes for n in notes) / count,
        "min_notes": min_notes,
    }
