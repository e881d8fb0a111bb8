"""The rows of an eval (adm.eval): its guidance modes, the scales per row and how a row is named; which rows
sample the same images. EvalError is any bad input of an eval, reported by the command with exit status 2."""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

from .manifest import respacing_step_count


MODES = ("cond", "uncond", "classifier", "cfg", "both")
MODE_TITLES = {"cond": "conditional U-Net + classifier", "uncond": "unconditional U-Net + classifier",
               "classifier": "classifier guidance", "cfg": "classifier-free guidance",
               "both": "classifier + classifier-free"}
CLASSIFIER_MODES = ("cond", "uncond", "classifier", "both")  # modes that call the classifier


class EvalError(Exception):
    """Bad input: reported as `error: ...` with exit status 2."""


def parse_scales(text: str, flag: str = "--scales") -> List[float]:
    items = [s.strip() for s in text.split(",")]
    out = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise EvalError(f"{flag} must be a comma list of numbers, e.g. 0,1,2,4,8 (got {text!r})") from None
        if not math.isfinite(v) or v < 0:
            raise EvalError(f"{flag}: each scale must be a finite number >= 0 (got {s!r})")
        out.append(v)
    if len(set(out)) != len(out):
        raise EvalError(f"{flag} lists a scale twice ({text!r})")
    return sorted(out)


def fmt_scale(s: float) -> str:
    return f"{s:g}"


def row_tag(mode: str, scale: float, cfg_scale: float) -> str:
    """File-name tag of a row: <mode>_scale<S> (classifier modes, as before), cfg_w<W>, both_scale<S>_w<W>."""
    if mode == "cfg":
        return f"cfg_w{fmt_scale(cfg_scale)}"
    if mode == "both":
        return f"both_scale{fmt_scale(scale)}_w{fmt_scale(cfg_scale)}"
    return f"{mode}_scale{fmt_scale(scale)}"


def row_label(mode: str, scale: float, cfg_scale: float) -> str:
    if mode == "cfg":
        return f"cfg w {fmt_scale(cfg_scale)}"
    if mode == "both":
        return f"both s {fmt_scale(scale)} w {fmt_scale(cfg_scale)}"
    return f"{mode} scale {fmt_scale(scale)}"


def respacing_steps(spec: str, diffusion_steps: int = 1000) -> int:
    """Number of sampling steps of a respacing string ("250", "ddim25", "10,10,10"), as the sampler counts them."""
    try:
        return respacing_step_count(diffusion_steps, spec)
    except ValueError as e:
        raise EvalError(f"--respacing {spec!r} is not a respacing like 250, ddim25 or 10,10,10: {e}") from None


def run_list(modes: Sequence[str], scales: Sequence[float], cfg_scales: Sequence[float],
             both_cfg_scales: Optional[Sequence[float]] = None,
             both_scales: Optional[Sequence[float]] = None) -> List[Tuple[str, float, float]]:
    """The rows of an eval: classifier modes per scale, cfg per cfg scale, both per non-zero (scale, cfg scale) with
    the scales from both_scales and both_cfg_scales (default scales and cfg_scales)."""
    runs: List[Tuple[str, float, float]] = []
    for md in modes:
        if md == "cfg":
            runs += [(md, 0.0, w) for w in cfg_scales]
        elif md == "both":
            both_w = cfg_scales if both_cfg_scales is None else both_cfg_scales
            both_s = scales if both_scales is None else both_scales
            runs += [(md, s, w) for s in both_s for w in both_w if s != 0 and w != 0]
        else:
            runs += [(md, s, 0.0) for s in scales]
    return runs


def same_samples_key(mode: str, scale: float, cfg_scale: float) -> Tuple[bool, float, float]:
    """Rows with equal keys sample the same images: (null label, classifier scale, cfg scale) as the sampler
    runs them (cfg w = classifier s = 0 is the plain conditional U-Net)."""
    return (mode == "uncond", 0.0 if mode == "cfg" else scale, cfg_scale if mode in ("cfg", "both") else 0.0)
