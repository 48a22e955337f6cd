"""compare_sets on tiny MIDI and WAV folders written here, its JSON, its report, and bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_piece
from tunesmith.errors import TunesmithError
from tunesmith.io import write_midi
from tunesmith.judge import compare_sets
from tunesmith.judge.commands import register
from tunesmith.judge.compare import detect_kind
from tunesmith.metrics.memorization import melody_tokens

TOP_KEYS = {"kind", "real_count", "generated_count", "two_sample_accuracy", "mean_overlap", "frechet_distance"}


def midi_set(folder: Path, seeds: range, *, beats: int = 16) -> Path:
    for seed in seeds:
        write_midi(make_piece(seed, beats=beats), folder / f"p{seed}.mid")
    return folder


@pytest.fixture(scope="module")
def symbolic_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("compare")
    real = midi_set(root / "real", range(6))
    generated = midi_set(root / "generated", range(100, 106), beats=40)  # longer: more notes
    (generated / "broken.mid").write_bytes(b"not midi at all")
    (generated / "p100.wav").write_bytes(b"a render: ignored when judging music")
    result = compare_sets(real, generated, out_dir=root / "out", train=real, n_boot=5)
    return result, root


def test_symbolic_result_keys_and_files(symbolic_report: tuple[dict, Path]) -> None:
    result, root = symbolic_report
    assert TOP_KEYS | {"statistics", "memorization", "plots", "skipped"} <= set(result)
    assert result["kind"] == "symbolic" and result["real_count"] == result["generated_count"] == 6
    assert 0.0 <= result["two_sample_accuracy"]["accuracy"] <= 1.0
    assert [s["path"] for s in result["skipped"]] == [str(root / "generated" / "broken.mid")]
    written = json.loads((root / "out" / "compare.json").read_text())
    assert written["mean_overlap"] == pytest.approx(result["mean_overlap"])
    assert len(result["plots"]) == len(result["statistics"])
    assert all(Path(p).stat().st_size > 0 for p in result["plots"])
    summary = (root / "out" / "summary.md").read_text()
    assert "| note_count |" in summary and "broken.mid" in summary


def test_verdict_sees_more_notes(symbolic_report: tuple[dict, Path]) -> None:
    stats = symbolic_report[0]["statistics"]
    assert stats["note_count"]["verdict"] == "generated higher"  # 40 beats against 16
    assert stats["note_count"]["generated"]["mean"] > 2 * stats["note_count"]["real"]["mean"]
    assert stats["qualified_note_rate"]["verdict"] == "close"  # every note is long enough in both


def test_memorization_against_the_training_folder(tmp_path: Path) -> None:
    real = midi_set(tmp_path / "real", range(3))
    result = compare_sets(real, real, train=real, n_boot=2)
    longest = [r["notes"] for r in result["memorization"]["pieces"]]
    skylines = [len(melody_tokens(make_piece(s))[1]) for s in range(3)]
    assert longest == skylines  # every piece is copied whole from itself


def write_tones(folder: Path, freqs: list[float], *, noise: float, seed: int, sr: int = 22050) -> Path:
    from tunesmith.audio import write_wav

    r = np.random.default_rng(seed)
    t = np.arange(sr // 2) / sr
    for i, f in enumerate(freqs):
        y = 0.3 * np.sin(2 * np.pi * f * t) + noise * r.standard_normal(t.size)
        write_wav(folder / f"clip{i}.wav", y.astype(np.float32), sr=sr)
    return folder


def test_audio_folders(tmp_path: Path) -> None:
    real = write_tones(tmp_path / "real", [220, 330, 440, 550], noise=0.001, seed=0)
    noisy = write_tones(tmp_path / "noisy", [220, 330, 440, 550], noise=0.3, seed=1)
    result = compare_sets(real, noisy, n_boot=3)
    assert result["kind"] == "audio" and TOP_KEYS <= set(result)
    flat = result["statistics"]["spectral_flatness_mean"]
    assert flat["verdict"] == "generated higher"  # noise is flatter than a tone
    assert len(result["statistics"]["mfcc_mean"]["real"]["mean"]) == 20
    with pytest.raises(TunesmithError, match="symbolic music only"):
        compare_sets(real, noisy, train=real)


def test_kind_detection(tmp_path: Path) -> None:
    assert detect_kind([Path("a.mid")], [Path("b.xml")]) == "symbolic"
    assert detect_kind([Path("a.wav")], [Path("b.OGG")]) == "audio"
    assert detect_kind([Path("a.mid")], [Path("b.mid"), Path("b.wav")]) == "symbolic"  # MIDI + its render
    with pytest.raises(TunesmithError, match="share no kind"):
        detect_kind([Path("a.mid")], [Path("b.wav")])


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    real = midi_set(tmp_path / "real", range(3))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TunesmithError, match="holds no music or audio files"):
        compare_sets(real, tmp_path / "empty")
    with pytest.raises(TunesmithError, match="not found"):
        compare_sets(real, tmp_path / "missing")
    one = midi_set(tmp_path / "one", range(1))
    with pytest.raises(TunesmithError, match="1 readable item"):
        compare_sets(real, one)
    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"b{i}.mid").write_bytes(b"junk")
    with pytest.raises(TunesmithError, match="0 readable item"):
        compare_sets(real, broken)
    with pytest.raises(TunesmithError, match="kind must be"):
        compare_sets(real, real, kind="video")
    with pytest.raises(TunesmithError, match="training set"):
        compare_sets(real, real, train=broken)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tunesmith")
    register(root.add_subparsers(dest="command", required=True))
    return root


def test_command_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    real = midi_set(tmp_path / "real", range(3))
    generated = midi_set(tmp_path / "generated", range(10, 13))
    out = str(tmp_path / "o")
    args = parser().parse_args(["compare", str(real), str(generated), "--out", out, "--json", "--boot", "2"])
    args.func(args)
    printed = json.loads(capsys.readouterr().out)
    assert TOP_KEYS <= set(printed) and (tmp_path / "o" / "compare.json").is_file()


def test_command_validates_before_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = parser().parse_args(["compare", str(tmp_path / "nope"), str(tmp_path), "--out", str(tmp_path / "o")])
    with pytest.raises(TunesmithError, match="does not exist"):
        args.func(args)
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit):
        parser().parse_args(["compare", "a", "b", "--help"])
    assert "(default: auto)" in capsys.readouterr().out


def test_compare_items_marks_undefined_statistics() -> None:
    from tunesmith.judge import compare_items
    from tunesmith.music import Note, Piece, Track

    def one_bar(low: int) -> list[Piece]:  # groove consistency needs two bars
        return [Piece([Track([Note(0, p, 1), Note(1, p + 2, 1), Note(2, p + 4, 2)])]) for p in range(low, low + 3)]

    result = compare_items(one_bar(60), one_bar(50), kind="symbolic", n_boot=2)
    assert result["statistics"]["groove_consistency"] == {
        "verdict": "undefined",
        "real_count": 0,
        "generated_count": 0,
    }
    assert result["statistics"]["pitch_count"]["real_count"] == 3
    with pytest.raises(TunesmithError, match="1 usable item"):
        compare_items(one_bar(60)[:1], one_bar(60), kind="symbolic")
