"""The sound path end to end: recordings -> spectral frames (split by recording, cached,
memory-mapped, resumable) -> a recurrent model with a continuous head -> new clips as WAV and
pictures, primer continuation, and the held-out likelihood."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tunesmith.audio.io import write_wav
from tunesmith.cli import main
from tunesmith.config import DataConfig, load_config
from tunesmith.data import audio as audio_data
from tunesmith.data import prepare_data
from tunesmith.errors import ConfigError, DataError
from tunesmith.evaluation import evaluate_run
from tunesmith.run import generate, load_run, write_pieces
from tunesmith.training import train

from .test_representations import SR, chord_clip

MEL = {"name": "mel", "n_fft": 512, "hop_length": 128, "n_mels": 32, "n_iter": 8}
TINY_AUDIO = [
    f"data.sr={SR}",
    "data.seq_len=32",
    "data.batch_size=8",
    "data.workers=1",
    "representation.name=mel",
    "representation.n_fft=512",
    "representation.hop_length=128",
    "representation.n_mels=32",
    "representation.n_iter=8",
    "model.hidden_size=16",
    "train.epochs=2",
]


@pytest.fixture
def audio_folder(tmp_path: Path) -> Path:
    """Ten 1.5-second recordings (one of them twice, under another name), plus a silent one, a
    too-short one and a corrupt one."""
    folder = tmp_path / "recordings"
    for seed in range(10):
        write_wav(folder / ("a" if seed % 2 else "b") / f"clip{seed}.wav", chord_clip(1.5, seed=seed).samples, sr=SR)
    shutil.copy(folder / "b" / "clip4.wav", folder / "copy_of_clip4.wav")
    write_wav(folder / "silence.wav", np.zeros(SR, np.float32), sr=SR)
    write_wav(folder / "blip.wav", chord_clip(0.1, seed=99).samples, sr=SR)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return folder


def data_config(folder: Path, **options) -> DataConfig:
    settings = {"sr": SR, "seq_len": 32, "workers": 1, "valid_fraction": 0.2, "test_fraction": 0.2, **options}
    return DataConfig(source=str(folder), **settings)


def test_prepare_splits_by_recording_caches_and_memory_maps(audio_folder: Path) -> None:
    prepared = prepare_data(data_config(audio_folder), MEL, progress=False)
    reasons = {Path(f).name: r for f, r in prepared.skipped}
    assert set(reasons) == {"silence.wav", "blip.wav", "broken.wav"}
    assert "silent" in reasons["silence.wav"] and "shorter than one window" in reasons["blip.wav"]
    names = {s: set(n) for s, n in prepared.names.items()}
    assert sum(len(n) for n in names.values()) == 11 and all(names.values())
    home = next(s for s, n in names.items() if "clip4" in n)
    assert "copy_of_clip4" in names[home]  # one recording, one split
    frames = prepared.splits["train"][0]
    assert isinstance(frames.base, np.memmap) or isinstance(frames, np.memmap)
    train_frames = np.concatenate(prepared.splits["train"])
    assert np.allclose(train_frames.mean(0), 0, atol=1e-3) and np.allclose(train_frames.std(0)[4:], 1, atol=0.05)
    again = prepare_data(data_config(audio_folder), MEL, progress=False)
    assert again.names == prepared.names and again.representation.state == prepared.representation.state


def test_interrupted_preparation_resumes(audio_folder: Path, monkeypatch) -> None:
    real_write, analyzed = audio_data._write_splits, []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(audio_data, "_write_splits", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_data(data_config(audio_folder), MEL, progress=False)
    import tunesmith.audio.io as audio_io

    original = audio_io.read_audio

    def counting(path, **kwargs):
        analyzed.append(path)
        return original(path, **kwargs)

    monkeypatch.setattr(audio_io, "read_audio", counting)
    monkeypatch.setattr(audio_data, "_write_splits", real_write)
    prepared = prepare_data(data_config(audio_folder), MEL, progress=False)
    # Only the files that were skipped (no raw frames kept) are read again.
    assert {Path(p).name for p in analyzed} == {"silence.wav", "blip.wav", "broken.wav"}
    assert sum(len(n) for n in prepared.names.values()) == 11


def test_bad_audio_sources(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no audio here")
    with pytest.raises(DataError, match="no audio files found"):
        prepare_data(data_config(tmp_path / "nothing"), MEL, progress=False)
    write_wav(tmp_path / "quiet" / "a.wav", np.zeros(SR, np.float32), sr=SR)
    with pytest.raises(DataError, match="no usable recordings"):
        prepare_data(data_config(tmp_path / "quiet"), MEL, progress=False)


def test_free_music_archive_layout(tmp_path: Path) -> None:
    root = tmp_path / "fma"
    rows = [("2", "Rock", "small"), ("5", "Folk", "small"), ("10", "Rock", "medium"), ("20", "Folk", "medium")]
    (root / "fma_metadata").mkdir(parents=True)
    with open(root / "fma_metadata" / "tracks.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerows([["", "track", "set"], ["", "genre_top", "subset"], ["track_id", "", ""]])
        out.writerows([[tid, genre, subset] for tid, genre, subset in rows])
    for i, (tid, _, _) in enumerate(rows):
        write_wav(
            root / "fma_medium" / f"{int(tid):06d}"[:3] / f"{int(tid):06d}.wav", chord_clip(1.0, seed=i).samples, sr=SR
        )
    config = data_config(root, fma_genres=["Rock"], valid_fraction=0.0, test_fraction=0.0)
    prepared = prepare_data(config, MEL, progress=False)
    assert sorted(prepared.names["train"]) == ["000002", "000010"]
    small = data_config(root, fma_subset="small", valid_fraction=0.0, test_fraction=0.0)
    assert sorted(prepare_data(small, MEL, progress=False).names["train"]) == ["000002", "000005"]


def test_train_generate_evaluate_an_audio_run(audio_folder: Path, tmp_path: Path) -> None:
    config = load_config(None, [f"data.source={audio_folder}", *TINY_AUDIO, "train.sample_every=2"])
    result = train(config, tmp_path / "run", progress=False)
    assert result.best_metric == "nll" and np.isfinite(result.best_value)
    samples = sorted((tmp_path / "run" / "samples" / "epoch-002").glob("*"))
    assert {p.suffix for p in samples} == {".wav", ".png"}
    with open(tmp_path / "run" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["quality/mean_overlap"] == "" and 0 <= float(rows[1]["quality/mean_overlap"]) <= 1
    assert 0 <= float(rows[1]["quality/two_sample_accuracy"]) <= 1

    run = load_run(tmp_path / "run")
    assert run.model.head.name == "gaussian" and run.representation.state["sr"] == SR
    score = evaluate_run(run, split="test")
    assert score["representation"] == "mel" and np.isfinite(score["nll"]) and score["frames"] > 0
    assert score["nll"] == pytest.approx(evaluate_run(run, split="test")["nll"])

    clips = generate(run, num=2, length=40, seed=1, primer=audio_folder / "a" / "clip1.wav")
    primer_frames = len(run.representation.analyze(chord_clip(1.5, seed=1)))
    hop = run.representation.config.hop_length
    assert all(abs(len(c.samples) - (primer_frames + 40 - 1) * hop) <= hop for c in clips)
    files = write_pieces(clips, tmp_path / "gen", run.representation)
    for written in files:
        info = soundfile.info(str(written["audio"]))
        assert info.samplerate == SR and written["plot"].stat().st_size > 1000


def test_cli_trains_and_generates_audio(audio_folder: Path, tmp_path: Path, capsys) -> None:
    sets = [a for item in [f"data.source={audio_folder}", *TINY_AUDIO] for a in ("--set", item)]
    config = tmp_path / "audio.yaml"
    config.write_text("train:\n  epochs: 1\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--quiet", *sets]) == 0
    assert (
        main(["generate", str(tmp_path / "run"), "--out", str(tmp_path / "gen"), "--num", "1", "--length", "20"]) == 0
    )
    assert (tmp_path / "gen" / "piece-01.wav").is_file() and (tmp_path / "gen" / "piece-01.png").is_file()
    assert main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["representation"] == "mel"
    assert (
        main(["generate", str(tmp_path / "run"), "--out", str(tmp_path / "gen2"), "--primer", str(tmp_path / "x.mid")])
        == 2
    )


def test_built_in_audio_corpus_renders_the_chorales_with_the_note_split() -> None:
    """``bach-chorales-audio``: the same chorales as the note corpus, the same split by melody."""
    options = {"max_pieces": 8, "sr": 8000, "seq_len": 16, "workers": 1, "valid_fraction": 0.25, "test_fraction": 0.25}
    audio = prepare_data(DataConfig(source="bach-chorales-audio", **options), MEL, progress=False)
    notes = prepare_data(DataConfig(source="bach-chorales", **options), {"name": "pianoroll"}, progress=False)
    assert {s: sorted(n) for s, n in audio.names.items()} == {s: sorted(n) for s, n in notes.names.items()}
    assert audio.representation.state["sr"] == 8000
    with pytest.raises(ConfigError, match="representation.name=mel"):
        prepare_data(DataConfig(source="bach-chorales-audio"), {"name": "pianoroll"}, progress=False)
