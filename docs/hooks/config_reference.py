"""MkDocs hook: the configuration reference, generated from the config dataclasses.

A page holding the line ``<!-- config-reference -->`` gets, in its place, one table per config
section (key, type, default, description). The sections are the fields of
``tunesmith.config.ExperimentConfig``: a dataclass field becomes one table; ``representation``
becomes one table per registered representation (``tunesmith.representation.REPRESENTATIONS``,
name -> class with a ``Config`` attribute, when that registry exists; else ``PianoRollConfig``);
``model`` becomes one table per model config class in ``tunesmith.models.MODELS``.

Types and defaults come from the dataclass fields, descriptions from the Google-style
``Attributes:`` section of the class docstring (a subclass inherits its parents'
descriptions). The build fails when a field has no description or a docstring describes a
field that does not exist, so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import typing
from typing import Any

import griffe
import yaml
from mkdocs.exceptions import PluginError

MARKER = "<!-- config-reference -->"

logging.getLogger("griffe").setLevel(logging.ERROR)  # plain docstrings, parsed out of context


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated reference."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())


def render_reference() -> str:
    """The Markdown of every config section, in ``ExperimentConfig`` field order."""
    from tunesmith.config import ExperimentConfig

    parts = []
    for section in dataclasses.fields(ExperimentConfig):
        hint = typing.get_type_hints(ExperimentConfig)[section.name]
        if section.name == "model":
            parts.append(render_models(_default(section)))
        elif section.name == "representation":
            parts.append(render_representations(_default(section)))
        elif dataclasses.is_dataclass(hint):
            parts.append(render_section(f"`{section.name}`", section.name, hint))
        else:
            raise PluginError(
                f"config reference: ExperimentConfig.{section.name} is neither a dataclass nor a registry section; "
                "teach docs/hooks/config_reference.py how to document it"
            )
    return "\n".join(parts)


def render_representations(default: Any) -> str:
    """One table per registered representation, or the piano roll's alone without a registry."""
    import tunesmith.representation as representation

    registry = getattr(representation, "REPRESENTATIONS", None)
    if not registry:
        return render_section("`representation`", "representation", representation.PianoRollConfig)
    names = ", ".join(f"`{name}`" for name in registry)
    chosen = default.get("name") if isinstance(default, dict) else None
    intro = (
        f"## `representation`\n\n`representation.name` (default `{chosen}`) picks one of the registered "
        f"representations: {names}. The other keys of the section are that representation's options, below.\n"
    )
    tables = [
        render_section(f"`representation` with `name: {name}`", "representation", cls.Config, level=3)
        for name, cls in registry.items()
    ]
    return "\n".join([intro, *tables])


def render_models(default: dict[str, Any]) -> str:
    """One table per model config class; families sharing a class share a table."""
    from tunesmith.models import MODELS

    groups: dict[type, list[str]] = {}
    for name, cls in MODELS.items():
        groups.setdefault(cls.Config, []).append(name)
    names = ", ".join(f"`{name}`" for name in MODELS)
    intro = (
        f"## `model`\n\n`model.name` (default `{default['name']}`) picks one of the registered families: "
        f"{names} (`tunesmith models` lists them). The other keys of the section are that family's "
        "options, below.\n"
    )
    tables = []
    for config_class, family in groups.items():
        title = "`model` with `name: " + "`, `".join(family) + "`"
        lines = [f"- `{name}`: {MODELS[name].description}" for name in family]
        tables.append(render_section(title, "model", config_class, level=3, extra="\n".join(lines)))
    return "\n".join([intro, *tables])


def render_section(title: str, prefix: str, cls: type, *, level: int = 2, extra: str = "") -> str:
    """A heading, the class docstring's summary, and a key / type / default / description table."""
    descriptions = field_descriptions(cls)
    hints = typing.get_type_hints(cls)
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for item in dataclasses.fields(cls):
        rows.append(
            f"| `{prefix}.{item.name}` | `{_type_name(hints[item.name])}` | `{_format_default(_default(item))}` "
            f"| {_cell(descriptions[item.name])} |"
        )
    summary = _summary(cls)
    blocks = [f"{'#' * level} {title}", f"{summary} (`{cls.__module__}.{cls.__qualname__}`)"]
    if extra:
        blocks.append(extra)
    blocks.append("\n".join(rows))
    return "\n\n".join(blocks) + "\n"


def field_descriptions(cls: type) -> dict[str, str]:
    """Field name -> description, from the ``Attributes:`` sections of ``cls`` and its bases.

    Raises PluginError naming the class and field when a field has no description, or when a
    docstring describes a name that is not a field.
    """
    fields = [item.name for item in dataclasses.fields(cls)]
    found: dict[str, str] = {}
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass):
            continue
        documented = _attributes(klass)
        own_fields = {item.name for item in dataclasses.fields(klass)}
        stale = sorted(set(documented) - own_fields)
        if stale:
            raise PluginError(
                f"config reference: {klass.__qualname__}'s docstring describes {', '.join(stale)}, which "
                f"{'is not a field' if len(stale) == 1 else 'are not fields'}; remove or rename them under Attributes:"
            )
        for name, text in documented.items():
            found.setdefault(name, text)
    missing = [name for name in fields if not found.get(name)]
    if missing:
        raise PluginError(
            f"config reference: {cls.__module__}.{cls.__qualname__} has no description for "
            f"{', '.join(missing)}; add '    {missing[0]}: <description>' under 'Attributes:' in its docstring"
        )
    return {name: found[name] for name in fields}


def _attributes(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of a class's own docstring (not inherited), Google style."""
    text = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    out = {}
    for section in griffe.Docstring(text).parse("google"):
        if section.kind is griffe.DocstringSectionKind.attributes:
            for attribute in section.value:
                out[attribute.name] = " ".join(attribute.description.split())
    return out


def _summary(cls: type) -> str:
    text = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    return text.split("\n\n")[0].replace("\n", " ").strip() if text else ""


def _default(item: dataclasses.Field) -> Any:
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None


def _format_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, (int, float)):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("|", "\\|")
