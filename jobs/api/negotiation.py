"""DRF's content negotiation, answering the usual request at once."""
from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation

# What API clients send (or nothing): each is answered with the first renderer, JSON, as DRF's
# own negotiation would after parsing the header and ranking every renderer (a few percent of a
# submit's CPU).
_PLAIN_ACCEPT = {None, "*/*", "application/json"}


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            request.META.get("HTTP_ACCEPT") in _PLAIN_ACCEPT
            and renderers and renderers[0].media_type == "application/json"
            and not (format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE))
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
