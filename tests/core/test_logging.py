"""The key=value log format."""

from __future__ import annotations

import io
import logging

import actors
from actors import configure_logging
from actors._core._logging import format_fields


class TestFormat:
    def test_event_padded_and_fields_joined(self) -> None:
        """Events are padded and fields rendered key=value in order."""
        assert format_fields("TICK", {"entry": "app:job", "run": 1}) == (
            "TICK               entry=app:job run=1"
        )

    def test_values_with_spaces_are_quoted(self) -> None:
        """A value with spaces, quotes or '=' is double-quoted."""
        assert format_fields("e", {"result": '7 "files"'}).endswith('result="7 \\"files\\""')

    def test_event_alone(self) -> None:
        """An event with no fields is printed as is."""
        assert format_fields("Scheduler stopping", {}) == "Scheduler stopping"


class TestConfigure:
    def test_lines_have_level_then_message(self) -> None:
        """configure_logging prints 'LEVEL message' and replaces its own earlier handler."""
        stream = io.StringIO()
        configure_logging(logging.INFO, stream)
        configure_logging(logging.INFO, stream)
        try:
            actors.get_logger("test.kv").info("Job started", name="heartbeat", interval="1s")
            actors.get_logger("test.kv").debug("hidden")
        finally:
            root = logging.getLogger()
            for h in list(root.handlers):
                if getattr(h, "_actors_handler", False):
                    root.removeHandler(h)
            root.setLevel(logging.WARNING)
        assert stream.getvalue() == "INFO  Job started        name=heartbeat interval=1s\n"
