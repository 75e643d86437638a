"""Text that PostgreSQL cannot store: NUL characters (refused in text and JSON columns) and unpaired
surrogates (not UTF-8). JSON lets a client send both, as \\u0000 and \\ud800."""
from __future__ import annotations

import re

UNSTORABLE_CHARACTER = re.compile(r"[\x00\ud800-\udfff]")


def unstorable_text_error(value: object) -> str | None:
    """What makes `value` unstorable, and where, or None when it is fine. `value` is a string, or a
    JSON-like structure (dicts, lists, tuples) whose keys and strings are all checked; other values
    pass. Where is a JSON Pointer: "a key at /input contains a NUL character (\\u0000)"."""
    # Iterative: a JSON body may nest as deep as the parser allows, deeper than the stack.
    pending: list[tuple[object, tuple | None]] = [(value, None)]
    while pending:
        item, at = pending.pop()
        if isinstance(item, str):
            if problem := character_problem(item):
                return f"text at {pointer(at)} contains {problem}"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and (problem := character_problem(key)):
                    return f"a key at {pointer(at)} contains {problem}"
                pending.append((child, (at, key)))
        elif isinstance(item, (list, tuple)):
            pending.extend((child, (at, index)) for index, child in enumerate(item))
    return None


def character_problem(text: str) -> str | None:
    match = UNSTORABLE_CHARACTER.search(text)
    if match is None:
        return None
    if match[0] == "\x00":
        return "a NUL character (\\u0000)"
    # JSON decoding joins a valid pair into one character: what is left is unpaired.
    return f"an unpaired surrogate (\\u{ord(match[0]):04x})"


def pointer(at: tuple | None) -> str:
    """The JSON Pointer (RFC 6901) of a position kept as nested (parent, key) pairs."""
    keys = []
    while at is not None:
        at, key = at
        keys.append(str(key).replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(reversed(keys)) if keys else "the top level"
