"""The control endpoint's one error type (kept apart so the client imports no trio)."""

from __future__ import annotations


class ControlError(Exception):
    """The control endpoint cannot be opened or reached; the message says what to do."""
