"""What ps/info report, read straight from a node under virtual time (the test kit's node)."""

from __future__ import annotations

import trio

import actors
from actors._control import _snapshot, _tree
from actors._control._protocol import InfoRequest, PsRequest
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
    assert stub.state == "select inbox, events" and stub.received == 3
    info = _snapshot.info(tn.node, InfoRequest("quiet"), None)
    assert info.row.pid == str(quiet.pid) and any(f.endswith(" in Stub._main") for f in info.stack)


async def sleeper(proc: actors.Process) -> None:
    await actors.sleep(100)


async def ticking(proc: actors.Process) -> None:
    ticks = proc.ticker(1.0)
    while True:
        await ticks.receive()


async def caller(proc: actors.Process, dest: actors.PID) -> None:
    await proc.call(dest, "slow.question", None, timeout=100)


async def listener(proc: actors.Process) -> None:
    await proc.listen("orders.*").receive()


async def parent_of_many(proc: actors.Process, count: int) -> None:
    for _ in range(count):
        proc.spawn_linked(sleeper)
    await proc.events.receive()


class Counter(actors.Server):
    """A Server: ps names it by its class."""


async def test_states_in_the_users_terms(actors_node: TestNode) -> None:
    """Timer, ticker, a call to a PID and a topic: said as such, not as an inner function."""
    tn = actors_node
    deaf = tn.spawn(flaky, [])  # never reads its inbox: the call waits
    pids = {
        "timer": tn.spawn(sleeper),
        "waiting ticker": tn.spawn(ticking),
        f"call {deaf} slow.question": tn.spawn(caller, deaf),
        "waiting topic orders.*": tn.spawn(listener),
    }
    await tn.settle()
    rows = _rows(tn, limit=100)
    assert {state: rows[str(pid)].state for state, pid in pids.items()} == {
        state: state for state in pids
    }
    assert rows[str(pids["timer"])].function == f"{__name__}.sleeper"


async def test_parents_labels_and_the_tree(actors_node: TestNode) -> None:
    """Supervisor -> supervisor -> children; a Server by class; linked children's parent."""
    tn = actors_node
    inner = actors.SupervisorSpec([actors.ChildSpec("leaf", flaky, ([1],), backoff=NO_DELAY)])
    sup = actors.start_supervisor(
        tn.node,
        [
            actors.ChildSpec("counter", actors.serve, (Counter,)),
            actors.ChildSpec("inner", actors.supervise, (inner,)),
            actors.ChildSpec("boss", parent_of_many, (3,)),
        ],
    )
    await tn.sleep(1)
    rows = _rows(tn, limit=100)
    children = {c.id: c.pid for c in await actors.which_children(tn.node, sup)}
    counter, boss = rows[str(children["counter"])], rows[str(children["boss"])]
    assert counter.function == f"server {__name__}.Counter"
    assert counter.parent == str(sup) and rows[str(children["inner"])].function == "supervisor"
    linked = [row for row in rows.values() if row.parent == boss.pid]
    assert len(linked) == 3 and all(row.state == "timer" for row in linked)
    roots, omitted = _tree.tree(tn.node, _tree._no_names, 100)
    assert omitted == 0 and len(roots) == 1
    top = roots[0]
    assert (top.kind, top.pid) == ("supervisor", str(sup))
    assert [(c.name, c.kind, c.state) for c in top.children] == [
        ("counter", "child", "running"),
        ("inner (supervisor)", "supervisor", "running"),
        ("boss", "child", "running"),
    ]
    leaf = top.children[1].children[0]
    assert (leaf.name, leaf.kind, leaf.restarts) == ("leaf", "child", 1)
    _, omitted = _tree.tree(tn.node, _tree._no_names, 2)
    assert omitted == 2
    info = _snapshot.info(tn.node, InfoRequest(boss.pid, limit=2), None)
    assert (len(info.links), info.links_total) == (2, 4)  # 3 children and the supervisor


class Cart(actors.Server):
    def __init__(self) -> None:
        self.items = ["apple"] * 1000
        self.owner = "ann"


class Broken(actors.Server):
    def format_state(self) -> object:
        raise RuntimeError("nope")


async def test_state_of_a_server(actors_node: TestNode) -> None:
    """format_state's attributes (proc left out), bounded; a raising hook is an error reply."""
    from actors._control._poke import state
    from actors._control._protocol import ErrorReply, StateReply, StateRequest

    tn = actors_node
    cart = actors.start_server(tn.node, Cart, name="cart")
    broken = actors.start_server(tn.node, Broken)
    plain = tn.spawn(sleeper)
    await tn.settle()
    reply = state(tn.node, StateRequest("cart", size=100))
    assert isinstance(reply, StateReply) and reply.server == f"{__name__}.Cart"
    assert [key for key, _ in reply.state] == ["items", "owner"][: len(reply.state)]
    assert reply.state[0][1].startswith("['apple', 'apple'") and reply.truncated > 0
    assert sum(len(k) + len(v) for k, v in reply.state) <= 100 + 1
    whole = state(tn.node, StateRequest(str(cart), size=10_000))
    assert isinstance(whole, StateReply) and ("owner", "'ann'") in whole.state
    assert whole.truncated == 0 and "..." in whole.state[0][1]  # reprlib keeps 50 items
    for pid, says in ((broken, "format_state() raised RuntimeError('nope')"), (plain, "not a")):
        error = state(tn.node, StateRequest(str(pid)))
        assert isinstance(error, ErrorReply) and says in error.message


async def chatty(proc: actors.Process, peer: actors.PID) -> None:
    """Answers calls, forwards casts to ``peer``, and calls ``peer`` on 'ask'."""
    while True:
        msg = await proc.inbox.receive()
        if msg.topic == "ask":
            await proc.call(peer, "question", msg.payload)
        elif msg.reply_to is not None:
            proc.reply(msg, msg.payload * 2)
        elif msg.topic == "die":
            raise RuntimeError("asked to")
        else:
            proc.send(peer, f"fwd.{msg.topic}", msg.payload)


async def test_trace_sees_in_out_calls_and_the_exit(actors_node: TestNode) -> None:
    """Every kind of event, in order; the process's class is restored when the trace ends."""
    from actors._control import _trace
    from actors._control._protocol import TraceRequest

    tn = actors_node
    peer = tn.stub({"question": lambda msg: "answer"})
    pid = tn.spawn(chatty, peer.pid)
    await tn.settle()
    proc = tn.node._procs[pid.seq]
    tracer, stop = _trace.start(tn.node, proc, TraceRequest(str(pid)))
    assert type(proc) is not actors.Process
    tn.node.send(pid, "note", 1)
    assert await tn.node.call(pid, "double", 21) == 42
    tn.node.send(pid, "ask", "why")
    await tn.settle()
    tn.node.send(pid, "die")
    await tn.settle()
    events = await _trace.next_batch(tracer)
    stop()
    assert type(proc) is actors.Process
    seen = [(e.kind, e.topic, e.payload) for e in events]
    assert seen == [
        ("in", "note", "1"),
        ("in", "double", "21"),  # delivered before the process ran
        ("out", "fwd.note", "1"),
        ("reply", "double", "42"),
        ("in", "ask", "'why'"),
        ("call", "question", "'why'"),
        ("reply in", "question", "'answer'"),
        ("in", "die", "None"),
        ("exit", "error RuntimeError('asked to')", "None"),
    ]
    assert events[2].peer == str(peer.pid) and events[0].peer == ""
    assert tracer.end("closed").reason == "exit"


async def test_trace_filters_limits_and_ends(actors_node: TestNode) -> None:
    """--topic filters messages; --rate drops the excess (counted); --count and --seconds end
    it; two traces on one process share the hook until both end."""
    from actors._control import _trace
    from actors._control._protocol import TraceRequest

    tn = actors_node
    pid = tn.spawn(flaky, [])
    await tn.settle()
    proc = tn.node._procs[pid.seq]
    only, stop_only = _trace.start(tn.node, proc, TraceRequest(str(pid), topic="a.*", rate=3))
    counted, stop_counted = _trace.start(tn.node, proc, TraceRequest(str(pid), count=2))
    for topic in ("a.1", "b.1", "a.2", "a.3", "a.4", "a.5"):
        tn.node.send(pid, topic)
    assert [e.topic for e in await _trace.next_batch(only)] == ["a.1", "a.2", "a.3"]
    assert (only.events, only.dropped, only.ended) == (3, 2, None)
    assert [e.topic for e in await _trace.next_batch(counted)] == ["a.1", "b.1"]
    assert counted.ended == "count"
    stop_counted()
    assert type(proc) is not actors.Process  # still traced by the other one
    await tn.sleep(1)
    tn.node.send(pid, "a.6")  # a new second: the rate allows it again
    assert [e.topic for e in await _trace.next_batch(only)] == ["a.6"]
    started = trio.current_time()
    assert await _trace.next_batch(only) == []  # nothing more until its 60 s are up
    assert (only.ended, trio.current_time() - started) == ("time", 59.0)
    stop_only()
    assert type(proc) is actors.Process
