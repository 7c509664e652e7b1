"""A function whose behaviour comes from env variables (read at each call)."""

from __future__ import annotations

import registry


def greet(name: str) -> str:
    """Greet ``name`` in the ``GREETING_STYLE`` of the app, from ``APP_NAME``."""
    env = registry.current_app().env
    app = env.get("APP_NAME")
    if env.get("GREETING_STYLE") == "casual":
        return f"Hey {name}! Welcome to {app}."
    return f"Good day, {name}. Welcome to {app}."
