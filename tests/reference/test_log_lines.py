"""docs/reference/log-lines.md stays true: each documented line is one the code writes (logger,
level, key, fields) and each INFO+ line the code writes is documented (see ``logscan``)."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import attrs
import logscan
import pytest
from logscan import LogCall, fields_of, key_of, scan

PAGE = logscan.ROOT / "docs" / "reference" / "log-lines.md"
ROW = re.compile(r"^\| ([A-Z ,/or]+) \| `([^`]+)` \| (.+) \|$")
SECTION = re.compile(r"^## `([\w.]+)`")


@attrs.frozen
class Row:
    """One documented line."""

    logger: str
    levels: frozenset[int]
    line: str

    @property
    def key(self) -> str:
        return key_of(self.line)

    @property
    def fields(self) -> frozenset[str]:
        return fields_of(self.line)


def rows(text: str) -> Iterator[Row]:
    """The page's table rows, each under its ``## `logger` `` heading."""
    logger = None
    for line in text.splitlines():
        if heading := SECTION.match(line):
            logger = heading.group(1)
        elif (row := ROW.match(line)) and logger is not None:
            names = re.findall(r"[A-Z]+", row.group(1))
            levels = frozenset(logging.getLevelNamesMapping()[name] for name in names)
            yield Row(logger, levels, row.group(2))


def problems(documented: list[Row], calls: tuple[LogCall, ...]) -> list[str]:
    """What differs between the page and the code (empty: the page is true)."""
    found = []
    rows_of: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in documented:
        rows_of[row.logger, row.key].append(row)
    calls_of: dict[tuple[str, str], list[LogCall]] = defaultdict(list)
    for call in calls:
        calls_of[call.logger, call.key].append(call)
    for call in calls:
        for level in sorted(level for level in call.levels if level >= logging.INFO):
            name = logging.getLevelName(level)
            at_level = [r for r in rows_of[call.logger, call.key] if level in r.levels]
            if not at_level:
                found.append(f"{call.where}: {name} {call.logger} {call.text!r} is not documented")
            elif not any(call.fields <= r.fields for r in at_level):
                missing = sorted(call.fields - max(at_level, key=lambda r: len(r.fields)).fields)
                found.append(f"{call.where}: {call.text!r}: fields {missing} are not documented")
    for row in documented:
        same = calls_of[row.logger, row.key]
        if not same:
            found.append(f"{row.logger}: {row.line!r}: no such line in the code")
            continue
        level_calls = [c for c in same if c.levels & row.levels]
        levels = frozenset().union(*(c.levels for c in same))
        if row.levels - levels:
            found.append(f"{row.logger}: {row.line!r}: not logged at that level")
        elif not any(c.open_fields for c in level_calls):
            made_up = row.fields - frozenset().union(*(c.fields for c in level_calls))
            if made_up:
                found.append(f"{row.logger}: {row.line!r}: no fields {sorted(made_up)}")
    return found


def test_the_page_and_the_code_agree() -> None:
    """Every INFO+ line is documented with its fields; no documented line is made up."""
    assert problems(list(rows(PAGE.read_text(encoding="utf-8"))), scan()) == []


def test_the_page_is_read() -> None:
    """The parser sees the page: many rows, each logger's section, known lines."""
    documented = list(rows(PAGE.read_text(encoding="utf-8")))
    assert len(documented) > 100
    keys = {(r.logger, r.key) for r in documented}
    assert ("actors.app", "App stopped") in keys
    assert ("actors", "process crashed again") in keys
    assert ("actors.watchdog", "loop stalled") in keys
    assert ("actors.cluster", "node down") in keys


def test_the_scan_reads_both_styles() -> None:
    """Event lines with keyword fields, %-formats, a level chosen at run time, a constant."""
    calls = {(c.logger, c.key): c for c in scan()}
    started = calls["actors.app", "App started"]
    assert started.fields == {"services", "processes"}
    assert started.levels == {logging.INFO}
    assert calls["actors.service", "service gave up"].fields == {"name", "attempts", "error"}
    assert calls["actors.cluster", "node down"].levels == {logging.INFO, logging.WARNING}
    assert calls["actors.schedule", "schedule skipped"].levels == {logging.INFO, logging.WARNING}
    assert calls["actors.watchdog", "loop stalled"].fields >= {"pid", "held", "threshold"}
    assert calls["registry.scheduler", "cron job retimed"].fields == {"entry", "schedule"}


def test_a_drift_is_caught(tmp_path: Path) -> None:
    """An undocumented line, a renamed field and a made-up line are each reported."""
    calls = scan()
    documented = list(rows(PAGE.read_text(encoding="utf-8")))
    extra = LogCall("x.py:1", "actors.app", frozenset({logging.WARNING}), "Brand new", {"a"}, False)
    renamed = [
        attrs.evolve(r, line=r.line.replace("entries=", "count=")) if r.key == "App loaded" else r
        for r in documented
    ]
    made_up = [*documented, Row("actors", frozenset({logging.INFO}), "process danced pid=<p>")]
    assert any("'Brand new' is not documented" in p for p in problems(documented, (*calls, extra)))
    assert any("fields ['entries']" in p for p in problems(renamed, calls))
    assert any("no fields ['count']" in p for p in problems(renamed, calls))
    assert any("process danced" in p for p in problems(made_up, calls))


def test_a_line_the_scan_cannot_read_fails(tmp_path: Path) -> None:
    """A logging call whose text is built at run time (above DEBUG) is an error, not a skip."""
    module = tmp_path / "mod.py"
    module.write_text(
        "import logging\nlogger = logging.getLogger('actors')\n"
        "def f(x):\n    logger.warning(f'state {x}')\n"
    )
    original = logscan.ROOT
    try:
        logscan.ROOT = tmp_path
        with pytest.raises(logscan.ScanError, match="not a constant text"):
            logscan.scan_file(module)
    finally:
        logscan.ROOT = original
