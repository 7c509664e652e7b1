"""Actors across OS processes and machines: a node group over a transport.

``open_node_group(node, transport)`` connects a named node to its peers; from
then on PIDs of other nodes (and ``"name@node"``) work with ``send``, ``call``,
``monitor``, ``link``, ``cancel`` and ``terminate`` as local ones do, with the
rules of docs/explanation/node-groups.md ("Delivery guarantees" first).
``NodeGroup.spawn`` starts a function on a named node. :class:`UnixTransport`
connects the nodes of one machine over Unix sockets (``actors run DIR --workers N``);
:class:`RedisTransport` connects nodes on several machines through one Redis server
(``actors[redis]``); :class:`MemoryNetwork` joins nodes of one trio run (tests on
virtual time).

May import: the kernel (``actors._core``) and the folders below ``actors.runner``
(time, supervision). Every public name is defined in a private module here and
re-exported once from this package.
"""

from ._exports import Exports as Exports
from ._global import GlobalNames as GlobalNames
from ._global import GlobalNameStatistics as GlobalNameStatistics
from ._global import NameLost as NameLost
from ._global import global_name as global_name
from ._group import NodeGroup as NodeGroup
from ._losses import Undelivered as Undelivered
from ._losses import UndeliveredReason as UndeliveredReason
from ._memory import MemoryNetwork as MemoryNetwork
from ._memory import MemoryTransport as MemoryTransport
from ._open import current_group as current_group
from ._open import open_node_group as open_node_group
from ._redis import RedisTransport as RedisTransport
from ._remote import GroupStatistics as GroupStatistics
from ._remote import RemoteError as RemoteError
from ._spanning import SpanningGroups as SpanningGroups
from ._spanning import spanning_groups as spanning_groups
from ._transport import FrameHandler as FrameHandler
from ._transport import NoConnection as NoConnection
from ._transport import NodeDown as NodeDown
from ._transport import NodeDownReason as NodeDownReason
from ._transport import NodeUp as NodeUp
from ._transport import Transport as Transport
from ._unix import UnixTransport as UnixTransport
from ._wire import PayloadError as PayloadError

__all__ = [
    "Exports",
    "FrameHandler",
    "GlobalNameStatistics",
    "GlobalNames",
    "GroupStatistics",
    "MemoryNetwork",
    "MemoryTransport",
    "NameLost",
    "NoConnection",
    "NodeDown",
    "NodeDownReason",
    "NodeGroup",
    "NodeUp",
    "PayloadError",
    "RedisTransport",
    "RemoteError",
    "SpanningGroups",
    "Transport",
    "Undelivered",
    "UndeliveredReason",
    "UnixTransport",
    "current_group",
    "global_name",
    "open_node_group",
    "spanning_groups",
]
