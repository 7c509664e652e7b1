"""Declarative entries for actors apps: the registry, index files, funcs and env.

Every public name is defined in a private module and re-exported here, imported on first use
(module ``__getattr__``): the ``actors`` command (``registry._cli``) starts without loading the
runtime.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
    from . import funcs as funcs
    from ._boot import App as App
    from ._boot import AppPlan as AppPlan
    from ._boot import boot_app as boot_app
    from ._boot import current_app as current_app
    from ._boot import load_app as load_app
    from ._builders import data_entry as data_entry
    from ._builders import env_storage_entry as env_storage_entry
    from ._builders import env_variable_entry as env_variable_entry
    from ._builders import function_entry as function_entry
    from ._builders import host_entry as host_entry
    from ._builders import process_entry as process_entry
    from ._builders import service_entry as service_entry
    from ._entry import Entry as Entry
    from ._entry import FrozenMap as FrozenMap
    from ._entry import freeze as freeze
    from ._entry import thaw as thaw
    from ._env import Env as Env
    from ._exceptions import ChangesetError as ChangesetError
    from ._exceptions import EntryNotFoundError as EntryNotFoundError
    from ._exceptions import EnvError as EnvError
    from ._exceptions import EnvNotFoundError as EnvNotFoundError
    from ._exceptions import EnvReadOnlyError as EnvReadOnlyError
    from ._exceptions import FunctionCallError as FunctionCallError
    from ._exceptions import IndexFileError as IndexFileError
    from ._exceptions import InvalidEntryError as InvalidEntryError
    from ._exceptions import InvalidFilterError as InvalidFilterError
    from ._exceptions import Problem as Problem
    from ._exceptions import RegistryError as RegistryError
    from ._exceptions import ResolveError as ResolveError
    from ._find import compile_filter as compile_filter
    from ._funcs import Funcs as Funcs
    from ._kinds import KINDS as KINDS
    from ._loader import INDEX_FILE as INDEX_FILE
    from ._loader import load_dir as load_dir
    from ._loader import load_file as load_file
    from ._loader import load_files as load_files
    from ._registry import Change as Change
    from ._registry import Changes as Changes
    from ._registry import Registry as Registry
    from ._registry import Revision as Revision
    from ._registry import Snapshot as Snapshot
    from ._resolve import resolve_callable as resolve_callable
    from ._scheduler import CRON_JOB_FILTER as CRON_JOB_FILTER
    from ._scheduler import CronJob as CronJob
    from ._scheduler import CronJobError as CronJobError
    from ._scheduler import cron_scheduler as cron_scheduler
    from ._scheduler import parse_cron_job as parse_cron_job
    from ._scheduler import start_cron_scheduler as start_cron_scheduler
    from ._storages import FileStorage as FileStorage
    from ._storages import MemoryStorage as MemoryStorage
    from ._storages import OsStorage as OsStorage
    from ._storages import RouterStorage as RouterStorage
    from ._storages import StaticStorage as StaticStorage
    from ._storages import Storage as Storage
    from ._validate import validate_entries as validate_entries
    from ._watch import WATCH_TOPIC as WATCH_TOPIC
    from ._watch import RegistryChanged as RegistryChanged
    from ._watch import watch as watch

_WHERE: dict[str, str] = {
    "funcs": ".funcs",
    "App": "._boot",
    "AppPlan": "._boot",
    "boot_app": "._boot",
    "current_app": "._boot",
    "load_app": "._boot",
    "data_entry": "._builders",
    "env_storage_entry": "._builders",
    "env_variable_entry": "._builders",
    "function_entry": "._builders",
    "host_entry": "._builders",
    "process_entry": "._builders",
    "service_entry": "._builders",
    "Entry": "._entry",
    "FrozenMap": "._entry",
    "freeze": "._entry",
    "thaw": "._entry",
    "Env": "._env",
    "ChangesetError": "._exceptions",
    "EntryNotFoundError": "._exceptions",
    "EnvError": "._exceptions",
    "EnvNotFoundError": "._exceptions",
    "EnvReadOnlyError": "._exceptions",
    "FunctionCallError": "._exceptions",
    "IndexFileError": "._exceptions",
    "InvalidEntryError": "._exceptions",
    "InvalidFilterError": "._exceptions",
    "Problem": "._exceptions",
    "RegistryError": "._exceptions",
    "ResolveError": "._exceptions",
    "compile_filter": "._find",
    "Funcs": "._funcs",
    "KINDS": "._kinds",
    "INDEX_FILE": "._loader",
    "load_dir": "._loader",
    "load_file": "._loader",
    "load_files": "._loader",
    "Change": "._registry",
    "Changes": "._registry",
    "Registry": "._registry",
    "Revision": "._registry",
    "Snapshot": "._registry",
    "resolve_callable": "._resolve",
    "CRON_JOB_FILTER": "._scheduler",
    "CronJob": "._scheduler",
    "CronJobError": "._scheduler",
    "cron_scheduler": "._scheduler",
    "parse_cron_job": "._scheduler",
    "start_cron_scheduler": "._scheduler",
    "FileStorage": "._storages",
    "MemoryStorage": "._storages",
    "OsStorage": "._storages",
    "RouterStorage": "._storages",
    "StaticStorage": "._storages",
    "Storage": "._storages",
    "validate_entries": "._validate",
    "WATCH_TOPIC": "._watch",
    "RegistryChanged": "._watch",
    "watch": "._watch",
}
"""Where each public name is defined (imported on first use: ``__getattr__``)."""


def __getattr__(name: str) -> object:
    """Import a public name on first use."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'registry' has no attribute {name!r}")
    module = _importlib.import_module(where, __name__)
    value = module if where == f".{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CRON_JOB_FILTER",
    "INDEX_FILE",
    "KINDS",
    "WATCH_TOPIC",
    "App",
    "AppPlan",
    "Change",
    "Changes",
    "ChangesetError",
    "CronJob",
    "CronJobError",
    "Entry",
    "EntryNotFoundError",
    "Env",
    "EnvError",
    "EnvNotFoundError",
    "EnvReadOnlyError",
    "FileStorage",
    "FrozenMap",
    "Funcs",
    "FunctionCallError",
    "IndexFileError",
    "InvalidEntryError",
    "InvalidFilterError",
    "MemoryStorage",
    "OsStorage",
    "Problem",
    "Registry",
    "RegistryChanged",
    "RegistryError",
    "ResolveError",
    "Revision",
    "RouterStorage",
    "Snapshot",
    "StaticStorage",
    "Storage",
    "boot_app",
    "compile_filter",
    "cron_scheduler",
    "current_app",
    "data_entry",
    "env_storage_entry",
    "env_variable_entry",
    "freeze",
    "funcs",
    "function_entry",
    "host_entry",
    "load_app",
    "load_dir",
    "load_file",
    "load_files",
    "parse_cron_job",
    "process_entry",
    "resolve_callable",
    "service_entry",
    "start_cron_scheduler",
    "thaw",
    "validate_entries",
    "watch",
]
