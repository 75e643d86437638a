"""Where the engine's hot-path writes go: `store()` is the implementation for the configured
database, chosen once (PostgreSQL's own statements, or the portable ORM one elsewhere).
`using(store)` swaps it for the duration of a block: the tests run the engine against both."""
from __future__ import annotations

from contextlib import contextmanager

from django.db import connection

from .base import Store
from .portable import PortableStore
from .postgres import PostgresStore

STORES: dict[str, type[Store]] = {"postgresql": PostgresStore, "portable": PortableStore}

_current: Store | None = None


def store() -> Store:
    global _current
    if _current is None:
        _current = PostgresStore() if connection.vendor == "postgresql" else PortableStore()
    return _current


@contextmanager
def using(chosen: Store):
    global _current
    previous, _current = _current, chosen
    try:
        yield chosen
    finally:
        _current = previous
