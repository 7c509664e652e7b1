"""The kernel: PIDs, messages, mailbox queues, processes, the node, links, monitors and call.

Holds everything a process needs to exist: ``Process``, ``Node``, their lifecycle (exits,
monitors, links, forced stops), the wake-up protocol every waitable source shares
(``_waiter``), ``open_node``/``run``, the flat set of runtime errors and key=value logging.

May import: trio, attrs and the standard library only; no other folder of ``actors``, not
even for annotations. The layers above reach the kernel through its types; the kernel reaches
the time layer only through the small timing interface in ``_timing`` (installed by
``actors._time`` when it is imported).
"""
