"""A worker's link to its parent: the environment it comes from, and the pipe it watches."""

from __future__ import annotations

import os

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from actors.cluster._parent import PARENT_FD_ENV, PARENT_PID_ENV, ParentLink


def test_absent_means_not_a_worker() -> None:
    assert ParentLink.from_environ({}) is None


def test_the_link_is_taken_out_of_the_environment() -> None:
    read_end, write_end = os.pipe()
    try:
        env = {PARENT_FD_ENV: str(read_end), PARENT_PID_ENV: str(os.getppid()), "X": "1"}
        link = ParentLink.from_environ(env)
        assert link == ParentLink(pid=os.getppid(), fd=read_end)
        assert env == {"X": "1"}  # the worker's own children do not inherit it
        assert not link.gone()
        assert ParentLink(pid=os.getpid(), fd=read_end).gone()
    finally:
        os.close(read_end)
        os.close(write_end)


@given(
    fd=st.one_of(st.none(), st.text(max_size=12)), pid=st.one_of(st.none(), st.text(max_size=12))
)
def test_bad_values_are_named(fd: str | None, pid: str | None) -> None:
    env = {k: v for k, v in ((PARENT_FD_ENV, fd), (PARENT_PID_ENV, pid)) if v is not None}
    message = ""
    try:
        link = ParentLink.from_environ(env)
    except ValueError as error:
        message = str(error)
    if message:
        assert PARENT_FD_ENV in message or PARENT_PID_ENV in message
    else:  # only a real open descriptor and a PID > 0 pass
        assert (link is None) == (fd is None and pid is None)
        if link is not None:
            os.fstat(link.fd)
            assert link.pid > 0


def test_a_closed_descriptor_is_refused() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(ValueError, match=f"{PARENT_FD_ENV}={read_end} is not an open"):
        ParentLink.from_environ({PARENT_FD_ENV: str(read_end), PARENT_PID_ENV: "1"})


async def test_wait_gone_returns_when_the_write_end_closes() -> None:
    read_end, write_end = os.pipe()
    link = ParentLink(pid=os.getppid(), fd=read_end)
    try:
        async with trio.open_nursery() as nursery:
            done = trio.Event()

            async def watch() -> None:
                await link.wait_gone()
                done.set()

            nursery.start_soon(watch)
            await trio.sleep(1)
            os.write(write_end, b"noise")  # data is not a death
            await trio.sleep(1)
            assert not done.is_set()
            os.close(write_end)
            write_end = -1
            with trio.fail_after(5):
                await done.wait()
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
