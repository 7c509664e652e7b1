"""Benchmark suite: ``actors`` against raw trio, raw asyncio, Pykka, Thespian and Erlang/OTP.

Run ``python -m bench --quick`` (under a minute) or ``python -m bench`` (full, ~10-15 min).
Every measurement runs in a fresh subprocess (``python -m bench._worker``), see ``_runner``.
"""
