"""MkDocs hook: the command-line reference, generated from ``tunesmith.cli.build_parser()``.

A page holding the line ``<!-- cli-reference -->`` gets, in its place, one section per
subcommand: its one-line help and its full ``--help`` text. A new subcommand appears on the
next build, and an option's documentation is the option's own ``help=``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from mkdocs.exceptions import PluginError

MARKER = "<!-- cli-reference -->"
WIDTH = "100"  # columns argparse wraps the help text to


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_cli())


def render_cli() -> str:
    """A summary table of the subcommands, then each one's ``--help``."""
    from tunesmith.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        commands = _subcommands(parser)
        rows = ["| command | what it does |", "|---|---|"]
        rows += [f"| [`tunesmith {name}`](#tunesmith-{name}) | {help_text} |" for name, help_text, _ in commands]
        sections = [_section(name, help_text, sub) for name, help_text, sub in commands]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(["\n".join(rows) + "\n", *sections])


def _section(name: str, help_text: str, sub: argparse.ArgumentParser) -> str:
    """One subcommand: a heading with a stable anchor, its help line, its ``--help`` text."""
    heading = f"## `tunesmith {name}` {{#tunesmith-{name}}}"
    return f"{heading}\n\n{help_text}.\n\n```text\n{sub.format_help().rstrip()}\n```\n"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, one-line help, parser)`` of every subcommand, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    raise PluginError("tunesmith.cli.build_parser() has no subcommands")
