"""The documentation stays true: the site builds with no warning (broken links included), the
configuration reference covers every config field, and every command of the getting-started
page runs, on a tiny dataset, with only the substitutions ``FOLDER`` and ``QUICK`` (each of
which the page itself names). The commands run in this process (``tunesmith.cli.main`` is what
the ``tunesmith`` program calls) with one PyTorch thread, which on a shared 2-core machine is
several times faster than two and changes no result the test checks."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith.cli import main

from .conftest import make_piece

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "getting-started.md"
INSTALL = 'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 -e ".[test]"'
DEMO = "tunesmith demo --out demo-out"
TEST = "python -m pytest -q"
FOLDER = "~/music/midi"  # the page's stand-in for the reader's folder; the test's tiny folder replaces it
# Options the test adds to a command of the page so that it finishes in seconds; the page names each.
QUICK = {
    "demo": ["--minutes", "0.05", "--max-pieces", "12", "--num", "1", "--length", "16"],
    "train": ["--set", "train.epochs=1"],
}
PY_QUICK = ('"data.source=~/music/midi"', '"data.source=~/music/midi", "train.epochs=1"')


def code_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced code blocks of ``language`` in Markdown ``text``."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def shell_commands(text: str) -> list[str]:
    """Every command of the ``bash`` blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in code_blocks(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(" ".join(line.split()))
    return commands


def test_site_builds_without_a_warning(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    reference = (tmp_path / "site" / "reference" / "configuration" / "index.html").read_text()
    for key in ("data.seq_len", "train.epochs", "model.hidden_size", "representation.keys"):
        assert f"<code>{key}</code>" in reference, key
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "tunesmith train" in cli and "--resume" in cli
    assert "tunesmith.load_config" in (tmp_path / "site" / "api" / "index.html").read_text()


def test_config_reference_fails_on_an_undocumented_field() -> None:
    from dataclasses import dataclass

    from mkdocs.exceptions import PluginError

    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import config_reference
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))

    @dataclass
    class Documented:
        """Options.

        Attributes:
            size: how big,
                over two lines.
        """

        size: int = 1

    @dataclass
    class Child(Documented):
        """More options.

        Attributes:
            depth: how deep.
        """

        depth: int = 2
        width: int = 3

    assert config_reference.field_descriptions(Documented) == {"size": "how big, over two lines."}
    with pytest.raises(PluginError, match="Child has no description for width"):
        config_reference.field_descriptions(Child)
    Child.__doc__ = "More options.\n\nAttributes:\n    depth: how deep.\n    widht: a typo.\n"
    with pytest.raises(PluginError, match="describes widht"):
        config_reference.field_descriptions(Child)


def test_getting_started_shows_the_readme_and_ci_commands() -> None:
    commands = shell_commands(PAGE.read_text())
    assert commands[:3] == [INSTALL, DEMO, TEST]
    readme = shell_commands((ROOT / "README.md").read_text())
    assert [c for c in readme if c in (INSTALL, DEMO, TEST)][:3] == [INSTALL, DEMO, TEST]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    steps = INSTALL.split(" && ")
    assert all(step in ci for step in steps) and TEST in ci
    assert ci.index(steps[0]) < ci.index(steps[1]) < ci.index(steps[2]) < ci.index(TEST)
    text = " ".join(PAGE.read_text().split())
    for options in QUICK.values():  # the page tells the reader what the test adds
        assert " ".join(options) in text, options


def test_readme_lists_every_command_and_model_family() -> None:
    from tunesmith.cli import build_parser
    from tunesmith.models import MODELS

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    (subcommands,) = [a for a in build_parser()._actions if hasattr(a, "choices") and a.choices]
    for name in subcommands.choices:
        assert f"| `tunesmith {name}` |" in readme, f"README's command table lacks tunesmith {name}"
    first_cells = [line.split("|")[1] for line in readme.splitlines() if line.startswith("| `")]
    for name in MODELS:
        assert any(f"`{name}`" in cell for cell in first_cells), f"README's model table lacks {name}"
    page = shell_commands(PAGE.read_text())
    for command in shell_commands(readme):  # so the getting-started test runs the README's too
        assert command in page, f"README command {command!r} is not on the getting-started page"


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """Thirty short two-track MIDI files, one of them ``tune.mid`` (the page's primer)."""
    from tunesmith.io import write_midi

    folder = tmp_path / "music"
    for seed in range(30):
        write_midi(make_piece(seed, beats=24), folder / ("tune.mid" if seed == 0 else f"piece{seed}.mid"))
    return folder


@pytest.fixture
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_getting_started_commands_run(tiny_folder: Path, tmp_path: Path, monkeypatch, capsys, one_thread) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(work)
    text = PAGE.read_text()
    for command in shell_commands(text):
        if command in (INSTALL, TEST):
            continue  # checked above: the same as the README's and .ci/run's
        argv = shlex.split(command.replace(FOLDER, str(tiny_folder)))
        assert argv[0] == "tunesmith", f"teach tests/test_docs.py to run {command!r}"
        code = main(argv[1:] + QUICK.get(argv[1], []))
        assert code == 0, f"{command!r} failed:\n{capsys.readouterr().err}"
    for listed in re.findall(r"^(demo-out/\S+)", "\n".join(code_blocks(text, "text")), flags=re.MULTILINE):
        assert (work / listed).is_file(), listed
    for written in ("runs/mine/checkpoints/best.pt", "new/piece-02.mid", "continued/piece-01.wav", "piece.wav"):
        assert (work / written).is_file(), written
    assert "(test): NLL" in capsys.readouterr().out  # evaluate's line

    run_python(PAGE, tiny_folder)
    assert (work / "piece-py.wav").is_file() and (work / "runs/mine-py/checkpoints/best.pt").is_file()

    readme = tmp_path / "readme"  # the README's Python, in a clean folder of its own
    readme.mkdir()
    (readme / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(readme)
    run_python(ROOT / "README.md", tiny_folder)
    assert len(list((readme / "new-py").glob("*.mid"))) == 2


def run_python(page: Path, folder: Path) -> None:
    """Run the one ``python`` block of ``page`` with the tiny folder and one epoch (``PY_QUICK``)."""
    (python,) = code_blocks(page.read_text(), "python")
    assert PY_QUICK[0] in python, f"{page.name}'s Python no longer reads {FOLDER}; update PY_QUICK"
    exec(compile(python.replace(*PY_QUICK).replace(FOLDER, str(folder)), str(page), "exec"), {})
