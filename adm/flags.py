"""Parse guided-diffusion's command-line flag strings into our typed configurations.

The released checkpoints are described by flag strings such as the README's MODEL_FLAGS
("--attention_resolutions 32,16,8 --class_cond True ... --use_scale_shift_norm True"). This module
turns such a string into UNetConfig / ClassifierConfig / DiffusionConfig, filling the missing flags
with the official defaults and converting them the way the official factory functions do:

* model flags use `model_and_diffusion_defaults` (+ `diffusion_defaults`); the super-resolution
  factory is used instead when `--large_size` / `--small_size` is present;
* classifier flags use `classifier_defaults` (the classifier's image size is the shared
  `--image_size` flag);
* `attention_resolutions` (feature-map sizes) -> downsample factors `image_size // res`;
* empty `channel_mult` -> the per-image-size default table;
* `learn_sigma` -> 6 output channels (3 otherwise); `class_cond` -> 1000 classes;
* booleans accept what the official `str2bool` accepts (yes/true/t/y/1, no/false/f/n/0).

Tolerated quirks of pasted strings: `--flag=value`, `--flag-name` (dashes for underscores), a single
leading dash (`-image_size 64`) or none with `=` (`image_size=64`), `MODEL_FLAGS="..."` shell assignments, a leading `python script.py`, a bare boolean flag (means
True), and flags of the official sampling/training scripts that do not describe a network
(`--batch_size`, `--model_path`, ...), which are accepted and reported in `ignored`.
Anything else that is not a known flag, and any value that does not parse, raises FlagError.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple, Union

from .config import (
    ClassifierConfig,
    ConfigError,
    DiffusionConfig,
    UNetConfig,
    attention_ds,
    check_classifier_config,
    check_unet_config,
)

NUM_CLASSES = 1000


class FlagError(ValueError):
    """A flag string that cannot describe a model (unknown flag, bad value, impossible architecture)."""


# --- official defaults (guided_diffusion/script_util.py) -------------------------------------------

DIFFUSION_DEFAULTS: Dict[str, object] = dict(
    learn_sigma=False,
    diffusion_steps=1000,
    noise_schedule="linear",
    timestep_respacing="",
    use_kl=False,
    predict_xstart=False,
    rescale_timesteps=False,
    rescale_learned_sigmas=False,
)

MODEL_DEFAULTS: Dict[str, object] = dict(
    image_size=64,
    num_channels=128,
    num_res_blocks=2,
    num_heads=4,
    num_heads_upsample=-1,
    num_head_channels=-1,
    attention_resolutions="16,8",
    channel_mult="",
    dropout=0.0,
    class_cond=False,
    use_checkpoint=False,
    use_scale_shift_norm=True,
    resblock_updown=False,
    use_fp16=False,
    use_new_attention_order=False,
    **DIFFUSION_DEFAULTS,
)

# sr_model_and_diffusion_defaults: the model defaults minus the flags the SR factory does not take,
# plus large_size / small_size.
_SR_DROPPED = ("image_size", "channel_mult", "use_new_attention_order")
SR_MODEL_DEFAULTS: Dict[str, object] = {k: v for k, v in MODEL_DEFAULTS.items() if k not in _SR_DROPPED}
SR_MODEL_DEFAULTS.update(large_size=256, small_size=64)

CLASSIFIER_DEFAULTS: Dict[str, object] = dict(
    image_size=64,
    classifier_use_fp16=False,
    classifier_width=128,
    classifier_depth=2,
    classifier_attention_resolutions="32,16,8",
    classifier_use_scale_shift_norm=True,
    classifier_resblock_updown=True,
    classifier_pool="attention",
)

# Flags of the official scripts that do not change a network's weights layout. They are accepted so
# that whole pasted command lines work; their values are kept in `.extra` (typed where known).
SAMPLING_FLAGS: Dict[str, object] = dict(
    clip_denoised=True,
    num_samples=10000,
    batch_size=16,
    use_ddim=False,
    model_path="",
    classifier_path="",
    classifier_scale=1.0,
    base_samples="",
)
TRAINING_FLAGS = (
    "data_dir", "val_data_dir", "schedule_sampler", "lr", "weight_decay", "lr_anneal_steps",
    "microbatch", "ema_rate", "log_interval", "save_interval", "resume_checkpoint",
    "fp16_scale_growth", "iterations", "anneal_lr", "noised", "eval_interval",
)

NOISE_SCHEDULES = ("linear", "cosine")
CLASSIFIER_POOLS = ("attention",)  # what adm.unet.EncoderUNetModel implements
# channel_mult for an empty --channel_mult, by image size (create_model and create_classifier share the table)
CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}
SR_CHANNEL_MULT = {512: (1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 64: (1, 2, 3, 4)}

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


def _int_list(name: str, raw: str) -> Tuple[int, ...]:
    parts = [p.strip() for p in str(raw).split(",") if p.strip()]
    if not parts:
        raise FlagError(f"--{name}: expected a comma-separated list of integers, got {raw!r}")
    out = []
    for p in parts:
        try:
            v = int(p)
        except ValueError:
            raise FlagError(f"--{name}: {p!r} is not an integer (in {raw!r})") from None
        if v <= 0:
            raise FlagError(f"--{name}: resolutions must be positive, got {v}")
        out.append(v)
    return tuple(out)


def _channel_mult(raw: str, image_size: int, table: Mapping[int, Tuple[float, ...]], what: str) -> Tuple[float, ...]:
    if raw.strip() == "":
        if image_size not in table:
            sizes = ", ".join(str(s) for s in sorted(table))
            raise FlagError(f"{what}: no default channel_mult for image size {image_size} "
                            f"(official sizes: {sizes}); pass --channel_mult explicitly")
        return tuple(table[image_size])
    out: List[float] = []
    for p in raw.split(","):
        p = p.strip()
        try:
            v = float(p)
        except ValueError:
            raise FlagError(f"--channel_mult: {p!r} is not a number (in {raw!r})") from None
        if v <= 0:
            raise FlagError(f"--channel_mult: multipliers must be positive, got {p!r}")
        out.append(int(v) if v == int(v) else v)
    return tuple(out)


def _resolve(given: Dict[str, str], defaults: Mapping[str, object], accepted_elsewhere: Tuple[str, ...],
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


# --- results ---------------------------------------------------------------------------------------

@dataclass
class ModelFlags:
    """A parsed MODEL_FLAGS string."""

    unet: UNetConfig
    diffusion: DiffusionConfig
    use_fp16: bool
    superres: bool = False
    small_size: Optional[int] = None  # super-resolution models: the low-resolution input size
    values: Dict[str, object] = field(default_factory=dict)  # every model flag after defaults
    extra: Dict[str, object] = field(default_factory=dict)  # sampling/training flags (not architecture)
    ignored: List[str] = field(default_factory=list)

    @property
    def class_cond(self) -> bool:
        return self.unet.num_classes is not None

    def flag_string(self) -> str:
        """Canonical flag string (every architecture/diffusion flag, sorted)."""
        return format_flags(self.values)


@dataclass
class ClassifierFlags:
    """A parsed classifier flag string."""

    classifier: ClassifierConfig
    use_fp16: bool
    values: Dict[str, object] = field(default_factory=dict)
    extra: Dict[str, object] = field(default_factory=dict)
    ignored: List[str] = field(default_factory=list)

    def flag_string(self) -> str:
        return format_flags(self.values)


def format_flags(values: Mapping[str, object]) -> str:
    parts = []
    for k in sorted(values):
        v = values[k]
        if isinstance(v, (tuple, list)):
            v = ",".join(str(x) for x in v)
        parts.append(f"--{k} {v}" if str(v) != "" else f"--{k} ''")
    return " ".join(parts)


# --- model flags -----------------------------------------------------------------------------------

def parse_model_flags(text: FlagInput) -> ModelFlags:
    """MODEL_FLAGS -> UNet + diffusion configs, exactly as create_model / sr_create_model build them."""
    given = split_flags(text)
    superres = "large_size" in given or "small_size" in given
    if superres:
        clash = [k for k in _SR_DROPPED if k in given]
        if clash:
            raise FlagError("super-resolution flags (--large_size/--small_size) cannot be combined with "
                            + ", ".join(f"--{k}" for k in clash)
                            + ": the official super-resolution factory does not take them")
        defaults = SR_MODEL_DEFAULTS
    else:
        defaults = MODEL_DEFAULTS
    values, extra, ignored = _resolve(given, defaults, tuple(CLASSIFIER_DEFAULTS), "model")

    size = int(values["large_size"] if superres else values["image_size"])  # type: ignore[arg-type]
    if size <= 0:
        raise FlagError(f"image size must be positive, got {size}")
    if superres:
        channel_mult = _channel_mult("", size, SR_CHANNEL_MULT, "super-resolution model (--large_size)")
        small = int(values["small_size"])  # type: ignore[arg-type]
        if small <= 0 or small > size:
            raise FlagError(f"--small_size must be in 1..large_size ({size}), got {small}")
    else:
        channel_mult = _channel_mult(str(values["channel_mult"]), size, CHANNEL_MULT, "model")
        small = None
    res = _int_list("attention_resolutions", str(values["attention_resolutions"]))
    ds = attention_ds(size, res)

    mc = int(values["num_channels"])  # type: ignore[arg-type]
    nrb = int(values["num_res_blocks"])  # type: ignore[arg-type]
    if mc <= 0:
        raise FlagError(f"--num_channels must be positive, got {mc}")
    if nrb <= 0:
        raise FlagError(f"--num_res_blocks must be positive, got {nrb}")
    dropout = float(values["dropout"])  # type: ignore[arg-type]
    if not 0.0 <= dropout < 1.0:
        raise FlagError(f"--dropout must be in [0, 1), got {dropout}")
    schedule = str(values["noise_schedule"])
    if schedule not in NOISE_SCHEDULES:
        raise FlagError(f"--noise_schedule must be one of {', '.join(NOISE_SCHEDULES)}, got {schedule!r}")
    steps = int(values["diffusion_steps"])  # type: ignore[arg-type]
    if steps <= 1:
        raise FlagError(f"--diffusion_steps must be > 1, got {steps}")

    learn_sigma = bool(values["learn_sigma"])
    unet = UNetConfig(
        image_size=size,
        in_channels=6 if superres else 3,
        model_channels=mc,
        out_channels=6 if learn_sigma else 3,
        num_res_blocks=nrb,
        attention_resolutions=ds,
        dropout=dropout,
        channel_mult=channel_mult,
        num_classes=NUM_CLASSES if values["class_cond"] else None,
        num_heads=int(values["num_heads"]),  # type: ignore[arg-type]
        num_head_channels=int(values["num_head_channels"]),  # type: ignore[arg-type]
        num_heads_upsample=int(values["num_heads_upsample"]),  # type: ignore[arg-type]
        use_scale_shift_norm=bool(values["use_scale_shift_norm"]),
        resblock_updown=bool(values["resblock_updown"]),
        use_new_attention_order=bool(values.get("use_new_attention_order", False)),
    )
    _checked(check_unet_config, unet)
    diffusion = DiffusionConfig(
        noise_schedule=schedule,
        diffusion_steps=steps,
        learn_sigma=learn_sigma,
        predict_xstart=bool(values["predict_xstart"]),
        rescale_timesteps=bool(values["rescale_timesteps"]),
        timestep_respacing=str(values["timestep_respacing"]),
    )
    return ModelFlags(unet=unet, diffusion=diffusion, use_fp16=bool(values["use_fp16"]), superres=superres,
                      small_size=small, values=values, extra=extra, ignored=ignored)


# --- classifier flags ------------------------------------------------------------------------------

def parse_classifier_flags(text: FlagInput, image_size: Optional[int] = None) -> ClassifierFlags:
    """Classifier flags -> ClassifierConfig, exactly as create_classifier builds it.

    `image_size` supplies the shared --image_size when the string has none (the official scripts
    take it from MODEL_FLAGS); an explicit --image_size in the string wins.
    """
    given = split_flags(text)
    defaults = dict(CLASSIFIER_DEFAULTS)
    if image_size is not None:
        defaults["image_size"] = int(image_size)
    model_only = tuple(k for k in MODEL_DEFAULTS if k not in defaults) + ("large_size", "small_size")
    values, extra, ignored = _resolve(given, defaults, model_only, "classifier")
    size = int(values["image_size"])  # type: ignore[arg-type]
    channel_mult = _channel_mult("", size, CHANNEL_MULT, "classifier")
    res = _int_list("classifier_attention_resolutions", str(values["classifier_attention_resolutions"]))
    pool = str(values["classifier_pool"])
    if pool not in ("attention", "adaptive", "spatial", "spatial_v2"):
        raise FlagError(f"--classifier_pool must be attention, adaptive, spatial or spatial_v2, got {pool!r}")
    if pool not in CLASSIFIER_POOLS:
        raise FlagError(f"--classifier_pool {pool} is not supported here (released classifiers use 'attention')")
    width = int(values["classifier_width"])  # type: ignore[arg-type]
    depth = int(values["classifier_depth"])  # type: ignore[arg-type]
    if width <= 0 or depth <= 0:
        raise FlagError(f"--classifier_width and --classifier_depth must be positive, got {width}, {depth}")
    cfg = ClassifierConfig(
        image_size=size,
        in_channels=3,
        model_channels=width,
        out_channels=NUM_CLASSES,
        num_res_blocks=depth,
        attention_resolutions=attention_ds(size, res),
        channel_mult=channel_mult,
        num_head_channels=64,
        use_scale_shift_norm=bool(values["classifier_use_scale_shift_norm"]),
        resblock_updown=bool(values["classifier_resblock_updown"]),
        use_new_attention_order=False,
        pool=pool,
        dropout=0.0,
    )
    _checked(check_classifier_config, cfg)
    return ClassifierFlags(classifier=cfg, use_fp16=bool(values["classifier_use_fp16"]), values=values,
                           extra=extra, ignored=ignored)


def _checked(check, cfg) -> None:
    """An impossible architecture is a bad flag string."""
    try:
        check(cfg)
    except ConfigError as e:
        raise FlagError(str(e)) from None
