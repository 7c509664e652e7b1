"""Call ``function`` entries by id: ``await funcs.call(registry, "app:job.heartbeat", *args)``."""

from ._funcs import Funcs as Funcs
from ._funcs import call as call
