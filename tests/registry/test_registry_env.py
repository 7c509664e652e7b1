"""Tests for env: storages, typed variables, readonly rules and ${env:...} interpolation."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import (
    Env,
    EnvError,
    EnvNotFoundError,
    EnvReadOnlyError,
    FileStorage,
    IndexFileError,
    MemoryStorage,
    RouterStorage,
    StaticStorage,
    env_storage_entry,
    env_variable_entry,
    load_file,
)

Write = Callable[[str, str], Path]


class TestFileStorage:
    """The .env format: comments, export, quotes, escapes; atomic rewrites."""

    def test_parse(self, write: Write) -> None:
        """Every supported line form."""
        path = write(
            ".env",
            """
            # comment
            A=1
            export B = two words  # trailing comment
            C='single # not a comment'
            D="line\\nbreak \\"q\\""
            E=
            F=x#y
            """,
        )
        assert FileStorage(path).read() == {
            "A": "1",
            "B": "two words",
            "C": "single # not a comment",
            "D": 'line\nbreak "q"',
            "E": "",
            "F": "x#y",
        }

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("JUST_A_KEY", "expected KEY=value, got 'JUST_A_KEY'"),
            ("1A=x", "expected KEY=value, got '1A=x'"),
            ("A='open", 'unterminated single quote in "A=\'open"'),
            ('A="open', "unterminated double quote in 'A=\"open'"),
            ("A='x' y", "unexpected text after the quoted value in \"A='x' y\""),
        ],
    )
    def test_malformed_line(self, write: Write, line: str, message: str) -> None:
        """A bad line is an EnvError naming file and line."""
        path = write(".env", f"OK=1\n{line}\n")
        with pytest.raises(EnvError) as caught:
            FileStorage(path).get("OK")
        assert str(caught.value) == f"{path}:2: {message}"

    def test_set_replaces_in_place_and_keeps_the_rest(self, write: Write) -> None:
        """set rewrites one line, keeps comments, quotes values that need it, applies the mode."""
        path = write(".env", "# keep\nA=1\nB=2\n")
        storage = FileStorage(path, file_mode=0o640)
        storage.set("A", "new value")
        storage.set("C", "3")
        assert path.read_text() == '# keep\nA="new value"\nB=2\nC=3\n'
        assert storage.get("A") == "new value"
        assert stat.S_IMODE(path.stat().st_mode) == 0o640

    def test_missing_file(self, tmp_path: Path) -> None:
        """Without auto_create a missing file is an error; with it, empty and created on set."""
        path = tmp_path / ".env"
        with pytest.raises(EnvError, match=r"does not exist \(set auto_create: true"):
            FileStorage(path).get("A")
        with pytest.raises(EnvError, match=r"does not exist \(set auto_create: true"):
            FileStorage(path).set("A", "1")
        storage = FileStorage(path, auto_create=True)
        assert storage.get("A") is None
        storage.set("A", "1")
        assert path.read_text() == "A=1\n"

    def test_fifo_folder_huge_and_binary_files_are_errors_not_hangs(self, tmp_path: Path) -> None:
        """A FIFO (which would block the read), a folder, an oversized or non-UTF-8 file."""
        from registry._storages import MAX_ENV_FILE_BYTES

        fifo = tmp_path / "fifo.env"
        os.mkfifo(fifo)
        folder = tmp_path / "folder.env"
        folder.mkdir()
        huge = tmp_path / "huge.env"
        huge.write_text("A=" + "x" * MAX_ENV_FILE_BYTES)
        binary = tmp_path / "binary.env"
        binary.write_bytes(b"A=\xff\n")
        for path, message in [
            (fifo, "is not a regular file"),
            (folder, "is not a regular file"),
            (huge, f"over the limit of {MAX_ENV_FILE_BYTES} bytes"),
            (binary, "is not UTF-8"),
        ]:
            with pytest.raises(EnvError, match=message) as caught:
                FileStorage(path).get("A")
            assert str(path) in str(caught.value)
            with pytest.raises(EnvError, match=message):
                FileStorage(path).set("A", "1")


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.one_of(
                st.text(max_size=40),
                st.sampled_from(["A=1", "export B='x'", 'C="a\\"b"', "# c", "D=x #c", "=", "E"]),
            ),
            max_size=8,
        ).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    )
)
def test_any_env_file_reads_or_names_the_file(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    """Whatever the bytes, reading gives string pairs or an EnvError naming the file."""
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_bytes(raw)
    problem = ""
    values: dict[str, str] = {}
    try:
        values = FileStorage(path).read()
    except EnvError as error:
        problem = str(error)
    assert str(path) in problem if problem else True
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


class TestStorages:
    """Router order and writability of the simple storages."""

    def test_router_reads_in_order_and_writes_to_first_writable(self) -> None:
        """Static first for reads; the memory storage behind it takes the write."""
        static = StaticStorage({"A": "static"})
        memory = MemoryStorage()
        router = RouterStorage([static, memory])
        assert router.get("A") == "static"
        router.set("B", "x")
        assert memory.values == {"B": "x"}
        assert router.get("missing") is None

    def test_router_of_read_only_storages(self) -> None:
        """A router without a writable storage refuses writes."""
        router = RouterStorage([StaticStorage({})])
        assert not router.writable
        with pytest.raises(
            EnvReadOnlyError, match=r"^every storage of this env\.storage\.router is read-only$"
        ):
            router.set("A", "1")


def make_env(tmp_path: Path, environ: dict[str, str] | None = None) -> Env:
    entries = [
        env_storage_entry("app:os", "os"),
        env_storage_entry("app:mem", "memory"),
        env_storage_entry("app:static", "static", values={"PORT": "8080", "DEBUG": "yes"}),
        env_storage_entry("app:file", "file", file_path=str(tmp_path / ".env"), auto_create=True),
        env_storage_entry("app:chain", "router", storages=["mem", "file", "os"]),
        env_variable_entry("app:port", variable="PORT", storage="static", type="int"),
        env_variable_entry("app:debug", variable="DEBUG", storage="static", type="bool"),
        env_variable_entry("app:home", variable="HOME", storage="os"),
        env_variable_entry(
            "app:tick", variable="TICK", storage="chain", type="duration", default="500ms"
        ),
        env_variable_entry("app:ratio", variable="RATIO", storage="chain", type="float"),
        env_variable_entry(
            "app:locked", variable="LOCKED", storage="chain", readonly=True, default="x"
        ),
        env_variable_entry("app:secret", storage="chain"),
    ]
    return Env.from_entries(entries, environ=environ or {"HOME": "/home/me"})


class TestEnv:
    """Env.get/set/get_all over declared variables."""

    def test_get_converts_types(self, tmp_path: Path) -> None:
        """int, bool, str, duration (seconds) and defaults."""
        env = make_env(tmp_path)
        assert env.get("PORT") == 8080
        assert env.get("DEBUG") is True
        assert env.get("HOME") == "/home/me"
        assert env.get("TICK") == 0.5
        assert env.get_text("TICK") == "500ms"

    def test_lookup_by_entry_id(self, tmp_path: Path) -> None:
        """A variable is also reachable by its entry id (the only way without a name)."""
        env = make_env(tmp_path)
        env.set("app:secret", "s3")
        assert env.get("app:secret") == "s3"
        assert env.get("app:port") == 8080

    def test_set_goes_to_the_first_writable_storage(self, tmp_path: Path) -> None:
        """Through the router, the memory storage takes the write and wins on read."""
        env = make_env(tmp_path)
        env.set("TICK", "2s")
        env.set("RATIO", 0.5)
        assert env.get("TICK") == 2.0
        assert env.get("RATIO") == 0.5
        assert not (tmp_path / ".env").exists()

    def test_router_falls_through_to_file_then_os(self, tmp_path: Path) -> None:
        """Values missing in memory come from the .env file, then from the OS."""
        (tmp_path / ".env").write_text("TICK=3s\n")
        env = make_env(tmp_path, {"RATIO": "0.25"})
        assert env.get("TICK") == 3.0
        assert env.get("RATIO") == 0.25

    def test_get_all(self, tmp_path: Path) -> None:
        """Every variable with a value, by public name; unset ones are left out."""
        assert make_env(tmp_path).get_all() == {
            "DEBUG": True,
            "HOME": "/home/me",
            "LOCKED": "x",
            "PORT": 8080,
            "TICK": 0.5,
        }

    @pytest.mark.parametrize(
        ("name", "value", "error", "message"),
        [
            ("LOCKED", "y", EnvReadOnlyError, "env variable LOCKED (app:locked) is readonly"),
            (
                "PORT",
                "1",
                EnvReadOnlyError,
                "env variable PORT (app:port) cannot be set: its storage app:static is read-only",
            ),
            (
                "HOME",
                "/x",
                EnvReadOnlyError,
                "env variable HOME (app:home) cannot be set: its storage app:os is read-only",
            ),
            (
                "TICK",
                "soon",
                EnvError,
                "env variable TICK (app:tick): invalid duration 'soon': "
                'expected a duration like "500ms", "10s" or "1h30m" (units ns, us, ms, s, m, h)',
            ),
            ("NOPE", "1", EnvNotFoundError, "no env.variable named 'NOPE' is declared"),
        ],
    )
    def test_set_errors(
        self, tmp_path: Path, name: str, value: str, error: type[Exception], message: str
    ) -> None:
        """Readonly variables, read-only storages, bad values and unknown names."""
        with pytest.raises(error) as caught:
            make_env(tmp_path).set(name, value)
        assert str(caught.value) == message

    def test_get_errors(self, tmp_path: Path) -> None:
        """Unset without default, and a stored value of the wrong type."""
        env = make_env(tmp_path, {"HOME": "/h", "RATIO": "lots"})
        with pytest.raises(EnvNotFoundError) as caught:
            env.get("app:secret")
        assert str(caught.value) == (
            "env variable app:secret is not set in storage app:chain and has no default"
        )
        with pytest.raises(EnvError) as caught_type:
            env.get("RATIO")
        assert str(caught_type.value) == "env variable RATIO (app:ratio): 'lots' is not a number"

    def test_missing_storage(self) -> None:
        """A variable whose storage is not among the entries."""
        entry = env_variable_entry("app:v", storage="app:gone")
        with pytest.raises(EnvError) as caught:
            Env.from_entries([entry])
        assert str(caught.value) == "app:v refers to storage 'app:gone', which is not declared"

    def test_router_cycle(self) -> None:
        """Routers that route to each other."""
        entries = [
            env_storage_entry("app:a", "router", storages=["b"]),
            env_storage_entry("app:b", "router", storages=["a"]),
            env_variable_entry("app:v", storage="a"),
        ]
        with pytest.raises(
            EnvError, match=r"^env storage routers form a cycle: app:a -> app:b -> app:a$"
        ):
            Env.from_entries(entries)

    def test_os_storage_defaults_to_the_process_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without environ=, os.environ is read."""
        monkeypatch.setenv("REGTEST_VALUE", "from-os")
        env = Env.from_entries(
            [
                env_storage_entry("app:os", "os"),
                env_variable_entry("app:v", variable="REGTEST_VALUE", storage="os"),
            ]
        )
        assert env.get("REGTEST_VALUE") == os.environ["REGTEST_VALUE"]


ENV_HEADER = """
version: "1.0"
namespace: app
entries:
  - {name: os, kind: env.storage.os}
  - {name: static, kind: env.storage.static, values: {INTERVAL: 2s}}
  - {name: interval, kind: env.variable, variable: INTERVAL, storage: static}
  - {name: unset, kind: env.variable, variable: UNSET, storage: os}
  - {name: fallback, kind: env.variable, variable: FALLBACK, storage: os, default: 9s}
"""


class TestInterpolation:
    """${env:NAME} and ${env:NAME|default} are resolved when index files load."""

    def test_resolution_order(self, write: Write) -> None:
        """Declared variables (storage, then default), then the OS environment, then |default."""
        path = write(
            "_index.yaml",
            ENV_HEADER
            + """
  - name: job
    kind: function
    source: m
    meta:
      interval: ${env:INTERVAL}
      fallback: ${env:FALLBACK}
      home: ${env:HOME}/data
      missing: ${env:NOT_ANYWHERE|1s}
      empty: ${env:NOT_ANYWHERE|}
      literal: "${env:WITH_DOLLAR}"
      list: ["${env:INTERVAL}", 3]
""",
        )
        entries = load_file(path, environ={"HOME": "/home/me", "WITH_DOLLAR": "${env:HOME}"})
        job = next(entry for entry in entries if entry.id == "app:job")
        assert job.meta == {
            "interval": "2s",
            "fallback": "9s",
            "home": "/home/me/data",
            "missing": "1s",
            "empty": "",
            "literal": "${env:HOME}",
            "list": ("2s", 3),
        }

    def test_interpolated_fields_are_validated_afterwards(self, write: Write) -> None:
        """A duration field read from env is checked like a written one."""
        path = write(
            "_index.yaml",
            ENV_HEADER
            + """
  - {name: p, kind: process, source: m}
  - name: s
    kind: service
    process: p
    lifecycle: {start_timeout: "${env:TIMEOUT|soon}"}
""",
        )
        with pytest.raises(IndexFileError) as caught:
            load_file(path, environ={})
        assert str(caught.value).endswith(
            ":11, entry app:s, field lifecycle.start_timeout: invalid duration 'soon': expected "
            'a duration like "500ms", "10s" or "1h30m" (units ns, us, ms, s, m, h)'
        )

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (
                "${env:UNSET}",
                "variable UNSET is not set and has no default; declare it, set "
                "it, or write ${env:UNSET|default}",
            ),
            (
                "${env:NOWHERE}",
                "variable NOWHERE is not set and has no default; declare it, "
                "set it, or write ${env:NOWHERE|default}",
            ),
            (
                "${env:BAD NAME}",
                "malformed interpolation in '${env:BAD NAME}': expected "
                "${env:NAME} or ${env:NAME|default}, with NAME made of letters, digits and '_'",
            ),
            (
                "${env:OPEN",
                "malformed interpolation in '${env:OPEN': expected ${env:NAME} or "
                "${env:NAME|default}, with NAME made of letters, digits and '_'",
            ),
        ],
    )
    def test_interpolation_errors(self, write: Write, value: str, message: str) -> None:
        """Each error names file, entry, field and the variable."""
        path = write(
            "_index.yaml",
            ENV_HEADER + f'  - {{name: job, kind: function, source: m, meta: {{x: "{value}"}}}}\n',
        )
        with pytest.raises(IndexFileError) as caught:
            load_file(path, environ={})
        assert str(caught.value) == f"{path}:9, entry app:job, field meta.x: {message}"

    def test_unreadable_env_file_is_reported(self, write: Write) -> None:
        """A malformed .env behind a variable becomes a load problem, not a crash."""
        write(".env", "broken line\n")
        path = write(
            "_index.yaml",
            """
version: "1.0"
namespace: app
entries:
  - {name: file, kind: env.storage.file, file_path: .env}
  - {name: v, kind: env.variable, variable: V, storage: file}
  - {name: job, kind: function, source: m, meta: {x: "${env:V}"}}
""",
        )
        with pytest.raises(IndexFileError) as caught:
            load_file(path, environ={})
        assert str(caught.value) == (
            f"{path}:6, entry app:job, field meta.x: cannot read variable V: "
            f"{path.parent / '.env'}:1: expected KEY=value, got 'broken line'"
        )

    def test_env_file_path_is_relative_to_the_index_file(self, write: Write) -> None:
        """file_path resolves against the index file's folder."""
        write("conf/.env", "V=from-file\n")
        path = write(
            "conf/_index.yaml",
            """
version: "1.0"
namespace: app
entries:
  - {name: file, kind: env.storage.file, file_path: .env}
  - {name: v, kind: env.variable, variable: V, storage: file}
  - {name: job, kind: registry.entry, value: "${env:V}"}
""",
        )
        entries = load_file(path, environ={})
        assert next(e for e in entries if e.id == "app:job").data == {"value": "from-file"}
        assert Env.from_entries(entries).get("V") == "from-file"


class TestEnvDuplicates:
    """Two variables may not share a public name."""

    def test_duplicate_variable_name(self) -> None:
        """Env refuses to pick one of them silently."""
        entries = [
            env_storage_entry("app:m", "memory"),
            env_variable_entry("app:a", variable="X", storage="m"),
            env_variable_entry("app:b", variable="X", storage="m"),
        ]
        with pytest.raises(EnvError) as caught:
            Env.from_entries(entries)
        assert str(caught.value) == "variable name X is declared by app:a and app:b"
