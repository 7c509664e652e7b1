"""Query the registry, change it at run time, and watch the version move.

The tools declared in ``_index.yaml`` and the ones created here are found by the same
``find({"meta.type": "tool"})`` (sorted by id). A changeset (``registry.changes()``) applies
atomically and adds exactly one to the version; a snapshot never changes after it was taken,
and ``snapshot_at(v)`` rebuilds any earlier version from the history.
"""

from __future__ import annotations

import registry
from actors import Process
from registry import Registry, Snapshot

TOOLS = {"meta.type": "tool"}


def show(view: Registry | Snapshot) -> None:
    """Print the tools of ``view`` (the live registry or a snapshot)."""
    for tool in view.find(TOOLS):
        print(f"   [{tool.id}] {tool.meta['title']} — {tool.meta['description']}")
    print()


def tool(name: str, title: str, description: str) -> registry.Entry:
    """A tool entry, as the YAML ones (a ``registry.entry`` with meta)."""
    meta = {"type": "tool", "title": title, "description": description}
    return registry.data_entry(f"app:tool.{name}", meta=meta)


async def main(proc: Process) -> int:
    """Walk through snapshot, create, create, delete; print the tools at each version."""
    reg = registry.current_app(proc).registry
    print("=== Dynamic Registry ===")
    print()
    first = reg.snapshot()
    print(f"1) Tools registered in YAML (version v{first.version}):")
    print()
    show(first)

    print("2) Adding Weather tool...")
    print()
    weather = tool("weather", "Weather", "Gets current weather for a location")
    version = reg.changes().create(weather).apply()
    print(f"   Registry version: v{version}")
    print()
    show(reg)

    print("3) Adding Web Search tool...")
    print()
    search = tool("search", "Web Search", "Searches the web for information")
    version = reg.changes().create(search).apply()
    print(f"   Registry version: v{version}")
    print()
    show(reg)

    print("4) Removing Summarizer tool...")
    print()
    version = reg.changes().delete("app:tool.summarizer").apply()
    print(f"   Registry version: v{version}")
    print()
    show(reg)

    print("5) Conflicts apply nothing:")
    print()
    try:
        reg.changes().create(tool("extra", "Extra", "Never added")).delete("app:tool.gone").apply()
    except registry.ChangesetError as error:
        print(f"   {error}")
    print(f"   Registry version: v{reg.version}, tools: {len(reg.find(TOOLS))}")
    print()

    print(f"6) The first snapshot still sees v{first.version}: {len(first.find(TOOLS))} tools;")
    print(f"   snapshot_at(0) is the registry before the load: {len(reg.snapshot_at(0))} entries.")
    for revision in reg.history()[1:]:
        ops = ", ".join(f"{change.op} {change.id}" for change in revision.changes)
        print(f"   v{revision.version}: {ops}")
    print()
    print("The registry is the source of truth.")
    print("Each apply() bumps the version atomically.")
    return 0
