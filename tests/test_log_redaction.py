"""The server log never shows a credential from a URL, and its lines stay whole."""
from __future__ import annotations

import logging

import pytest

from config.log_redaction import RedactCredentials

ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access line; its formatter unpacks the args


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, ACCESS_FORMAT,
                             ("127.0.0.1:5000", "GET", path, "1.1", 200), None)


@pytest.mark.parametrize("path, secret", [
    ("/api/jobs/?token=abc123", "abc123"),
    ("/api/jobs/1/stream?ticket=t-1&x=2", "t-1"),
    ("/x?%74icket=enc0ded", "enc0ded"),  # the name percent-encoded: still a ticket to Django
    ("/x?a=1&PASSWORD=hunter2", "hunter2"),
])
def test_a_secret_in_the_query_is_redacted_and_the_args_keep_their_shape(path, secret):
    record = access_record(path)

    RedactCredentials().filter(record)

    assert isinstance(record.args, tuple) and len(record.args) == 5, "uvicorn's formatter unpacks them"
    assert secret not in record.getMessage() and "[redacted]" in record.getMessage()


def test_a_line_without_secrets_is_left_alone():
    record = access_record("/api/jobs/?status=failed&page=2")
    RedactCredentials().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/jobs/?status=failed&page=2 HTTP/1.1" 200'
