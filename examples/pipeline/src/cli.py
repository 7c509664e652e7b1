"""The orchestrator: build the chain back to front, feed it log lines, print the summary.

The stages are spawned linked to this process, in reverse order, so each gets the PID of the
next one; a stage that crashes takes the program down with it (exit 1) instead of leaving it
waiting. The summary comes back from the last stage, which was told where to send it in the
``done`` message.
"""

from __future__ import annotations

import actors
import registry
from actors import Cancel, Process

HOST = "app:processes"
SUMMARY_TIMEOUT = 5.0

LINES = [
    "INFO|user.login|Alice",
    "INFO|user.login|Bob",
    "WARN|user.failed_login|Charlie",
    "INFO|page.view|Alice",
    "ERROR|payment.failed|Bob",
    "INFO|page.view|Charlie",
    "DEBUG|cache.miss|system",
    "FATAL|disk.full|Alice",
    "INFO|user.login|Alice",
    "WARN|user.failed_login|Bob",
    "not a log line",
]


async def main(proc: Process) -> int:
    """Run the pipeline once; return 0 when the summary came back."""
    app = registry.current_app(proc)
    print("=== Pipeline: Process Chain ===")
    print()
    print("Data flows through 4 processes:")
    print("  Parser → Transformer → Formatter → Aggregator")
    print()
    aggregator = proc.spawn_linked(app.process("app:aggregator"), host=HOST)
    formatter = proc.spawn_linked(app.process("app:formatter"), aggregator, host=HOST)
    transformer = proc.spawn_linked(app.process("app:transformer"), formatter, host=HOST)
    parser = proc.spawn_linked(app.process("app:parser"), transformer, host=HOST)

    print(f"Feeding {len(LINES)} log lines into the pipeline:")
    print()
    for line in LINES:
        print(f"  → {line}")
        proc.send(parser, "raw_line", line)
    proc.send(parser, "done", {"reply_to": proc.pid})
    print()
    print("Waiting for aggregated results...")
    print()

    timeout = proc.after(SUMMARY_TIMEOUT)
    while True:
        got = await actors.select(proc.events, proc.inbox, timeout)
        if got.source is timeout:
            print(f"No summary within {SUMMARY_TIMEOUT:g} s")
            return 1
        if got.source is proc.events:
            if isinstance(got.value, Cancel):
                return 130
            continue
        if got.value.topic == "summary":
            break
    summary = got.value.payload
    print("=== Summary ===")
    print(f"Total events: {summary['total']}")
    print(f"Max severity: {summary['max_severity']}")
    print(f"Dropped (malformed): {summary['dropped']}")
    print()
    print("By event type:")
    for kind, count in summary["by_type"].items():
        print(f"  {kind}: {count}")
    print()
    print("By user:")
    for user, count in summary["by_user"].items():
        print(f"  {user}: {count}")
    print()
    print("Each stage was an isolated process. Data flowed via messages.")
    return 0
