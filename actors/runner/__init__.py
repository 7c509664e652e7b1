"""The runner: std.scheduler's programs and their spawns, as processes.

``start_runner`` starts a runner process and returns its :class:`Runner` handle. A
:class:`Program` says what to run, how often, the state its results fold into and how many
spawns it may have; every change answers with an explicit value (:class:`Installed`,
:class:`Spawned`, ... or :class:`Refused`).

May import: every folder of ``actors`` below it (kernel, time, supervision, scheduling),
not ``actors.cron``. Every public name is defined in a private module here and re-exported
once from this package.
"""

from ._program import Counts as Counts
from ._program import Installed as Installed
from ._program import Program as Program
from ._program import ProgramInfo as ProgramInfo
from ._program import ProgramNotFound as ProgramNotFound
from ._program import Refused as Refused
from ._program import RunContext as RunContext
from ._program import Spawned as Spawned
from ._program import SpawnInfo as SpawnInfo
from ._program import Uninstalled as Uninstalled
from ._program import Unspawned as Unspawned
from ._program import default_merge as default_merge
from ._runner import Runner as Runner
from ._runner import start_runner as start_runner

__all__ = [
    "Counts",
    "Installed",
    "Program",
    "ProgramInfo",
    "ProgramNotFound",
    "Refused",
    "RunContext",
    "Runner",
    "SpawnInfo",
    "Spawned",
    "Uninstalled",
    "Unspawned",
    "default_merge",
    "start_runner",
]
