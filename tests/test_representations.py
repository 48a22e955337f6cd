"""Every registered representation: validated by name, a symmetric encode/decode pair tested by
round trip, statistics that travel with it, and the shapes and frames models rely on."""

from __future__ import annotations

import numpy as np
import pytest

from tunesmith.audio.features import stft_magnitude
from tunesmith.audio.io import Clip
from tunesmith.config import config_from_dict
from tunesmith.errors import ConfigError
from tunesmith.metrics.signal import spectral_convergence
from tunesmith.representation import (
    REPRESENTATIONS,
    build_representation,
    list_representations,
    representation_config,
    representation_from_spec,
)

from .conftest import make_piece

SR = 16000
SPECTRAL = sorted(n for n, cls in REPRESENTATIONS.items() if cls.domain == "audio")


def chord_clip(seconds: float = 2.0, *, seed: int = 0) -> Clip:
    """Two harmonic tones changing pitch every half second, with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = np.repeat(rng.choice([220.0, 262.0, 330.0, 392.0], size=int(np.ceil(seconds * 2))), SR // 2)[: len(t)]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 5)) + 0.005 * rng.standard_normal(len(t))
    return Clip(y.astype(np.float32), SR, f"chord{seed}", "")


def small(name: str):
    options = {"n_fft": 512, "hop_length": 128} if name in SPECTRAL else {"step": "eighth"}
    if name in ("mel", "mfcc"):
        options["n_mels"] = 64
    return build_representation({"name": name, **options})


def test_registry_lists_every_family_with_a_description() -> None:
    assert {"pianoroll", "mel", "mfcc", "stft"} <= set(REPRESENTATIONS)
    assert all(list_representations().values())
    assert representation_config({})["name"] == "pianoroll"  # no name: the note default


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"name": "wavelet"}, "unknown representation 'wavelet'"),
        ({"name": "mel", "n_mel": 40}, "did you mean representation.n_mels"),
        ({"name": "mel", "hop_length": 4096, "n_fft": 1024}, "hop_length"),
        ({"name": "mfcc", "n_mfcc": 90, "n_mels": 80}, "n_mfcc"),
        ({"name": "stft", "momentum": 1.0}, "momentum"),
        ({"name": "pianoroll", "keys": 61}, "88 or 128"),
    ],
)
def test_bad_sections_are_config_errors(section: dict, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        representation_config(section)


def test_transposition_is_a_note_setting() -> None:
    with pytest.raises(ConfigError, match="gain_db"):
        config_from_dict({"representation": {"name": "mel"}, "data": {"transpose": 2}})


def test_pianoroll_round_trip() -> None:
    rep = small("pianoroll")
    frames = rep.encode(make_piece(4, beats=24))
    again = rep.encode(rep.decode(frames, qpm=100.0))
    assert rep.binary and rep.domain == "notes" and frames.shape[1] == rep.n_features
    assert np.array_equal(frames, again)


@pytest.mark.parametrize("name", SPECTRAL)
def test_spectral_frames_shapes_and_statistics(name: str) -> None:
    rep, clip = small(name), chord_clip()
    raw = rep.analyze(clip)
    assert raw.shape == (1 + len(clip.samples) // 128, rep.n_features) and raw.dtype == np.float32
    assert not rep.binary and rep.domain == "audio"
    rep.fit([raw, rep.analyze(chord_clip(seed=1))], sr=SR)
    frames = rep.encode(clip)
    assert np.allclose(rep.denormalize(frames), raw, atol=1e-3)
    both = np.concatenate([rep.encode(clip), rep.encode(chord_clip(seed=1))])
    assert np.allclose(both.mean(0), 0, atol=1e-3)  # normalized on the data it was fitted on
    rebuilt = representation_from_spec(rep.spec())
    assert np.array_equal(rebuilt.encode(clip), frames) and rebuilt.sr == SR
    silent = rep.analyze(Clip(np.zeros(4 * 512, np.float32), SR, "quiet", ""))
    assert np.allclose(rep.normalize(silent)[2], rep.silence(), atol=1e-4)


# Spectral convergence of each round trip (clip -> frames -> Griffin-Lim -> clip) on the
# two-tone signal (measured 0.08, 0.12 and 0.49): the STFT keeps the most, the mel bands less, 20
# MFCCs of 64 bands only the envelope (librosa's own mfcc_to_audio scores 0.51 on it).
ROUND_TRIP_LIMITS = {"stft": 0.15, "mel": 0.25, "mfcc": 0.7}


@pytest.mark.parametrize("name", SPECTRAL)
def test_spectral_round_trip_back_to_sound(name: str) -> None:
    rep, clip = small(name), chord_clip()
    rep.fit([rep.analyze(clip)], sr=SR)
    out = rep.decode(rep.encode(clip), name="back")
    assert out.sr == SR and out.name == "back" and np.isfinite(out.samples).all()
    n = min(len(out.samples), len(clip.samples))
    assert abs(len(out.samples) - len(clip.samples)) <= 128
    reference = stft_magnitude(clip.samples[:n], n_fft=512, hop_length=128)
    estimate = stft_magnitude(out.samples[:n], n_fft=512, hop_length=128)
    assert spectral_convergence(reference, estimate) < ROUND_TRIP_LIMITS[name]


@pytest.mark.parametrize("name", SPECTRAL)
def test_frames_that_drifted_far_away_still_decode_to_finite_sound(name: str) -> None:
    """An autoregressive model's samples can drift to absurd values (seen: over 385 dB, which
    overflows float32 power); decoding clips them at CEILING_DB and reads NaN as silence."""
    rep, clip = small(name), chord_clip()
    rep.fit([rep.analyze(clip)], sr=SR)
    frames = rep.encode(clip)
    frames[5:9] = 1e6
    frames[12, :3] = np.nan
    out = rep.decode(frames, name="drifted")
    assert np.isfinite(out.samples).all() and np.abs(out.samples).max() > 0


def test_gain_augmentation_shifts_mel_frames_in_db() -> None:
    rep = build_representation({"name": "mel", "n_fft": 512, "hop_length": 128, "n_mels": 32, "gain_db": 6.0})
    clip = chord_clip()
    rep.fit([rep.analyze(clip)], sr=SR)
    window = rep.encode(clip)[:20]
    shifted = rep.augmenter(0)(window, np.random.default_rng(0))
    delta = rep.denormalize(shifted) - rep.denormalize(window)
    loud = rep.denormalize(window) > rep.config.floor_db + 10
    assert np.ptp(delta[loud]) < 1e-3 and 0 < abs(delta[loud][0]) <= 6.0
    assert build_representation({"name": "mel"}).augmenter(3) is None  # off by default
