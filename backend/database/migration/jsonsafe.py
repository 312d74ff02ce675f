"""JSON that cannot break what stores or serves it: bounded nesting, lossless originals.

pydantic's JSON parser stops at about 200 levels and its serializer at about 255, and Python's
``json`` at the interpreter's recursion limit: a legacy ``extra_json`` 900 levels deep would fail
the item, and a stored value that deep would fail every API response that reads it. So:

- :data:`MAX_DEPTH` (64) levels is the deepest value kept as JSON; a deeper container is kept as
  its JSON *text* (a string), which is lossless and has no depth (:func:`loads_bounded`).
- :func:`original` turns any SQLite value into something JSON can hold without loss (bytes as
  hex, non-finite floats and 64-bit overflows as text).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
"""Deepest JSON nesting kept as structure; deeper containers are kept as their JSON text."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_DECODER = json.JSONDecoder(parse_constant=str)  # one decoder: json.loads(**kw) builds one a call


class InvalidText(str):
    """Text from SQLite that is not valid UTF-8: shown with ``\\xNN`` escapes, ``raw`` kept."""

    raw: bytes

    def __new__(cls, raw: bytes) -> InvalidText:
        text = super().__new__(cls, raw.decode("utf-8", errors="backslashreplace"))
        text.raw = raw
        return text


def decode_text(raw: bytes) -> str:
    """SQLite ``text_factory``: strict UTF-8, else an :class:`InvalidText` (never U+FFFD)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return InvalidText(raw)


def original(value: Any) -> Any:
    """A JSON-safe, lossless form of a raw column value, kept next to a warning."""
    if isinstance(value, InvalidText):
        return {"utf8_invalid_hex": value.raw.hex()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"blob_hex": bytes(value).hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    return value


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests containers deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _may_be_deep(text: str, limit: int) -> bool:
    return text.count("[") + text.count("{") > limit


def clamp_text(text: str, limit: int = MAX_DEPTH) -> str:
    """``text`` (JSON) with every container deeper than ``limit`` replaced by a JSON string
    holding that container's exact text. One pass, no recursion; strings are skipped as such."""
    pieces: list[str] = []
    depth = 0
    copied = 0  # text[:copied] is already in pieces
    start = -1
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth == limit + 1:
                pieces.append(text[copied:i])
                start = i
        elif ch in "]}":
            if depth == limit + 1 and start >= 0:
                pieces.append(json.dumps(text[start : i + 1], ensure_ascii=False))
                copied = i + 1
                start = -1
            depth -= 1
    pieces.append(text[copied:])
    return "".join(pieces)


def loads_bounded(text: str, limit: int = MAX_DEPTH) -> tuple[Any, bool]:
    """Parse JSON text; containers deeper than ``limit`` come back as their JSON text.

    Returns ``(value, clamped)``. Raises ValueError when ``text`` is not JSON (NaN/Infinity are
    read as the strings ``"NaN"``/``"Infinity"``, so what is kept stays standard JSON).
    """
    if not _may_be_deep(text, limit):
        return _DECODER.decode(text), False
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        value = None
    else:
        if not too_deep(value, limit):
            return value, False
    return _DECODER.decode(clamp_text(text, limit)), True
