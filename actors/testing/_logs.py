"""Log capture with assertions in the ``key=value`` style of ``actors.get_logger``.

``with capture_logs() as logs: ...`` collects every record of a logger tree (the root by
default) at ``DEBUG`` and up; ``logs.assert_logged("Job started", name="heartbeat")`` finds a
line with that event and those fields (values compare as their text), and a failure prints the
lines that were logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import final

import attrs

_VALUE = r'"(?:\\.|[^"\\])*"|[^\s"]*'
_FIELD = re.compile(rf"([A-Za-z_][\w.-]*)=({_VALUE})")
_TAIL = re.compile(rf"(?:\s+[A-Za-z_][\w.-]*=(?:{_VALUE}))+\s*$")


@attrs.frozen
class LogLine:
    """One captured record, split into its event and ``key=value`` fields."""

    level: str
    """The level name, ``"INFO"``, ``"WARNING"`` ..."""
    logger: str
    """The name of the logger that made the record."""
    event: str
    """The message before its ``key=value`` fields (padding stripped)."""
    fields: dict[str, str]
    """The ``key=value`` fields, in order, values as text (quoted ones unquoted)."""
    text: str
    """The whole message as logged."""

    def __str__(self) -> str:
        return f"{self.level:<5} {self.text}"


def parse_line(text: str) -> tuple[str, dict[str, str]]:
    """Split a ``key=value`` log message into its event and fields (quoted values unquoted)."""
    tail = _TAIL.search(text)
    if tail is None:
        return text.strip(), {}
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(tail.group()):
        value = match.group(2)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        fields[match.group(1)] = value
    return text[: tail.start()].strip(), fields


@final
class LogCapture(logging.Handler):
    """A logging handler that keeps every record; see :func:`capture_logs`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[LogLine] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record`` as a :class:`LogLine` (called by ``logging``; never filters).

        Args:
            record: The record; its formatted message is split into event and fields.
        """
        text = record.getMessage()
        event, fields = parse_line(text)
        self.lines.append(LogLine(record.levelname, record.name, event, fields, text))

    def find(self, event: str, *, level: str | None = None, **fields: object) -> list[LogLine]:
        """The captured lines with ``event`` (exact), at ``level`` if given, having ``fields``.

        Args:
            event: The event, compared exactly (without the padding).
            level: Only lines at this level name (``"info"``, ``"WARNING"``; any case); None for any
                level.
            **fields: Fields the line must have, values compared as text (``count=3`` and
                ``count="3"`` both match a logged ``count=3``).
        """
        want = {key: str(value) for key, value in fields.items()}
        return [
            line
            for line in self.lines
            if line.event == event
            and (level is None or line.level == level.upper())
            and all(line.fields.get(key) == value for key, value in want.items())
        ]

    def assert_logged(self, event: str, *, level: str | None = None, **fields: object) -> LogLine:
        """Return the first line with ``event`` and ``fields``.

        Args:
            event: The event, compared exactly.
            level: Only lines at this level name (``"info"``, ``"WARNING"``; any case); None for any
                level.
            **fields: Fields the line must have, values compared as text (``count=3`` and
                ``count="3"`` both match a logged ``count=3``).

        Raises:
            AssertionError: If there is none; the message lists the captured lines.
        """
        found = self.find(event, level=level, **fields)
        if not found:
            shown = " ".join(f"{k}={v}" for k, v in fields.items())
            raise AssertionError(self._report(f"no log line {event!r} {shown}".rstrip()))
        return found[0]

    def assert_not_logged(self, event: str, *, level: str | None = None, **fields: object) -> None:
        """Require that no line has ``event`` and ``fields``.

        Args:
            event: The event, compared exactly.
            level: Only lines at this level name (``"info"``, ``"WARNING"``; any case); None for any
                level.
            **fields: Fields the line must have, values compared as text (``count=3`` and
                ``count="3"`` both match a logged ``count=3``).

        Raises:
            AssertionError: If one does; the message lists the captured lines.
        """
        found = self.find(event, level=level, **fields)
        if found:
            raise AssertionError(self._report(f"unexpected log line: {found[0]}"))

    def _report(self, headline: str) -> str:
        lines = [headline, f"captured {len(self.lines)} line(s):"]
        lines.extend(f"  {line}" for line in self.lines[-40:])
        return "\n".join(lines)


@contextmanager
def capture_logs(logger: str = "") -> Iterator[LogCapture]:
    """Capture the records of ``logger`` and its children (default: all) in the block.

    The logger's level is lowered to ``DEBUG`` for the block and restored after.

    Args:
        logger: The logger's dotted name; ``""`` for the root logger (every record).

    Yields:
        LogCapture: The handler holding the captured lines (still readable after the block).
    """
    target = logging.getLogger(logger)
    capture = LogCapture()
    previous = target.level
    target.addHandler(capture)
    target.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        target.removeHandler(capture)
        target.setLevel(previous)
