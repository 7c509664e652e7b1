"""Read, write and list env variables through the router storage of ``_index.yaml``.

``app.env.get(name)`` asks the variable's storage: the router tries memory, then
``config.env``, then the OS environment, and the first one that has the key wins; if none has
it, the variable's ``default`` applies, and without one ``get`` raises
``registry.EnvNotFoundError``. ``set`` writes to the first writable storage of the router
(memory: volatile, the file and the OS are untouched) after checking the variable's ``type``;
a ``readonly`` variable raises ``registry.EnvReadOnlyError``.
"""

from __future__ import annotations

import registry
from actors import Process


async def main(proc: Process) -> int:
    """Walk through get, a missing variable, set, readonly, types, get_all and a function."""
    app = registry.current_app(proc)
    env = app.env
    print("=== Environment Variables ===")
    print()
    print("── Reading Variables ──")
    for name in ("APP_NAME", "PORT", "LOG_LEVEL", "APP_VERSION", "DEPLOY_ENV"):
        print(f"{name:<11} = {env.get(name)!r}")
    print()
    print("── Missing Variable (with error handling) ──")
    try:
        env.get("API_KEY")
    except registry.EnvNotFoundError:
        print("API_KEY     = (not set: expected! configure it in config.env)")
    print()
    print("── Runtime Overrides (memory storage) ──")
    print("Setting LOG_LEVEL = debug ...")
    env.set("LOG_LEVEL", "debug")
    print(f"LOG_LEVEL   = {env.get('LOG_LEVEL')!r}")
    print("Setting PORT = 9090 ...")
    env.set("PORT", 9090)
    print(f"PORT        = {env.get('PORT')!r} (type int)")
    print()
    print("── Refused Writes ──")
    try:
        env.set("APP_VERSION", "2.0.0")
    except registry.EnvReadOnlyError as error:
        print(f"Cannot set APP_VERSION: {error}")
    try:
        env.set("PORT", "eighty")
    except registry.EnvError as error:
        print(f"Cannot set PORT: {error}")
    print()
    print("── All Variables With a Value ──")
    for name, value in env.get_all().items():
        print(f"  {name} = {value!r}")
    print()
    print("── A Function Configured by Env ──")
    print(f"greet('Alice') = {await app.funcs.call('app:greet', 'Alice')}")
    print()
    print("Done! The router searched: memory → file → OS.")
    print("Writes went to memory storage (volatile, lost on restart).")
    return 0
