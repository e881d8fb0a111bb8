"""JSON from files the toolkit does not trust (pack manifests, output-folder markers), parsed within bounds.

`loads_bounded(raw, max_bytes, max_depth)`: at most `max_bytes` of UTF-8, nested at most `max_depth` arrays/objects
deep, and only what JavaScript's JSON.parse accepts (no NaN / Infinity tokens), so the toolkit and the app
(src/shared/jsonLimits.ts) accept the same files. Anything else is a JsonLimitError (a ValueError) with one short
sentence, never a RecursionError or MemoryError. A number too large for a float (1e309) parses as inf, as in
JavaScript; validators report it as such (adm.manifest._show).
"""
from __future__ import annotations

import json


class JsonLimitError(ValueError):
    pass


def json_depth(value) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        elif not isinstance(v, list):
            continue
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in v if isinstance(c, (dict, list)))
    return deepest


def _no_constant(name: str):
    raise JsonLimitError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def loads_bounded(raw: bytes, max_bytes: int, max_depth: int):
    if len(raw) > max_bytes:
        raise JsonLimitError(f"it has more than {max_bytes} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonLimitError(f"it is not UTF-8 text (byte {e.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise JsonLimitError(f"it nests arrays or objects more than {max_depth} deep") from None
    except json.JSONDecodeError as e:
        raise JsonLimitError(f"it is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if json_depth(value) > max_depth:
        raise JsonLimitError(f"it nests arrays or objects more than {max_depth} deep")
    return value
