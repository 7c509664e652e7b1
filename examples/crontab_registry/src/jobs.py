"""The job functions. Each returns a short result the worker logs; sync or async both work."""

from __future__ import annotations

import random


def heartbeat() -> str:
    """System health check."""
    return "ok"


def cleanup() -> str:
    """Temp file cleanup."""
    return f"{random.randint(0, 9)} files removed"


async def report() -> str:
    """Usage report (an async job: awaited in the worker's task)."""
    return f"cpu={random.randint(5, 95)}% mem={random.randint(20, 80)}%"


def backup() -> str:
    """Incremental backup."""
    return f"{random.randint(100, 999)}KB written"


def digest() -> str:
    """New-items digest (a cron job: every 10 seconds on the wall clock)."""
    return f"{random.randint(1, 9)} new items"
