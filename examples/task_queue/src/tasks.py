"""The task functions: ``function`` entries with ``meta.type: task``, the only ones ``enqueue``
accepts. A consumer calls each with ``(payload, attempt)``, the attempt counting from 1."""

from __future__ import annotations

import hashlib
from typing import Any

import trio


def checksum(payload: dict[str, Any], attempt: int) -> str:
    """CPU work in a worker thread (``blocking: true``): hash the text ``rounds`` times."""
    digest = str(payload["text"]).encode()
    for _ in range(int(payload.get("rounds", 1))):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()[:16]


async def sleep(payload: dict[str, Any], attempt: int) -> int:
    """I/O-like work: wait ``ms`` milliseconds in the consumer's task."""
    await trio.sleep(int(payload["ms"]) / 1000)
    return int(payload["ms"])


def flaky(payload: dict[str, Any], attempt: int) -> str:
    """Fail the first ``fail`` attempts, then succeed."""
    if attempt <= int(payload["fail"]):
        raise RuntimeError(f"attempt {attempt} fails (this task fails {payload['fail']} times)")
    return f"ok at attempt {attempt}"


def echo(payload: Any, attempt: int) -> Any:
    """Return the payload: what the consumer received is what was enqueued."""
    return payload
