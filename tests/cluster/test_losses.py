"""Every loss is signalled: a lost node is a failure to ``transient`` restart rules."""

from __future__ import annotations

import pytest

from actors import ExitReason, Restart


@pytest.mark.parametrize("reason", list(ExitReason))
def test_transient_restarts_after_error_and_noconnection_only(reason: ExitReason) -> None:
    failed = reason in (ExitReason.ERROR, ExitReason.NOCONNECTION)
    assert Restart.TRANSIENT.wanted(reason) is failed
    assert Restart.PERMANENT.wanted(reason)
    assert not Restart.TEMPORARY.wanted(reason)
