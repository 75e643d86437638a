"""Keeps credentials out of the server's logs. uvicorn logs every request line and WebSocket
handshake with its query string; a client that puts `?token=<key>` (no longer accepted) or a stream
ticket there would otherwise leave it in the log."""
from __future__ import annotations

import logging
import re
from urllib.parse import unquote

SECRET_NAMES = frozenset({"token", "ticket", "key", "secret", "password"})
# A query parameter: what follows ? or & (or ;) up to the next separator, quote or space.
PARAMETER = re.compile(r"(?<=[?&;])([^=&;\s\"']+)=([^&;\s\"']*)")


def redact(text: str) -> str:
    """`text` with the value of every secret-named query parameter replaced by [redacted]; a name
    is read as the server reads it, percent-decoded and in any case (`%74icket` is `ticket`)."""
    def replace(match: re.Match) -> str:
        name = match[1]
        return f"{name}=[redacted]" if unquote(name).lower() in SECRET_NAMES else match[0]

    return PARAMETER.sub(replace, text) if "=" in text else text


class RedactCredentials(logging.Filter):
    """Redacts the record's arguments one by one: uvicorn's formatters unpack them, so the record
    keeps its message and the shape of its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_server_logs() -> None:
    """Filter uvicorn's request log and its WebSocket handshake lines (logged on uvicorn.error)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactCredentials())
