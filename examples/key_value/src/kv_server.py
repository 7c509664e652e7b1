"""The key-value server: an ``actors.Server`` whose state lives in the object.

One process runs it and handles one request at a time, so the dict needs no lock. Clients
reach it by the service's name, ``app:kv``: the service manager registers each incarnation
under it when it spawns it (before it runs), so the name is never missing between a start and
the server's first step. Requests are calls (``proc.call("app:kv", topic, payload)``); what
``handle_call`` returns is the reply:

| topic    | payload          | reply                                  |
|----------|------------------|----------------------------------------|
| `set`    | `{key, value}`   | `{"op": "set", "key", "ok": True}`     |
| `get`    | `{key}`          | `{"op": "get", "key", "value", "found"}` |
| `delete` | `{key}`          | `{"op": "delete", "key", "deleted"}`   |
| `keys`   | `None`           | `{"op": "keys", "keys", "count"}`      |
| `stats`  | `None`           | `{"op": "stats", "total_ops", "total_keys"}` |

A bad request (unknown topic, missing or non-string key) fails only that call: the caller
gets ``actors.CallFailed`` and the server keeps its data. A restart by the service (after a
crash) starts with an empty store: the state is the process's.
"""

from __future__ import annotations

from typing import Any

import actors
from actors import NOREPLY, Message, Process

log = actors.get_logger("app.kv")

MAX_KEY = 256


class KeyValue(actors.Server):
    """An in-memory store: ``data`` and an operation counter."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.total_ops = 0

    async def on_start(self) -> None:
        """Say where the server runs."""
        log.info("KV server ready", pid=self.proc.pid)

    async def handle_call(self, message: Message) -> object:
        """Answer one request (see the module docstring)."""
        try:
            reply = self.answer(message.topic, message.payload)
        except ValueError as error:
            self.proc.reply_error(message, error)
            return NOREPLY
        self.total_ops += 1
        return reply

    def answer(self, op: str, payload: object) -> dict[str, Any]:
        """Apply ``op``; raise ValueError naming what is wrong with the request."""
        if op == "keys":
            return {"op": op, "keys": sorted(self.data), "count": len(self.data)}
        if op == "stats":
            return {"op": op, "total_ops": self.total_ops, "total_keys": len(self.data)}
        if op not in ("set", "get", "delete"):
            raise ValueError(f"unknown operation {op!r}; use set, get, delete, keys or stats")
        if not isinstance(payload, dict):
            raise ValueError(f"{op} needs a mapping payload, got {payload!r}")
        key = payload.get("key")
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ValueError(f"{op}: key must be a string of 1..{MAX_KEY} characters, got {key!r}")
        if op == "set":
            if "value" not in payload:
                raise ValueError(f"set {key}: the payload has no 'value'")
            self.data[key] = payload["value"]
            return {"op": op, "key": key, "ok": True}
        if op == "get":
            found = key in self.data
            return {"op": op, "key": key, "value": self.data.get(key), "found": found}
        deleted = key in self.data
        self.data.pop(key, None)
        return {"op": op, "key": key, "deleted": deleted}

    async def on_stop(self, error: BaseException | None) -> None:
        """Say how much was stored when the server stops."""
        log.info("KV server stopping", keys=len(self.data), ops=self.total_ops)


async def main(proc: Process) -> None:
    """The service's process: run a fresh ``KeyValue`` until cancelled."""
    await actors.serve(proc, KeyValue)
