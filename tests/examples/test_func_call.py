"""The func_call example: a process calls function entries by id; errors are exceptions."""

from __future__ import annotations

import pytest

import programs
import registry

APP = programs.EXAMPLES / "func_call"


async def test_calls_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """double and greet give their results; a raising function and a missing id are reported."""
    assert await programs.exec_program(APP) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "double(21) = 42" in lines
    assert "greet('Alice') = Hello, Alice! Welcome to actors." in lines
    assert [x for x in lines if x.startswith("  double(") and " = " in x] == [
        f"  double({n}) = {2 * n}" for n in range(1, 6)
    ]
    assert (
        "  double('ten') -> function app:double raised TypeError: "
        "double() needs a number, got 'ten'"
    ) in lines
    assert "  triple(3) -> no entry with id 'app:triple' in the registry at version 1" in lines


async def test_functions_are_registry_entries() -> None:
    """The functions are ``function`` entries: callable from any process of the app by id."""
    import actors

    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP)
        assert [e.id for e in app.registry.find(kind="function")] == ["app:double", "app:greet"]
        assert await app.funcs.call("app:double", 2.5) == 5.0
        with pytest.raises(registry.FunctionCallError) as caught:
            await app.funcs.call("app:double", True)
        assert isinstance(caught.value.__cause__, TypeError)


@pytest.mark.slow
def test_actors_run_x() -> None:
    """``actors run examples/func_call -x app:cli``: exit 0, the results on stdout."""
    done = programs.run_program(APP)
    assert programs.clean_exit(done), done.stderr
    assert "double(21) = 42\n" in done.stdout
    assert done.stdout.rstrip().endswith("Functions are stateless. Each call is independent.")
