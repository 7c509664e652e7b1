"""The control endpoint: a running node answers the ``actors`` command on a Unix socket.

``_protocol.py`` holds the frames (msgspec structs, msgpack, bounded sizes), ``_runtime.py``
the per-user runtime folder where nodes register, ``_snapshot.py`` and ``_tree.py`` read the
node's process table and supervision tree (no awaits: one consistent snapshot), ``_poke.py``
answers send/call/state, ``_trace.py`` traces a process, ``_server.py`` serves the socket
(0600, in a 0700 folder), ``_client.py`` is the blocking client the commands (``_cli.py``,
``_format.py``) use, ``_usermetrics.py`` the user metrics' request, reply and text format,
``_metrics.py`` the optional Prometheus exporter; ``_directory.py`` (the ``names``,
``groups`` and ``pools`` frames and text), ``_listing.py`` (their answers) and
``_memberships.py`` (what one process belongs to) list names, groups and pools, and
``_listcli.py`` holds those commands. Nothing sent over the
socket runs as code: a request names a query and its parameters, payloads are plain JSON.

May import: actors._core, actors._time, actors._supervision (read-only: restart counts, the
tree, a Server's ``format_state``), actors._patterns (the user metrics ``actors metrics`` and
the exporter read).
"""
