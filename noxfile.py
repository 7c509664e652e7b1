"""Developer sessions. ``nox -l`` lists them; ``nox -s tests -- -k mailbox`` passes args on.

Every session installs the project from this checkout into its own virtualenv.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (virtual time; end-to-end example tests included; the PostgreSQL
    store's tests start a server from /usr/lib/postgresql/*/bin, or skip)."""
    _install(session, "test", "postgres")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Run the long crash and endurance tests (``-m soak``: SIGKILL loops, dropped connections)."""
    _install(session, "test", "postgres")
    session.run("pytest", "-m", "soak", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Serve the documentation site on http://127.0.0.1:8000 (``-- build`` builds it strictly)."""
    _install(session, "docs")
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    if session.posargs[:1] == ["build"]:
        session.run("mkdocs", "build", "--strict", *session.posargs[1:])
    else:
        session.run("mkdocs", "serve", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style with ruff (lint rules and formatting)."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """Type-check the packages with mypy --strict (config in pyproject.toml)."""
    _install(session, "lint", "bench")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmark suite against trio, asyncio, Pykka, Thespian (and Erlang if present).

    Pass ``-- --quick`` for the one-minute mode; results go to bench/results/.
    """
    _install(session, "bench")
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python=PYTHON)
def examples(session: nox.Session) -> None:
    """Run the example apps' end-to-end tests."""
    _install(session, "test")
    session.run("pytest", "tests/examples", *session.posargs)
