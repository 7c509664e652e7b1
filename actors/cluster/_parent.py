"""The thread between a worker node and the parent that started it.

``supervise_workers`` gives each worker the read end of a pipe whose write end
only the parent holds (``ACTORS_PARENT_FD``) and the parent's PID
(``ACTORS_PARENT_PID``). However the parent ends (SIGKILL included) the kernel
closes the write end: the worker sees end-of-file and stops gracefully. On
Linux the worker also asks the kernel for SIGHUP when its parent dies
(``PR_SET_PDEATHSIG``), so it learns of the death even while its event loop is
busy. The parent spawns from its main thread: the kernel counts the thread that
forked a child as its parent, and a worker thread of trio's pool exits when idle.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import MutableMapping

import attrs
import trio

__all__ = ["PARENT_FD_ENV", "PARENT_PID_ENV", "PARENT_SIGNAL", "ParentLink"]

PARENT_FD_ENV = "ACTORS_PARENT_FD"
PARENT_PID_ENV = "ACTORS_PARENT_PID"
PARENT_SIGNAL = signal.SIGHUP
"""The signal a Linux worker gets when its parent dies: a stop, never a forced one."""

_PR_SET_PDEATHSIG = 1


@attrs.frozen
class ParentLink:
    """A worker's view of its parent: its PID and the read end of the parent's pipe."""

    pid: int
    fd: int

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> ParentLink | None:
        """Take the link out of the environment (children of the worker do not inherit it).

        Args:
            environ (MutableMapping[str, str] | None): The environment to read and clean; default:
                ``os.environ``.

        Returns:
            ParentLink | None: None when this process was not started by ``supervise_workers``.

        Raises:
            ValueError: If a variable is set but is not a whole number > 0.
        """
        env = os.environ if environ is None else environ
        fd_text, pid_text = env.pop(PARENT_FD_ENV, None), env.pop(PARENT_PID_ENV, None)
        if fd_text is None and pid_text is None:
            return None
        values = []
        for name, text in ((PARENT_FD_ENV, fd_text), (PARENT_PID_ENV, pid_text)):
            if (
                text is None
                or not (text.isascii() and text.isdigit())
                or len(text) > 10
                or int(text) <= 0
            ):
                raise ValueError(f"{name} must be a whole number > 0, got {text!r}")
            values.append(int(text))
        try:
            os.fstat(values[0])
        except OSError:
            raise ValueError(
                f"{PARENT_FD_ENV}={values[0]} is not an open file descriptor"
            ) from None
        return cls(fd=values[0], pid=values[1])

    def arm(self) -> bool:
        """Ask for ``PARENT_SIGNAL`` when the parent dies (Linux); False if it is already gone."""
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(PARENT_SIGNAL), 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        return not self.gone()  # a parent that died before prctl sends nothing

    def gone(self) -> bool:
        """Whether the parent has died (this process was handed to another parent)."""
        return os.getppid() != self.pid

    async def wait_gone(self) -> None:
        """Return when the parent has died (end-of-file on its pipe)."""
        while True:
            await trio.lowlevel.wait_readable(self.fd)
            try:
                data = os.read(self.fd, 512)
            except BlockingIOError:
                continue
            if not data:
                return
