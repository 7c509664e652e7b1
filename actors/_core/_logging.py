"""Logging in the seeds' ``key=value`` style, on stdlib ``logging``.

``log = actors.get_logger("app.jobs")`` returns an adapter whose methods take an
event and fields: ``log.info("Job started", name="heartbeat", interval="1s")``
renders as ``Job started       name=heartbeat interval=1s``. ``configure_logging``
installs a formatter printing ``INFO  <message>`` on stderr (or a stream).
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any, final

EVENT_WIDTH = 18
"""Events are padded to this width so the fields line up, as in the seeds' logs."""


def format_fields(event: str, fields: dict[str, object]) -> str:
    """Render ``event`` and ``fields`` as one ``key=value`` line.

    Values containing spaces or ``=`` are quoted with ``repr``-style double quotes.
    """
    if not fields:
        return event
    parts = []
    for key, value in fields.items():
        text = str(value)
        if not text or any(ch in text for ch in ' ="'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return f"{event:<{EVENT_WIDTH}} {' '.join(parts)}"


@final
class KeyValueLogger:
    """A thin adapter over a stdlib logger: ``log.info(event, **fields)``.

    Args:
        logger: The stdlib logger records go to; its level and handlers decide what is shown
            (nothing is formatted for a disabled level).
    """

    __slots__ = ("logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(level):
            exc_info = fields.pop("exc_info", None)
            self.logger.log(level, "%s", format_fields(event, fields), exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        """Log at DEBUG.

        Args:
            event: What happened; padded to ``EVENT_WIDTH`` when fields follow, so they line up.
            **fields: ``key=value`` pairs, in order; a value with a space, ``=`` or ``"``
                (or an empty one) is quoted.
        """
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log at INFO.

        Args:
            event: What happened; padded to ``EVENT_WIDTH`` when fields follow, so they line up.
            **fields: ``key=value`` pairs, in order; a value with a space, ``=`` or ``"``
                (or an empty one) is quoted.
        """
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log at WARNING.

        Args:
            event: What happened; padded to ``EVENT_WIDTH`` when fields follow, so they line up.
            **fields: ``key=value`` pairs, in order; a value with a space, ``=`` or ``"``
                (or an empty one) is quoted.
        """
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log at ERROR (pass ``exc_info=exc`` for a traceback).

        Args:
            event: What happened; padded to ``EVENT_WIDTH`` when fields follow, so they line up.
            **fields: ``key=value`` pairs, in order; a value with a space, ``=`` or ``"``
                (or an empty one) is quoted. ``exc_info`` is not a field: it goes to
                the stdlib logger (an exception, or True for the one being handled).
        """
        self._log(logging.ERROR, event, fields)


def get_logger(name: str) -> KeyValueLogger:
    """Return the ``key=value`` logger named ``name`` (a stdlib logger underneath).

    Args:
        name: The stdlib logger's dotted name (``"app.jobs"``); the same name gives a logger
            over the same stdlib logger.
    """
    return KeyValueLogger(logging.getLogger(name))


class _LevelFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)-5s %(message)s")


def configure_logging(level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send log records to ``stream`` (default stderr) as ``LEVEL message`` lines.

    Replaces handlers installed by an earlier call, so it is safe to call twice.

    Args:
        level: The root logger's level, a number or a name (``"DEBUG"``).
        stream: Where lines go; None for ``sys.stderr`` as it is at the call.

    Raises:
        ValueError: If ``level`` is a name ``logging`` does not know.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_actors_handler", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._actors_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(_LevelFormatter())
    root.addHandler(handler)
    root.setLevel(level)
