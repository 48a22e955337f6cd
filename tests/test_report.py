"""The run report: every column that arrives is plotted, every string is escaped, every link is
relative and resolves, and the page, copied elsewhere, opens in Chromium with working media."""

from __future__ import annotations

import argparse
import csv
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile
from PIL import Image

from tunesmith.io import write_midi
from tunesmith.judge.report import build_report, compare_section, flatten, read_table, x_axis
from tunesmith.judge.web_commands import register

from .browser import browser, console_errors, media_state, play  # noqa: F401 (browser is a fixture)
from .conftest import make_piece

RUN_NAME = "run <b>&'x"  # markup in a name must reach the page escaped
TINY = [
    "data.cache=false",
    "data.workers=1",
    "data.seq_len=16",
    "data.batch_size=4",
    "data.valid_fraction=0.25",
    "data.test_fraction=0.1",
    "representation.step=eighth",
    "model.hidden_size=8",
    "train.epochs=2",
    "train.patience=0",
]


class Links(HTMLParser):
    """Collects the tags of the page with their ``src`` / ``href``."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value is not None:
                self.tags.append((tag, value))


def fake_compare(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace ``compare_sets`` (tens of seconds on real sets) by a fast stand-in that returns a
    result of the documented shape and writes one picture; returns the list of its calls."""
    calls: list[dict] = []

    def compare_sets(real, generated, *, out_dir=None, seed=0, **options):
        calls.append({"real": real, "generated": generated, "out_dir": out_dir, "seed": seed})
        png = Path(out_dir) / "pitch_range.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (60, 30), "darkorange").save(png)
        histogram = {"mean": [1 / 12] * 12, "std": [0.0] * 12}
        return {
            "kind": "symbolic",
            "real_count": 3,
            "generated_count": len(generated),
            "two_sample_accuracy": {"accuracy": 0.75, "ci": [0.4, 0.9]},
            "mean_overlap": 0.5,
            "frechet_distance": {"value": 2.0, "ci": [1.0, 3.0]},
            "statistics": {
                "pitch_range": {
                    "real": {"mean": 12.0, "std": 1.0},
                    "generated": {"mean": 5.0, "std": 2.0},
                    "overlap": 0.3,
                    "overlap_ci": [0.1, 0.5],
                    "verdict": "generated lower",
                },
                "pitch_class_histogram": {"real": histogram, "generated": histogram, "verdict": "close"},
            },
            "plots": [str(png)],
        }

    pytest.importorskip("tunesmith.judge.compare")
    monkeypatch.setattr("tunesmith.judge.compare.compare_sets", compare_sets)
    return calls


def add_columns(path: Path, columns: dict[str, list[str]]) -> None:
    """Append columns to a metrics CSV, as a newer trainer would write them."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    rows[0] += list(columns)
    for index, row in enumerate(rows[1:]):
        row += [values[index] for values in columns.values()]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch run with extra metric columns, a quality.csv and samples, reported by the CLI."""
    from tunesmith.config import load_config
    from tunesmith.run import generate, load_run, write_pieces
    from tunesmith.training import train

    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNESMITH_CACHE", str(root / "cache"))
        fake_compare(patch)
        for seed in range(8):
            write_midi(make_piece(seed, beats=24), root / "music" / f"tune{seed}.mid")
        for seed in range(8, 11):
            write_midi(make_piece(seed, beats=24), root / "real" / f"held{seed}.mid")
        run_dir = root / RUN_NAME
        train(load_config(None, [f"data.source={root / 'music'}", *TINY]), run_dir, progress=False)
        add_columns(run_dir / "metrics.csv", {"grad_norm": ["1.5", "0.5"], "quality/pitch_range": ["12", ""]})
        (run_dir / "quality.csv").write_text("epoch,note_density,comment\n1,0.25,first\n2,0.75,second\n")
        run = load_run(run_dir)
        samples = run_dir / "samples" / "epoch-2"
        write_pieces(generate(run, num=1, length=16, seed=3), samples, run.representation, plot=False)
        Image.new("RGB", (40, 20), "steelblue").save(samples / "piece-01.png")  # a picture of it
        write_midi(make_piece(20, beats=4), run_dir / "samples" / "epoch-1" / "only-midi.mid")
        t = np.arange(8000) / 8000
        soundfile.write(run_dir / "samples" / "epoch-1" / "audio only.wav", np.sin(2 * np.pi * 440 * t), 8000)
        parser = argparse.ArgumentParser()
        register(parser.add_subparsers(dest="command"))
        out = root / "report-out"
        args = parser.parse_args(
            ["report", str(run_dir), "--out", str(out), "--num", "2", "--length", "24", "--real", str(root / "real")]
        )
        args.func(args)
    return out / "index.html"


def test_every_column_is_plotted_and_every_string_escaped(report: Path) -> None:
    page = report.read_text()
    for column in ("train_loss", "valid_nll", "grad_norm", "lr", "pitch_range", "note_density"):
        assert f"<td>{column}</td>" in page, column
    assert "<td>comment</td>" not in page and "<td>quality/pitch_range</td>" not in page
    assert "<b>" not in page and "run &lt;b&gt;&amp;&#x27;x" in page
    assert "hidden_size: 8" in page  # the resolved config
    assert page.index("epoch-2/piece-01") < page.index("epoch-1/only-midi")  # the newest samples first
    assert "audio%20only-waveform.png" in page and "audio%20only-mel.png" in page  # an audio-only sample
    for anchor in ("config", "curves", "quality", "samples", "generated", "compare"):
        assert f'<section id="{anchor}">' in page


def test_links_are_relative_and_resolve(report: Path) -> None:
    parser = Links()
    parser.feed(report.read_text())
    tags = [tag for tag, _ in parser.tags]
    # samples: MIDI + WAV + PNG, MIDI only (rendered), WAV only; 2 fresh pieces
    assert tags.count("audio") == 5
    assert tags.count("img") >= 7  # curves, quality x2, piano rolls, waveform and mel (or a note)
    for _tag, link in parser.tags:
        if link.startswith(("data:", "#")):
            continue
        assert "://" not in link and not link.startswith("/"), link
        target = (report.parent / unquote(link)).resolve()
        assert target.is_file() and report.parent.resolve() in target.parents, link


def test_report_opens_in_chromium_wherever_it_is_copied(report: Path, browser, tmp_path: Path) -> None:  # noqa: F811
    copy = shutil.copytree(report.parent, tmp_path / "copied report")
    browser.get((copy / "index.html").as_uri())
    state = media_state(browser)
    assert state["images"] and all(i["ok"] for i in state["images"]), state["images"]
    assert len(state["audios"]) == 5 and all(a["ok"] and a["duration"] > 0 for a in state["audios"]), state
    for index in range(len(state["audios"])):
        assert play(browser, index)["ok"]
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_comparison_table_with_real_music(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_compare(monkeypatch)
    (tmp_path / "real").mkdir()
    write_midi(make_piece(1), tmp_path / "real" / "r.mid")
    for name in ("g1.mid", "g1.wav", "g1.png", "g2.mid", "g2.wav", "generation.yaml"):
        (tmp_path / "gen" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "gen" / name).write_bytes(b"")
    out = tmp_path / "report"
    html = compare_section(tmp_path / "real", tmp_path / "gen", out, out / "media", seed=7)
    assert [p.name for p in calls[0]["generated"]] == ["g1.mid", "g2.mid"]  # MIDI against MIDI
    assert calls[0]["seed"] == 7 and calls[0]["out_dir"] == out / "media" / "compare"
    assert "<td>two_sample_accuracy.ci</td><td>[0.4, 0.9]</td>" in html and "<td>mean_overlap</td><td>0.5</td>" in html
    assert "<th>real.mean</th>" in html and "<td>vector[12]</td>" in html and "<td>generated lower</td>" in html
    assert "3 real pieces" in html and "2 fresh ones" in html
    pictures = re.findall('<img src="([^"]+)"', html)
    assert pictures == ["media/compare/pitch_range.png"] and (out / pictures[0]).is_file()


def test_a_run_without_checkpoint_or_metrics_gets_notes(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("model:\n  name: lstm\n")
    page = build_report(tmp_path / "run", num=2).read_text()
    assert page.count('class="note"') >= 5 and "metrics.csv is missing" in page and "No samples" in page
    assert "No pieces generated" in page and "report --real DIR" in page
    assert (tmp_path / "run" / "report" / "index.html").is_file()


def test_read_table_keeps_numeric_columns(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("step,train_loss,note,blank,quality/x\n10,2.5,a,,1e-3\n20,,b,,\n30,1.5,c,,inf\n")
    table = read_table(path)
    assert list(table) == ["step", "train_loss", "quality/x"]
    np.testing.assert_array_equal(table["train_loss"], [2.5, math.nan, 1.5])
    np.testing.assert_array_equal(table["quality/x"], [1e-3, math.nan, math.inf])
    assert x_axis(table)[0] == "step" and x_axis({"a": np.zeros(3)})[1].tolist() == [1, 2, 3]


def test_flatten_nests_and_writes_intervals() -> None:
    value = {"acc": {"accuracy": 0.5, "ci": [0.25, 0.75]}, "vec": {"mean": [1.0, 2.0, 3.0]}, "verdict": "close"}
    flat = {"acc.accuracy": 0.5, "acc.ci": "[0.25, 0.75]", "vec.mean": "vector[3]", "verdict": "close"}
    assert flatten(value) == flat


def test_without_real_music_the_run_s_own_held_out_pieces_are_compared(tmp_path: Path, monkeypatch) -> None:
    from tunesmith.config import load_config
    from tunesmith.training import train

    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    calls = fake_compare(monkeypatch)
    for seed in range(10):
        write_midi(make_piece(seed, beats=24), tmp_path / "music" / f"tune{seed}.mid")
    train(load_config(None, [f"data.source={tmp_path / 'music'}", *TINY]), tmp_path / "run", progress=False)
    page = build_report(tmp_path / "run", num=2, length=24).read_text()
    held_out = sorted((tmp_path / "run" / "report" / "media" / "held-out").glob("*.mid"))
    assert held_out and calls[0]["real"] == tmp_path / "run" / "report" / "media" / "held-out"
    assert "real pieces from" in page and "report --real DIR" not in page
