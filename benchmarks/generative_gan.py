"""Train each GAN briefly on the built-in data and judge its samples against held-out music, next
to the foundation LSTM trained with the same time budget.

    python benchmarks/generative_gan.py [--quick] [--out DIR]

Runs, each for the same wall-clock budget (``train.max_minutes``; 5 minutes, 0.5 with
``--quick``), one thread each:

- ``lstm-gan`` (``configs/gan/lstm-gan-notes.yaml``) and the LSTM of the note demo
  (``src/tunesmith/configs/demo.yaml``) on the ``bach-chorales`` piano rolls;
- ``lstm-gan`` (``configs/gan/lstm-gan-mel.yaml``), ``specgan`` (``configs/gan/specgan.yaml``)
  and the LSTM of the audio demo (its model and training sections, on the GANs' data and mel
  frames) on ``bach-chorales-audio``.

Each run's best checkpoint (the LSTM's by validation NLL, a GAN's by ``sample_gap``: its samples
judged against validation music after every epoch) draws ``N`` samples of ``T`` frames from
silence (64 x 64 eighth notes for notes, 32 x 256 frames, about 3 s, for mel); as many windows
of ``T`` frames of the held-out test pieces are the real set, decoded the same way (Griffin-Lim
for mel). The judge (:func:`tunesmith.judge.compare_items`) scores the two sets:
``two_sample_accuracy`` (a classifier telling them apart on the pieces' or clips' statistics:
0.5 means it cannot), ``mean_overlap`` (the MGEval overlap of each statistic, averaged: 1 means
the two sets' statistics are spread alike) and ``frechet_distance``, each the mean over three
independent draws of both sets (one with ``--quick``; ``two_sample_accuracy_draws`` lists each
draw's, since near 1 a single window moves one draw's accuracy by 1/128 to 1/64). ``best_game_steps``
counts the adversarial steps a GAN's best checkpoint had taken (0: its samples come from the
generator's maximum-likelihood pretraining alone; null for the LSTM). ``diversity``
is the mean pairwise distance of the generated windows over that of the real ones; ``collapsed`` when it is below
0.25 in any draw.

For scale, the mel rows are followed by reference rows (``model`` ``held-out + noise``): other
held-out windows with Gaussian noise of ``noise_std`` (in the representation's standardized
units, 1 = a band's spread over the corpus) added to every band of every frame, judged against
the held-out set exactly as samples are (``noise_std`` 0: real against real). They show how
little frame-level noise the judge needs to tell clips apart.

Prints a JSON list of one object per model; a full run also writes
``docs/images/gan-notes.png``, ``gan-mel.png`` and ``specgan-mel.png`` (a held-out window next
to one from each model's best checkpoint).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
GAN_CONFIGS = ROOT / "configs" / "gan"
DEMO_CONFIGS = ROOT / "src" / "tunesmith" / "configs"
IMAGES = ROOT / "docs" / "images"
COLLAPSE_BELOW = 0.25
DRAWS = 3
NOISE_STDS = (0.0, 0.1, 0.2, 0.3)


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def plans() -> list[dict[str, Any]]:
    """The runs: ``{"model", "representation", "config"}`` with ``config`` a config dict."""
    notes_lstm = _yaml(DEMO_CONFIGS / "demo.yaml")
    notes_gan = _yaml(GAN_CONFIGS / "lstm-gan-notes.yaml")
    mel_gan = _yaml(GAN_CONFIGS / "lstm-gan-mel.yaml")
    audio_demo = _yaml(DEMO_CONFIGS / "demo-audio.yaml")
    mel_lstm = {**mel_gan, "model": audio_demo["model"], "train": audio_demo["train"]}
    return [
        {"model": "lstm", "representation": "pianoroll", "config": notes_lstm},
        {"model": "lstm-gan", "representation": "pianoroll", "config": notes_gan},
        {"model": "lstm", "representation": "mel", "config": mel_lstm},
        {"model": "lstm-gan", "representation": "mel", "config": mel_gan},
        {"model": "specgan", "representation": "mel", "config": _yaml(GAN_CONFIGS / "specgan.yaml")},
    ]


def held_out_windows(sequences: list[np.ndarray], count: int, length: int, seed: int) -> list[np.ndarray]:
    """``count`` windows of ``length`` frames ``shape=(length, D)`` from ``sequences`` (held-out
    pieces taken in turn, each window at a random offset)."""
    from tunesmith.data import windows_in_turn

    pieces = [np.asarray(s, np.float32) for s in sequences]
    windows = windows_in_turn(pieces, count, length, np.random.default_rng(seed), min_length=length)
    if not windows:
        raise ValueError(f"no held-out piece has {length} frames")
    return windows


def diversity(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean pairwise L1 distance of generated windows over that of real ones, ``shape=(N, T, D)``."""
    import torch

    from tunesmith.models.adversarial import spread

    def of(x: np.ndarray) -> float:
        t = torch.as_tensor(x, dtype=torch.float32)
        return float(spread(t, torch.ones(t.shape[:2])))

    return of(generated) / max(of(real), 1e-12)


def judge_run(run_dir: Path, *, num: int, length: int, draws: int = 1) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The judge's numbers for a run's samples against held-out windows, averaged over ``draws``
    independent draws (draw ``k``: samples with seed ``k``, real windows at offsets drawn with
    seed ``k``); also one real and one generated window of the first draw (for the pictures)."""
    from tunesmith.config import config_from_dict
    from tunesmith.data import prepare_data
    from tunesmith.judge import compare_items
    from tunesmith.run import load_run
    from tunesmith.sampling import piece_name, sample_frames

    run = load_run(run_dir)
    rep = run.representation
    data = prepare_data(config_from_dict(run.config).data, rep, progress=False)
    kind = "symbolic" if rep.domain == "notes" else "audio"
    context = {"qpm": run.qpm}
    per_draw: list[dict[str, float]] = []
    for seed in range(draws):
        real = np.stack(held_out_windows(data.splits["test"], num, length, seed))
        generated = sample_frames(run.model, num=num, length=length, seed=seed, repair=rep.repair, start=rep.silence())
        real_items = [rep.decode(w, name=f"real-{i}", **context) for i, w in enumerate(real)]
        gen_items = [rep.decode(w, name=piece_name(i), **context) for i, w in enumerate(generated)]
        result = compare_items(real_items, gen_items, kind=kind, seed=seed, n_boot=20)
        per_draw.append(
            {
                "two_sample_accuracy": float(result["two_sample_accuracy"]["accuracy"]),
                "mean_overlap": float(result["mean_overlap"]),
                "frechet_distance": float(result["frechet_distance"]["value"]),
                "diversity": diversity(generated, real),
            }
        )
        if seed == 0:
            pictured = real[0], generated[0]
    mean = {key: float(np.mean([d[key] for d in per_draw])) for key in per_draw[0]}
    numbers = {
        "two_sample_accuracy": round(mean["two_sample_accuracy"], 3),
        "two_sample_accuracy_draws": [round(d["two_sample_accuracy"], 3) for d in per_draw],
        "mean_overlap": round(mean["mean_overlap"], 3),
        "frechet_distance": round(mean["frechet_distance"], 2),
        "diversity": round(mean["diversity"], 3),
        "collapsed": any(d["diversity"] < COLLAPSE_BELOW for d in per_draw),
    }
    return numbers, *pictured


def noise_references(
    run_dir: Path, *, num: int, length: int, draws: int, noise_stds: tuple[float, ...]
) -> list[dict[str, Any]]:
    """The judge's numbers for held-out windows with Gaussian noise of each of ``noise_stds``
    added, against the held-out windows that a run's samples are judged against (draw ``k``: the
    real set as :func:`judge_run`'s, the noisy set from windows at offsets drawn with seed
    ``100 + k``). The run's data is prepared once, and each draw's real set described once."""
    from tunesmith.config import config_from_dict
    from tunesmith.data import prepare_data
    from tunesmith.judge import compare_tables
    from tunesmith.judge.compare import item_statistics
    from tunesmith.run import load_run

    run = load_run(run_dir)
    rep = run.representation
    data = prepare_data(config_from_dict(run.config).data, rep, progress=False)
    per_std: dict[float, list[tuple[float, float]]] = {std: [] for std in noise_stds}
    for seed in range(draws):
        real = np.stack(held_out_windows(data.splits["test"], num, length, seed))
        other = np.stack(held_out_windows(data.splits["test"], num, length, 100 + seed))
        real_table = item_statistics([rep.decode(w, name=f"real-{i}") for i, w in enumerate(real)], "audio")
        for std in noise_stds:
            noisy = (other + std * np.random.default_rng(seed).standard_normal(other.shape)).astype(np.float32)
            noisy_table = item_statistics([rep.decode(w, name=f"noisy-{i}") for i, w in enumerate(noisy)], "audio")
            result = compare_tables(real_table, noisy_table, kind="audio", seed=seed, n_boot=20)
            per_std[std].append((result["two_sample_accuracy"]["accuracy"], result["mean_overlap"]))
    rows = []
    for std, per_draw in per_std.items():
        accuracy, overlap = np.mean(per_draw, axis=0)
        rows.append(
            {
                "model": "held-out + noise",
                "representation": rep.name,
                "train_seconds": None,
                "noise_std": std,
                "two_sample_accuracy": round(float(accuracy), 3),
                "two_sample_accuracy_draws": [round(float(a), 3) for a, _ in per_draw],
                "mean_overlap": round(float(overlap), 3),
            }
        )
    return rows


def game_steps_at(run_dir: Path, epoch: int, pretrain_steps: int) -> int | None:
    """How many adversarial steps a GAN run had taken by the end of ``epoch`` (the steps after
    its ``pretrain_steps`` of maximum-likelihood pretraining); None for a model without a game."""
    import csv

    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = {int(row["epoch"]): row for row in csv.DictReader(handle)}
    if epoch not in rows or "train_g_loss" not in rows[epoch]:
        return None
    return max(0, int(rows[epoch]["step"]) - pretrain_steps)


def train_one(plan: dict[str, Any], out: Path, *, minutes: float) -> tuple[Any, Path]:
    """Train ``plan``'s config for ``minutes`` of wall clock (one thread); return the result."""
    from tunesmith.config import config_from_dict
    from tunesmith.training import train

    config = json.loads(json.dumps(plan["config"]))
    config.setdefault("train", {}).update(
        {"max_minutes": minutes, "epochs": 1000, "threads": 1, "sample_every": 0, "patience": 0}
    )
    config["train"].pop("max_steps", None)
    run_dir = out / f"{plan['model']}-{plan['representation']}"
    return train(config_from_dict(config), run_dir, progress=False), run_dir


def picture(real: np.ndarray, generated: np.ndarray, rep: Any, title: str, out_png: Path) -> Path:
    """A real window next to a generated one: sounding keys (piano roll) or mel frames in dB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True, constrained_layout=True)
    if rep.domain != "notes":  # one colour scale, the real window's: a stray loud frame cannot wash out the rest
        real_db = rep.denormalize(np.asarray(real, np.float32))
        scale = {"vmin": float(real_db.min()), "vmax": float(real_db.max())}
    for ax, frames, name in zip(axes, (real, generated), ("held-out (real)", f"generated ({title})")):
        if rep.domain == "notes":
            image = np.asarray(frames)[:, : rep.config.keys].T
            ax.imshow(image, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest")
            ax.set_xlabel("frame (eighth note)")
            ax.set_ylabel("key")
        else:
            image = rep.denormalize(np.asarray(frames, np.float32)).T
            shown = ax.imshow(image, aspect="auto", origin="lower", cmap="magma", interpolation="nearest", **scale)
            ax.set_xlabel("frame")
            ax.set_ylabel("mel band")
        ax.set_title(name)
    if rep.domain != "notes":
        fig.colorbar(shown, ax=axes, label="dB (the real window's range)")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def run(
    quick: bool,
    *,
    out: Path | None = None,
    images: bool | None = None,
    minutes: float | None = None,
    only: list[str] | None = None,
) -> list[dict]:
    """Train and judge every run of :func:`plans`; return one dict per model (see the module's
    docstring). ``quick``: 0.5 minutes of training each and fewer samples. ``images``: rewrite
    the pictures in ``docs/images`` (by default only in a full run). ``minutes``: the training
    budget of every model (default 0.5 quick, else 5). ``only``: run just these
    ``MODEL-REPRESENTATION`` names (``lstm-pianoroll``, ``lstm-gan-mel``, ...)."""
    from tunesmith.run import load_run

    if images is None:
        images = not quick
    minutes = minutes or (0.5 if quick else 5.0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tunesmith-gan-bench-") as scratch:
        folder = Path(out) if out else Path(scratch)
        mel_run = None
        for plan in plans():
            if only and f"{plan['model']}-{plan['representation']}" not in only:
                continue
            result, run_dir = train_one(plan, folder, minutes=minutes)
            notes = plan["representation"] == "pianoroll"
            num = (16 if quick else 64) if notes else (12 if quick else 32)
            numbers, real, generated = judge_run(
                run_dir, num=num, length=64 if notes else 256, draws=1 if quick else DRAWS
            )
            if not notes:
                mel_run = run_dir
            rows.append(
                {
                    "model": plan["model"],
                    "representation": plan["representation"],
                    "train_seconds": round(result.seconds, 1),
                    "steps": result.steps,
                    "best_epoch": result.best_epoch,
                    "best_game_steps": game_steps_at(
                        run_dir, result.best_epoch, plan["config"]["model"].get("pretrain_steps", 0)
                    ),
                    "epochs": result.epochs,
                    **numbers,
                }
            )
            logging.getLogger("tunesmith.bench").info("%s", rows[-1])
            pictures = {"lstm-gan": "gan-notes.png" if notes else "gan-mel.png", "specgan": "specgan-mel.png"}
            name = pictures.get(plan["model"])
            if images and name:  # the GANs' pictures; the LSTM has its own elsewhere
                rep = load_run(run_dir).representation
                title = f"{plan['model']}, epoch {result.best_epoch} of {result.epochs}"
                picture(real, generated, rep, title, IMAGES / name)
        if mel_run is not None:
            num, draws = (12, 1) if quick else (32, DRAWS)
            for row in noise_references(mel_run, num=num, length=256, draws=draws, noise_stds=NOISE_STDS):
                rows.append(row)
                logging.getLogger("tunesmith.bench").info("%s", row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.5 minutes of training per model, fewer samples")
    parser.add_argument("--out", default=None, help="keep the runs under this folder")
    parser.add_argument("--no-images", action="store_true", help="do not rewrite docs/images/gan-*.png")
    parser.add_argument("--minutes", type=float, default=None, help="training budget per model (default 5)")
    parser.add_argument(
        "--only", default=None, help="comma-separated runs to do, e.g. lstm-pianoroll,lstm-gan-pianoroll (default: all)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("tunesmith.bench").setLevel(logging.INFO)
    images = False if args.no_images else None
    only = args.only.split(",") if args.only else None
    names = [f"{plan['model']}-{plan['representation']}" for plan in plans()]
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    print(json.dumps(run(args.quick, out=args.out, images=images, minutes=args.minutes, only=only), indent=2))


if __name__ == "__main__":
    main()
