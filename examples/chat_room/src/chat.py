"""A chat: one process per room, registered names, process groups and the event bus together.

- ``lobby`` (the service ``app:lobby``) hands out rooms: ``call("app:lobby", "room", "general")``
  returns the PID of the process registered as ``room.general``, spawning it on first use.
- A ``room`` keeps its members in the process group ``room:<name>``: ``join`` adds the caller,
  a member that exits leaves the group by itself, and the room, which watches the group, tells
  the others who left. ``say`` is sent to every member; each line is also published on the
  event bus (``chat``/``message``/``/rooms/<name>``).
- ``transcript`` subscribes to ``chat``/``*``/``/rooms/*`` and logs the whole conversation.
- ``bots`` starts three bots that follow a script: alice and bob stay, carol says goodbye and
  exits (the room notices through the group), bob also opens the room ``random``.

Ctrl+C stops it: each bot and room logs how many lines it handled.
"""

from __future__ import annotations

import actors
from actors import Cancel, GroupEvent, Message, Process

log = actors.get_logger("app.chat")

SCRIPTS: dict[str, list[tuple[float, str, str]]] = {
    "alice": [(0.5, "general", "hi all"), (1.0, "general", "anyone up for lunch?")],
    "bob": [
        (0.7, "general", "hey alice"),
        (0.3, "random", "first!"),
        (0.7, "general", "lunch sounds good"),
    ],
    "carol": [(0.9, "general", "hello"), (0.4, "general", "gotta go, bye")],
}
"""Per bot: (seconds to wait, room, line)."""
LEAVES = {"carol"}
"""Bots that exit after their script."""


async def lobby(proc: Process) -> None:
    """Answer ``room`` calls with the room's PID, starting the room on first use."""
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            return
        msg = got.value
        if isinstance(msg, Message) and msg.topic == "room":
            name = f"room.{msg.payload}"
            pid = proc.lookup(name) or proc.spawn(room, msg.payload, name=name)
            proc.reply(msg, pid)


async def room(proc: Process, name: str) -> int:
    """One room: ``join`` (call) and ``say`` (send); members are the group ``room:<name>``."""
    group = f"room:{name}"
    groups = actors.groups(proc)
    bus = actors.bus(proc)
    path = f"/rooms/{name}"
    groups.monitor(group, topic="members")
    nicks: dict[actors.PID, str] = {}
    lines = 0
    log.info("Room opened", room=name, pid=proc.pid)
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            log.info("Room closed", room=name, lines=lines)
            return lines
        msg = got.value
        if not isinstance(msg, Message):
            continue
        if msg.topic == "join" and msg.sender is not None:
            nicks[msg.sender] = msg.payload
            groups.join(group, msg.sender)
            proc.reply(msg, groups.member_count(group))
            bus.publish("chat", "joined", path, {"nick": msg.payload})
        elif msg.topic == "say" and msg.sender in nicks:
            lines += 1
            nick = nicks[msg.sender]
            for member in groups.members(group):
                proc.send(member, "line", (name, nick, msg.payload))
            bus.publish("chat", "message", path, {"nick": nick, "text": msg.payload})
        elif msg.topic == "members":
            change: GroupEvent = msg.payload
            if change.kind == "leave":
                for pid in change.pids:
                    nick = nicks.pop(pid, "?")
                    for member in groups.members(group):
                        proc.send(member, "line", (name, "*", f"{nick} left"))
                    bus.publish("chat", "left", path, {"nick": nick})


async def transcript(proc: Process) -> int:
    """Log every chat event published on the bus; return how many there were."""
    actors.bus(proc).subscribe("chat", "*", "/rooms/*", topic="chat")
    seen = 0
    while True:
        got = await actors.select(proc.events, proc.listen("chat"))
        if isinstance(got.value, Cancel):
            log.info("Transcript stopped", events=seen)
            return seen
        if isinstance(got.value, Message):
            event: actors.BusEvent = got.value.payload
            seen += 1
            room_name = event.path.removeprefix("/rooms/")
            if event.kind == "message":
                log.info(f"CHAT [{room_name}] {event.data['nick']}: {event.data['text']}")
            else:
                log.info(f"CHAT [{room_name}] {event.data['nick']} {event.kind}")


async def bots(proc: Process) -> None:
    """Start the bots (linked: they stop with this service) and wait for Cancel."""
    for nick, script in SCRIPTS.items():
        proc.spawn_linked(bot, nick, script, nick not in LEAVES)
    while not isinstance(await proc.events.receive(), Cancel):
        pass
    # Linked children are not stopped by a normal return: cancel them and let them log.
    for pid in list(actors.groups(proc).members("bots")):
        proc.cancel(pid)


async def bot(proc: Process, nick: str, script: list[tuple[float, str, str]], stays: bool) -> int:
    """Follow ``script``, counting the lines heard; exit after it unless ``stays``."""
    actors.groups(proc).join("bots")
    rooms: dict[str, actors.PID] = {}
    heard = 0
    for delay, room_name, text in script:
        if room_name not in rooms:
            rooms[room_name] = await proc.call("app:lobby", "room", room_name)
            await proc.call(rooms[room_name], "join", nick)
        timer = proc.after(delay)
        while True:
            got = await actors.select(proc.events, proc.inbox, timer)
            if isinstance(got.value, Cancel):
                log.info("Bot stopped", nick=nick, heard=heard)
                return heard
            if got.source is timer:
                break
            if isinstance(got.value, Message) and got.value.topic == "line":
                heard += 1
        proc.send(rooms[room_name], "say", text)
    if not stays:
        log.info("Bot left", nick=nick, heard=heard)
        return heard
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            log.info("Bot stopped", nick=nick, heard=heard)
            return heard
        if isinstance(got.value, Message) and got.value.topic == "line":
            heard += 1
