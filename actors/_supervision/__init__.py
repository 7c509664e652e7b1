"""Supervision: restart backoff, supervisors, services and their manager, ``Server``.

Every piece is a process built on the kernel API: supervisors (``_supervisor``, specs in
``_spec``), the service manager (``_manager`` is its handle and ``start_services``,
``_manager_loop`` the process; specs and states in ``_service``) and the gen_server-like
``Server`` (``_server``). ``Backoff`` (``_backoff``) is pure.

May import: the kernel and time (``actors._core``, ``actors._time``).
"""
