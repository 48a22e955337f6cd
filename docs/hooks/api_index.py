"""MkDocs hook: the table of the top-level API, generated from ``tunesmith.__all__``.

A page holding the line ``<!-- api-index -->`` gets, in its place, a table of every name
``import tunesmith`` offers, with the first line of its docstring and a link to where the API
pages document it: the page of its own module, or of the nearest package above it that has
one (an API page is a file holding a ``::: tunesmith.x`` line). A top-level name that no API
page covers fails the build.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from mkdocs.exceptions import PluginError

MARKER = "<!-- api-index -->"
DIRECTIVE = re.compile(r"^::: (tunesmith[\w.]*)\s*$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated table."""
    if MARKER not in markdown:
        return markdown
    documented = set()
    for file in files.documentation_pages():
        documented.update(DIRECTIVE.findall(file.content_string))
    return markdown.replace(MARKER, render_index(documented))


def render_index(documented: set[str]) -> str:
    """One row per public top-level name: name, what it is, where it is documented."""
    import tunesmith

    rows = ["| name | what it is |", "|---|---|"]
    for name in tunesmith.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(tunesmith, name)
        module = _documenting_module(obj.__module__, name, documented)
        summary = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
        rows.append(f"| [`tunesmith.{name}`][{module}.{name}] | {summary} |")
    return "\n".join(rows) + "\n"


def _documenting_module(module: str, name: str, documented: set[str]) -> str:
    """The nearest module at or above ``module`` that an API page renders and that offers ``name``."""
    import importlib

    parts = module.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in documented and hasattr(importlib.import_module(candidate), name):
            return candidate
        parts.pop()
    raise PluginError(
        f"api index: tunesmith.{name} (defined in {module}) is on no API page; "
        f"add a docs/api/ page holding '::: {module}'"
    )
