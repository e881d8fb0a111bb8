"""The manifest schema's errors (docs/pack-manifest.schema.json, checked with jsonschema) as one-line messages:
"manifest.<field> must be <rule> (got <value>)". The rule is the schema's own "mustBe" phrase; of several errors the
first in the schema's field order is shown. src/shared/manifestErrors.ts does the same over Ajv's errors, and
tests/fixtures/manifests.json holds the two to the same messages, so values are shown as JavaScript shows them.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Callable, Dict, List, Optional, Tuple, Union

from jsonschema import Draft7Validator, validators

from .pack_format import MANIFEST_SCHEMA, ManifestError

Segment = Union[str, int]
MISSING = object()  # a required field that is absent


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# Python tells 64.0 from 64 (JavaScript cannot): an integer is an int, never an integral float, so packs the toolkit
# writes spell integers as such. Numbers are finite: a float NaN or inf is no JSON number.
_TYPES = Draft7Validator.TYPE_CHECKER.redefine("integer", lambda _c, v: _is_int(v)).redefine(
    "number", lambda _c, v: _is_number(v))
_VALIDATOR = validators.extend(Draft7Validator, type_checker=_TYPES)(MANIFEST_SCHEMA)


def _as_js(v, depth: int = 0):
    """v with integral floats as ints, so json.dumps writes numbers as JSON.stringify does (64, not 64.0)."""
    if depth > 200:
        raise RecursionError
    if isinstance(v, float) and math.isfinite(v) and v == int(v) and abs(v) < 1e21:
        return int(v)
    if isinstance(v, dict):
        return {k: _as_js(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_as_js(x, depth + 1) for x in v]
    return v


def shown(value) -> str:
    """A bad value as shown in a message: JSON cut short at 80 characters (a hostile manifest may hold megabytes)."""
    if value is MISSING:
        return "nothing"
    if isinstance(value, float) and math.isinf(value):  # e.g. 1e309: JSON allows it, a float64 cannot hold it
        return f"{'-' if value < 0 else ''}Infinity (the number is too large for a 64-bit float)"
    if isinstance(value, float) and value.is_integer():  # the value refused as no integer: say it is a float
        return repr(value)
    try:
        text = json.dumps(_as_js(value), ensure_ascii=False, separators=(",", ":"), default=repr)
    except (TypeError, ValueError, RecursionError):
        text = "a value nested too deeply to show"
    return text if len(text) <= 80 else text[:80] + "…"


def need(ok: bool, path: str, what: str, value) -> None:
    """Raise the message for the field at `path` ("" is the manifest itself) unless `ok`."""
    if not ok:
        raise ManifestError(f"manifest.{path} must be {what} (got {shown(value)})")


def _expand(node) -> List[Dict]:
    """The schema nodes that apply to one value: the node, and what its $ref and allOf bring in."""
    if not isinstance(node, dict):
        return []
    out = [node]
    if isinstance(node.get("$ref"), str):
        target = MANIFEST_SCHEMA
        for key in node["$ref"][2:].split("/"):
            target = target.get(key) if isinstance(target, dict) else None
        out += _expand(target)
    for n in node.get("allOf", []):
        out += _expand(n)
    return out


def _child(node: Dict, seg: Segment):
    if isinstance(seg, int):
        items = node.get("items")
        return items[seg] if isinstance(items, list) and seg < len(items) else (None if isinstance(items, list) else items)
    props = node.get("properties")
    if isinstance(props, dict) and seg in props:
        return props[seg]
    return node.get("additionalProperties")


def _walk(path: List[Segment]) -> Tuple[List[Dict], List[int]]:
    """The schema nodes at the end of `path` and, per step, the step's place in the schema's field order."""
    nodes = _expand(MANIFEST_SCHEMA)
    ranks = []
    for seg in path:
        keys = list(dict.fromkeys(k for n in nodes for k in (n.get("properties") or {})))
        ranks.append(seg if isinstance(seg, int) else keys.index(seg) if seg in keys else 2 ** 53 - 1)
        nodes = [x for n in nodes for x in _expand(_child(n, seg))]
    return nodes, ranks


def _must_be(nodes: List[Dict], keyword: str) -> str:
    m = next((n["mustBe"] for n in nodes if "mustBe" in n), None)
    if isinstance(m, str):
        return m
    phrases = m or {}
    return phrases.get(keyword, phrases.get("", f"valid (schema keyword {keyword})"))


# Keywords in the order their errors are shown when one value breaks several (manifestErrors.ts: KEYWORDS).
KEYWORDS = ("required", "type", "const", "enum", "minLength", "maxLength", "pattern", "minimum", "maximum", "minItems",
            "maxItems", "additionalItems", "uniqueItems", "contains", "minProperties", "additionalProperties")


def _message(path: List[Segment], what: str, value) -> str:
    name = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path).lstrip(".")
    return f"manifest.{name} must be {what} (got {shown(value)})"


def _first_repeat(items: list) -> Optional[int]:
    """The index of the first item equal to an earlier one (as shown), None if none."""
    seen = set()
    for i, v in enumerate(items):
        key = shown(v)
        if key in seen:
            return i
        seen.add(key)
    return None


def _problems(e) -> List[Tuple[List[int], int, Callable[[], str]]]:
    """(place in the order errors are shown in, message worded only for the one shown) of one jsonschema error."""
    path: List[Segment] = list(e.absolute_path)
    kw = e.validator
    rank = KEYWORDS.index(kw) if kw in KEYWORDS else len(KEYWORDS)
    if kw == "required":  # jsonschema names the missing field only in prose: find every one
        missing = [p for p in e.validator_value if isinstance(e.instance, dict) and p not in e.instance]
        return [(_walk(path + [p])[1], rank, lambda p=p: _message(path + [p], _must_be(_walk(path + [p])[0], kw), MISSING))
                for p in missing]
    nodes, ranks = _walk(path)  # once per error: a bad manifest may have thousands
    what = (f"a list containing {json.dumps(e.validator_value['const'])}" if kw == "contains" else _must_be(nodes, kw))
    value = e.instance
    if kw == "uniqueItems" and isinstance(value, list):
        dup = _first_repeat(value)
        if dup is not None:
            path, ranks, value = path + [dup], ranks + [dup], value[dup]
    return [(ranks, rank, lambda: _message(path, what, value))]


def _holds_more_than(m, most: int) -> bool:
    """Whether `m` holds more than `most` values, counted without recursion (it may nest deep)."""
    todo, count = [m], 0
    while todo:
        v = todo.pop()
        count += 1
        if count > most:
            return True
        inside = v if isinstance(v, (list, tuple)) else v.values() if isinstance(v, dict) else ()
        todo.extend(itertools.islice(inside, most + 1 - count))
    return False


def schema_problem(m, max_values: int) -> Optional[str]:
    """The message of the first schema error in `m`, or None when the schema accepts it. A manifest of more than
    `max_values` values is refused first: the validator lists every error, one object each."""
    if _holds_more_than(m, max_values):
        return f"manifest holds more than {max_values} JSON values (a real one has about 1.1 per label)"
    found = [p for e in _VALIDATOR.iter_errors(m) for p in _problems(e)]
    if not found:
        return None
    first = min((ranks, rank) for ranks, rank, _ in found)
    return min(message() for ranks, rank, message in found if (ranks, rank) == first)
