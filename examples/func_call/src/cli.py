"""Call ``function`` entries by id from a process: ``await app.funcs.call(id, *args)``.

A call runs in the calling process's task (an async function is awaited there, a sync one
called there), so cancelling the caller cancels the call. Errors come back as exceptions: an
unknown id is ``registry.EntryNotFoundError``; an exception from the function is
``registry.FunctionCallError`` naming the entry, with the original as ``__cause__``.
"""

from __future__ import annotations

import registry
from actors import Process


async def main(proc: Process) -> int:
    """Call double and greet, then show the two kinds of error."""
    funcs = registry.current_app(proc).funcs
    print("=== Function Calls ===")
    print()
    print(f"double(21) = {await funcs.call('app:double', 21)}")
    print(f"greet('Alice') = {await funcs.call('app:greet', 'Alice')}")
    print()
    print("Calling double() in a loop:")
    for n in range(1, 6):
        print(f"  double({n}) = {await funcs.call('app:double', n)}")
    print()
    print("Errors are exceptions:")
    try:
        await funcs.call("app:double", "ten")
    except registry.FunctionCallError as error:
        print(f"  double('ten') -> {error}")
    try:
        await funcs.call("app:triple", 3)
    except registry.EntryNotFoundError as error:
        print(f"  triple(3) -> {error}")
    print()
    print("Functions are stateless. Each call is independent.")
    return 0
