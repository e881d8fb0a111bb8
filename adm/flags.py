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
The defaults are adm.flag_defaults'; tokenising and typing the values is adm.flag_parsing's.

Tolerated quirks of pasted strings: `--flag=value`, `--flag-name` (dashes for underscores), a single
leading dash (`-image_size 64`) or none with `=` (`image_size=64`), `MODEL_FLAGS="..."` shell assignments, a leading `python script.py`, a bare boolean flag (means
True), and flags of the official sampling/training scripts that do not describe a network
(`--batch_size`, `--model_path`, ...), which are accepted and reported in `ignored`.
Anything else that is not a known flag, and any value that does not parse, raises FlagError.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

from .config import (
    ClassifierConfig,
    ConfigError,
    DiffusionConfig,
    UNetConfig,
    attention_ds,
    check_classifier_config,
    check_unet_config,
)
from .flag_defaults import (CHANNEL_MULT, CLASSIFIER_DEFAULTS, CLASSIFIER_POOLS, MODEL_DEFAULTS, NOISE_SCHEDULES,
                            NUM_CLASSES, SR_CHANNEL_MULT, SR_DROPPED, SR_MODEL_DEFAULTS)
from .flag_parsing import FlagError, FlagInput, parse_channel_mult, parse_int_list, resolve_flags, split_flags


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
        clash = [k for k in SR_DROPPED if k in given]
        if clash:
            raise FlagError("super-resolution flags (--large_size/--small_size) cannot be combined with "
                            + ", ".join(f"--{k}" for k in clash)
                            + ": the official super-resolution factory does not take them")
        defaults = SR_MODEL_DEFAULTS
    else:
        defaults = MODEL_DEFAULTS
    values, extra, ignored = resolve_flags(given, defaults, tuple(CLASSIFIER_DEFAULTS), "model")

    size = int(values["large_size"] if superres else values["image_size"])  # type: ignore[arg-type]
    if size <= 0:
        raise FlagError(f"image size must be positive, got {size}")
    if superres:
        channel_mult = parse_channel_mult("", size, SR_CHANNEL_MULT, "super-resolution model (--large_size)")
        small = int(values["small_size"])  # type: ignore[arg-type]
        if small <= 0 or small > size:
            raise FlagError(f"--small_size must be in 1..large_size ({size}), got {small}")
    else:
        channel_mult = parse_channel_mult(str(values["channel_mult"]), size, CHANNEL_MULT, "model")
        small = None
    res = parse_int_list("attention_resolutions", str(values["attention_resolutions"]))
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
    values, extra, ignored = resolve_flags(given, defaults, model_only, "classifier")
    size = int(values["image_size"])  # type: ignore[arg-type]
    channel_mult = parse_channel_mult("", size, CHANNEL_MULT, "classifier")
    res = parse_int_list("classifier_attention_resolutions", str(values["classifier_attention_resolutions"]))
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
