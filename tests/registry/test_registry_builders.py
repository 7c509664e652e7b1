"""Tests for declaring entries in code: the helpers and validate_entries."""

from __future__ import annotations

import pytest

from registry import (
    Entry,
    InvalidEntryError,
    Registry,
    data_entry,
    env_storage_entry,
    env_variable_entry,
    function_entry,
    host_entry,
    process_entry,
    service_entry,
    validate_entries,
)


def heartbeat() -> str:
    return "ok"


class TestHelpers:
    """Each helper builds the same normalised data as the loader."""

    def test_process_and_function(self) -> None:
        """Import paths, module + method, and callables."""
        assert process_entry("app:x", "mymod:main").data == {"source": "mymod:main"}
        assert process_entry("app:x", "mymod").data == {"source": "mymod", "method": "main"}
        assert function_entry("app:f", "file://jobs.py", method="beat", blocking=True).data == {
            "source": "file://jobs.py",
            "method": "beat",
            "blocking": True,
        }
        assert function_entry("app:f", heartbeat).data["source"] is heartbeat

    def test_service_fills_lifecycle_defaults_and_completes_references(self) -> None:
        """Short references get the entry's namespace; restart gets its defaults."""
        entry = service_entry(
            "app.jobs:svc",
            "proc",
            host="app:processes",
            input=["1s"],
            lifecycle={"auto_start": True, "requires": ["db"], "restart": {"jitter": 0}},
        )
        assert entry.kind == "service"
        assert entry.data["process"] == "app.jobs:proc"
        assert entry.data["host"] == "app:processes"
        assert entry.data["input"] == ("1s",)
        assert entry.data["lifecycle"]["requires"] == ("app.jobs:db",)
        assert entry.data["lifecycle"]["restart"] == {
            "initial_delay": "1s",
            "max_delay": "90s",
            "backoff_factor": 2.0,
            "jitter": 0.0,
            "max_attempts": 0,
        }

    def test_host_env_and_data(self) -> None:
        """The remaining kinds."""
        assert host_entry("app:h", max_processes=3).data["host"] == {"max_processes": 3}
        variable = env_variable_entry("app:v", variable="V", storage="mem", default=3, type="int")
        assert variable.data == {
            "variable": "V",
            "storage": "app:mem",
            "default": "3",
            "readonly": False,
            "type": "int",
        }
        assert env_storage_entry("app:s", "static", values={"A": 1}).data == {"values": {"A": "1"}}
        assert data_entry("app:d", {"k": [1]}, meta={"type": "x"}) == Entry(
            "app:d", "registry.entry", meta={"type": "x"}, data={"k": (1,)}
        )

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (
                lambda: process_entry("app:x", "not a path"),
                "entry app:x, field source: expected "
                "'file://path.py' or 'package.module:function', got 'not a path'",
            ),
            (
                lambda: service_entry("app:s", "p", lifecycle={"auto_start": "yes", "x": 1}),
                "2 problems in entries:\n- entry app:s, field lifecycle.x: unknown key 'x'; "
                "allowed keys: auto_start, critical, ready, requires, restart, stable_threshold, "
                "start_timeout, "
                "stop_timeout\n- entry app:s, field lifecycle.auto_start: expected true or false, "
                "got the string 'yes'",
            ),
            (
                lambda: host_entry("app:h", max_processes=0),
                "entry app:h, field host.max_processes: must be at least 1, got 0",
            ),
            (
                lambda: env_storage_entry("app:s", "file"),
                "entry app:s, field file_path: required key is missing",
            ),
            (
                lambda: env_storage_entry("app:s", "cloud"),  # type: ignore[arg-type]
                "unknown kind 'env.storage.cloud' for entry app:s",
            ),
            (
                lambda: process_entry("bad id", "m"),
                "invalid entry id 'bad id': expected "
                "'namespace:name' such as 'app:worker' or 'app.jobs:heartbeat' (dot-separated "
                "words of letters, digits, '_' and '-')",
            ),
        ],
    )
    def test_invalid(self, build: object, message: str) -> None:
        """Helpers raise InvalidEntryError listing every problem."""
        with pytest.raises(InvalidEntryError) as caught:
            build()  # type: ignore[operator]
        assert str(caught.value) == message


class TestValidateEntries:
    """validate_entries checks code-built entries like the loader checks files."""

    def test_normalises_hand_built_entries(self) -> None:
        """A bare Entry of a built-in kind gets its defaults."""
        [entry] = validate_entries([Entry("app:p", "process", data={"source": "m"})])
        assert entry.data == {"source": "m", "method": "main"}

    def test_other_kinds_pass_through(self) -> None:
        """Kinds the registry does not know are the application's business."""
        custom = Entry("app:c", "my.kind", data={"anything": 1})
        assert validate_entries([custom]) == [custom]

    def test_references_may_point_into_an_existing_registry(self) -> None:
        """existing= supplies the entries already applied."""
        registry = Registry.from_entries([process_entry("app:p", "m")])
        [service] = validate_entries([service_entry("app:s", "p")], existing=registry.snapshot())
        assert service.data["process"] == "app:p"

    def test_cross_entry_problems(self) -> None:
        """Dangling references, cycles and duplicate ids are reported together."""
        entries = [
            process_entry("app:p", "m"),
            service_entry("app:a", "p", lifecycle={"requires": ["b"]}),
            service_entry("app:b", "p", lifecycle={"requires": ["a"]}),
            service_entry("app:c", "missing"),
        ]
        with pytest.raises(InvalidEntryError) as caught:
            validate_entries(entries)
        assert str(caught.value) == (
            "2 problems in entries:\n"
            "- entry app:c, field process: refers to app:missing, which is not declared\n"
            "- entry app:a, field lifecycle.requires[0]: requires form a cycle: "
            "app:a -> app:b -> app:a"
        )
        with pytest.raises(InvalidEntryError, match=r"^entry app:p: declared 2 times$"):
            validate_entries([process_entry("app:p", "m"), process_entry("app:p", "n")])
