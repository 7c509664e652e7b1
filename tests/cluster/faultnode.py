"""A node of the fault tests in its own OS process, until SIGTERM.

``python faultnode.py unix DIR NAME`` or ``python faultnode.py redis URL NAME``: a node in the
group with short leases (so a stopped node is lost within a second or two), the test exports,
and a ``control`` process (``distapp:control``) registered as ``control``.
"""

from __future__ import annotations

import signal
import sys

import trio
from distapp import EXPORTS, control

import actors
from actors.cluster import RedisTransport, Transport, UnixTransport, open_node_group

HEARTBEAT, TIMEOUT = 0.2, 1.5
"""Short leases; the same in the test's own node."""


def transport(kind: str, where: str, name: str) -> Transport:
    """The transport of node ``name``: ``unix`` (socket directory) or ``redis`` (URL)."""
    if kind == "unix":
        return UnixTransport(where, name, heartbeat=HEARTBEAT, timeout=TIMEOUT)
    return RedisTransport(where, name, heartbeat=HEARTBEAT, timeout=TIMEOUT)


async def main(kind: str, where: str, name: str) -> None:
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with (
            actors.open_node(name=name, shutdown_grace=0.2) as node,
            open_node_group(node, transport(kind, where, name), exports=EXPORTS),
        ):
            node.spawn(control, name="control")
            async for _ in signals:
                return


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:4])
