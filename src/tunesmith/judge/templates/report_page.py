"""Small HTML builders for the run report. Every text they are given is escaped here, so a
caller never writes raw markup; links are URL-quoted relative paths."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from pathlib import PurePosixPath
from urllib.parse import quote

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
.meta { color: #555; margin-top: 0; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; border-radius: 4px; font-size: .85rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(22rem, 1fr)); gap: 1rem; }
.cards.narrow { grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); align-items: start; }
.scroll { overflow-x: auto; max-width: 100%; }
table.kv td { text-align: left; } table.kv td + td { overflow-wrap: anywhere; } table.kv { margin: 0; width: 100%; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .6rem; }
.card h3 { margin: 0 0 .4rem; font-size: 1rem; word-break: break-all; }
.card audio { width: 100%; }
.note { color: #555; font-style: italic; }
nav { margin: .6rem 0 1rem; } summary { cursor: pointer; color: #333; }
"""


def href(path: PurePosixPath | str) -> str:
    """A relative link to ``path`` (posix, relative to the page), URL-quoted and HTML-escaped."""
    return escape(quote(str(path)))


def note(text: str) -> str:
    """A remark in italics (why a part of the page is missing, where data came from)."""
    return f'<p class="note">{escape(text)}</p>'


def pre(text: str) -> str:
    """Preformatted text, such as a YAML file."""
    return f"<pre>{escape(text)}</pre>"


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible block: ``summary`` is escaped, ``body`` is already-built HTML."""
    return f"<details{' open' if open_ else ''}><summary>{escape(summary)}</summary>{body}</details>"


def nav(anchors: Iterable[tuple[str, str]]) -> str:
    """Links to the page's sections, ``(anchor, title)`` each."""
    return "<nav>" + " · ".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in anchors) + "</nav>"


def image(path: PurePosixPath | str, alt: str) -> str:
    """A picture that links to itself (full size on click)."""
    return f'<a href="{href(path)}"><img src="{href(path)}" alt="{escape(alt)}" loading="eager"></a>'


def audio(path: PurePosixPath | str) -> str:
    """An audio player that loads the file's metadata (duration) with the page."""
    return f'<audio controls preload="metadata" src="{href(path)}"></audio>'


def link(path: PurePosixPath | str, text: str) -> str:
    """A link to a file of the report, such as a MIDI file."""
    return f'<a href="{href(path)}">{escape(text)}</a>'


def table(header: Iterable[object], rows: Iterable[Iterable[object]], *, kind: str = "") -> str:
    """An HTML table in a horizontally scrolling box; cells are escaped (a float is shown with 4
    significant digits). ``kind="kv"``: a compact key-value table."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    head = "".join(f"<th>{escape(cell(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    attrs = f' class="{escape(kind)}"' if kind else ""
    return f'<div class="scroll"><table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def card(title: str, parts: Iterable[str]) -> str:
    """A box for one piece: a title, then already-built parts (players, pictures, links)."""
    return f'<div class="card"><h3>{escape(title)}</h3>{"".join(parts)}</div>'


def cards(items: Iterable[str], *, narrow: bool = False) -> str:
    """A responsive grid of :func:`card` boxes (``narrow``: smaller boxes, for tables)."""
    return f'<div class="cards{" narrow" if narrow else ""}">{"".join(items)}</div>'


def section(anchor: str, title: str, parts: Iterable[str]) -> str:
    """A titled part of the page that :func:`nav` can link to by ``anchor``."""
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def page(title: str, meta: str, sections: Iterable[str], *, contents: str = "") -> str:
    """The whole document: no external resources, so it opens anywhere the media folder goes.
    ``contents`` (from :func:`nav`) goes under the title."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f'<h1>{escape(title)}</h1>\n<p class="meta">{escape(meta)}</p>\n{contents}\n'
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
