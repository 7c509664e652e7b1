"""The env_variables example: a router storage memory -> file -> OS, types, readonly."""

from __future__ import annotations

import pytest

import actors
import programs
import registry

APP = programs.EXAMPLES / "env_variables"
CONFIG = APP / "config.env"
SHELL = {"PATH": "/usr/bin"}  # an OS environment with none of the example's variables


async def test_walkthrough(capsys: pytest.CaptureFixture[str]) -> None:
    """File values beat defaults, the OS is last, writes go to memory; config.env is untouched."""
    before = CONFIG.read_bytes()
    environ = {**SHELL, "DEPLOY_ENV": "staging", "APP_NAME": "From Shell"}
    assert await programs.exec_program(APP, environ=environ) == 0
    assert CONFIG.read_bytes() == before
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:8] == [
        "APP_NAME    = 'actors Env Demo'",  # config.env wins over the OS
        "PORT        = 8080",  # the default, typed int
        "LOG_LEVEL   = 'warn'",  # config.env
        "APP_VERSION = '1.0.0'",
        "DEPLOY_ENV  = 'staging'",  # only in the OS
    ]
    assert "API_KEY     = (not set: expected! configure it in config.env)" in lines
    assert "LOG_LEVEL   = 'debug'" in lines
    assert "PORT        = 9090 (type int)" in lines
    assert "Cannot set APP_VERSION: env variable APP_VERSION (app:app_version) is readonly" in lines
    assert "Cannot set PORT: env variable PORT (app:port): 'eighty' is not an integer" in lines
    listed = lines[lines.index("── All Variables With a Value ──") + 1 :]
    listed = listed[: listed.index("")]
    assert listed == [
        "  APP_NAME = 'actors Env Demo'",
        "  APP_VERSION = '1.0.0'",
        "  DEPLOY_ENV = 'staging'",
        "  GREETING_STYLE = 'casual'",
        "  LOG_LEVEL = 'debug'",
        "  PORT = 9090",
    ]
    assert "greet('Alice') = Hey Alice! Welcome to actors Env Demo." in lines


async def test_private_variable_and_os_fallback() -> None:
    """A variable without a public name is reached by entry id; an OS value is read last."""
    environ = {**SHELL, "secret_token": "s3cret", "API_KEY": "k"}
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP, environ=environ)
        assert app.env.get("app:secret_token") == "s3cret"
        assert app.env.get("API_KEY") == "k"
        with pytest.raises(registry.EnvNotFoundError):
            app.env.get("secret_token")
        app.env.set("GREETING_STYLE", "formal")
        greeting = await app.funcs.call("app:greet", "Bo")
        assert greeting == "Good day, Bo. Welcome to actors Env Demo."


@pytest.mark.slow
def test_actors_run_x() -> None:
    """``DEPLOY_ENV=staging actors run examples/env_variables -x app:cli``: exit 0."""
    unset = dict.fromkeys(("APP_NAME", "PORT", "LOG_LEVEL", "API_KEY", "GREETING_STYLE"))
    done = programs.run_program(APP, env={**unset, "DEPLOY_ENV": "staging"})
    assert programs.clean_exit(done), done.stderr
    assert "DEPLOY_ENV  = 'staging'\n" in done.stdout
    assert "PORT        = 9090 (type int)\n" in done.stdout
