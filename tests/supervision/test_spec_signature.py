"""Specs check their process function's signature when made, not by crash-looping later."""

from __future__ import annotations

import functools

import pytest

import actors


async def no_proc() -> None:
    pass


async def one_arg(proc: actors.Process, value: int) -> None:
    pass


async def anything(*args: object, **kwargs: object) -> None:
    pass


@pytest.mark.parametrize("make", [actors.ChildSpec, actors.ServiceSpec])
class TestSpecs:
    def test_a_function_without_proc_is_refused(self, make: type) -> None:
        with pytest.raises(
            ValueError, match=r"no_proc cannot be called as fn\(proc, \*args\)"
        ) as caught:
            make("x", no_proc)
        assert "(signature: () -> 'None')" in str(caught.value)
        assert "too many positional arguments" in str(caught.value)

    @pytest.mark.parametrize(
        ("args", "needle"),
        [((), "missing a required argument: 'value'"), ((1, 2), "too many positional arguments")],
    )
    def test_args_must_fit(self, make: type, args: tuple[object, ...], needle: str) -> None:
        with pytest.raises(ValueError, match=needle) as caught:
            make("x", one_arg, args)
        assert f"with args {args!r}" in str(caught.value)
        assert "(signature: (proc: 'actors.Process', value: 'int') -> 'None')" in str(caught.value)

    @pytest.mark.parametrize(
        ("fn", "args"),
        [
            (one_arg, (1,)),
            (anything, (1, 2, 3)),
            (functools.partial(one_arg, value=3), ()),
            (print, ("a builtin: not checked",)),
        ],
    )
    def test_fitting_functions_are_accepted(
        self, make: type, fn: object, args: tuple[object, ...]
    ) -> None:
        assert make("x", fn, args).args == args
