"""Timestep respacing: which original timesteps a shorter sampler keeps. A leaf without torch, so the manifest check
(adm.manifest) and the samplers (adm.diffusion) share one parser of the grammar; src/diffusion/respace.ts is the
app's, and tests/fixtures/respacing.json holds the two to the same steps and messages.
"""
from __future__ import annotations

import re
from typing import Optional

# What JavaScript's String.prototype.trim removes (Python's str.strip differs: it keeps U+FEFF, drops U+001C..U+001F),
# so a respacing string means here what it means to the app.
_JS_SPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
             "\u2028\u2029\u202f\u205f\u3000\ufeff")
_COUNT_RE = re.compile(r"[0-9]+")


def _respacing_count(text: str, what: str, spec: str) -> int:
    t = text.strip(_JS_SPACE)
    if not _COUNT_RE.fullmatch(t):
        raise ValueError(f'bad timestep respacing "{spec}": {what} "{text}" is not a non-negative integer')
    return int(t)


def space_timesteps(num_timesteps: int, section_counts: Optional[str]) -> set:
    """Original timesteps kept by a respacing string: "" (all), "250", "10,15,20" or "ddimN". The toolkit's one parser
    of that grammar: src/diffusion/respace.ts is the app's, and tests/fixtures/respacing.json holds both to the same
    kept steps and the same ValueError messages. The steps kept are the reference's (section strides rounded half to
    even, "ddimN" the smallest stride giving N steps); strings it would misread ("+5", "1_0", " 5") are refused."""
    T = num_timesteps
    if not (isinstance(T, int) and T >= 1):
        raise ValueError(f"diffusion steps must be a positive integer (got {T})")
    spec = (section_counts or "").strip(_JS_SPACE)
    if spec == "":
        return set(range(T))
    if spec.startswith("ddim"):
        n = _respacing_count(spec[4:], "step count", spec)
        if n < 1:
            raise ValueError(f'bad timestep respacing "{spec}": it asks for 0 sampling steps (need at least 1)')
        if n > T:
            raise ValueError(f'bad timestep respacing "{spec}": no integer stride gives exactly {n} steps out of {T} '
                             "(more steps than the process has)")
        for stride in range(1, T):
            k = -(-T // stride)  # len(range(0, T, stride)), which only shrinks as the stride grows
            if k == n:
                return set(range(0, T, stride))
            if k < n:
                break
        raise ValueError(f'bad timestep respacing "{spec}": no integer stride gives exactly {n} steps out of {T}')
    counts = [_respacing_count(c, "section count", spec) for c in spec.split(",")]
    size_per, extra = divmod(T, len(counts))
    start = 0
    kept = []
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if count < 1:
            raise ValueError(f'bad timestep respacing "{spec}": section {i} asks for {count} steps (need at least 1)')
        if count > size:
            raise ValueError(f'bad timestep respacing "{spec}": section {i} has only {size} of the {T} steps and '
                             f"cannot keep {count}")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            kept.append(start + round(cur))  # Python round: half to even, as the reference
            cur += stride
        start += size
    return set(kept)
