"""The durable cron: jobs kept in files, fired into trigger files, delivered to processes.

A :class:`JobStore` keeps one JSON file per job under ``<data>/jobs/``; ``cron_service`` is the
process that fires due jobs into trigger files (``write_trigger``, ``TriggerFile``) and
delivers them on ``CRON_TOPIC`` as :class:`CronEvent`s, surviving crashes and restarts (the
misfire policy is the job's :class:`Recovery`). ``actors cron ...`` is its command line.
:class:`PgJobStore` keeps the jobs in PostgreSQL instead, shared by several services that
each fire a slot once; :class:`CronStore` is the interface both stores implement.

May import: every folder of ``actors`` below it (kernel, time, supervision, scheduling),
not ``actors.runner``. Every public name is defined in a private module here and re-exported
once from this package.
"""

from ._event import CRON_TOPIC as CRON_TOPIC
from ._event import CronEvent as CronEvent
from ._pgretention import RunRetention as RunRetention
from ._pgschema import SchemaTooNew as SchemaTooNew
from ._pgschema import StoreUnavailable as StoreUnavailable
from ._pgstore import PgJobStore as PgJobStore
from ._recover import Recovery as Recovery
from ._service import cron_service as cron_service
from ._store import InvalidJobId as InvalidJobId
from ._store import Job as Job
from ._store import JobExists as JobExists
from ._store import JobNotFound as JobNotFound
from ._store import JobStore as JobStore
from ._store import MalformedJob as MalformedJob
from ._storeapi import CronStore as CronStore
from ._storeapi import open_store as open_store
from ._triggerdrain import RetryPolicy as RetryPolicy
from ._triggerfiles import MalformedTrigger as MalformedTrigger
from ._triggerfiles import Trigger as TriggerFile
from ._triggerfiles import write_trigger as write_trigger

__all__ = [
    "CRON_TOPIC",
    "CronEvent",
    "CronStore",
    "InvalidJobId",
    "Job",
    "JobExists",
    "JobNotFound",
    "JobStore",
    "MalformedJob",
    "MalformedTrigger",
    "PgJobStore",
    "Recovery",
    "RetryPolicy",
    "RunRetention",
    "SchemaTooNew",
    "StoreUnavailable",
    "TriggerFile",
    "cron_service",
    "open_store",
    "write_trigger",
]
