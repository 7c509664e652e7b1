"""Tests for the PostgreSQL job store: CRUD, schema, claims, leases and the run ledger.

They run against a real server started by ``pgserver.pg_server``; the database's clock
decides what is due, so the lease tests sleep for real (a few tenths of a second).
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable
from typing import TypeVar

import pgserver
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgserver import PgServer

from actors.cron import (
    CronStore,
    InvalidJobId,
    JobExists,
    JobNotFound,
    JobStore,
    PgJobStore,
    SchemaTooNew,
    StoreUnavailable,
    open_store,
)
from actors.cron._pgruns import (
    claim_due,
    finish_run,
    release_job,
    start_run,
    take_pending,
)
from actors.cron._pgschema import SCHEMA_VERSION, connect, ensure_schema, redact

pytestmark = pytest.mark.slow
_T = TypeVar("_T")
pg_server = pgserver.pg_server  # the fixtures, used by name
pg_url = pgserver.pg_url


def _runs(server: PgServer, url: str) -> list[tuple[object, ...]]:
    return server.execute(
        url, "SELECT job_id, scheduled_for, owner, state, attempts FROM actors_cron_runs"
    )


def _due_now(server: PgServer, url: str, job_id: str) -> None:
    """Make the job due with one slot, a second ago, to plan."""
    server.execute(
        url,
        "UPDATE actors_cron_jobs SET next_due = now(), "
        f"planned_until = now() - interval '1.5 s' WHERE id = '{job_id}'",
    )


def _eventually(probe: Callable[[], _T], seconds: float = 5.0) -> _T:
    """Call ``probe`` until it returns something truthy (the server ends a closed
    session's backend, and frees its locks, a moment after the client closed it)."""
    deadline = time.monotonic() + seconds
    while not (result := probe()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result


class TestCrud:
    def test_round_trip_and_errors(self, pg_url: str) -> None:
        store = PgJobStore(pg_url)
        assert isinstance(store, CronStore)
        job = store.add("Daily Report", "0 9 * * *", "inbox", prompt="go", payload={"a": [1]})
        assert job.id == "daily-report"
        assert store.add("Daily Report", "0 9 * * *", "inbox").id == "daily-report-2"
        assert store.get("daily-report") == job
        assert job.created_at.tzinfo is dt.UTC
        with pytest.raises(JobExists):
            store.add("x", "0 9 * * *", "inbox", id="daily-report")
        with pytest.raises(InvalidJobId):
            store.get("../etc")
        with pytest.raises(JobNotFound):
            store.get("nope")
        with pytest.raises(ValueError, match=r"heartbeat_file 'hb\.txt' needs the file store"):
            store.add("x", "0 9 * * *", "inbox", heartbeat_file="hb.txt")
        with pytest.raises(ValueError, match="day 31 never occurs in February"):
            store.add("x", "0 0 31 2 *", "inbox")
        changed = store.update("daily-report", prompt="new", metadata={"k": "v"})
        assert (changed.prompt, changed.metadata) == ("new", {"k": "v"})
        with pytest.raises(ValueError, match="cannot update field"):
            store.update("daily-report", id="other")
        assert not store.disable("daily-report").enabled
        assert store.enable("daily-report").enabled
        assert [j.id for j in store.list()] == ["daily-report", "daily-report-2"]
        assert store.remove("daily-report-2").id == "daily-report-2"
        with pytest.raises(JobNotFound):
            store.remove("daily-report-2")
        assert PgJobStore(pg_url).get("daily-report") == changed  # another connection sees it

    def test_open_store_picks_the_backend(self, pg_url: str, tmp_path: object) -> None:
        assert isinstance(open_store(pg_url), PgJobStore)
        assert isinstance(open_store(str(tmp_path)), JobStore)
        with pytest.raises(TypeError, match="expected a data folder"):
            open_store(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not a postgresql:// URL"):
            PgJobStore("mysql://x")


class TestSchema:
    def test_created_once_and_versioned(self, pg_server: PgServer, pg_url: str) -> None:
        conn = connect(pg_url)
        assert ensure_schema(conn) == 0
        assert ensure_schema(conn) == SCHEMA_VERSION
        conn.close()
        rows = pg_server.execute(pg_url, "SELECT version FROM actors_cron_schema")
        assert rows == [(SCHEMA_VERSION,)]

    def test_newer_schema_is_refused(self, pg_server: PgServer, pg_url: str) -> None:
        PgJobStore(pg_url).list()
        pg_server.execute(pg_url, f"UPDATE actors_cron_schema SET version = {SCHEMA_VERSION + 1}")
        with pytest.raises(SchemaTooNew, match=f"is version {SCHEMA_VERSION + 1}.*upgrade actors"):
            PgJobStore(pg_url).list()

    def test_unreachable_names_the_redacted_url(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # nothing listens here once closed
        url = f"postgresql://me:secret@127.0.0.1:{port}/db"
        with pytest.raises(StoreUnavailable, match=r"cannot connect.*me:\*\*\*@127") as info:
            PgJobStore(url, connect_timeout=2).list()
        assert "secret" not in str(info.value)
        assert isinstance(info.value, OSError)
        assert redact("postgresql://u:p@h/d") == "postgresql://u:***@h/d"


class TestClaims:
    def test_a_leased_job_is_claimed_by_one_scheduler(
        self, pg_server: PgServer, pg_url: str
    ) -> None:
        a, b = PgJobStore(pg_url), PgJobStore(pg_url)
        a.add("tick", "* * * * * *", "sink")
        assert [c.job.id for c in a.call(claim_due, a.owner, 30.0, 10)] == ["tick"]
        assert b.call(claim_due, b.owner, 30.0, 10) == []  # leased to a live owner

    def test_lease_expiry_mid_run_fires_the_slot_once(
        self, pg_server: PgServer, pg_url: str
    ) -> None:
        """A's lease runs out while it delivers; B claims the job, but the ledger refuses
        B the slot A started, and A's release is refused: A's plan does not overwrite B's."""
        a, b = PgJobStore(pg_url), PgJobStore(pg_url)
        a.add("tick", "* * * * * *", "sink")
        _due_now(pg_server, pg_url, "tick")
        (claim_a,) = a.call(claim_due, a.owner, 0.3, 10)
        slot = claim_a.now.replace(microsecond=0)
        run = a.call(start_run, a.owner, claim_a, slot, 30.0)
        assert run is not None
        time.sleep(0.5)  # A is still "delivering" when its job lease expires
        (claim_b,) = b.call(claim_due, b.owner, 30.0, 10)
        assert claim_b.anchor == claim_a.anchor  # A recorded nothing yet: B plans the same slot
        assert b.call(start_run, b.owner, claim_b, slot, 30.0) is None
        assert b.call(release_job, claim_b, slot, slot, slot + dt.timedelta(seconds=1))
        assert a.call(finish_run, a.owner, run)
        assert not a.call(release_job, claim_a, slot, slot, slot + dt.timedelta(seconds=1))
        assert _runs(pg_server, pg_url) == [("tick", slot, a.owner, "delivered", 1)]

    def test_lease_expiry_before_the_run_lets_the_other_fire_it(
        self, pg_server: PgServer, pg_url: str
    ) -> None:
        a, b = PgJobStore(pg_url), PgJobStore(pg_url)
        a.add("tick", "* * * * * *", "sink")
        _due_now(pg_server, pg_url, "tick")
        (claim_a,) = a.call(claim_due, a.owner, 0.3, 10)
        time.sleep(0.5)  # A stalls between the claim and the ledger insert
        (claim_b,) = b.call(claim_due, b.owner, 30.0, 10)
        slot = claim_b.now.replace(microsecond=0)
        assert b.call(start_run, b.owner, claim_b, slot, 30.0) is not None
        assert a.call(start_run, a.owner, claim_a, slot, 30.0) is None
        assert [r[2] for r in _runs(pg_server, pg_url)] == [b.owner]

    def test_a_dead_owners_lease_and_run_are_taken_over(
        self, pg_server: PgServer, pg_url: str
    ) -> None:
        a, b = PgJobStore(pg_url), PgJobStore(pg_url)
        a.add("tick", "* * * * * *", "sink", prompt="p")
        _due_now(pg_server, pg_url, "tick")
        (claim_a,) = a.call(claim_due, a.owner, 60.0, 10)
        slot = claim_a.now.replace(microsecond=0)
        assert a.call(start_run, a.owner, claim_a, slot, 0.3) is not None
        assert b.call(take_pending, b.owner, 30.0, 60.0, 10) == ([], 0)  # A is alive
        a.close()  # A dies: its session, and so its owner lock, is gone
        claims = _eventually(lambda: b.call(claim_due, b.owner, 30.0, 10))
        assert [c.job.id for c in claims] == ["tick"]
        time.sleep(0.4)  # the run lease expires
        runs, missed = b.call(take_pending, b.owner, 30.0, 60.0, 10)
        assert missed == 0
        assert [(r.job_id, r.scheduled_for, r.attempt, r.prompt) for r in runs] == [
            ("tick", slot, 2, "p")
        ]
        assert _runs(pg_server, pg_url) == [("tick", slot, b.owner, "claimed", 2)]

    def test_a_dead_owners_late_run_is_missed_and_recorded(
        self, pg_server: PgServer, pg_url: str
    ) -> None:
        a, b = PgJobStore(pg_url), PgJobStore(pg_url)
        a.add("tick", "* * * * * *", "sink")
        _due_now(pg_server, pg_url, "tick")
        (claim_a,) = a.call(claim_due, a.owner, 60.0, 10)
        slot = claim_a.now.replace(microsecond=0)
        assert a.call(start_run, a.owner, claim_a, slot, 0.1) is not None
        a.close()
        time.sleep(0.3)
        pending = _eventually(lambda: b.call(take_pending, b.owner, 30.0, 0.0, 10)[1])
        assert pending == 1  # marked missed: grace 0, catch-up none
        assert _runs(pg_server, pg_url) == [("tick", slot, a.owner, "missed", 1)]

    def test_a_live_owner_retries_its_own_runs(self, pg_server: PgServer, pg_url: str) -> None:
        a, b = PgJobStore(pg_url), PgJobStore(pg_url)
        a.add("tick", "* * * * * *", "sink")
        _due_now(pg_server, pg_url, "tick")
        (claim_a,) = a.call(claim_due, a.owner, 60.0, 10)
        slot = claim_a.now.replace(microsecond=0)
        assert a.call(start_run, a.owner, claim_a, slot, 0.1) is not None
        time.sleep(0.3)
        assert b.call(take_pending, b.owner, 30.0, 0.0, 10) == ([], 0)
        runs, _ = a.call(take_pending, a.owner, 30.0, 0.0, 10)
        assert [r.attempt for r in runs] == [2]

    def test_a_oneshot_job_is_deleted_once_its_run_is_delivered(
        self, pg_server: PgServer, pg_url: str
    ) -> None:
        a = PgJobStore(pg_url)
        a.add("once", "* * * * * *", "sink", oneshot=True)
        _due_now(pg_server, pg_url, "once")
        (claim,) = a.call(claim_due, a.owner, 60.0, 10)
        slot = claim.now.replace(microsecond=0)
        run = a.call(start_run, a.owner, claim, slot, 30.0)
        assert a.call(release_job, claim, slot, slot, None)
        assert not a.get("once").enabled
        with pytest.raises(ValueError, match="already fired"):
            a.enable("once")
        assert run is not None and a.call(finish_run, a.owner, run)
        assert a.list() == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class TestBadInput:
    @FAST
    @given(
        name=st.text(max_size=20),
        target=st.text(max_size=10),
        prompt=st.text(max_size=20),
        payload=JSON | st.floats(allow_nan=True),
        metadata=st.dictionaries(st.text(max_size=5), JSON, max_size=3),
    )
    def test_a_job_is_stored_exactly_or_refused_naming_the_field(
        self, pg_url: str, name: str, target: str, prompt: str, payload: object, metadata: dict
    ) -> None:
        """Any name, target, prompt and JSON (NUL characters, NaN, nesting): the job
        round-trips unchanged, or ``add`` raises ValueError naming the field."""
        with PgJobStore(pg_url) as store:
            try:
                job = store.add(name, "* * * * *", target, prompt=prompt, payload=payload,
                                metadata=metadata)  # fmt: skip
            except ValueError as exc:
                refused = str(exc)
            else:
                refused = ""
            if refused:
                assert "field" in refused or "target" in refused, refused
                return
            assert store.get(job.id) == job
            assert (job.name, job.target, job.prompt) == (name, target, prompt)
            assert (job.payload, job.metadata) == (payload, metadata)

    def test_nul_characters_are_refused_clearly(self, pg_url: str) -> None:
        with PgJobStore(pg_url) as store:
            with pytest.raises(ValueError, match="field 'prompt' contains a NUL character"):
                store.add("x", "* * * * *", "sink", prompt="a\x00b")
            assert store.add("j", "* * * * *", "sink", payload={"\x00": ["\x00", 1.0]}).payload == {
                "\x00": ["\x00", 1.0]
            }  # JSON may hold NUL (stored as json, not jsonb)
            with pytest.raises(ValueError, match="field 'payload' is not JSON"):
                store.add("x", "* * * * *", "sink", payload=float("nan"))
            store.add("x", "* * * * *", "sink", id="x")
            with pytest.raises(ValueError, match="field 'name' contains a NUL character"):
                store.update("x", name="\x00")
            assert store.get("x").name == "x"

    @settings(max_examples=200, deadline=None)
    @given(
        user=st.text(st.characters(blacklist_characters=":/@?#"), max_size=8),
        password=st.text(st.characters(blacklist_characters="/?#"), min_size=1, max_size=12),
    )
    def test_redact_hides_any_password(self, user: str, password: str) -> None:
        url = f"postgresql://{user}:{password}@db.example:5432/cron"
        assert redact(url) == f"postgresql://{user}:***@db.example:5432/cron"

    def test_job_store_is_a_cron_store(self, tmp_path: object) -> None:
        assert isinstance(JobStore(str(tmp_path)), CronStore)
