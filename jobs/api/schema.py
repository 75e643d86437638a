"""The OpenAPI schema documents the error answers every operation can give, as the one exception
handler (jobs/api/errors.py) produces them: `{"detail": "..."}` or `{"field": ["message", ...]}`."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

from .throttling import SubmitRateThrottle

ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description="An error: {\"detail\": ...} or field errors.")
DESCRIPTIONS = {
    "400": "Invalid parameters or body (field errors).",
    "401": "No or invalid credentials.",
    "403": "Not allowed: the job type, priority or action needs a permission you lack (the reason is in detail), "
           "or a session write came without its CSRF token.",
    "404": "Not found, or not yours (or a page past the last).",
    "413": "Request body too large.",
    "415": "Body is not JSON.",
    "422": "Idempotency-Key reused with another body.",
    "429": "Too many submissions; retry after Retry-After seconds.",
}


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the error answers added. Leans on its internals, written
    against drf-spectacular 0.30: `_get_response_bodies(direction)` returns the responses by code,
    `_get_response_for_code(serializer, code, direction=)` builds one, `_get_paginator()`.
    tests/test_internals.py fails loudly if these change shape."""

    def _error_codes(self) -> list[str]:
        codes = ["401", "403"]
        if "{" in self.path or self._get_paginator():
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH") or self._get_paginator() or self.get_override_parameters():
            codes.append("400")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        throttles = getattr(self.view, "throttle_classes", [])
        if self.method == "POST" and any(issubclass(cls, SubmitRateThrottle) for cls in throttles):
            codes += ["422", "429"]
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(ERROR, code, direction=direction)
                response["description"] = DESCRIPTIONS[code]
                responses[code] = response
        return responses


class StreamTicketScheme(OpenApiAuthenticationExtension):
    """The one-time `?ticket=` of the SSE stream (jobs/api/tickets.py), for the schema's security section."""

    target_class = "jobs.api.tickets.StreamTicketAuthentication"
    name = "streamTicket"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "ticket",
                "description": "A ticket from POST /api/stream-tickets: one connection, within 30 s."}
