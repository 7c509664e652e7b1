"""What ps/info report, read straight from a node under virtual time (the test kit's node)."""

from __future__ import annotations

import actors
from actors._control import _snapshot
from actors._control._protocol import PsRequest
from actors.testing import TestNode

NO_DELAY = actors.Backoff(initial=0, jitter=0)


async def flaky(proc: actors.Process, crashes: list[int]) -> None:
    """Crash the first ``len(crashes)`` runs, then wait for a Cancel."""
    if crashes:
        crashes.pop()
        raise RuntimeError("flaky")
    await proc.events.receive()


def _rows(tn: TestNode, **request: object) -> dict[str, _snapshot.ProcessRow]:
    reply = _snapshot.ps(tn.node, PsRequest(**request), None, 0.0)  # type: ignore[arg-type]
    return {row.pid: row for row in reply.rows}


async def test_restarts_of_supervised_children_and_services(actors_node: TestNode) -> None:
    tn = actors_node
    sup = actors.start_supervisor(
        tn.node, [actors.ChildSpec("c", flaky, ([1, 1],), backoff=NO_DELAY)]
    )
    manager = await actors.start_services(
        tn.node,
        [
            actors.ServiceSpec(
                "s", flaky, ([1],), auto_start=True, restart="permanent", backoff=NO_DELAY
            )
        ],
    )
    await tn.sleep(1)
    rows = _rows(tn, limit=100)
    child = (await actors.which_children(tn.node, sup))[0]
    (service,) = await manager.statuses()
    assert rows[str(child.pid)].restarts == 2
    assert rows[str(service.pid)].restarts == 1
    assert rows[str(sup)].restarts is None


async def test_state_queues_and_sorting(actors_node: TestNode) -> None:
    tn = actors_node
    busy, quiet = tn.probe(name="busy"), tn.stub({}, name="quiet")
    for i in range(3):
        tn.node.send(quiet.pid, "note", i)
    tn.node.send(busy.pid, "x", 1)
    await tn.sleep(2)
    rows = _rows(tn, sort="age", limit=1)
    assert list(rows) == [str(busy.pid)]  # the oldest
    row = rows[str(busy.pid)]
    assert (row.name, row.age) == ("busy", 2.0)
    assert row.state == "waiting Probe._main"  # a probe waits on an event, not on a queue
    deaf = tn.spawn(flaky, [])  # waits on its events and never reads its inbox
    for i in range(5):
        tn.node.send(deaf, "unread", i)
    assert _rows(tn, limit=100)[str(deaf)].state == "starting"
    await tn.settle()
    (top,) = _rows(tn, sort="mq", limit=1).values()
    assert (top.pid, top.inbox, top.state) == (str(deaf), 5, "waiting events")
    stub = _rows(tn, limit=10)[str(quiet.pid)]
    assert stub.state == "waiting inbox,events" and stub.received == 3
    info = _snapshot.info(tn.node, "quiet", None)
    assert info.row.pid == str(quiet.pid) and any(f.endswith(" in Stub._main") for f in info.stack)
