"""Patterns built on the kernel: process groups, the event bus, pools and routers, user metrics.

``_state.py`` holds what a node keeps for them (made on first use, in ``node._patterns``);
``_groups.py`` the process groups (Erlang's ``pg``: members leave when they exit, through the
kernel's ``on_exit`` hook), ``_bus.py`` the best-effort event bus on top of groups,
``_routing.py`` the routing rules and ``_pool.py`` supervised worker pools, ``_metrics.py``
counters, gauges and histograms for user code.

May import: the kernel, time and supervision.
"""
