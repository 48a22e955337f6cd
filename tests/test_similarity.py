"""Similarity search: a piece is its own nearest neighbour, index files round-trip and refuse a
run they were not built with, corrupt files are skipped and reported, the ``index`` / ``similar``
commands work end to end with one-line errors, and ``embed`` ignores batch padding."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from tunesmith.audio.io import write_wav
from tunesmith.cli import main
from tunesmith.errors import ConfigError, DataError
from tunesmith.io import write_midi
from tunesmith.models import SequenceModel, build_model, model_config
from tunesmith.models.base import POOLINGS, SEGMENTS
from tunesmith.representation import build_representation, transpose_piece
from tunesmith.run import Run, load_run
from tunesmith.similarity import (
    build_index,
    embed_sequences,
    load_index,
    read_frames,
    save_index,
    search,
    similar,
)
from tunesmith.training import train

from .conftest import make_piece
from .test_models import small_section
from .test_training import tiny_config

PIECES = 8


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(folder, run_dir)``: 8 MIDI pieces in sub-folders plus a corrupt one and a text file,
    and a tiny LSTM run trained on them (once for the whole module)."""
    root = tmp_path_factory.mktemp("similarity")
    folder = root / "music"
    for seed in range(PIECES):
        write_midi(make_piece(seed, beats=24), folder / ("a" if seed % 2 else "b") / f"tune{seed}.mid")
    (folder / "broken.mid").write_bytes(b"MThd this is not a MIDI file")
    (folder / "notes.txt").write_text("not music")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESMITH_CACHE", str(root / "cache"))
        train(tiny_config(folder, "train.epochs=1", "data.valid_fraction=0.25"), root / "run", progress=False)
    return folder, root / "run"


@pytest.fixture(scope="module")
def index(collection: tuple[Path, Path]):
    folder, run_dir = collection
    return build_index(folder, load_run(run_dir))


def test_every_piece_is_its_own_nearest_neighbour(collection, index) -> None:
    folder, run_dir = collection
    run = load_run(run_dir)
    assert len(index) == PIECES and index.embeddings.shape[0] == PIECES
    for item in index.items:
        hits = similar(item["path"], index, run, k=3)
        assert [h.rank for h in hits] == [1, 2, 3]
        assert hits[0].path == item["path"] and hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[1].score < hits[0].score - 1e-3  # distinct pieces are not all the same vector


def test_corrupt_file_is_skipped_and_reported(index) -> None:
    assert [Path(p).name for p, _ in index.skipped] == ["broken.mid"]
    assert index.skipped[0][1]  # with the reason
    assert all(Path(item["path"]).suffix == ".mid" for item in index.items)  # notes.txt is not music


def test_index_file_round_trips(index, tmp_path: Path) -> None:
    path = save_index(index, tmp_path / "sub" / "chorales.npz")
    loaded = load_index(path)
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert loaded.embeddings.dtype == np.float32
    assert loaded.items == index.items and loaded.run == index.run and loaded.pooling == index.pooling
    assert loaded.representation == index.representation and loaded.skipped == index.skipped
    assert not list(tmp_path.glob("sub/*.tmp"))  # written atomically: no temporary file left
    queries = index.embeddings[:3] + 0.01
    assert [h.path for h in search(loaded, queries, k=2)[1]] == [h.path for h in search(index, queries, k=2)[1]]
    with pytest.raises(ConfigError, match="npz"):
        save_index(index, tmp_path / "chorales.index")


def test_load_index_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="index not found"):
        load_index(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a tunesmith similarity index"):
        load_index(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", embeddings=np.zeros((2, 3), np.float32))
    with pytest.raises(DataError, match="not a tunesmith similarity index"):
        load_index(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("not an index")  # NumPy would take it for a pickle
    with pytest.raises(DataError, match="pickled objects") as refused:
        load_index(tmp_path / "text.npz")
    assert "allow_pickle" not in str(refused.value)  # never advise the unsafe way to load it


def test_index_refuses_a_run_with_another_representation_or_weights(collection, index) -> None:
    folder, run_dir = collection
    run = load_run(run_dir)
    query = index.items[0]["path"]
    params = {**index.representation["params"], "step": "sixteenth"}
    other = replace(index, representation={**index.representation, "params": params})
    with pytest.raises(ConfigError, match="built with representation pianoroll") as caught:
        similar(query, other, run)
    assert "\n" not in str(caught.value)
    with torch.no_grad():
        run.model.readout.bias.add_(0.1)
    with pytest.raises(ConfigError, match="other weights"):
        similar(query, index, run)


def test_query_of_the_wrong_kind_is_refused(collection, index, tmp_path: Path) -> None:
    run = load_run(collection[1])
    write_wav(tmp_path / "tone.wav", np.sin(np.arange(4000) / 5.0).astype(np.float32) * 0.5, sr=8000)
    with pytest.raises(DataError, match="the query must be one of .mid"):
        similar(tmp_path / "tone.wav", index, run)
    with pytest.raises(DataError, match="query file not found"):
        similar(tmp_path / "nothing.mid", index, run)
    with pytest.raises(ConfigError, match="--k"):
        similar(index.items[0]["path"], index, run, k=0)


def test_transposition_search_finds_a_piece_in_another_key(collection, index, tmp_path: Path) -> None:
    run = load_run(collection[1])
    write_midi(transpose_piece(make_piece(4, beats=24), 3), tmp_path / "tune4_up3.mid")
    plain = similar(tmp_path / "tune4_up3.mid", index, run, k=PIECES)
    found = similar(tmp_path / "tune4_up3.mid", index, run, k=1, transpositions=3)[0]
    assert found.name == "tune4" and found.score == pytest.approx(1.0, abs=1e-4)
    assert next(h.score for h in plain if h.name == "tune4") < 0.999  # without the search it is not exact
    with pytest.raises(ConfigError, match="--transpositions"):
        similar(tmp_path / "tune4_up3.mid", index, run, transpositions=12)


def test_commands_end_to_end(collection, tmp_path: Path, capsys) -> None:
    folder, run_dir = collection
    out = tmp_path / "music.npz"
    assert main(["index", str(folder), "--run", str(run_dir), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"indexed {PIECES} files (1 skipped)" in printed and "broken.mid" in printed
    query = folder / "a" / "tune3.mid"
    assert main(["similar", str(query), "--index", str(out), "--k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == [1, 2, 3] and hits[0]["path"] == str(query)
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert main(["similar", str(query), "--index", str(out), "--k", "100"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == PIECES and lines[0].split()[0] == "1" and lines[0].endswith(str(query))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["similar", "{query}", "--index", "{tmp}/missing.npz"], "index not found"),
        (["similar", "{tmp}/notes.txt", "--index", "{index}"], "the query must be one of"),
        (["similar", "{query}", "--index", "{index}", "--k", "0"], "--k must be at least 1"),
        (["index", "{folder}", "--run", "{run}", "--out", "{tmp}/index.txt"], "--out must be a .npz file"),
        (["index", "{tmp}/nowhere", "--run", "{run}", "--out", "{tmp}/i.npz"], "folder not found"),
        (["index", "{folder}", "--run", "{tmp}/norun", "--out", "{tmp}/i.npz"], "run directory not found"),
        (["similar", "{query}", "--index", "{index}", "--transpositions", "20"], "--transpositions must be"),
    ],
    ids=["missing-index", "wrong-file", "k-below-1", "out-not-npz", "missing-folder", "missing-run", "transpose"],
)
def test_command_errors_are_one_line(args, message, collection, index, tmp_path: Path, capsys) -> None:
    folder, run_dir = collection
    save_index(index, tmp_path / "index.npz")
    (tmp_path / "notes.txt").write_text("hello")
    values = {"query": folder / "b" / "tune0.mid", "tmp": tmp_path, "index": tmp_path / "index.npz"}
    values.update(folder=folder, run=run_dir)
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("name", ["lstm", "gru", "tcn", "ensemble"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_embed_ignores_batch_padding(name: str, pooling: str, rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    model = build_model(model_config(small_section(name, size=8)), 6).eval()
    short = torch.from_numpy((rng.random((1, 5, 6)) < 0.4).astype(np.float32))
    long = torch.from_numpy((rng.random((1, 9, 6)) < 0.4).astype(np.float32))
    garbage = torch.from_numpy(rng.normal(size=(1, 4, 6)).astype(np.float32))
    mask = torch.ones(1, 5)
    mask[0, 0] = 0.0  # the start frame is read but not pooled
    with torch.no_grad():
        alone = model.embed(short, mask, pooling=pooling)
        frames = torch.cat([torch.cat([short, garbage], 1), long])
        masks = torch.cat([torch.cat([mask, torch.zeros(1, 4)], 1), torch.ones(1, 9)])
        batched = model.embed(frames, masks, pooling=pooling)
    width = {"mean": 1, "last": 1, "trajectory": SEGMENTS}.get(pooling, 2) * (8 if name != "ensemble" else 6)
    assert alone.shape == (1, width) and batched.shape == (2, width)
    torch.testing.assert_close(batched[:1], alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(batched[0], batched[1])


def test_trajectory_is_the_standardized_features_averaged_over_equal_parts() -> None:
    torch.manual_seed(1)
    model = build_model(model_config(small_section("lstm", size=8)), 6).eval()
    frames, mask = torch.rand(1, 40, 6), torch.ones(1, 40)
    mask[0, 0] = 0.0
    with torch.no_grad():
        vector = model.embed(frames, mask, pooling="trajectory").reshape(SEGMENTS, 8).numpy()
        hidden = model.features(frames)[0][0, 1:].numpy()  # the 39 counted frames
    z = (hidden - hidden.mean(0)) / (hidden.std(0) + 1e-3)
    bounds = [int(np.ceil(k * 39 / SEGMENTS)) for k in range(SEGMENTS + 1)]
    expected = np.stack([z[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])
    np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_unknown_pooling_is_refused() -> None:
    model = build_model(model_config(small_section("lstm", size=4)), 3)
    with pytest.raises(ConfigError, match="unknown pooling 'median'"):
        model.embed(torch.zeros(1, 2, 3), torch.ones(1, 2), pooling="median")


@dataclass
class _MeanConfig:
    head: str = "gaussian"


class _MeanEncoder(SequenceModel):
    """A latent family in miniature: its encoder's mean is the masked mean of the window."""

    name = "mean-encoder"
    description = "test double"
    Config: ClassVar[type] = _MeanConfig
    latent = True

    def __init__(self, n_features: int) -> None:
        super().__init__(_MeanConfig(), n_features)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def encode(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1)
        return self.scale * (frames * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class _NoEmbedding(SequenceModel):
    """A family that neither reads frames nor encodes them (as a GAN's generator)."""

    name = "no-embedding"
    description = "test double"
    Config: ClassVar[type] = _MeanConfig


def test_a_model_without_an_embedding_is_refused_before_reading(collection) -> None:
    rep = build_representation({"name": "pianoroll", "step": "eighth"})
    run = Run(Path("."), _NoEmbedding(_MeanConfig(), rep.n_features), rep, {})
    with pytest.raises(ConfigError, match="model no-embedding has no embedding"):
        build_index(collection[0], run)


def test_latent_model_averages_its_windows() -> None:
    """A latent model embeds consecutive windows of the run's ``seq_len`` and averages them."""
    rep = build_representation({"name": "pianoroll", "keys": 88})
    run = Run(Path("."), _MeanEncoder(4), rep, {"data": {"seq_len": 4}})
    sequence = np.arange(40, dtype=np.float32).reshape(10, 4)  # windows of 4, 4 and 2 frames
    expected = np.mean([sequence[0:4].mean(0), sequence[4:8].mean(0), sequence[8:10].mean(0)], axis=0)
    vectors = embed_sequences(run, [sequence, sequence[:3]])
    np.testing.assert_allclose(vectors[0], expected, rtol=1e-6)
    np.testing.assert_allclose(vectors[1], sequence[:3].mean(0), rtol=1e-6)


def test_key_normalizing_run_reads_a_transposed_piece_alike(tmp_path: Path) -> None:
    """With ``normalize_key`` a transposed piece reads as the original, up to an octave (the
    shift to C is the smallest one, -6..+5, so the two may land an octave apart)."""
    piece = make_piece(5, beats=16)
    write_midi(piece, tmp_path / "original.mid")
    write_midi(transpose_piece(piece, 3), tmp_path / "up3.mid")
    keyed = build_representation({"name": "pianoroll", "step": "eighth", "normalize_key": True})
    plain = build_representation({"name": "pianoroll", "step": "eighth"})
    a, b = (read_frames(tmp_path / f"{name}.mid", keyed).reshape(-1, 2, 88) for name in ("original", "up3"))
    assert any(np.array_equal(np.roll(a, shift, axis=2), b) for shift in (-12, 0, 12))
    assert not np.array_equal(read_frames(tmp_path / "original.mid", plain), read_frames(tmp_path / "up3.mid", plain))


def test_audio_index_reads_recordings_at_the_runs_rate(tmp_path: Path) -> None:
    """An audio run indexes recordings (resampled to its rate), skips a corrupt and a silent one,
    and finds each recording first."""
    folder = tmp_path / "clips"
    t = np.arange(16000) / 16000.0
    for i, freq in enumerate((220.0, 330.0, 495.0)):
        write_wav(folder / f"tone{i}.wav", (0.4 * np.sin(2 * np.pi * freq * t * (1 + t))).astype(np.float32), sr=16000)
    write_wav(folder / "quiet.wav", np.zeros(8000, np.float32), sr=8000)
    (folder / "broken.flac").write_bytes(b"fLaC not really")
    rep = build_representation({"name": "mel", "n_fft": 256, "hop_length": 128, "n_mels": 16})
    raw = rep.analyze(type("Clip", (), {"samples": np.sin(t * 900).astype(np.float32), "sr": 8000})())
    rep.fit([raw], sr=8000)
    torch.manual_seed(0)
    model = build_model(model_config(small_section("gru", size=8)), 16, binary=False)
    run = Run(tmp_path, model, rep, {"data": {"seq_len": 8}})
    index = build_index(folder, run, pooling="mean_std")
    assert [item["name"] for item in index.items] == ["tone0", "tone1", "tone2"]
    assert index.items[0]["frames"] == 1 + 8000 // 128  # read at the run's 8 kHz
    assert sorted(Path(p).name for p, _ in index.skipped) == ["broken.flac", "quiet.wav"]
    for item in index.items:
        assert similar(item["path"], index, run, k=1)[0].path == item["path"]
    with pytest.raises(ConfigError, match="note runs only"):
        similar(index.items[0]["path"], index, run, transpositions=2)
