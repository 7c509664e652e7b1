"""The names and help lines of the commands that talk to a running node (no imports: the
``actors`` parser lists them without loading anything)."""

from __future__ import annotations

COMMANDS = {
    "ps": "list the processes of a running node (--all: of every node you run)",
    "top": "ps, refreshed (Ctrl+C stops)",
    "tree": "the supervision tree: supervisors, services, children, restarts",
    "info": "names, groups, links, monitors, queues and stack of a process",
    "state": "the state of a Server process (its format_state hook)",
    "send": "send TOPIC with a JSON payload to a process",
    "call": "call a process with TOPIC and a JSON payload; print its reply",
    "trace": "show what a process receives and sends, live (bounded: --count, --seconds)",
    "metrics": "the user metrics of a running node (counters, gauges, histograms)",
    "names": "registered names: local ones and group-wide ones (group.names), with holders",
    "groups": "process groups, local and spanning, with member counts; GROUP: its members",
    "pools": "the pools of a running node: routing, live workers, queued messages",
}
"""Command name -> help line, in the order ``actors --help`` shows them."""
