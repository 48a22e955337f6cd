"""A blind listening test served on this machine: listeners rate shuffled real and generated clips.

The clips of both sets are decoded (MIDI rendered first) and rewritten as one common format,
16-bit stereo WAV at one sample rate with the same peak level, so neither the URL (an opaque
id), the file type, the sample rate nor the loudness tells a listener where a clip comes from.
Each answer is one SQLite upsert in WAL mode on a connection of its own, so answers survive a
stopped or crashed server and several listeners may answer at once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import random
import secrets
import socket
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..audio.io import AUDIO_SUFFIXES
from ..errors import ConfigError, DataError
from ..utils import atomic_write

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi")
SETS = ("real", "generated")
PEAK = 10 ** (-1 / 20)  # every clip peaks at -1 dBFS
MAX_BODY = 4096

SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    id TEXT PRIMARY KEY, source TEXT NOT NULL CHECK (source IN ('real', 'generated')), path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS listeners (id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    listener TEXT NOT NULL REFERENCES listeners(id),
    clip TEXT NOT NULL REFERENCES clips(id),
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    says_real INTEGER NOT NULL CHECK (says_real IN (0, 1)),
    answered REAL NOT NULL,
    UNIQUE (listener, clip));
"""
UPSERT = """
INSERT INTO answers (listener, clip, rating, says_real, answered) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (listener, clip) DO UPDATE SET
    rating = excluded.rating, says_real = excluded.says_real, answered = excluded.answered
"""


@dataclass(frozen=True)
class Clip:
    """One clip of the test: an opaque ``id``, its set (``real``/``generated``), its source file
    and the normalized WAV that is served."""

    id: str
    source: str
    path: Path
    audio: Path


# ----------------------------------------------------------------------------- clips


def find_music(folder: str | Path) -> list[Path]:
    """Audio (.wav .flac .ogg .mp3) and MIDI (.mid .midi) files under ``folder``, recursively, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "not a folder; give a folder of audio (.wav .flac .ogg .mp3) or MIDI files")
    suffixes = AUDIO_SUFFIXES + MIDI_SUFFIXES
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise DataError(folder, f"no audio or MIDI files ({' '.join(suffixes)}) in this folder")
    return files


def clip_id(source: str, path: Path) -> str:
    """A stable, opaque id for ``path`` in set ``source``: it names neither the set nor the file."""
    return hashlib.sha256(f"{source}\0{Path(path).resolve()}".encode()).hexdigest()[:16]


def prepare_clips(
    real: str | Path,
    generated: str | Path,
    *,
    cache: str | Path,
    sr: int = 44100,
    seconds: float | None = None,
    soundfont: str | Path | None = None,
) -> list[Clip]:
    """Every file of both folders as a :class:`Clip` whose audio is a normalized WAV in ``cache``.

    MIDI files are rendered with :func:`tunesmith.synthesis.render` first. Each clip becomes 16-bit
    stereo PCM at ``sr`` Hz peaking at -1 dBFS, cut to its first ``seconds`` when given. Prepared
    clips are reused while their source file is unchanged.
    """
    clips = []
    for source, folder in zip(SETS, (real, generated)):
        for path in find_music(folder):
            cid = clip_id(source, path)
            clips.append(Clip(cid, source, path, _normalized(path, cid, Path(cache), sr, seconds, soundfont)))
    return clips


def _normalized(path: Path, cid: str, cache: Path, sr: int, seconds: float | None, soundfont) -> Path:
    """The cached common-format WAV of ``path``, made when missing or stale."""
    stat = path.stat()
    key = hashlib.sha256(f"{cid}\0{stat.st_mtime_ns}\0{stat.st_size}\0{sr}\0{seconds}".encode()).hexdigest()[:16]
    out = cache / f"{key}.wav"
    if out.is_file():
        return out
    source = path
    if path.suffix.lower() in MIDI_SUFFIXES:
        from ..synthesis import render

        source = render(path, cache / f"{key}-midi.wav", soundfont=soundfont, sample_rate=sr)
    audio = load_clip(source, sr=sr, seconds=seconds)
    if source != path:
        source.unlink(missing_ok=True)
    return atomic_write(out, partial(_write_wav, audio=audio, sr=sr))


def load_clip(path: str | Path, *, sr: int, seconds: float | None = None) -> np.ndarray:
    """Decode an audio file to float32 stereo at ``sr`` Hz peaking at -1 dBFS, ``shape=(n, 2)``."""
    import soundfile

    try:
        audio, file_sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise DataError(path, f"cannot decode this audio file ({exc}); convert it to WAV or FLAC") from exc
    if seconds:
        audio = audio[: int(round(seconds * file_sr))]
    if len(audio) == 0:
        raise DataError(path, "the audio file holds no samples")
    audio = audio[:, :2] if audio.shape[1] >= 2 else np.repeat(audio, 2, axis=1)
    if file_sr != sr:
        import librosa

        audio = librosa.resample(audio.T, orig_sr=file_sr, target_sr=sr).T
    peak = float(np.max(np.abs(audio)))
    return (audio * (PEAK / peak) if peak > 0 else audio).astype(np.float32)


def _write_wav(tmp: Path, *, audio: np.ndarray, sr: int) -> None:
    import soundfile

    soundfile.write(str(tmp), audio, sr, subtype="PCM_16", format="WAV")


def listener_order(listener: str, clip_ids: list[str]) -> list[str]:
    """The clips in this listener's own shuffled order (seeded by the listener id, so it is stable)."""
    order = sorted(clip_ids)
    random.Random(int(hashlib.sha256(listener.encode()).hexdigest(), 16)).shuffle(order)
    return order


# ----------------------------------------------------------------------------- answers store


def connect(db: str | Path) -> sqlite3.Connection:
    """A new connection to the answers database (one per request: sqlite3 connections are not shared)."""
    conn = sqlite3.connect(str(db), timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")  # every committed answer is on disk
    return conn


def init_store(db: str | Path, clips: list[Clip]) -> None:
    """Create the tables (WAL mode) if missing and record each clip's set."""
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    with closing(connect(db)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        with conn:
            conn.executescript(SCHEMA)
            conn.executemany(
                "INSERT INTO clips (id, source, path) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET source = excluded.source, path = excluded.path",
                [(c.id, c.source, str(c.path)) for c in clips],
            )


def add_listener(db: str | Path, name: str) -> str:
    """Register a listener and return their id: the same name always gets the same id (and so
    continues where it left off); an empty name gets a new random id."""
    name = " ".join(name.split())[:80]
    lid = hashlib.sha256(name.casefold().encode()).hexdigest()[:12] if name else secrets.token_hex(6)
    with closing(connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO listeners (id, name, created) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (lid, name or f"anonymous-{lid}", time.time()),
        )
    return lid


def save_answer(db: str | Path, listener: str, clip: str, *, rating: int, says_real: bool) -> None:
    """Store (or replace) one listener's answer for one clip: one upsert, committed at once."""
    with closing(connect(db)) as conn, conn:
        conn.execute(UPSERT, (listener, clip, int(rating), int(bool(says_real)), time.time()))


def answers_of(db: str | Path, listener: str) -> dict[str, dict]:
    """``{clip id: {"rating", "real"}}`` already given by ``listener``."""
    with closing(connect(db)) as conn:
        rows = conn.execute("SELECT clip, rating, says_real FROM answers WHERE listener = ?", (listener,))
        return {clip: {"rating": rating, "real": bool(real)} for clip, rating, real in rows}


# ----------------------------------------------------------------------------- results


def summarize(db: str | Path, *, confidence: float = 0.95) -> dict:
    """Mean opinion score and "judged real" rate per set, with confidence intervals.

    Returns ``{"listeners", "answers", "generated_taken_for_real", "sets": {set: {"answers",
    "clips", "mos", "mos_ci", "judged_real", "judged_real_ci"}}}``. The MOS interval is Student's
    t over the answers (each answer counted as independent); the rate interval is Wilson's score
    interval. Intervals are None with too few answers (fewer than 2, resp. 0).
    """
    from scipy import stats

    if not Path(db).is_file():
        raise DataError(db, "no answers database here; give the --db file the listening test wrote")
    with closing(connect(db)) as conn:
        try:
            rows = conn.execute(
                "SELECT c.source, a.clip, a.listener, a.rating, a.says_real "
                "FROM answers a JOIN clips c ON a.clip = c.id"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise DataError(db, f"not a listening-test database ({exc})") from exc
    sets = {}
    for source in SETS:
        mine = [r for r in rows if r[0] == source]
        ratings = np.array([r[3] for r in mine], dtype=float)
        real = int(sum(r[4] for r in mine))
        mos_ci = None
        if len(ratings) >= 2:
            sem = stats.sem(ratings)
            lo, hi = (
                (ratings.mean(), ratings.mean())
                if sem == 0
                else stats.t.interval(confidence, len(ratings) - 1, loc=ratings.mean(), scale=sem)
            )
            mos_ci = [float(lo), float(hi)]
        rate_ci = None
        if mine:
            ci = stats.binomtest(real, len(mine)).proportion_ci(confidence_level=confidence, method="wilson")
            rate_ci = [float(ci.low), float(ci.high)]
        sets[source] = {
            "answers": len(mine),
            "clips": len({r[1] for r in mine}),
            "mos": float(ratings.mean()) if len(ratings) else None,
            "mos_ci": mos_ci,
            "judged_real": real / len(mine) if mine else None,
            "judged_real_ci": rate_ci,
        }
    generated = sets["generated"]
    return {
        "listeners": len({r[2] for r in rows}),
        "answers": len(rows),
        "confidence": confidence,
        "generated_taken_for_real": {"rate": generated["judged_real"], "ci": generated["judged_real_ci"]},
        "sets": sets,
    }


def format_summary(summary: dict) -> str:
    """The summary of :func:`summarize` as a few lines of text."""

    def num(x, fmt):
        return "n/a" if x is None else format(x, fmt)

    def interval(ci, fmt):
        return "" if ci is None else f" [{num(ci[0], fmt)}, {num(ci[1], fmt)}]"

    level = f"{summary['confidence']:.0%}"
    lines = [f"{summary['listeners']} listeners, {summary['answers']} answers ({level} intervals)"]
    for source, s in summary["sets"].items():
        lines.append(
            f"{source:9s}  MOS {num(s['mos'], '.2f')}{interval(s['mos_ci'], '.2f')}  "
            f"judged real {num(s['judged_real'], '.0%')}{interval(s['judged_real_ci'], '.0%')}  "
            f"({s['answers']} answers on {s['clips']} clips)"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- server


def check_loopback(host: str) -> None:
    """Raise ConfigError unless ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"--host {host}: the listening test serves this machine only; use 127.0.0.1, ::1 or localhost"
        )


class ListeningServer(ThreadingHTTPServer):
    """The listening test's HTTP server: one thread per request, answers in SQLite at ``db``."""

    daemon_threads = True

    def __init__(self, host: str, port: int, *, db: Path, clips: list[Clip]) -> None:
        check_loopback(host)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.db = Path(db)
        self.clips = {c.id: c for c in clips}
        init_store(self.db, clips)
        try:
            super().__init__((host, port), ListeningHandler)
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(f"cannot serve on {host} port {port} ({reason}); choose another --port") from exc

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    real: str | Path,
    generated: str | Path,
    *,
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    seconds: float | None = None,
) -> ListeningServer:
    """Prepare the clips (cached in ``DB-clips/`` beside ``db``) and bind the server; the caller
    runs ``serve_forever()`` and finally ``shutdown()`` / ``server_close()``."""
    check_loopback(host)
    db = Path(db)
    clips = prepare_clips(real, generated, cache=db.parent / f"{db.stem}-clips", seconds=seconds)
    return ListeningServer(host, port, db=db, clips=clips)


class ListeningHandler(BaseHTTPRequestHandler):
    """Routes: ``GET /``, ``GET /api/clips?listener=ID``, ``GET /clip/ID``, ``POST /api/listener``
    (``{"name"}``), ``POST /api/answer`` (``{"listener", "clip", "rating": 1-5, "real": bool}``)."""

    server: ListeningServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path == "/":
            from .templates.listen_page import PAGE

            self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
        elif url.path == "/api/clips":
            listener = parse_qs(url.query).get("listener", [""])[0]
            if not listener:
                return self._json({"error": "listener is missing"}, HTTPStatus.BAD_REQUEST)
            answered = {k: v for k, v in answers_of(self.server.db, listener).items() if k in self.server.clips}
            self._json({"clips": listener_order(listener, list(self.server.clips)), "answered": answered})
        elif url.path.startswith("/clip/") and url.path[6:] in self.server.clips:
            self._send_file(self.server.clips[url.path[6:]].audio)
        else:
            self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = self._body()
        except ValueError as exc:
            return self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        if self.path == "/api/listener":
            name = body.get("name", "")
            if not isinstance(name, str):
                return self._json({"error": "name must be a string"}, HTTPStatus.BAD_REQUEST)
            self._json({"listener": add_listener(self.server.db, name)})
        elif self.path == "/api/answer":
            listener, clip, rating, real = (body.get(k) for k in ("listener", "clip", "rating", "real"))
            if clip not in self.server.clips:
                return self._json({"error": "unknown clip"}, HTTPStatus.NOT_FOUND)
            if type(rating) is not int or not 1 <= rating <= 5 or type(real) is not bool:
                return self._json({"error": "rating must be 1-5 and real true or false"}, HTTPStatus.BAD_REQUEST)
            try:
                save_answer(self.server.db, str(listener), clip, rating=rating, says_real=real)
            except sqlite3.IntegrityError:
                return self._json({"error": "unknown listener; start again"}, HTTPStatus.BAD_REQUEST)
            self._json({"ok": True})
        else:
            self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            raise ValueError(f"a JSON body of 1 to {MAX_BODY} bytes is expected")
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    def _json(self, value: dict, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: HTTPStatus, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_file(self, path: Path) -> None:
        """Serve a WAV, honouring a single ``Range: bytes=a-b`` so the player can seek."""
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes=") and "," not in spec:
            first, _, last = spec[6:].partition("-")
            try:
                start, end = (int(first), int(last) if last else end) if first else (len(data) - int(last), end)
            except ValueError:
                start, end = 0, len(data) - 1
            if not 0 <= start <= end < len(data):
                return self._send(
                    HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                    b"",
                    "audio/wav",
                    {"Content-Range": f"bytes */{len(data)}"},
                )
            headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{len(data)}"}
            return self._send(HTTPStatus.PARTIAL_CONTENT, data[start : end + 1], "audio/wav", headers)
        self._send(HTTPStatus.OK, data, "audio/wav", {"Accept-Ranges": "bytes"})

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log.debug("%s %s", self.address_string(), format % args)
