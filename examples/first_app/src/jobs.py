"""The app's scheduled jobs (``cron.job`` function entries)."""

import actors


async def heartbeat() -> int:
    # Any code can reach the service by its entry id, whatever its current PID.
    return await actors.current_node().call("app:counter", "hit", "heartbeat")
