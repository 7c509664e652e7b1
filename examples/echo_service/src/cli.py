"""The client: read lines, send each to ``relay`` by name, print the worker's answer.

Each line is a plain ``send`` to the name ``relay``; the answer comes from a different process
(the worker), so it is awaited on the inbox with a 2 s timeout rather than with ``call``.
Lines come from stdin (a prompt when it is a terminal); end of input or Ctrl+C ends the
program. It sets ``trap_cancel = False``, so the ``Cancel`` of Ctrl+C raises
``actors.Cancelled`` right where it waits (even in the thread reading stdin) and ends it.
"""

from __future__ import annotations

import sys

import trio

import actors
from actors import Process

REPLY_TIMEOUT = 2.0


async def read_line(prompt: bool) -> str | None:
    """One line of stdin without its newline, or None at end of input."""
    if prompt:
        print("> ", end="", flush=True)
    line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    return line.rstrip("\n") if line else None


async def echo(proc: Process, text: str) -> dict[str, str] | None:
    """Send ``text`` to the relay; the worker's answer, or None (timeout, or no relay)."""
    try:
        proc.send("relay", "echo", text)
    except actors.ProcessNotFound:  # the relay is restarting: its name is not bound
        return None
    timeout = proc.after(REPLY_TIMEOUT)
    while True:
        got = await actors.select(proc.inbox, timeout)
        if got.source is timeout:
            return None
        if got.value.topic == "echo_response":
            answer: dict[str, str] = got.value.payload
            return answer


async def main(proc: Process) -> int:
    """Echo lines until end of input; return 1 if an answer was missing."""
    proc.trap_cancel = False
    interactive = sys.stdin.isatty()
    print("Echo Client")
    print("Type messages to echo. Ctrl+D or Ctrl+C to exit.")
    print()
    missed = 0
    try:
        while (text := await read_line(interactive)) is not None:
            if not text.strip():
                continue
            answer = await echo(proc, text)
            if answer is None:
                missed += 1
                print(f"  (no answer within {REPLY_TIMEOUT:g} s)")
            else:
                print(f"  {answer['text']}")
                print(f"  from worker: {answer['worker']}")
            print()
    finally:
        print("Goodbye!")
    return 1 if missed else 0
