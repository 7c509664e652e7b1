"""The node's garbage-collector policy (``open_node(gc=...)``), driven by explicit collections."""

from __future__ import annotations

import gc
import warnings

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
import helpers
from actors import GcPolicy
from actors._core import _gc


def _hooked() -> bool:
    return _gc.MANAGER.callback in gc.callbacks


@pytest.fixture(autouse=True)
def _earlier_garbage_collected() -> None:
    """Collect what earlier tests left before these tests run the collector themselves.

    coredis clients whose Redis connection was dropped (tests/cluster) leave anyio memory
    streams unclosed; their ``__del__`` warns when collected, which would fail whichever test
    here calls ``gc.collect()`` first, for garbage it did not make.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unclosed <MemoryObject", ResourceWarning)
        gc.collect()


class TestManagedCollector:
    async def test_survivors_of_a_full_collection_are_frozen_until_the_node_closes(self) -> None:
        """The default policy freezes after each full collection and hands all back at close."""
        assert gc.get_freeze_count() == 0
        async with actors.open_node() as node:
            assert _hooked()
            before = node.statistics().gc_freezes
            gc.collect()
            assert gc.get_freeze_count() > 0
            assert node.statistics().gc_freezes == before + 1
            young = [object() for _ in range(10)]
            gc.collect(0)  # young collections are left alone
            assert node.statistics().gc_freezes == before + 1
            del young
        assert not _hooked()
        assert gc.get_freeze_count() == 0

    async def test_what_exists_when_the_first_node_opens_is_frozen_at_once(self) -> None:
        """The program's heap (imports) is frozen at open, so no full collection scans it."""
        old = [[n] for n in range(1000)]
        assert gc.get_freeze_count() == 0
        async with actors.open_node() as node:
            assert gc.get_freeze_count() >= len(old)
            assert node.statistics().gc_freezes >= 1
            assert not any(o is old for o in gc.get_objects())  # frozen: not in a generation
        assert gc.get_freeze_count() == 0
        async with actors.open_node(gc=GcPolicy(freeze=False)):
            assert gc.get_freeze_count() == 0

    async def test_full_after_sets_threshold2_while_open(self) -> None:
        """A freezing policy lowers Python's threshold2 while open and restores it at close."""
        before = gc.get_threshold()
        async with actors.open_node():
            assert gc.get_threshold() == (*before[:2], 2)
            async with actors.open_node(gc=GcPolicy(full_after=5)):
                assert gc.get_threshold()[2] == 2  # the smallest of the open policies
            async with actors.open_node(gc=GcPolicy(full_after=1)):
                assert gc.get_threshold()[2] == 1
            assert gc.get_threshold()[2] == 2
        assert gc.get_threshold() == before

    async def test_threshold_left_alone_without_freezing(self) -> None:
        """``freeze=False`` and ``gc=None`` do not touch the thresholds."""
        before = gc.get_threshold()
        async with actors.open_node(gc=GcPolicy(freeze=False)):
            assert gc.get_threshold() == before
        async with actors.open_node(gc=None):
            assert gc.get_threshold() == before

    async def test_a_threshold_set_by_the_user_stands(self) -> None:
        """If the program sets threshold2 while the node is open, closing does not undo it."""
        before = gc.get_threshold()
        try:
            async with actors.open_node():
                gc.set_threshold(before[0], before[1], 7)
            assert gc.get_threshold()[2] == 7
        finally:
            gc.set_threshold(*before)

    async def test_none_leaves_the_collector_alone(self) -> None:
        """``gc=None``: no hook, nothing frozen."""
        async with actors.open_node(gc=None) as node:
            assert not _hooked()
            gc.collect()
            assert gc.get_freeze_count() == 0
            assert not node.statistics().gc_managed

    async def test_freeze_false_only_reclaims(self) -> None:
        """``GcPolicy(freeze=False)`` keeps the hook but freezes nothing."""
        async with actors.open_node(gc=GcPolicy(freeze=False)):
            assert _hooked()
            gc.collect()
            assert gc.get_freeze_count() == 0

    async def test_nested_nodes_share_one_hook(self) -> None:
        """The hook stays while any managed node is open; the last one to close unfreezes."""
        async with actors.open_node():
            async with actors.open_node():
                assert gc.callbacks.count(_gc.MANAGER.callback) == 1
            assert _hooked()
            gc.collect()
            assert gc.get_freeze_count() > 0
        assert not _hooked() and gc.get_freeze_count() == 0

    async def test_reclaim_after_a_share_of_the_processes_exited(self) -> None:
        """Once enough processes exited, a full collection unfreezes; the next freezes again."""
        policy = GcPolicy(reclaim_fraction=0.5, reclaim_min=10)
        async with actors.open_node(gc=policy) as node:
            pids = [node.spawn(helpers.idle) for _ in range(40)]
            await trio.sleep(1)
            gc.collect()
            assert gc.get_freeze_count() > 0
            reclaims = node.statistics().gc_reclaims
            for pid in pids[:15]:  # 15 of 40: under half, no reclaim
                node.cancel(pid)
            await trio.sleep(1)
            gc.collect()
            assert gc.get_freeze_count() > 0
            assert node.statistics().gc_reclaims == reclaims
            for pid in pids[15:25]:  # 25 of 40: a reclaim
                node.cancel(pid)
            await trio.sleep(1)
            gc.collect()
            assert gc.get_freeze_count() == 0
            assert node.statistics().gc_reclaims == reclaims + 1
            gc.collect()  # counted afresh from here: frozen again
            assert gc.get_freeze_count() > 0


class TestValidation:
    @settings(max_examples=40, deadline=None)
    @given(
        fraction=st.one_of(
            st.floats().filter(lambda f: not 0 < f <= 1), st.text(), st.none(), st.booleans()
        )
    )
    def test_bad_reclaim_fraction(self, fraction: object) -> None:
        """``reclaim_fraction`` outside (0, 1] is a ValueError naming the value."""
        with pytest.raises(ValueError, match="reclaim_fraction"):
            GcPolicy(reclaim_fraction=fraction)  # type: ignore[arg-type]

    @settings(max_examples=40, deadline=None)
    @given(minimum=st.one_of(st.integers(max_value=-1), st.floats(), st.text(), st.booleans()))
    def test_bad_reclaim_min(self, minimum: object) -> None:
        """``reclaim_min`` must be an int >= 0."""
        with pytest.raises(ValueError, match="reclaim_min"):
            GcPolicy(reclaim_min=minimum)  # type: ignore[arg-type]

    @settings(max_examples=40, deadline=None)
    @given(
        after=st.one_of(
            st.integers(max_value=0), st.integers(min_value=1001), st.floats(), st.booleans()
        )
    )
    def test_bad_full_after(self, after: object) -> None:
        """``full_after`` must be an int in [1, 1000]."""
        with pytest.raises(ValueError, match="full_after must be an int in"):
            GcPolicy(full_after=after)  # type: ignore[arg-type]

    def test_bad_freeze(self) -> None:
        with pytest.raises(ValueError, match="freeze must be a bool, got 'yes'"):
            GcPolicy(freeze="yes")  # type: ignore[arg-type]

    @pytest.mark.parametrize("bad", ["managed", True, 1, {"freeze": True}])
    async def test_bad_gc_option(self, bad: object) -> None:
        """``open_node(gc=...)`` takes a GcPolicy or None, and names anything else."""
        with pytest.raises(ValueError, match=r"gc must be an actors\.GcPolicy or None, got"):
            async with actors.open_node(gc=bad):  # type: ignore[arg-type]
                pass
        assert not _hooked()
