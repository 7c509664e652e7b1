"""Scheduling: triggers, cron expressions, run policies and schedules.

Triggers (``_triggers``, ``_cron``) and the catch-up and misfire rules (``_policies``) are pure
planners that never read a clock. A schedule (``_schedule``, values) runs as one process
(``_loop``) that fires a job under those policies; ``_run`` holds its entry points.

May import: the kernel, time and supervision.
"""
