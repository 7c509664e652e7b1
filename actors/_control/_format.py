"""How ``actors ps``, ``top``, ``info`` and ``tree`` print a node's replies (plain text)."""

from __future__ import annotations

from ._directory import shown
from ._protocol import (
    InfoReply,
    ProcessRow,
    PsReply,
    StallSummary,
    StateReply,
    TraceEnd,
    TraceEvent,
    TreeNode,
    TreeReply,
)
from ._runtime import NodeEntry

_COLUMNS = (
    "PID", "PARENT", "NAME", "HOST", "FUNCTION", "STATE", "MQ", "EV", "IN", "RS", "AGE", "CPU"
)  # fmt: skip


def _cells(row: ProcessRow) -> tuple[str, ...]:
    cpu = "-" if row.cpu is None else f"{row.cpu * 1000:.1f}ms"
    return (
        row.pid,
        row.parent or "-",
        row.name or "-",
        row.host,
        row.function,
        _short(row.state, 40),
        str(row.inbox + row.listened),
        str(row.events),
        str(row.received),
        "-" if row.restarts is None else str(row.restarts),
        _age(row.age),
        cpu,
    )


def format_ps(reply: PsReply, *, header: bool = False) -> str:
    """The ``ps`` table (and, for ``top``, a summary line first); a line about loop stalls
    follows the table when the watchdog saw any."""
    lines = []
    if header:
        cpu = "on" if reply.cpu_sampling else "off"
        lines.append(
            f"node {reply.node or '-'} (os pid {reply.pid})  processes {reply.total}  "
            f"up {_age(reply.uptime)}  cpu sampling {cpu}  {_stall_counts(reply.stalls)}"
        )
    table = [_COLUMNS, *(_cells(row) for row in reply.rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(_COLUMNS))]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in table
    )
    if reply.total > len(reply.rows):
        lines.append(f"({len(reply.rows)} of {reply.total} processes shown; --limit N for more)")
    if reply.stalls is not None and reply.stalls.count:
        last = reply.stalls
        lines.append(
            f"{_stall_counts(last)}; last {_ms(last.last_duration)} "
            f"by {last.last_pid} {last.last_function} (the log has its stack)"
        )
    return "\n".join(lines) + "\n"


def _stall_counts(stalls: StallSummary | None) -> str:
    if stalls is None:
        return "watchdog off"
    text = f"loop stalls {stalls.count} over {_ms(stalls.threshold)}"
    return text + (f", longest {_ms(stalls.longest)}" if stalls.count else "")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def format_ps_nodes(replies: list[tuple[NodeEntry, PsReply]]) -> str:
    """The ``ps --all`` table: every node's rows, a NODE column first."""
    columns = ("NODE", *_COLUMNS)
    table: list[tuple[str, ...]] = [columns]
    notes = []
    for entry, reply in replies:
        table.extend((entry.label, *_cells(row)) for row in reply.rows)
        if reply.total > len(reply.rows):
            notes.append(
                f"({entry.label}: {len(reply.rows)} of {reply.total} processes shown; "
                "--limit N for more)"
            )
    widths = [max(len(cells[i]) for cells in table) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in table
    ]
    return "\n".join([*lines, *notes]) + "\n"


def format_info(reply: InfoReply) -> str:
    """The ``info`` report of one process."""
    row = reply.row
    lines = [
        f"pid        {row.pid}",
        f"names      {', '.join(reply.names) or '-'}",
        f"host       {row.host}",
        f"function   {row.function}",
        f"state      {row.state}",
        f"age        {_age(row.age)}",
        f"received   {row.received}",
        f"restarts   {'-' if row.restarts is None else row.restarts}",
        f"links      {_listed(reply.links, reply.links_total)}",
        f"monitors   {_listed(reply.monitors, reply.monitors_total)}",
        f"trap_links {str(reply.trap_links).lower()}",
    ]
    for title, field, items in (
        ("global", "global_names", [n + "@*" for n in reply.global_names]),
        ("groups", "groups", reply.groups),
        ("spanning", "spanning_groups", reply.spanning_groups),
        ("watching", "watching", reply.watching),
        ("bus", "subscriptions", reply.subscriptions),
    ):
        if items:
            listed = [shown(item) for item in items]
            lines.append(f"{title:<10} {_listed(listed, reply.cut.get(field, len(items)))}")
    lines.append("queues")
    for q in reply.queues:
        limit = "unbounded" if q.limit is None else f"limit {q.limit}"
        waiting = "  (waiting)" if q.waiting else ""
        lines.append(
            f"  {q.name:<16} queued {q.queued}  received {q.received}  "
            f"dropped {q.dropped}  {limit}{waiting}"
        )
    if not reply.queues:
        lines.append("  (none yet)")
    lines.append("stack (outermost first)")
    lines.extend(f"  {frame}" for frame in reply.stack)
    return "\n".join(lines) + "\n"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _listed(items: list[str], total: int) -> str:
    """``a, b`` or, when the node sent only the first ones, ``10,000 (first 20: a, b, ...)``."""
    if total <= len(items):
        return ", ".join(items) or "-"
    return f"{total:,} (first {len(items)}: {', '.join(items)}, ...)"


def format_tree(reply: TreeReply) -> str:
    """The ``tree`` report: each supervisor or service manager, its children indented."""
    lines = [f"node {reply.node or '-'}  processes {reply.processes}"]

    def walk(entry: TreeNode, depth: int) -> None:
        restarts = "" if entry.restarts is None else f"  restarts {entry.restarts}"
        pid = entry.pid or "-"
        lines.append(f"{'  ' * depth}{entry.name}  [{entry.kind}]  {pid}  {entry.state}{restarts}")
        for child in entry.children:
            walk(child, depth + 1)

    for root in reply.roots:
        walk(root, 0)
    if not reply.roots:
        lines.append("(no supervisors or services)")
    if reply.omitted:
        lines.append(f"({reply.omitted:,} more children not shown; --limit N for more)")
    return "\n".join(lines) + "\n"


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def format_state(reply: StateReply) -> str:
    """The ``state`` report: the server, then ``attribute = repr`` lines."""
    lines = [f"{reply.pid}  server {reply.server}"]
    lines.extend(f"  {key} = {text}" if key else f"  {text}" for key, text in reply.state)
    if not reply.state:
        lines.append("  (no attributes)")
    if reply.truncated:
        lines.append(f"  ({reply.truncated:,} more characters; --size N for more)")
    return "\n".join(lines) + "\n"


_ARROWS = {"in": "<-", "out": "->", "call": "=>", "reply": "->", "reply in": "<="}


def format_trace(item: TraceEvent | TraceEnd) -> str:
    """One line of ``actors trace``: time, direction, topic, peer, payload; or the end."""
    if isinstance(item, TraceEnd):
        dropped = f", {item.dropped:,} dropped (rate limit)" if item.dropped else ""
        return f"-- trace ended ({item.reason}): {item.events:,} events{dropped}\n"
    if item.kind == "exit":
        return f"{item.at:9.3f}  exit  {item.topic}\n"
    if item.kind == "event":
        return f"{item.at:9.3f}  event {item.topic}  {item.payload}\n"
    arrow = _ARROWS.get(item.kind, item.kind)
    where = "from" if item.kind in ("in", "reply in") else "to"
    peer = f"  {where} {item.peer}" if item.peer else ""
    label = f"{item.kind} {item.topic}" if item.kind.startswith("reply") else item.topic
    return f"{item.at:9.3f}  {arrow} {label}{peer}  {item.payload}\n"
