"""Reading a pasted flag string (adm.flags): tokens, the quirks of pasted command lines, values typed like the
official argparse setup, unknown flags named with a near miss. FlagError is every refusal of a flag string."""
from __future__ import annotations

import re
import shlex
from typing import Dict, List, Mapping, Tuple, Union

from .flag_defaults import SAMPLING_FLAGS, TRAINING_FLAGS


class FlagError(ValueError):
    """A flag string that cannot describe a model (unknown flag, bad value, impossible architecture)."""



_TRUE = ("yes", "true", "t", "y", "1")
_FALSE = ("no", "false", "f", "n", "0")

FlagInput = Union[str, Mapping[str, object], None]


# --- tokenising ------------------------------------------------------------------------------------

_ASSIGNMENT = re.compile(r"^(?:export\s+)?[A-Z_][A-Z0-9_]*=(.*)$", re.S)  # MODEL_FLAGS="..."
_DASHLESS = re.compile(r"^[a-z_][a-z0-9_-]*=", re.S)  # attention_resolutions=32,16,8


def _is_flag(tok: str) -> bool:
    """'--name', '--name=v', '-name' (one dash, not a negative number) or a dash-less 'name=v'."""
    if tok.startswith("--"):
        return len(tok) > 2
    if tok.startswith("-"):
        return len(tok) > 1 and (tok[1].isalpha() or tok[1] == "_")
    return _DASHLESS.match(tok) is not None


def _tokens(text: str) -> List[str]:
    text = re.sub(r"\\[ \t]*\r?\n", " ", text).strip()  # shell line continuations
    if text.endswith("\\"):
        text = text[:-1]
    try:
        raw = shlex.split(text, comments=False, posix=True)
    except ValueError as e:  # unbalanced quotes
        raise FlagError(f"cannot split flag string ({e}): {text!r}") from None
    out: List[str] = []
    for tok in raw:
        if tok.strip() in ("", "\\", "export"):
            continue
        m = _ASSIGNMENT.match(tok)
        if m:
            # MODEL_FLAGS="--a 1 --b 2" arrives as one token 'MODEL_FLAGS=--a 1 --b 2'
            out.extend(_tokens(m.group(1)))
        else:
            out.append(tok)
    return out


def split_flags(text: FlagInput) -> Dict[str, str]:
    """Flag string (or mapping) -> {name: raw value string}, in order; later duplicates win.

    Bare flags (no value before the next flag or the end) get the value "" and are only valid for
    booleans (checked when typed).
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return {_norm_name(str(k)): ("" if v is None else _raw(v)) for k, v in text.items()}
    if not isinstance(text, str):
        raise FlagError(f"flags must be a string, got {type(text).__name__}")
    toks = _tokens(text)
    # tolerate a pasted "python scripts/classifier_sample.py" / "mpiexec -n 8 python x.py" prefix
    first_flag = next((i for i, t in enumerate(toks) if _is_flag(t) and t not in ("-n", "-np")), len(toks))
    prefix = toks[:first_flag]
    if prefix and not all(_is_command_word(t) for t in prefix):
        bad = next(t for t in prefix if not _is_command_word(t))
        raise FlagError(f"expected a flag such as '--image_size 64', got {bad!r}")
    toks = toks[first_flag:]
    flags: Dict[str, str] = {}
    i = 0
    while i < len(toks):
        tok = toks[i]
        if not _is_flag(tok):
            raise FlagError(f"expected a flag such as '--image_size 64', got {tok!r} (flags are '--name value' pairs)")
        body = tok.lstrip("-")
        if "=" in body:
            name, value = body.split("=", 1)
            i += 1
        elif i + 1 < len(toks) and not _is_flag(toks[i + 1]):
            name, value = body, toks[i + 1]
            i += 2
        else:
            name, value = body, ""
            i += 1
        name = _norm_name(name)
        if not name:
            raise FlagError(f"empty flag name in {tok!r}")
        flags[name] = value
    return flags


def _is_command_word(tok: str) -> bool:
    base = tok.rsplit("/", 1)[-1]
    return (base.startswith("python") or base.endswith(".py") or base in ("mpiexec", "mpirun", "-n", "-np")
            or tok.isdigit())


def _norm_name(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_")


def _raw(v: object) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v)
    return str(v)


# --- typing values ---------------------------------------------------------------------------------

def _typed(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        if raw == "":
            return True  # bare boolean flag
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise FlagError(f"--{name}: expected a boolean (True/False, yes/no, 1/0), got {raw!r}")
    if raw == "" and not isinstance(default, str):
        raise FlagError(f"--{name} needs a value")
    if isinstance(default, int):
        try:
            return int(raw.strip())
        except ValueError:
            raise FlagError(f"--{name}: expected an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw.strip())
        except ValueError:
            raise FlagError(f"--{name}: expected a number, got {raw!r}") from None
    return raw


def _positive_items(flag: str, raw: str, parts: List[str], convert, kind: str, what: str) -> List[float]:
    """Each comma-separated item of a list flag converted (`convert`, a `kind` such as "an integer") and
    positive; `what` names the items in the message for one that is not."""
    out = []
    for p in parts:
        try:
            v = convert(p)
        except ValueError:
            raise FlagError(f"--{flag}: {p!r} is not {kind} (in {raw!r})") from None
        if v <= 0:
            raise FlagError(f"--{flag}: {what} must be positive, got {p if isinstance(v, float) else v!r}")
        out.append(v)
    return out


def parse_int_list(name: str, raw: str) -> Tuple[int, ...]:
    parts = [p.strip() for p in str(raw).split(",") if p.strip()]
    if not parts:
        raise FlagError(f"--{name}: expected a comma-separated list of integers, got {raw!r}")
    return tuple(_positive_items(name, raw, parts, int, "an integer", "resolutions"))


def parse_channel_mult(raw: str, image_size: int, table: Mapping[int, Tuple[float, ...]],
                       what: str) -> Tuple[float, ...]:
    if raw.strip() == "":
        if image_size not in table:
            sizes = ", ".join(str(s) for s in sorted(table))
            raise FlagError(f"{what}: no default channel_mult for image size {image_size} "
                            f"(official sizes: {sizes}); pass --channel_mult explicitly")
        return tuple(table[image_size])
    values = _positive_items("channel_mult", raw, [p.strip() for p in raw.split(",")], float, "a number", "multipliers")
    return tuple(int(v) if v == int(v) else v for v in values)


def resolve_flags(given: Dict[str, str], defaults: Mapping[str, object], accepted_elsewhere: Tuple[str, ...],
             what: str) -> Tuple[Dict[str, object], Dict[str, object], List[str]]:
    """Type the given flags against `defaults`; returns (values with defaults, extra, ignored names)."""
    values = dict(defaults)
    extra: Dict[str, object] = {}
    ignored: List[str] = []
    unknown: List[str] = []
    for name, raw in given.items():
        if name in defaults:
            values[name] = _typed(name, raw, defaults[name])
        elif name in SAMPLING_FLAGS:
            extra[name] = _typed(name, raw, SAMPLING_FLAGS[name])
            ignored.append(name)
        elif name in TRAINING_FLAGS or name in accepted_elsewhere:
            extra[name] = raw
            ignored.append(name)
        else:
            unknown.append(name)
    if unknown:
        known = sorted(set(defaults))
        hints = []
        for u in unknown:
            close = [k for k in known if _similar(u, k)]
            hints.append(f"--{u}" + (f" (did you mean --{close[0]}?)" if close else ""))
        raise FlagError(f"unknown {what} flag(s): {', '.join(hints)}. Known {what} flags: "
                        + " ".join(f"--{k}" for k in known))
    return values, extra, ignored


def _similar(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    if a in b or b in a:
        return True
    # cheap edit-distance-1/2 check
    if abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 2
