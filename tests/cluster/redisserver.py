"""A throw-away redis-server on a loopback port, for the Redis transport's tests.

The ``redis`` fixture (tests/cluster/conftest.py) starts one per test and skips the test when
``redis-server`` or coredis is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

# coredis 6.9 leaves anyio memory streams unclosed when its connections are cancelled or fail;
# their ResourceWarnings come from its internals when they are collected (during a test, or at
# the fixture's teardown, which collects them so that no later test or the session end sees them).
UNCLOSED = "Unclosed <MemoryObject"

REDIS = shutil.which("redis-server")


class RedisServer:
    """One redis-server process on a free loopback port, with no persistence."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS is not None
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
