"""Hosts (named process groups) and the validation of node options and names."""

from __future__ import annotations

import math
from typing import final

import attrs


@final
@attrs.define(eq=False)
class Host:
    """A named process group: the host part of PIDs, with an optional process limit.

    Raises:
        ValueError: If ``name`` is empty or has a brace, ``|``, ``@`` or a space, or
            ``max_processes`` is not None or an int >= 1.
    """

    name: str
    """The host part of its processes' PIDs: not empty, no braces, ``|``, ``@`` or spaces."""
    max_processes: int | None = None
    """Most live processes on it (an int >= 1; ``spawn`` past it raises
    ``HostLimitReached``); None for no limit."""
    count: int = 0
    """Live processes on this host."""

    def __attrs_post_init__(self) -> None:
        if not self.name or any(ch in self.name for ch in "{}|@ \t\n"):
            raise ValueError(f"invalid host name {self.name!r}: no braces, '|', '@' or spaces")
        if self.max_processes is not None and (
            not isinstance(self.max_processes, int) or self.max_processes < 1
        ):
            raise ValueError(f"max_processes must be an int >= 1, got {self.max_processes!r}")


def check_node_options(name: str | None, shutdown_grace: float, timer_coalesce: float) -> None:
    """Validate ``open_node`` options, naming the bad value."""
    if name is not None and (not name or any(ch in name for ch in "{}|@ \t\n")):
        raise ValueError(f"invalid node name {name!r}: no braces, '|', '@' or spaces")
    if not (shutdown_grace >= 0 and math.isfinite(shutdown_grace)):
        raise ValueError(f"shutdown_grace must be a finite number >= 0, got {shutdown_grace!r}")
    if not (timer_coalesce >= 0 and math.isfinite(timer_coalesce)):
        raise ValueError(f"timer_coalesce must be a finite number >= 0, got {timer_coalesce!r}")


def check_name(name: object) -> None:
    if not isinstance(name, str) or not name or name[0] in "{@":
        raise ValueError(
            f"invalid process name {name!r}: a non-empty string not starting with '{{' or '@'"
        )
