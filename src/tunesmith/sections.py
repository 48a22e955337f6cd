"""The ``data:`` and ``train:`` sections of an experiment: plain dataclasses, validated on
construction. A leaf module (it imports only the schema helpers), so model families may use
these sections without importing the config loader, which imports the model registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from .schema import require as _require


@dataclass
class DataConfig:
    """Where the music comes from and how it is cut into training batches.

    Attributes:
        source: "bach-chorales" (ships with music21), a folder of MIDI/MusicXML/ABC files
            (searched recursively), one music file, or a piano-roll benchmark file (.mat or
            .pickle with its own train/valid/test split).
        seq_len: frames per training window.
        batch_size: windows per optimizer step.
        valid_fraction: share of pieces held out for validation (split by melody, never by
            window); a benchmark file keeps its own split.
        test_fraction: share of pieces held out for testing, like ``valid_fraction``.
        transpose: augment training windows by a random shift in [-transpose, +transpose]
            semitones (never pushing a note off the keyboard).
        max_pieces: read at most this many pieces (0: all); handy for quick trials.
        workers: processes used to parse files.
        cache: keep prepared frames for later runs (in ``$TUNESMITH_CACHE``, else
            ``~/.cache/tunesmith``).
        max_seconds: refuse (skip and report) a file that lasts longer than this, so that no input
            decodes to unbounded work.
        sr: sample rate audio is resampled to (audio representations only).
        overlap: share of a training window that the next window repeats (0: windows tile).
        fma_subset: with a Free Music Archive folder, use only this subset (small, medium, large, full).
        fma_genres: with a Free Music Archive folder, use only tracks of these top-level genres.
    """

    source: str = "bach-chorales"
    seq_len: int = 64
    batch_size: int = 16
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    transpose: int = 0
    max_pieces: int = 0
    workers: int = 2
    cache: bool = True
    max_seconds: float = 1800.0
    sr: int = 22050
    overlap: float = 0.0
    fma_subset: str = ""
    fma_genres: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _require(self.max_seconds > 0, f"data.max_seconds must be > 0, got {self.max_seconds}")
        _require(4000 <= self.sr <= 192000, f"data.sr must be from 4000 to 192000 Hz, got {self.sr}")
        _require(0 <= self.overlap < 1, f"data.overlap must be in [0, 1), got {self.overlap}")
        for key in ("seq_len", "batch_size", "workers"):
            _require(getattr(self, key) >= 1, f"data.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("transpose", "max_pieces"):
            _require(getattr(self, key) >= 0, f"data.{key} must be >= 0, got {getattr(self, key)}")
        _require(
            0 <= self.valid_fraction < 1
            and 0 <= self.test_fraction < 1
            and self.valid_fraction + self.test_fraction < 1,
            f"data.valid_fraction and data.test_fraction must be in [0, 1) and leave some training data, "
            f"got {self.valid_fraction} and {self.test_fraction}",
        )


@dataclass
class TrainConfig:
    """The optimisation recipe: binary cross-entropy and Adam, with the usual controls.

    Attributes:
        epochs: at most this many passes over the training windows.
        max_steps: a budget of optimizer steps (0: none); training then runs
            ``min(epochs, ceil(max_steps / steps per epoch))`` epochs, so one config suits a small
            dataset (many passes) and a large one (few passes, as many updates).
        lr: Adam's learning rate.
        weight_decay: Adam's weight decay (0: none).
        lr_schedule: "constant", "cosine" (to 0 over the epochs run) or "plateau" (halve the rate
            when validation stops improving).
        grad_clip: clip the gradient norm to this value (0: off).
        patience: epochs without improvement before stopping early (0: never).
        seed: seeds the weights, window order, augmentation and dropout, so a run repeats exactly.
        max_minutes: training time limit (0: no limit): no epoch starts that, as long as the
            last one, would end past it.
        device: "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:N" or "mps".
        threads: CPU threads PyTorch may use (0: PyTorch chooses).
        ema: decay of an exponential moving average of the weights, updated every step (0: off;
            0.998 averages over roughly the last 500 steps). Validation, ``best.pt`` and everything
            that loads a run use the averaged weights, which are usually a little better than the
            last step's (Polyak averaging).
        sample_every: every this many epochs, write a few samples to ``samples/epoch-NNN`` (0: never),
            so a run can be watched (and a collapse seen) while it trains.
        sample_count: samples written each time (with ``sample_every``).
        sample_length: frames per sample (with ``sample_every``), and per window judged for
            ``sample_gap``.
        judge_count: samples (and validation windows) judged after every epoch by a family
            whose best checkpoint is chosen by the quality of its samples (``sample_gap``: the
            GANs, which have no likelihood).
        select_window: the best checkpoint is chosen by the mean of the validation criterion
            over this many epochs, the latest of them kept (1: each epoch on its own). A noisy
            criterion, like a GAN's ``sample_gap`` judged on a few clips, then cannot pick an
            epoch that was lucky once.
    """

    epochs: int = 40
    max_steps: int = 0
    lr: float = 3e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    grad_clip: float = 1.0
    patience: int = 10
    seed: int = 0
    max_minutes: float = 0.0
    device: str = "auto"
    threads: int = 0
    ema: float = 0.0
    sample_every: int = 0
    sample_count: int = 2
    sample_length: int = 128
    judge_count: int = 24
    select_window: int = 1

    def __post_init__(self) -> None:
        _require(0.0 <= self.ema < 1.0, f"train.ema must be in [0, 1), got {self.ema}")
        _require(
            self.lr_schedule in ("constant", "cosine", "plateau"),
            f"train.lr_schedule must be constant, cosine or plateau; got {self.lr_schedule!r}",
        )
        _require(self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}")
        _require(self.lr > 0, f"train.lr must be > 0, got {self.lr}")
        _require(
            self.sample_count >= 1 and self.sample_length >= 1, "train.sample_count and sample_length must be >= 1"
        )
        _require(self.judge_count >= 2, f"train.judge_count must be >= 2, got {self.judge_count}")
        _require(self.select_window >= 1, f"train.select_window must be >= 1, got {self.select_window}")
        for key in ("max_steps", "weight_decay", "grad_clip", "patience", "max_minutes", "threads", "sample_every"):
            _require(getattr(self, key) >= 0, f"train.{key} must be >= 0, got {getattr(self, key)}")
        _require(
            self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"),
            f"train.device must be auto, cpu, cuda, cuda:N or mps; got {self.device!r}",
        )
