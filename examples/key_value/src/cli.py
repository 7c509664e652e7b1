"""The client: requests to the ``app:kv`` service by name, each a ``call`` with a 2 s timeout.

``proc.call("app:kv", topic, payload)`` resolves the name, sends the request and waits for the
reply (``actors.CallTimeout`` after the timeout, ``actors.CallFailed`` when the server rejects
the request or exits first). No PID or ``reply_to`` is passed around.
"""

from __future__ import annotations

from typing import Any

import actors
from actors import Process

TIMEOUT = 2.0


async def main(proc: Process) -> int:
    """Set, get, delete, list and count; then show a rejected request."""

    async def kv(topic: str, payload: object = None) -> Any:
        return await proc.call("app:kv", topic, payload, timeout=TIMEOUT)

    print("=== Key-Value Store as a Process ===")
    print()
    print("Setting values:")
    values = {
        "name": "actors",
        "version": "0.1",
        "lang": "Python",
        "model": "Actor",
        "runtime": "trio",
    }
    for key, value in values.items():
        reply = await kv("set", {"key": key, "value": value})
        print(f"  SET {key} = {value}  → ok: {reply['ok']}")
    print()
    print("Getting values:")
    for key in ("name", "version", "lang", "missing_key"):
        reply = await kv("get", {"key": key})
        shown = reply["value"] if reply["found"] else "(not found)"
        print(f"  GET {key} → {shown}")
    print()
    print("Deleting 'lang':")
    reply = await kv("delete", {"key": "lang"})
    print(f"  Deleted: {reply['deleted']}")
    print()
    print("Listing all keys:")
    reply = await kv("keys")
    print(f"  Keys ({reply['count']}): {', '.join(reply['keys'])}")
    print()
    print("A bad request fails only that call:")
    try:
        await kv("incr", {"key": "name"})
    except actors.CallFailed as error:
        print(f"  INCR name → {error.__cause__}")
    print()
    print("Server stats:")
    reply = await kv("stats")
    print(f"  Total operations: {reply['total_ops']}")
    print(f"  Total keys: {reply['total_keys']}")
    print()
    print("The KV store is a process. State lives in memory.")
    print("No database, no disk: just actor state and messages.")
    return 0
