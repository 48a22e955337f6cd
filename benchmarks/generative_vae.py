"""Train the autoencoders briefly on the built-in data and measure their held-out reconstructions.

    python benchmarks/generative_vae.py [--quick] [--images docs/images] [--set key=value ...]

Rows (one per model, printed as one JSON list):

- ``lstm-vae`` on 2-bar phrases of the Bach chorales (``configs/vae/lstm-vae-2bar.yaml``) and on
  4-bar phrases (``lstm-vae-4bar.yaml``): ``note_f1``, the note F1 per frame,
  ``2 TP / (2 TP + FP + FN)`` over the (frame, key) pairs of the 88-key hold rolls of every
  consecutive phrase of the test split, each encoded (``z`` = ``mu``) and decoded greedily
  (a key sounds where its probability is above 0.5), and ``train_note_f1``, the same on as many
  phrases of the training split (untransposed): how far the gap is fitting, how far generalizing;
- ``conv-vae`` on 64-frame log-mel patches of ``bach-chorales-audio``
  (``conv-vae-mel.yaml``): ``spectral_convergence`` of the reconstructed mel magnitudes
  (``10 ** (dB / 20)``) over every test patch, ``||S - S_hat||_F / ||S||_F``.

Each row also has ``train_seconds``, ``steps`` and ``elbo_bound``: the test split's
reconstruction NLL plus KL per frame (nats), the negative ELBO, an upper bound on the NLL and
not a likelihood. ``--quick`` trains for a fraction of the time (a smoke test, not the numbers).
With ``--images``, draws ``vae-notes.png`` and ``vae-mel.png`` there: a held-out phrase, its
reconstruction and a sample from the prior.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "vae"
MINUTES = {"lstm-vae-2bar": 5.0, "lstm-vae-4bar": 2.5, "conv-vae-mel": 2.5}
"""Training time per model in the full benchmark (the configs' own limits are longer)."""
MAX_TEST_PATCHES = 400


def held_out_windows(sequences: list[np.ndarray], size: int) -> np.ndarray:
    """Every consecutive full window of ``size`` frames of ``sequences``: ``shape=(N, size, D)``."""
    rows = [x[i : i + size] for x in sequences for i in range(0, len(x) - size + 1, size)]
    return np.stack(rows).astype(np.float32)


@torch.no_grad()
def reconstruct(model: Any, windows: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """Encode each window (``z`` = ``mu``) and decode it greedily: ``shape`` of ``windows``."""
    out = []
    for first in range(0, len(windows), batch_size):
        chunk = torch.from_numpy(windows[first : first + batch_size])
        out.append(model.decode(model.encode(chunk), chunk.shape[1]).numpy())
    return np.concatenate(out)


def train_and_load(name: str, overrides: list[str], scratch: Path, *, minutes: float) -> tuple[Any, Any, Any]:
    """Train ``configs/vae/<name>.yaml`` for at most ``minutes``; the run, its data and the result."""
    from tunesmith.config import load_config
    from tunesmith.data import prepare_data
    from tunesmith.run import load_run
    from tunesmith.training import train

    config = load_config(CONFIGS / f"{name}.yaml", [f"train.max_minutes={minutes}", *overrides])
    result = train(config, scratch / name, progress=False)
    run = load_run(scratch / name)
    data = prepare_data(config.data, run.representation, progress=False)
    return run, data, result


def elbo_bound(run: Any, sequences: list[np.ndarray]) -> float:
    """The test split's negative ELBO per frame (recon NLL + KL), the model's own validation metric."""
    from tunesmith.training.trainer import validation_metrics

    metrics = validation_metrics(
        run.model, sequences, batch_size=32, start=run.representation.silence(), device=torch.device("cpu")
    )
    return metrics["elbo_bound"]


def notes_row(name: str, overrides: list[str], scratch: Path, *, minutes: float, images: Path | None) -> dict:
    """Train a note VAE; its held-out note F1 per frame and bound."""
    from tunesmith.latent import note_f1

    run, data, result = train_and_load(name, overrides, scratch, minutes=minutes)
    model, keys = run.model, run.representation.config.keys
    windows = held_out_windows(data.splits["test"], model.window_size())
    recon = reconstruct(model, windows)
    seen = held_out_windows(data.splits["train"], model.window_size())
    seen = seen[np.random.default_rng(0).permutation(len(seen))[: len(windows)]]
    row = {
        "model": f"{model.name} ({name.rsplit('-', 1)[-1]})",
        "representation": f"pianoroll {run.representation.config.step}, {model.window_size()} frames",
        "train_seconds": round(result.seconds, 1),
        "steps": result.steps,
        "test_phrases": len(windows),
        "note_f1": round(note_f1(windows[..., :keys], recon[..., :keys]), 4),
        "train_note_f1": round(note_f1(seen[..., :keys], reconstruct(model, seen)[..., :keys]), 4),
        "elbo_bound": round(elbo_bound(run, data.splits["test"]), 3),
    }
    if images is not None and name.endswith("2bar"):
        sample = model.generate(torch.zeros(1, model.n_features), num=1, length=model.window_size(),
                                generator=torch.Generator().manual_seed(0))[0].numpy()  # fmt: skip
        busy = int(np.argmax(windows[..., :keys].sum((1, 2))[: len(windows) // 2]))
        draw(images / "vae-notes.png", [windows[busy, :, :keys], recon[busy, :, :keys], sample[:, :keys]],
             ["held-out phrase", "reconstruction", "prior sample"], roll=True)  # fmt: skip
    return row


def mel_row(name: str, overrides: list[str], scratch: Path, *, minutes: float, images: Path | None) -> dict:
    """Train a mel VAE; the held-out spectral convergence of its reconstructed patches and bound."""
    from tunesmith.metrics.signal import spectral_convergence

    run, data, result = train_and_load(name, overrides, scratch, minutes=minutes)
    model, rep = run.model, run.representation
    windows = held_out_windows(data.splits["test"], model.window_size())
    windows = windows[np.random.default_rng(0).permutation(len(windows))[:MAX_TEST_PATCHES]]
    recon = reconstruct(model, windows)

    def magnitude(frames: np.ndarray) -> np.ndarray:  # (N, T, D) normalized -> mel magnitudes
        return 10.0 ** (rep.denormalize(frames.reshape(-1, frames.shape[-1])) / 20.0)

    row = {
        "model": model.name,
        "representation": f"mel {rep.config.n_mels} bands, {model.window_size()}-frame patches",
        "train_seconds": round(result.seconds, 1),
        "steps": result.steps,
        "test_patches": len(windows),
        "spectral_convergence": round(spectral_convergence(magnitude(windows).T, magnitude(recon).T), 4),
        "elbo_bound": round(elbo_bound(run, data.splits["test"][:8]), 3),
    }
    if images is not None:
        sample = model.generate(torch.zeros(1, model.n_features), num=1, length=model.window_size(),
                                generator=torch.Generator().manual_seed(0), temperature=1e-3)[0].numpy()  # fmt: skip
        draw(images / "vae-mel.png", [rep.denormalize(windows[0]), rep.denormalize(recon[0]), rep.denormalize(sample)],
             ["held-out patch (dB)", "reconstruction", "prior sample (mean)"], roll=False)  # fmt: skip
    return row


def draw(path: Path, panels: list[np.ndarray], titles: list[str], *, roll: bool) -> None:
    """Panels ``shape=(T, D)`` side by side (time across, keys or mel bands up) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), constrained_layout=True)
    for ax, panel, title in zip(axes, panels, titles):
        data = panel.T
        if roll:  # show the sounding range only
            rows = np.flatnonzero(np.concatenate(panels, axis=0).sum(0))
            low, high = (max(0, rows.min() - 2), rows.max() + 3) if len(rows) else (0, data.shape[0])
            data = data[low:high]
            ax.imshow(data, origin="lower", aspect="auto", cmap="Greys", extent=(0, data.shape[1], low + 21, high + 21))
            ax.set_ylabel("MIDI pitch")
        else:
            ax.imshow(data, origin="lower", aspect="auto", cmap="magma")
            ax.set_ylabel("mel band")
        ax.set_title(title)
        ax.set_xlabel("frame")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool, *, overrides: list[str] | None = None, images: Path | None = None) -> list[dict]:
    """Train lstm-vae on 2- and 4-bar chorale phrases and conv-vae on chorale mel patches; one row each."""
    overrides = overrides or []
    scale = 0.1 if quick else 1.0
    rows = []
    with tempfile.TemporaryDirectory(prefix="tunesmith-vae-bench-") as scratch:
        for name in ("lstm-vae-2bar", "lstm-vae-4bar"):
            rows.append(notes_row(name, overrides, Path(scratch), minutes=MINUTES[name] * scale, images=images))
        rows.append(mel_row("conv-vae-mel", overrides, Path(scratch), minutes=MINUTES["conv-vae-mel"] * scale,
                            images=images))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="train a tenth of the time (a smoke test)")
    parser.add_argument("--images", type=Path, default=None, help="folder for vae-notes.png and vae-mel.png")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    rows = run(args.quick, overrides=args.overrides, images=args.images)
    print(json.dumps({"rows": rows, "seconds": round(time.monotonic() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()
