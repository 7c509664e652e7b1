"""The simplest process: print a greeting and this process's PID, then return 0.

Run as the program of the app (``actors run examples/hello_world -x app:hello``), the value it
returns is the command's exit status.
"""

from __future__ import annotations

from actors import Process


async def main(proc: Process) -> int:
    """Print, then return the exit status."""
    print("Hello from actors!")
    print(f"My PID: {proc.pid}")
    print()
    print("This is a process: the basic unit of computation.")
    print("Every piece of code in an actors app runs inside a process.")
    print("Each process has its own mailbox and is reached only by messages.")
    return 0
