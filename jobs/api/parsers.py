from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from ..text import unstorable_text_error


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, plus a clean 400 for input nested deeply enough to exhaust the stack, and
    for text the database cannot store (NUL, unpaired surrogates) anywhere in the body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        if problem := unstorable_text_error(data):
            raise ParseError(f"JSON parse error - {problem}.")
        return data
