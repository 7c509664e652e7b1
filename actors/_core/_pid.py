"""Process identifiers: ``{host|0x00006}`` or ``{node@host|0x00006}``."""

from __future__ import annotations

import re
from typing import NamedTuple

_PID_RE = re.compile(
    r"^\{(?:(?P<node>[^@|{}\s]+)@)?(?P<host>[^@|{}\s]+)\|0x(?P<seq>[0-9a-fA-F]{5,16})\}$"
)


# A NamedTuple rather than a frozen attrs class: PIDs are built once per spawn
# and hashed on every send to a PID-keyed dict in user code; tuple creation and
# hashing are several times cheaper than attrs' frozen __init__.
class PID(NamedTuple):
    """An immutable, hashable process identifier.

    Printed as ``{host|0x00006}`` (``{node@host|0x00006}`` when the node has a
    name) and parsed back from that string with :meth:`PID.parse`. The sequence
    number is unique within one node and printed with at least five hex digits.
    """

    host: str
    """The host (process group) the process runs on."""
    seq: int
    """Per-node sequence number."""
    node: str | None = None
    """The node name, or None for an unnamed (standalone) node."""

    def __str__(self) -> str:
        if self.node is None:
            return f"{{{self.host}|0x{self.seq:05x}}}"
        return f"{{{self.node}@{self.host}|0x{self.seq:05x}}}"

    def __repr__(self) -> str:
        return f"PID({self})"

    @classmethod
    def parse(cls, text: str) -> PID:
        """Parse the printed form back into a PID.

        Args:
            text (str): A string such as ``"{app:processes|0x00006}"``.

        Returns:
            PID: The identifier the string names.

        Raises:
            ValueError: If ``text`` is not a printed PID.
        """
        match = _PID_RE.match(text)
        if match is None:
            raise ValueError(f"not a PID: {text!r} (expected '{{host|0x00001}}')")
        return cls(match["host"], int(match["seq"], 16), match["node"])
