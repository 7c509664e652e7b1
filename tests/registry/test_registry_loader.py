"""Tests for the index-file loader: the Wippy shape, every kind, and every validation error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from registry import Entry, IndexFileError, Registry, load_dir, load_file, load_files

Write = Callable[[str, str], Path]

CRONTAB = """
version: "1.0"
namespace: app

entries:
  - name: processes
    kind: process.host
    host:
      workers: 32
      queue_size: 4096
    lifecycle:
      auto_start: true

  - name: heartbeat_process
    kind: process
    source: file://jobs.py
    method: heartbeat

  - name: heartbeat
    kind: process.service
    process: app:heartbeat_process
    host: app:processes
    input: [1s]
    lifecycle:
      auto_start: true
      restart:
        max_attempts: 5
        initial_delay: 1s
        backoff_factor: 2.0
        jitter: 0

  - name: job.cleanup
    kind: function
    source: file://jobs.py
    method: cleanup
    blocking: true
    meta:
      type: cron.job
      interval: "3s"
"""


def load_one(write: Write, body: str, environ: dict[str, str] | None = None) -> list[Entry]:
    """Write an index file with the usual header around ``body`` (entries) and load it."""
    path = write("_index.yaml", 'version: "1.0"\nnamespace: app\nentries:\n' + body)
    return load_file(path, environ=environ or {})


def error_of(write: Write, body: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(IndexFileError) as caught:
        load_one(write, body, environ)
    return str(caught.value)


class TestLoading:
    """Valid index files load into normalised entries."""

    def test_seed_crontab_shape(self, write: Write, tmp_path: Path) -> None:
        """The seeds' shape loads; aliases become our kinds and defaults are filled."""
        write("src/_index.yaml", CRONTAB)
        write("src/jobs.py", "def heartbeat(): pass\ndef cleanup(): pass\n")
        entries = {entry.id: entry for entry in load_dir(tmp_path, environ={})}
        assert sorted(entries) == [
            "app:heartbeat",
            "app:heartbeat_process",
            "app:job.cleanup",
            "app:processes",
        ]
        host = entries["app:processes"]
        assert host.kind == "host"
        assert host.data == {
            "host": {"max_processes": None, "workers": 32, "queue_size": 4096},
            "lifecycle": {"auto_start": True, "start_timeout": "10s", "stop_timeout": "10s"},
        }
        service = entries["app:heartbeat"]
        assert service.kind == "service"
        assert service.data == {
            "process": "app:heartbeat_process",
            "host": "app:processes",
            "input": ("1s",),
            "lifecycle": {
                "auto_start": True,
                "requires": (),
                "start_timeout": "10s",
                "stop_timeout": "10s",
                "stable_threshold": "5s",
                "restart": {
                    "initial_delay": "1s",
                    "max_delay": "90s",
                    "backoff_factor": 2.0,
                    "jitter": 0.0,
                    "max_attempts": 5,
                },
                "critical": True,
                "ready": False,
            },
        }
        function = entries["app:job.cleanup"]
        assert function.meta == {"type": "cron.job", "interval": "3s"}
        assert function.data == {"source": "file://jobs.py", "method": "cleanup", "blocking": True}
        assert function.origin == str(tmp_path / "src" / "_index.yaml")

    def test_load_dir_reads_nested_files_and_skips_hidden_folders(
        self, write: Write, tmp_path: Path
    ) -> None:
        """Every _index.yaml below the folder counts, references may cross files."""
        write(
            "_index.yaml",
            'version: "1.0"\nnamespace: app\nentries:\n'
            "  - {name: svc, kind: service, process: lib:proc}\n",
        )
        write(
            "lib/_index.yaml",
            'version: "1.0"\nnamespace: lib\nentries:\n'
            "  - {name: proc, kind: process, source: 'mod:main'}\n",
        )
        write(".hidden/_index.yaml", "not: [valid")
        assert [e.id for e in load_dir(tmp_path, environ={})] == ["app:svc", "lib:proc"]

    def test_every_kind_loads(self, write: Write) -> None:
        """All built-in kinds with their fields."""
        entries = load_one(
            write,
            """
  - {name: p, kind: process, source: pkg.mod}
  - {name: f, kind: function, source: "pkg.mod:Class.run"}
  - {name: h, kind: host, host: {max_processes: 10}}
  - {name: s, kind: service, process: p, host: h, lifecycle: {requires: [t]}}
  - {name: t, kind: service, process: p}
  - {name: os, kind: env.storage.os}
  - {name: mem, kind: env.storage.memory}
  - {name: file, kind: env.storage.file, file_path: .env, auto_create: true}
  - {name: static, kind: env.storage.static, values: {A: 1, B: true}}
  - {name: router, kind: env.storage.router, storages: [mem, static, os]}
  - {name: v, kind: env.variable, variable: V, storage: router, default: 5, type: int}
  - {name: data, kind: registry.entry, anything: {goes: [1, 2]}, meta: {k: v}}
""",
        )
        by_id = {entry.id: entry for entry in entries}
        assert by_id["app:p"].data == {"source": "pkg.mod", "method": "main"}
        assert by_id["app:f"].data == {"source": "pkg.mod:Class.run", "blocking": False}
        assert by_id["app:h"].data["host"] == {"max_processes": 10}
        assert by_id["app:s"].data["lifecycle"]["requires"] == ("app:t",)
        assert by_id["app:file"].data == {
            "file_path": ".env",
            "auto_create": True,
            "file_mode": 0o600,
        }
        assert by_id["app:static"].data == {"values": {"A": "1", "B": "true"}}
        assert by_id["app:router"].data == {"storages": ("app:mem", "app:static", "app:os")}
        assert by_id["app:v"].data == {
            "variable": "V",
            "storage": "app:router",
            "default": "5",
            "readonly": False,
            "type": "int",
        }
        assert by_id["app:data"].data == {"anything": {"goes": (1, 2)}}
        assert by_id["app:data"].meta == {"k": "v"}

    def test_empty_entries_and_registry_round_trip(self, write: Write) -> None:
        """An index file may declare nothing; loaded entries go into a registry as version 1."""
        assert load_one(write, "  []\n") == []
        registry = Registry.from_entries(load_one(write, "  - {name: a, kind: registry.entry}\n"))
        assert registry.version == 1
        assert registry.get("app:a").kind == "registry.entry"

    def test_load_files_combines_files(self, write: Write) -> None:
        """load_files checks references across the given files."""
        a = write(
            "a/_index.yaml",
            'version: "1.0"\nnamespace: a\nentries:\n  - {name: s, kind: service, process: b:p}\n',
        )
        b = write(
            "b/_index.yaml",
            'version: "1.0"\nnamespace: b\nentries:\n  - {name: p, kind: process, source: m}\n',
        )
        assert len(load_files([a, b], environ={})) == 2


class TestFileErrors:
    """Problems with a whole file name the file (and the line when known)."""

    def test_not_a_directory(self, tmp_path: Path) -> None:
        """load_dir on a missing folder."""
        with pytest.raises(IndexFileError, match=r": is not a directory$"):
            load_dir(tmp_path / "nope")

    def test_no_index_file(self, tmp_path: Path) -> None:
        """A folder without any _index.yaml is an error, not an empty app."""
        with pytest.raises(IndexFileError) as caught:
            load_dir(tmp_path)
        assert str(caught.value) == f"{tmp_path}: no _index.yaml found in this folder"

    def test_malformed_yaml(self, write: Write) -> None:
        """A YAML syntax error names the line."""
        path = write("_index.yaml", 'version: "1.0"\nentries: [\n  - a: b\n')
        with pytest.raises(IndexFileError) as caught:
            load_file(path)
        assert str(caught.value).startswith(f"{path}:3: malformed YAML: ")

    def test_duplicate_yaml_key(self, write: Write) -> None:
        """PyYAML would keep the last value; we refuse."""
        path = write("_index.yaml", 'version: "1.0"\nnamespace: app\nnamespace: other\n')
        with pytest.raises(IndexFileError) as caught:
            load_file(path)
        assert str(caught.value) == f"{path}:3: duplicate key 'namespace'"

    def test_top_level_problems_are_all_reported(self, write: Write) -> None:
        """Unknown key, unquoted version, bad namespace and non-list entries, in line order."""
        path = write("_index.yaml", "version: 1.0\nnamespace: 'my app'\nentries: {}\nimports: []\n")
        with pytest.raises(IndexFileError) as caught:
            load_file(path)
        assert str(caught.value) == "\n".join(
            [
                "4 problems in index files:",
                f'- {path}:1: version must be "1.0" (quote it in YAML: version: "1.0"), '
                "got the number 1.0",
                f"- {path}:2: namespace must be dot-separated words such as 'app' or "
                "'app.jobs', got the string 'my app'",
                f"- {path}:3: entries must be a list, got a mapping",
                f"- {path}:4: unknown key 'imports'; allowed keys: entries, namespace, version",
            ]
        )

    def test_document_must_be_a_mapping(self, write: Write) -> None:
        """An empty file or a list is not an index file."""
        path = write("_index.yaml", "")
        with pytest.raises(IndexFileError) as caught:
            load_file(path)
        assert str(caught.value) == (
            f"{path}: expected a mapping with version, namespace and entries, got null"
        )


class TestEntryErrors:
    """Each entry-level problem names file, line, entry and field; messages are pinned."""

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (
                "  - just a string\n",
                "entry entries[0]: expected a mapping, got the string 'just a string'",
            ),
            ("  - {kind: process}\n", "entry entries[0], field name: required key is missing"),
            (
                "  - {name: 'a b', kind: process}\n",
                "entry entries[0], field name: expected a "
                "name of dot-separated words (letters, digits, '_', '-') such as 'job.heartbeat', "
                "got the string 'a b'",
            ),
            ("  - {name: a}\n", "entry app:a, field kind: required key is missing"),
            (
                "  - {name: a, kind: terminal.host}\n",
                "entry app:a, field kind: unknown kind "
                "'terminal.host'; known kinds: cron.durable, env.storage.file, env.storage.memory, "
                "env.storage.os, env.storage.router, env.storage.static, env.variable, function, "
                "host, pool, process, registry.entry, service",
            ),
            (
                "  - {name: a, kind: function.lua, source: file://x.lua}\n",
                "entry app:a, field "
                "kind: kind 'function.lua' is a Wippy Lua kind and actors runs Python: use kind "
                "'function' with source: file://module.py and method: <function>",
            ),
            (
                "  - {name: a, kind: process, source: m, modules: [time]}\n",
                "entry app:a, field "
                "modules: unknown key 'modules'; allowed keys: kind, meta, method, name, source",
            ),
            (
                "  - {name: a, kind: function, source: m, blocking: 'yes'}\n",
                "entry app:a, field blocking: expected true or false, got the string 'yes'",
            ),
            (
                "  - {name: a, kind: process}\n",
                "entry app:a, field source: required key is missing",
            ),
            (
                "  - {name: a, kind: process, source: 'jobs.py:'}\n",
                "entry app:a, field source: "
                "expected 'file://path.py' or 'package.module:function', got 'jobs.py:'",
            ),
            (
                "  - {name: a, kind: process, source: 'file://jobs.lua'}\n",
                "entry app:a, field "
                "source: a file:// source must name a .py file, got 'file://jobs.lua'",
            ),
            (
                "  - {name: a, kind: process, source: 'm:f', method: g}\n",
                "entry app:a, field "
                "method: not allowed when source already names the function ('m:f'); use source "
                "'m' with method 'g', or drop method",
            ),
            (
                "  - {name: a, kind: process, source: m, meta: [1]}\n",
                "entry app:a, field meta: expected a mapping, got a list",
            ),
            (
                "  - {name: a, kind: registry.entry, x: {1: 2}}\n",
                "entry app:a, field x.1: keys must be strings, got the number 1",
            ),
            (
                "  - {name: a, kind: host, host: {max_processes: 0}}\n",
                "entry app:a, field host.max_processes: must be at least 1, got 0",
            ),
            (
                "  - {name: a, kind: env.storage.router, storages: []}\n",
                "entry app:a, field storages: expected at least 1 item(s), got an empty list",
            ),
            (
                "  - {name: a, kind: env.storage.file}\n",
                "entry app:a, field file_path: required key is missing",
            ),
            (
                "  - {name: s, kind: env.storage.memory}\n  - {name: a, kind: env.variable, "
                "storage: s, type: int, default: ten}\n",
                "entry app:a, field default: does not fit type int: 'ten' is not an integer",
            ),
            (
                "  - {name: s, kind: env.storage.memory}\n  - {name: a, kind: env.variable, "
                "storage: s, type: text}\n",
                "entry app:a, field type: expected one of str, int, "
                "float, bool, duration; got the string 'text'",
            ),
            (
                "  - {name: s, kind: env.storage.memory}\n  - {name: a, kind: env.variable, "
                "storage: s, variable: 'A-B'}\n",
                "entry app:a, field variable: expected a name "
                "of letters, digits and '_', got 'A-B'",
            ),
        ],
    )
    def test_entry_problem(self, write: Write, tmp_path: Path, body: str, expected: str) -> None:
        """The one problem is reported as one paragraph with its place."""
        message = error_of(write, body)
        line = 4 if body.count("\n  - ") == 0 else 5
        assert message == f"{tmp_path / '_index.yaml'}:{line}, {expected}"

    @pytest.mark.parametrize(
        ("lifecycle", "field", "message"),
        [
            ("{auto_start: 1}", "auto_start", "expected true or false, got the number 1"),
            (
                "{start_timeout: '10 s'}",
                "start_timeout",
                "invalid duration '10 s': expected a "
                'duration like "500ms", "10s" or "1h30m" (units ns, us, ms, s, m, h)',
            ),
            ("{stop_timeout: 0}", "stop_timeout", "must be a positive duration, got 0"),
            ("{stable_threshold: -1s}", "stable_threshold", "must not be negative, got '-1s'"),
            (
                "{restart: {delay: 1s}}",
                "restart.delay",
                "unknown key 'delay' (did you mean "
                "'max_delay'?); allowed keys: backoff_factor, initial_delay, jitter, "
                "max_attempts, max_delay",
            ),
            ("{restart: {jitter: 1.5}}", "restart.jitter", "must be at most 1.0, got 1.5"),
            (
                "{restart: {backoff_factor: 0}}",
                "restart.backoff_factor",
                "must be at least 1.0, got 0",
            ),
            ("{restart: {max_attempts: -1}}", "restart.max_attempts", "must be at least 0, got -1"),
            (
                "{restart: {initial_delay: 2m, max_delay: 1m}}",
                "restart.max_delay",
                "must not be shorter than initial_delay ('2m'), got '1m'",
            ),
            ("{requires: app:x}", "requires", "expected a list, got the string 'app:x'"),
            (
                "{depends_on: []}",
                "depends_on",
                "unknown key 'depends_on'; allowed keys: "
                "auto_start, critical, ready, requires, restart, stable_threshold, start_timeout, "
                "stop_timeout",
            ),
        ],
    )
    def test_service_lifecycle_problem(
        self, write: Write, lifecycle: str, field: str, message: str
    ) -> None:
        """Lifecycle fields are typed and ranged."""
        body = (
            f"  - {{name: p, kind: process, source: m}}\n  - {{name: s, kind: service, "
            f"process: p, lifecycle: {lifecycle}}}\n"
        )
        text = error_of(write, body)
        assert text.endswith(f":5, entry app:s, field lifecycle.{field}: {message}")

    def test_missing_source_file(self, write: Write, tmp_path: Path) -> None:
        """A file:// source must exist next to the index file."""
        text = error_of(write, "  - {name: a, kind: process, source: file://jobs.py}\n")
        assert text.endswith(
            f"field source: source file {str(tmp_path / 'jobs.py')!r} does not exist"
        )

    def test_duplicate_ids_across_files(self, write: Write, tmp_path: Path) -> None:
        """The second declaration is reported with the place of the first."""
        first = write(
            "a/_index.yaml",
            'version: "1.0"\nnamespace: app\nentries:\n  - {name: x, kind: registry.entry}\n',
        )
        second = write(
            "b/_index.yaml",
            'version: "1.0"\nnamespace: app\nentries:\n'
            "  - {name: y, kind: registry.entry}\n"
            "  - {name: x, kind: registry.entry}\n",
        )
        with pytest.raises(IndexFileError) as caught:
            load_dir(tmp_path)
        assert str(caught.value) == (
            f"{second}:5, entry app:x: duplicate id; first declared at {first}:4"
        )


class TestReferenceErrors:
    """Dangling and mistyped references and cycles are reported with the field."""

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            (
                "  - {name: s, kind: service, process: nope}\n",
                ":4, entry app:s, field process: refers to app:nope, which is not declared",
            ),
            (
                "  - {name: p, kind: process, source: m}\n"
                "  - {name: s, kind: service, process: p, host: app:h}\n",
                ":5, entry app:s, field host: refers to app:h, which is not declared",
            ),
            (
                "  - {name: p, kind: process, source: m}\n"
                "  - {name: s, kind: service, process: p, lifecycle: {requires: [p]}}\n",
                ":5, entry app:s, field lifecycle.requires[0]: refers to app:p, which is a "
                "process, not a service",
            ),
            (
                "  - {name: p, kind: process, source: m}\n"
                "  - {name: c, kind: cron.durable, store: data, lifecycle: {requires: [p]}}\n",
                ":5, entry app:c, field lifecycle.requires[0]: refers to app:p, which is a "
                "process, not a service or a cron.durable",
            ),
            (
                "  - {name: v, kind: env.variable, storage: other:store}\n",
                ":4, entry app:v, field storage: refers to other:store, which is not declared",
            ),
            (
                "  - {name: p, kind: process, source: m}\n"
                "  - {name: v, kind: env.variable, storage: p}\n",
                ":5, entry app:v, field storage: refers to app:p, which is a process, not a "
                "env.storage.*",
            ),
            (
                "  - {name: r, kind: env.storage.router, storages: [q]}\n"
                "  - {name: q, kind: env.storage.router, storages: [r]}\n",
                ":5, entry app:q, field storages[0]: storage routers form a cycle: "
                "app:q -> app:r -> app:q",
            ),
            (
                "  - {name: m, kind: env.storage.memory}\n"
                "  - {name: a, kind: env.variable, storage: m, variable: X}\n"
                "  - {name: b, kind: env.variable, storage: m, variable: X}\n",
                ":6, entry app:b, field variable: variable name X is already declared by app:a",
            ),
        ],
    )
    def test_reference_problem(self, write: Write, body: str, expected: str) -> None:
        """The referring entry and field are named, with what was wrong."""
        assert error_of(write, body).endswith(expected)

    def test_requires_cycle(self, write: Write, tmp_path: Path) -> None:
        """A cycle is reported once, at its smallest id, with the whole path."""
        body = (
            "  - {name: p, kind: process, source: m}\n"
            "  - {name: c, kind: service, process: p, lifecycle: {requires: [a]}}\n"
            "  - {name: b, kind: service, process: p, lifecycle: {requires: [c]}}\n"
            "  - {name: a, kind: service, process: p, lifecycle: {requires: [b]}}\n"
            "  - {name: d, kind: service, process: p, lifecycle: {requires: [d]}}\n"
        )
        path = tmp_path / "_index.yaml"
        assert error_of(write, body).splitlines() == [
            "2 problems in index files:",
            f"- {path}:7, entry app:a, field lifecycle.requires[0]: requires form a cycle: "
            "app:a -> app:b -> app:c -> app:a",
            f"- {path}:8, entry app:d, field lifecycle.requires[0]: requires form a cycle: "
            "app:d -> app:d",
        ]

    def test_all_problems_of_one_load_are_reported(self, write: Write) -> None:
        """Schema problems and reference problems of several entries come in one error."""
        body = (
            "  - {name: s, kind: service, process: nope, lifecycle: {auto_start: maybe}}\n"
            "  - {name: v, kind: env.variable, storage: gone, read_only: true}\n"
        )
        with pytest.raises(IndexFileError) as caught:
            load_one(write, body)
        assert [(p.line, p.entry, p.field) for p in caught.value.problems] == [
            (4, "app:s", "lifecycle.auto_start"),
            (4, "app:s", "process"),
            (5, "app:v", "read_only"),
            (5, "app:v", "storage"),
        ]
        assert str(caught.value).startswith("4 problems in index files:\n- ")
        assert "(did you mean 'readonly'?)" in str(caught.value)
