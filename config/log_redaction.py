"""Keeps credentials out of the server's logs. uvicorn logs every request line and WebSocket
handshake with its query string; a client that puts `?token=<key>` (no longer accepted) or a stream
ticket there would otherwise leave it in the log."""
from __future__ import annotations

import logging
import re

SECRET_PARAMETERS = re.compile(r"(?i)\b(token|ticket|key|secret|password)=[^&\s\"']+")


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = SECRET_PARAMETERS.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_server_logs() -> None:
    """Filter uvicorn's request log and its WebSocket handshake lines (logged on uvicorn.error)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactCredentials())
