"""What the web layers (the API, the admin consoles) need to know about a request."""
from __future__ import annotations


def client_address(request) -> str | None:
    """Where an audited action came from (a Django or DRF request)."""
    return request.META.get("REMOTE_ADDR") or None
