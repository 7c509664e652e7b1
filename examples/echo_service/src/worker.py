"""A worker: upper-case one text, send it to the client, exit. One process per message."""

from __future__ import annotations

from actors import PID, Process

MAX_TEXT = 10_000


async def main(proc: Process, client: PID, text: object) -> None:
    """Answer ``client`` on ``echo_response`` with the upper-cased text and this PID."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ValueError(f"echo needs a string of at most {MAX_TEXT} characters, got {text!r:.40}")
    proc.send(client, "echo_response", {"text": text.upper(), "worker": str(proc.pid)})
