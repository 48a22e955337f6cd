"""Hardening: bounded work for any input, temp files of interrupted writes, workers that die
with their parent, and one-line errors (never a traceback) for every mistake at the CLI."""

from __future__ import annotations

import logging
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import soundfile

from tunesmith.cli import build_parser, main
from tunesmith.errors import ConfigError, DataError, OutputError, TunesmithError
from tunesmith.io import MAX_SECONDS, format_duration, read_benchmark, read_folder, read_piece, write_midi
from tunesmith.music import Note, Piece, Tempo, Track
from tunesmith.synthesis import render
from tunesmith.utils import atomic_write, check_output_dir, remove_stale_temp_files, usable_cache_dir

from .conftest import make_piece

SRC = Path(__file__).resolve().parents[1] / "src"


# ---------------------------------------------------------------- hand-made MIDI files


def vlq(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_bytes(events: bytes, *, division: int = 1) -> bytes:
    """A format-0 MIDI file with one track holding ``events`` (end-of-track added)."""
    track = events + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, division) + b"MTrk" + struct.pack(">I", len(track)) + track


def tempo_event(microseconds_per_quarter: int, delta: int = 0) -> bytes:
    return vlq(delta) + b"\xff\x51\x03" + microseconds_per_quarter.to_bytes(3, "big")


def note(pitch: int, ticks: int) -> bytes:
    return b"\x00\x90" + bytes([pitch, 64]) + vlq(ticks) + b"\x80" + bytes([pitch, 0])


HUGE = midi_bytes(note(60, 2**28 - 1))  # one note of 2^28 - 1 quarters at 1 tick per quarter


@pytest.fixture
def huge_midi(tmp_path: Path) -> Path:
    path = tmp_path / "huge.mid"
    path.write_bytes(HUGE)
    return path


def test_the_huge_file_is_37_bytes_and_refused_fast(huge_midi: Path) -> None:
    assert len(HUGE) == 37
    started = time.monotonic()
    with pytest.raises(DataError) as info:
        read_piece(huge_midi)
    assert time.monotonic() - started < 2.0
    hours = (2**28 - 1) * 0.5 / 3600  # 120 qpm: half a second per quarter
    assert info.value.path == str(huge_midi)
    assert info.value.reason == f"lasts {hours:,.1f} hours, over the limit of 30 minutes (data.max_seconds)"


def test_a_tempo_map_cannot_sneak_past_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "fast.mid"  # 1 microsecond per quarter: 60,000,000 qpm; 2^20 quarters last 1 s
    path.write_bytes(midi_bytes(tempo_event(1) + note(60, 2**20)))
    with pytest.raises(DataError, match=r"lasts 1,048,576 quarter notes, over the limit of 30,000 \(30 minutes"):
        read_piece(path)


@pytest.mark.parametrize("max_seconds, ok", [(MAX_SECONDS, True), (10.0, True), (9.9, False)])
def test_max_seconds_is_the_limit(tmp_path: Path, max_seconds: float, ok: bool) -> None:
    piece = Piece([Track([Note(0.0, 60, 10.0)])], [Tempo(0.0, 60.0)])  # 10 quarters at 60 qpm: 10 s
    path = write_midi(piece, tmp_path / "ten.mid")
    if ok:
        assert read_piece(path, max_seconds=max_seconds).end == pytest.approx(10.0)
    else:
        with pytest.raises(DataError, match="lasts 10 seconds, over the limit of 9.9 seconds"):
            read_piece(path, max_seconds=max_seconds)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "30"])
def test_max_seconds_must_be_positive(tmp_path: Path, bad) -> None:
    path = write_midi(make_piece(0), tmp_path / "a.mid")
    with pytest.raises(ConfigError, match="data.max_seconds must be a positive number"):
        read_piece(path, max_seconds=bad)


@pytest.mark.parametrize(
    "seconds, words", [(5, "5 seconds"), (90.5, "90.5 seconds"), (1800, "30 minutes"), (134217727.5, "37,282.7 hours")]
)
def test_format_duration(seconds: float, words: str) -> None:
    assert format_duration(seconds) == words


@pytest.mark.parametrize("workers", [1, 2])
def test_folder_with_the_huge_file_reads_the_rest(midi_folder: Path, huge_midi: Path, workers: int) -> None:
    (midi_folder / "b" / "huge.mid").write_bytes(HUGE)
    pieces, failures = read_folder(midi_folder, workers=workers)
    assert len(pieces) == 9
    assert [(Path(p).name, "over the limit of 30 minutes" in r) for p, r in failures] == [("huge.mid", True)]


@pytest.mark.parametrize("workers", [1, 2])
def test_folder_limit_counts_usable_pieces_in_path_order(midi_folder: Path, workers: int) -> None:
    (midi_folder / "a" / "0-broken.mid").write_bytes(b"MThd garbage")
    everything, _ = read_folder(midi_folder)
    pieces, failures = read_folder(midi_folder, workers=workers, limit=3)
    assert [p.source for p in pieces] == [p.source for p in everything[:3]]
    assert [Path(p).name for p, _ in failures] == ["0-broken.mid"]


def test_folder_limit_stops_parsing(midi_folder: Path, monkeypatch) -> None:
    import tunesmith.io as tio

    seen = []
    real = tio.read_piece
    monkeypatch.setattr(tio, "read_piece", lambda path, **kw: seen.append(path) or real(path, **kw))
    pieces, _ = read_folder(midi_folder, limit=2)
    assert len(pieces) == 2 and len(seen) == 2
    with pytest.raises(ConfigError, match="limit must be at least 1"):
        read_folder(midi_folder, limit=0)


SLOW_ABC = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc d2 d2 | [GBd]4 z4 | eG29gC341b-g,2 e2 d4- | d8 |]\n"  # 16 s in music21


def test_music21_gets_a_time_limit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("tunesmith.io.score.MAX_PARSE_SECONDS", 0.5)
    (tmp_path / "slow.abc").write_text(SLOW_ABC)
    started = time.monotonic()
    with pytest.raises(DataError, match="music21 took over 0.5 s to parse it; gave up"):
        read_piece(tmp_path / "slow.abc")
    assert time.monotonic() - started < 3
    monkeypatch.setattr("tunesmith.io.score.MAX_PARSE_SECONDS", 30.0)
    (tmp_path / "ok.abc").write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc d2 d2 |\n")
    assert len(read_piece(tmp_path / "ok.abc").notes) == 6
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # no timer left running


def test_a_mat_file_that_crashes_scipy_is_a_data_error(tmp_path: Path) -> None:
    import io

    import numpy as np
    import scipy.io

    buffer, cell = io.BytesIO(), np.empty((1, 1), dtype=object)
    cell[0, 0] = np.eye(3, 88)
    scipy.io.savemat(buffer, {f"{split}data": cell for split in ("train", "valid", "test")})
    data = bytearray(buffer.getvalue())
    data[2441] = 216  # found by tests/test_fuzz.py: a segmentation fault in scipy 1.x's loadmat
    (tmp_path / "crash.mat").write_bytes(data)
    with pytest.raises(DataError, match="not a readable .mat file"):
        read_benchmark(tmp_path / "crash.mat")


# ---------------------------------------------------------------- invalid tempos


@pytest.fixture
def tempo_zero_midi(tmp_path: Path) -> Path:
    path = tmp_path / "tempo0.mid"  # a tempo event of 0 microseconds per quarter: an infinite tempo
    path.write_bytes(midi_bytes(tempo_event(0) + note(60, 96) + note(64, 96), division=96))
    return path


def test_tempo_zero_is_dropped_so_the_piece_trains_and_writes(tempo_zero_midi: Path, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="tunesmith.io"):
        piece = read_piece(tempo_zero_midi)
    assert "ignoring 1 invalid tempo(s) (inf qpm)" in caplog.text
    assert [(t.time, t.qpm) for t in piece.tempos] == [(0.0, 120.0)]
    assert piece.tempo_map().to_seconds(piece.end) == pytest.approx(1.0)
    back = read_piece(write_midi(piece, tmp_path / "out" / "again.mid"))
    assert [(n.time, n.pitch) for n in back.notes] == [(0.0, 60), (1.0, 64)]


def test_tempo_zero_renders_at_120_qpm(tempo_zero_midi: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    wav = render(tempo_zero_midi, tmp_path / "t.wav", backend="symusic", sample_rate=8000)
    assert time.monotonic() - started < 20
    assert 1.0 <= soundfile.info(str(wav)).duration <= 3.0  # two half-second notes plus release


def test_render_refuses_the_huge_file_fast(huge_midi: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(DataError, match="hours, over the limit of 30 minutes"):
        render(huge_midi, tmp_path / "huge.wav", backend="symusic")
    with pytest.raises(DataError, match="lasts 1 seconds|over the limit of 0.5 seconds"):
        render(write_midi(make_piece(1, beats=2, qpm=120), tmp_path / "a.mid"), tmp_path / "a.wav", max_seconds=0.5)
    assert time.monotonic() - started < 2.0
    assert not list(tmp_path.glob("*.wav")) and not list(tmp_path.glob(".*"))


# ---------------------------------------------------------------- atomic writes and folders


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_atomic_write_names_its_temp_file_after_the_writer(tmp_path: Path) -> None:
    names = []
    atomic_write(tmp_path / "song.wav", lambda tmp: names.append(tmp.name) or tmp.write_bytes(b"x"))
    (name,) = names
    prefix, pid, token, rest = name.split(".", 3)[0:1] + name[len(".song.wav.") :].split(".", 2)
    assert name.startswith(".song.wav.") and pid == str(os.getpid()) and rest == "wav.tmp" and len(token) == 8


def test_stale_temp_files_are_removed_by_the_next_write(tmp_path: Path) -> None:
    stale = [
        tmp_path / f".song.mid.{dead_pid()}.0a1b2c3d.mid.tmp",  # a killed writer
        tmp_path / ".song.mid.k3j4h5g6.mid.tmp",  # an older tunesmith (mkstemp names, no pid)
        tmp_path / f".last.pt.{dead_pid()}.0a1b2c3d.pt.tmp",  # a killed writer of another file here
    ]
    kept = [
        tmp_path / f".song.mid.{os.getpid()}.00000000.mid.tmp",  # a writer that still runs
        tmp_path / ".notes.tmp",  # not ours
        tmp_path / ".last.pt.k3j4h5g6.pt.tmp",  # perhaps ours, but not of the file written now
    ]
    for path in stale + kept:
        path.write_bytes(b"half a file")
    write_midi(make_piece(0), tmp_path / "song.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["song.mid", *(p.name for p in kept)])
    assert remove_stale_temp_files(tmp_path / "song.mid") == []


def test_atomic_write_where_a_file_blocks_the_folder(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(OutputError, match="cannot write .*blocker/x.pt") as info:
        atomic_write(tmp_path / "blocker" / "x.pt", lambda tmp: tmp.write_bytes(b""))
    assert "\n" not in str(info.value) and isinstance(info.value, OSError)


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Path:
    """A folder nobody (not even root) can write in."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    try:
        Path("/sys/tunesmith-probe").touch()
    except OSError:
        yield Path("/sys")
        return
    pytest.skip("running as root without a read-only folder to try")


def test_check_output_dir(tmp_path: Path, readonly_dir: Path) -> None:
    new = tmp_path / "a" / "b" / "run"
    assert check_output_dir(new) == new and not (tmp_path / "a").exists()  # checked, then left as it was
    (tmp_path / "file").write_text("x")
    for path, message in [
        (tmp_path / "file", "--out .*file is a file, not a folder; choose a folder"),
        (tmp_path / "file" / "run", "--out .*is not a writable folder \\(.*file is a file\\)"),
        (readonly_dir, "--out .* is not a writable folder"),
        (readonly_dir / "run", "--out .* is not a writable folder"),
    ]:
        with pytest.raises(TunesmithError, match=message) as info:
            check_output_dir(path)
        assert "\n" not in str(info.value)


def test_usable_cache_dir(tmp_path: Path, monkeypatch, caplog, readonly_dir: Path) -> None:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    assert usable_cache_dir() == tmp_path / "cache"
    (tmp_path / "cachefile").write_text("x")
    for bad in (tmp_path / "cachefile", readonly_dir / "cache"):
        monkeypatch.setenv("TUNESMITH_CACHE", str(bad))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert usable_cache_dir() is None
        (record,) = caplog.records
        assert str(bad) in record.getMessage() and "set TUNESMITH_CACHE to a writable folder" in record.getMessage()


def test_render_without_a_usable_cache(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "cachefile").write_text("x")
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cachefile"))
    midi = write_midi(make_piece(2, beats=2), tmp_path / "a.mid")
    assert soundfile.info(str(render(midi, tmp_path / "a.wav", backend="symusic", sample_rate=8000))).duration > 0.5


# ---------------------------------------------------------------- devices


@pytest.mark.parametrize(
    "name, message",
    [
        ("gpu0", "train.device='gpu0' is not a device: use auto, cpu, cuda, cuda:N or mps"),
        ("cuda:abc", "train.device='cuda:abc' is not a device"),
        ("cuda", "train.device=cuda but this PyTorch has no CUDA: use cpu or auto"),
        ("mps", "train.device=mps but this PyTorch has no MPS"),
    ],
)
def test_resolve_device_refuses(name: str, message: str) -> None:
    import torch

    from tunesmith.training.distributed import resolve_device

    if torch.cuda.is_available() and name == "cuda":
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError) as info:
        resolve_device(name)
    assert str(info.value).startswith(message)


def test_resolve_device_accepts() -> None:
    import torch

    from tunesmith.training.distributed import pick_device, resolve_device

    assert resolve_device("cpu") == pick_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- workers die with their parent

POOL_SCRIPT = """
import os, sys, time
from tunesmith.io import imap_in_order
def slow(x):
    os.write(1, f"worker {os.getpid()}\\n".encode())  # one write: lines of two workers never mix
    time.sleep(60)
    return x
if __name__ == "__main__":
    for _ in imap_in_order(slow, list(range(4)), workers=2):
        pass
"""


def test_workers_die_with_their_killed_parent(tmp_path: Path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent(POOL_SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    workers = {int(parent.stdout.readline().split()[1]) for _ in range(2)}
    assert len(workers) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)


def alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # not our child: raises; a reparented zombie is reaped by init
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# ---------------------------------------------------------------- the command line


def sf2(tmp_path: Path) -> Path:
    path = tmp_path / "fake.sf2"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    return path


MISTAKES = {  # id -> (argv with {tmp} and {file}, what the one line must say)
    "generate-temperature-nan": ("generate {tmp}/run --out {tmp}/o --temperature nan", "--temperature: must be"),
    "generate-temperature-0": ("generate {tmp}/run --out {tmp}/o --temperature 0", "--temperature: must be a finite"),
    "generate-top-p": ("generate {tmp}/run --out {tmp}/o --top-p 1.5", "--top-p: must be above 0 and at most 1"),
    "generate-num": ("generate {tmp}/run --out {tmp}/o --num 0", "--num: must be at least 1"),
    "generate-length": ("generate {tmp}/run --out {tmp}/o --length x", "--length: expected a whole number"),
    "generate-program": ("generate {tmp}/run --out {tmp}/o --program 128", "--program: must be a General MIDI program"),
    "generate-out-file": ("generate {tmp}/run --out {file}", "is a file, not a folder"),
    "generate-soundfont-missing": ("generate {tmp}/run --out {tmp}/o --soundfont {tmp}/no.sf2", "SoundFont not found"),
    "generate-soundfont-not-sf2": ("generate {tmp}/run --out {tmp}/o --soundfont {sf2}", "not a SoundFont"),
    "generate-primer-missing": ("generate {tmp}/run --out {tmp}/o --primer {tmp}/no.mid", "no.mid: file not found"),
    "generate-device-gpu0": ("generate {tmp}/run --out {tmp}/o --device gpu0", "--device='gpu0' is not a device"),
    "generate-device-cuda-abc": ("generate {tmp}/run --out {tmp}/o --device cuda:abc", "is not a device"),
    "evaluate-device-gpu0": ("evaluate {tmp}/run --device gpu0", "--device='gpu0' is not a device"),
    "render-out-folder": ("render {huge} --out {tmp}", "is a folder; give the path of the .wav file"),
    "render-out-parent-file": ("render {huge} --out {file}/x.wav", "the folder of --out"),
    "render-sample-rate": ("render {huge} --out {tmp}/x.wav --sample-rate 100", "--sample-rate: must be from 8000"),
    "render-soundfont-not-sf2": ("render {huge} --out {tmp}/x.wav --soundfont {sf2}", "not a SoundFont"),
    "render-huge": ("render {huge} --out {tmp}/x.wav", "hours, over the limit of 30 minutes"),
    "demo-out-file": ("demo --out {file}", "is a file, not a folder"),
    "demo-num": ("demo --out {tmp}/d --num -1", "--num: must be at least 1"),
    "demo-minutes": ("demo --out {tmp}/d --minutes inf", "--minutes: must be a finite"),
    "train-out-file": ("train {config} --out {file}", "is a file, not a folder"),
    "unknown-option": ("models --colour", "unrecognized arguments: --colour"),
}


def argv_of(template: str, tmp_path: Path) -> list[str]:
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "huge.mid").write_bytes(HUGE)
    (tmp_path / "c.yaml").write_text("train:\n  epochs: 1\n")
    paths = dict(tmp=tmp_path, file=tmp_path / "file", huge=tmp_path / "huge.mid", config=tmp_path / "c.yaml")
    return [word.format(**paths, sf2=sf2(tmp_path)) for word in template.split()]


def assert_one_line_error(code: int, err: str, message: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("tunesmith: error: "), err
    assert message in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_cli_mistake_is_one_line(case: str, tmp_path: Path, capsys) -> None:
    template, message = MISTAKES[case]
    started = time.monotonic()
    code = main(argv_of(template, tmp_path))
    assert_one_line_error(code, capsys.readouterr().err, message)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("case", ["generate-temperature-nan", "demo-out-file", "render-out-folder", "render-huge"])
def test_cli_mistake_in_a_real_process(case: str, tmp_path: Path) -> None:
    template, message = MISTAKES[case]
    done = subprocess.run(
        [sys.executable, "-m", "tunesmith", *argv_of(template, tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert_one_line_error(done.returncode, done.stderr, message)


def test_cli_read_only_out(tmp_path: Path, readonly_dir: Path, capsys) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  epochs: 1\n")
    for argv in (
        ["train", str(tmp_path / "c.yaml"), "--out", str(readonly_dir / "run")],
        ["generate", str(tmp_path / "run"), "--out", str(readonly_dir / "o")],
        ["render", str(tmp_path / "x.mid"), "--out", str(readonly_dir / "x.wav")],
        ["demo", "--out", str(readonly_dir / "d")],
    ):
        assert_one_line_error(main(argv), capsys.readouterr().err, "is not a writable folder")


def test_unexpected_error_is_one_line_with_the_trace_in_a_file(monkeypatch, capsys) -> None:
    def broken(args) -> None:
        raise RuntimeError("boom\n  on a second line")

    monkeypatch.setattr("tunesmith.cli._models", broken)
    assert main(["models"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("tunesmith: internal error: RuntimeError: boom on a second line (full traceback in ")
    assert line.endswith("; rerun with --debug to see it)")
    trace = Path(line.split("full traceback in ")[1].split(";")[0])
    assert "Traceback" in trace.read_text() and "boom" in trace.read_text()
    trace.unlink()
    assert main(["--debug", "models"]) == 1 and "Traceback" in capsys.readouterr().err
    assert main(["models", "--debug"]) == 1 and "Traceback" in capsys.readouterr().err


def test_version_and_help_on_every_option(capsys) -> None:
    from tunesmith import __version__

    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"tunesmith {__version__}"
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in [("tunesmith", parser), *subparsers.items()]:
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help text"
        assert "(default: " in sub.format_help() or name == "models"


# ---------------------------------------------------------------- mistakes the lead's code handles


def tiny_run_args(folder: Path, *extra: str) -> list[str]:
    from .test_training import TINY, TINY_LSTM

    items = (f"data.source={folder}", *TINY, *TINY_LSTM, "train.epochs=1", *extra)
    return [a for item in items for a in ("--set", item)]


@pytest.fixture(scope="module")
def trained_without_cache(tmp_path_factory) -> tuple[Path, int, list[str]]:
    """One tiny run trained through the CLI while TUNESMITH_CACHE is a file: (run, exit status, warnings)."""
    from .conftest import make_piece

    root = tmp_path_factory.mktemp("trained")
    for seed in range(8):
        write_midi(make_piece(seed, beats=24), root / "music" / f"tune{seed}.mid")
    (root / "empty.yaml").write_text("{}\n")
    (root / "cachefile").write_text("not a folder")
    records: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESMITH_CACHE", str(root / "cachefile"))
        try:
            argv = ["train", str(root / "empty.yaml"), "--out", str(root / "run"), "--quiet"]
            code = main([*argv, *tiny_run_args(root / "music")])
        finally:
            logging.getLogger().removeHandler(handler)
    return root / "run", code, records


def test_cache_that_is_a_file_trains_without_cache(trained_without_cache) -> None:
    run, code, warnings = trained_without_cache
    assert code == 0 and (run / "checkpoints" / "best.pt").is_file()
    cache_warnings = [w for w in warnings if "TUNESMITH_CACHE" in w]
    assert len(cache_warnings) == 1 and "cachefile" in cache_warnings[0]


def test_checkpoint_of_an_absurd_model_size(trained_without_cache, tmp_path: Path, capsys) -> None:
    import shutil

    import torch

    run = shutil.copytree(trained_without_cache[0], tmp_path / "run")
    best = run / "checkpoints" / "best.pt"
    payload = torch.load(best, weights_only=True)
    payload["model"]["params"]["hidden_size"] = 10**9
    torch.save(payload, best)
    code = main(["generate", str(run), "--out", str(tmp_path / "o"), "--no-audio", "--num", "1", "--length", "4"])
    assert_one_line_error(code, capsys.readouterr().err, str(best))


@pytest.mark.parametrize(
    "override, message",
    [("train.device=cuda", "train.device=cuda but this PyTorch has no CUDA"), ("train.lr=.inf", "train.lr")],
)
def test_training_mistakes(override: str, message: str, midi_folder: Path, tmp_path: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available() and "cuda" in override:
        pytest.skip("this machine has CUDA")
    (tmp_path / "empty.yaml").write_text("{}\n")
    argv = ["train", str(tmp_path / "empty.yaml"), "--out", str(tmp_path / "run"), "--quiet"]
    code = main([*argv, *tiny_run_args(midi_folder, override)])
    assert_one_line_error(code, capsys.readouterr().err, message)


def test_watchdog_ends_a_worker_whose_parent_is_gone() -> None:
    """Where the kernel cannot be asked (or workers come from a helper process), a thread watches."""
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    script = f"""
import sys, time
sys.path.insert(0, {str(SRC)!r})
import tunesmith.utils as utils
utils._set_parent_death_signal = lambda: False
utils.die_with_parent({parent.pid})
print("armed", flush=True)
time.sleep(30)
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    parent.wait()
    assert done.returncode == 1 and done.stdout == "armed\n" and time.monotonic() - started < 20


def test_processes_checking_one_new_folder_at_once_all_pass(tmp_path: Path) -> None:
    """Under torchrun every process checks the same --out; one removing the folder it made for
    its check must not fail another's (a two-process ensemble failed about one run in four)."""
    from concurrent.futures import ThreadPoolExecutor

    from tunesmith.utils import check_output_dir

    for round_ in range(40):
        target = tmp_path / f"r{round_}" / "members" / "1"
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(check_output_dir, [target] * 4))
        assert results == [target] * 4
