"""PIDs: printing, parsing, hashing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import PID

hosts = st.from_regex(r"[a-z][a-z0-9_.:-]{0,20}", fullmatch=True)


class TestPrinting:
    def test_prints_host_and_five_hex_digits(self) -> None:
        """A PID prints as {host|0x00006}."""
        assert str(PID("app:processes", 6)) == "{app:processes|0x00006}"

    def test_prints_node_when_named(self) -> None:
        """A node name is printed before the host with '@'."""
        assert str(PID("main", 255, "n1")) == "{n1@main|0x000ff}"

    def test_grows_past_five_digits(self) -> None:
        """Large sequence numbers use more digits."""
        assert str(PID("h", 0x123456)) == "{h|0x123456}"


class TestParsing:
    @given(
        hosts,
        st.integers(min_value=1, max_value=2**63),
        st.none() | hosts.filter(lambda h: ":" not in h),
    )
    def test_round_trip(self, host: str, seq: int, node: str | None) -> None:
        """Any PID parses back from its printed form."""
        pid = PID(host, seq, node)
        assert PID.parse(str(pid)) == pid

    @pytest.mark.parametrize(
        "text", ["", "main|0x00001", "{main|1}", "{main|0x1}", "{|0x00001}", "{a b|0x00001}"]
    )
    def test_rejects_malformed(self, text: str) -> None:
        """Anything but a printed PID is a ValueError naming the text."""
        with pytest.raises(ValueError, match="not a PID"):
            PID.parse(text)


class TestIdentity:
    def test_hashable_and_equal_by_value(self) -> None:
        """Equal PIDs hash alike and work as dict keys."""
        assert {PID("h", 1): "x"}[PID.parse("{h|0x00001}")] == "x"

    def test_immutable(self) -> None:
        """A PID cannot be changed."""
        pid = PID("h", 1)
        with pytest.raises(AttributeError):
            pid.seq = 2  # type: ignore[misc]
