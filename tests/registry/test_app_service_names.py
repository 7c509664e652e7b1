"""A booted app's services answer by their entry id (send, call), across restarts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import trio

import actors
import registry

Write = Callable[..., Path]

GREETER = """
import actors


class Greeter(actors.Server):
    async def handle_call(self, msg):
        if msg.topic == "crash":
            raise RuntimeError("asked to crash")
        return f"hello, {msg.payload}"


async def main(proc):
    await actors.serve(proc, Greeter)
"""


async def test_send_and_call_by_entry_id(write: Write) -> None:
    """``call("app:greeter", ...)`` works; after a crash and the 1 s restart delay, again."""
    write("app/greeter.py", GREETER)
    index = write(
        "app/_index.yaml",
        """
        version: "1.0"
        namespace: app
        entries:
          - {name: greeter_process, kind: process, source: file://greeter.py, method: main}
          - {name: greeter, kind: service, process: greeter_process,
             lifecycle: {auto_start: true, restart: {jitter: 0}}}
        """,
    )
    async with actors.open_node() as node:
        app = await registry.boot_app(node, index.parent)
        assert await node.call("app:greeter", "greet", "ada") == "hello, ada"
        first = node.lookup("app:greeter")
        node.send("app:greeter", "crash")  # a cast: Server ignores it
        with contextlib.suppress(actors.CallFailed):
            await node.call("app:greeter", "crash")
        await trio.sleep(1.5)  # the default restart delay is 1 s
        assert app.services is not None
        status = await app.services.status("app:greeter")
        assert status.starts == 2 and node.lookup("app:greeter") == status.pid != first
        assert await node.call("app:greeter", "greet", "bob") == "hello, bob"
