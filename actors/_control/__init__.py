"""The control endpoint: a running node answers queries about its processes on a Unix socket.

``_protocol.py`` holds the frames (msgspec structs, msgpack, bounded sizes), ``_snapshot.py``
reads the node's process table into rows and details (no awaits: one consistent snapshot),
``_server.py`` serves the socket (0600, in a 0700 folder), ``_client.py`` is the blocking client
the ``actors ps/top/info/metrics`` commands use, ``_usermetrics.py`` the user metrics' request,
reply and text format, ``_metrics.py`` the optional Prometheus exporter.
Nothing sent over the socket is executed: a request names a query and its parameters only.

May import: actors._core, actors._time, actors._supervision (read-only: restart counts),
actors._patterns (the user metrics ``actors metrics`` and the exporter read).
"""
