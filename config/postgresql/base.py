"""Django's PostgreSQL backend with a pool health check that recovers when the server drops every
connection at once.

Django's check (`conn_health_checks`) is psycopg_pool's `check_connection`, and psycopg_pool backs
off between failed checks (1 s, 2 s, 4 s, ...). After PostgreSQL drops all connections (a restart,
a failover, `pg_terminate_backend`), a process holding several idle ones meets them one dead
connection per back-off step and the request times out (10 s) before it reaches a live one. This
check sweeps the whole pool on the first failure, so the next try gets a fresh connection about a
second later.

Before that, a borrowed connection that looks alive is handed out without a round trip: it is
idle, not closed, and nothing waits unread on its socket. A server that ends a connection
(terminate, restart, shutdown) first sends it an error message, which makes the socket readable;
only then, or when anything else is pending, is the full check run. The full check cost every
request one round trip to the database (a sixteenth of a submit's time).

Written against Django 5.2 (which builds the pool in `DatabaseWrapper.pool` with its own `check`)
and psycopg-pool 3.3 (the pool keeps its check in `_check`; a pooled connection's `_pool` is the
pool that made it; `check()` replaces every broken idle connection). tests/test_internals.py
checks each.
"""
from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq
from psycopg_pool import ConnectionPool


def looks_alive(conn) -> bool:
    """Idle, open, and no message from the server waiting on the socket (no round trip)."""
    if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def check_and_sweep(conn) -> None:
    if looks_alive(conn):
        return
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        pool = getattr(conn, "_pool", None)
        if pool is not None:
            pool.check()  # its idle siblings most likely died with it
        raise


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        if pool is not None and pool._check is not check_and_sweep:
            pool._check = check_and_sweep
        return pool
