"""mkdocs hooks: pages generated from the code at build time, so they cannot drift.

- ``<!-- generated: cli -->`` becomes the help of every ``actors`` command and subcommand,
  taken from the argparse parser the console script uses.
- ``<!-- generated: entry-kinds -->`` becomes one table per ``_index.yaml`` entry kind, taken
  from the registry's schema (fields, defaults, what each accepts).
- The tags ``tests/test_docs.py`` reads on a fence (``python no-run``, ``text output``,
  ``python file=PATH``) are not attributes the Markdown extensions know, and a fence carrying
  them would not render as code at all: they are dropped, and ``file=PATH`` (a file a tutorial
  has you save) becomes the block's title.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import re
from typing import Any

MARKERS = ("<!-- generated: cli -->", "<!-- generated: entry-kinds -->")
TAGGED_FENCE = re.compile(r"^([ \t]*`{3,}\w+)((?: +[\w./=-]+)+)[ \t]*$", re.M)


def _fence(match: re.Match[str]) -> str:
    files = [tag[5:] for tag in match.group(2).split() if tag.startswith("file=")]
    return match.group(1) + (f' title="{files[0]}"' if files else "")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the generation markers of a page with the generated Markdown; turn the docs
    tests' fence tags into what the Markdown extensions render (see the module docstring)."""
    markdown = TAGGED_FENCE.sub(_fence, markdown)
    if MARKERS[0] in markdown:
        markdown = markdown.replace(MARKERS[0], cli_reference())
    if MARKERS[1] in markdown:
        markdown = markdown.replace(MARKERS[1], entry_kinds())
    return markdown


# -- the command line ------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.items())
    return found


def cli_reference() -> str:
    """The ``--help`` of ``actors`` and of every subcommand, depth first."""
    from registry._cli import build_parser

    out: list[str] = []

    def walk(parser: argparse.ArgumentParser, depth: int) -> None:
        out.append(f"{'#' * min(depth, 6)} `{parser.prog}`\n")
        out.append("```text\n" + parser.format_help().rstrip() + "\n```\n")
        for _, sub in _subcommands(parser):
            walk(sub, depth + 1)

    top = build_parser()  # each command only by name: the parser builds what runs
    top.prog = "actors"
    out.append("## `actors`\n")
    out.append("```text\n" + top.format_help().rstrip() + "\n```\n")
    for name, _ in _subcommands(top):
        full = dict(_subcommands(build_parser(name)))[name]
        walk(full, 3)
    return "\n".join(out)


# -- index entry kinds -----------------------------------------------------------------------


def _describe(check: Any) -> str:
    """What a schema check accepts, from the constructor that made it and its arguments."""
    from registry import _schema

    qualname = getattr(check, "__qualname__", "")
    maker = qualname.split(".<locals>")[0]
    if maker == "obj":
        return "mapping (fields below)"
    args: dict[str, Any] = {}
    with contextlib.suppress(TypeError, ValueError):
        args = dict(inspect.getclosurevars(check).nonlocals)
    if maker == "list_of":
        return f"list of {_describe(args.get('item'))}"
    if maker == "mapping_of":
        return f"mapping of {_describe(args.get('item'))}"
    if maker == "choice":
        return "one of " + ", ".join(f"`{o}`" for o in args.get("options", ()))
    if maker == "integer":
        lo = args.get("minimum")
        text = "integer" + (f" >= {lo}" if lo is not None else "")
        return text + (" or null" if args.get("nullable") else "")
    if maker == "number":
        lo, hi = args.get("minimum"), args.get("maximum")
        bounds = [f">= {lo:g}" if lo is not None else "", f"<= {hi:g}" if hi is not None else ""]
        return " ".join(["number", *[b for b in bounds if b]])
    if maker == "duration":
        return "duration (`500ms`, `1h30m` or seconds)" + (
            ", positive" if args.get("positive") else ""
        )
    if maker == "string":
        return str(args.get("what") or "string")
    doc = inspect.getdoc(getattr(_schema, maker, None) or check) or ""
    return doc.splitlines()[0].rstrip(".") if doc else maker or "value"


def _default(field: Any) -> str:
    from registry import _schema

    if field.default is _schema.REQUIRED:
        return "**required**"
    if field.default is _schema.OMIT:
        return "(absent)"
    return f"`{field.default!r}`"


def _fields_table(fields: dict[str, Any], prefix: str, rows: list[str]) -> None:
    for name, field in fields.items():
        path = f"{prefix}{name}"
        rows.append(f"| `{path}` | {_describe(field.check)} | {_default(field)} |")
        nested = _nested_fields(field.check)
        if nested:
            _fields_table(nested, f"{path}.", rows)


def _nested_fields(check: Any) -> dict[str, Any] | None:
    if getattr(check, "__qualname__", "").split(".<locals>")[0] != "obj":
        return None
    try:
        fields = inspect.getclosurevars(check).nonlocals.get("fields")
    except (TypeError, ValueError):
        return None
    return dict(fields) if fields else None


def entry_kinds() -> str:
    """One section per entry kind: its fields, what each accepts, and its default."""
    from registry import _kinds

    aliases: dict[str, list[str]] = {}
    for alias, kind in getattr(_kinds, "ALIASES", {}).items():
        aliases.setdefault(kind, []).append(alias)
    out: list[str] = []
    for kind in sorted(_kinds.SCHEMAS):
        fields = _kinds.SCHEMAS[kind][0]
        out.append(f"### `{kind}`\n")
        if kind in aliases:
            out.append("Also written " + ", ".join(f"`{a}`" for a in sorted(aliases[kind])) + ".\n")
        if fields is None:
            out.append("Free data: any keys, any values (mappings need string keys).\n")
            continue
        rows = ["| field | accepts | default |", "|---|---|---|"]
        _fields_table(dict(fields), "", rows)
        if len(rows) == 2:
            rows.append("| (no fields) | | |")
        out.append("\n".join(rows) + "\n")
    return "\n".join(out)
