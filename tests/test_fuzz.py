"""Fuzz the API against its own OpenAPI schema (schemathesis): no 5xx, and every answer (status
code, content type, body) is one the schema documents. In-process through the WSGI app, with a
token, a bounded number of examples per operation."""
from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import make_user

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# Streams and file downloads are not JSON; the SSE stream would wait for a job to end.
schema = schema.exclude(path_regex=r"/(stream|result)$")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def token(db):
    # As Django's test client does: the WSGI app must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield Token.objects.create(user=make_user("fuzzer")).key
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_matches_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
