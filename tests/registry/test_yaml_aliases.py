"""Anchors and aliases in ``_index.yaml``: a structure that contains itself is refused by line.

Generated documents nest mappings and sequences with anchors (``&aN``) and place aliases
(``*aN``, ``<<: *aN``) anywhere, including inside the collection their anchor names. The load
ends in entries or in one ``IndexFileError`` naming the file (with a line for every YAML
problem), never a ``RecursionError``; a self-containing alias is reported at its own line.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry._app import run_app_cli
from registry._exceptions import IndexFileError
from registry._loader import load_file

Write = Callable[..., Path]
SELF_ALIAS = """\
version: "1.0"
namespace: app
entries:
  - &e {name: x, kind: registry.entry, self: *e}
"""


@attrs.frozen
class Doc:
    """A generated YAML value: its text lines and whether an alias sits inside its own anchor."""

    lines: list[str]
    recursive: bool


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bool, set[int]]:
    """A YAML index file whose ``data`` field is a random tree with anchors and aliases.

    Returns:
        (text, whether some alias is inside the collection its anchor names, their lines).
    """
    counter = iter(range(1000))
    defined: list[int] = []  # anchors complete so far (a legal, finite alias target)
    open_: list[int] = []  # anchors of the collections being written
    bad_lines: set[int] = set()
    mappings: set[int] = set()  # anchors of mappings (the only legal merge targets)
    header = ['version: "1.0"', "namespace: app", "entries:"]
    header += ["  - name: x", "    kind: registry.entry"]

    def value(depth: int, indent: str, line_no: int) -> tuple[str, list[str], bool]:
        """Inline head text, following block lines, recursive flag."""
        choice = draw(st.integers(0, 3 if depth < 5 else 1))
        if choice == 0:
            return draw(st.sampled_from(["1", "x", "null", "'s'"])), [], False
        if choice == 1:
            targets = defined + open_
            if not targets:
                return "2", [], False
            target = draw(st.sampled_from(targets))
            if target in open_:
                bad_lines.add(line_no)
                return f"*a{target}", [], True
            return f"*a{target}", [], False
        anchor = next(counter)
        open_.append(anchor)
        if choice == 3:
            mappings.add(anchor)
        lines: list[str] = []
        recursive = False
        child_indent = indent + "  "
        for index in range(draw(st.integers(0, 3))):
            at = line_no + 1 + len(lines)
            head, tail, bad = value(depth + 1, child_indent + "  ", at)
            recursive |= bad
            prefix = "- " if choice == 2 else f"k{index}: "
            lines.append(f"{child_indent}{prefix}{head}")
            lines.extend(tail)
        merge_targets = sorted(mappings)
        if choice == 3 and merge_targets and draw(st.booleans()):
            target = draw(st.sampled_from(merge_targets))
            if target in open_:
                bad_lines.add(line_no + 1 + len(lines))
                recursive = True
            lines.append(f"{child_indent}<<: *a{target}")
        open_.pop()
        defined.append(anchor)
        if not lines:
            return f"&a{anchor} {'[]' if choice == 2 else '{}'}", [], recursive
        return f"&a{anchor}", lines, recursive

    head, tail, recursive = value(0, "    ", len(header) + 1)
    text = "\n".join([*header, f"    data: {head}", *tail]) + "\n"
    return text, recursive, bad_lines


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(doc=documents())
def test_generated_aliases_end_in_entries_or_a_located_problem(
    tmp_path_factory: pytest.TempPathFactory, doc: tuple[str, bool, set[int]]
) -> None:
    text, recursive, bad_lines = doc
    path = tmp_path_factory.mktemp("aliases") / "_index.yaml"
    path.write_text(text)
    if not recursive:
        assert [entry.id for entry in load_file(path)] == ["app:x"], text
        return
    with pytest.raises(IndexFileError) as caught:
        load_file(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path)
    assert problem.line in bad_lines, (problem, text)
    assert "contains itself" in problem.message


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("  - &e {name: x, kind: registry.entry, self: *e}\n", 4),
        ("  - &e\n    name: x\n    kind: registry.entry\n    data: [1, [2, *e]]\n", 7),
        ("  - &e {name: x, kind: registry.entry, data: {<<: *e}}\n", 4),
        ("  - name: x\n    kind: registry.entry\n    data: &d {? *d : 1}\n", 6),
    ],
)
def test_self_containing_alias_names_file_and_line(tmp_path: Path, body: str, line: int) -> None:
    path = tmp_path / "_index.yaml"
    path.write_text('version: "1.0"\nnamespace: app\nentries:\n' + body)
    with pytest.raises(IndexFileError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: alias *")
    assert "contains itself" in str(caught.value)


def test_shared_alias_is_still_allowed(tmp_path: Path) -> None:
    """An alias to a finished anchor is a copy, not a cycle: it loads."""
    path = tmp_path / "_index.yaml"
    path.write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - {name: x, kind: registry.entry, data: &d {a: 1}}\n"
        "  - {name: y, kind: registry.entry, data: {b: *d, <<: *d}}\n"
    )
    entries = {entry.id: entry for entry in load_file(path)}
    assert entries["app:y"].data == {"data": {"b": {"a": 1}, "a": 1}}


def test_merge_key_may_be_overridden(tmp_path: Path) -> None:
    """``<<: *defaults`` then the same key again is YAML's override, not a duplicate key."""
    path = tmp_path / "_index.yaml"
    path.write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - {name: x, kind: registry.entry, data: &d {a: 1, b: 1}}\n"
        "  - {name: y, kind: registry.entry, data: {<<: *d, a: 2}}\n"
    )
    entries = {entry.id: entry for entry in load_file(path)}
    assert entries["app:y"].data == {"data": {"a": 2, "b": 1}}


def test_actors_run_exits_2_without_a_traceback(write: Write) -> None:
    """The issue's reproduction: exit 2 and one line naming the file and line, not exit 1."""
    index = write("app/_index.yaml", SELF_ALIAS)
    out = io.StringIO()
    args = argparse.Namespace(dir=str(index.parent), grace=None, log_level="INFO")
    code = run_app_cli(args, stderr=out, clock=trio.testing.MockClock(autojump_threshold=0))
    assert code == 2
    assert "Traceback" not in out.getvalue()
    assert f"{index}:4: alias *e is inside the collection its anchor &e names" in out.getvalue()
