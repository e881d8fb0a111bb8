"""The released guided-diffusion configurations as typed presets, plus cheap model construction.

Every preset is built by parsing the README's flag strings with `adm.flags`, so the flag parser and
the table cannot drift apart. Recommended sampling settings are the README's (250 respaced steps,
ancestral sampling, the README's classifier scale).

`ModelPreset.extra` keys: title (the pack title convert writes), model_flags and classifier_flags (the flag
strings convert parses for `--preset`), use_fp16 (the README's --use_fp16 for the model).
"""
from __future__ import annotations

import contextlib
from typing import Dict, Iterator, Optional, Tuple

import torch
import torch.nn as nn

from .config import ModelPreset
from .flags import parse_classifier_flags, parse_model_flags

# The licence note a converted pack carries unless told otherwise.
DEFAULT_LICENSE = ("Weights as distributed by their source; the guided-diffusion checkpoints (openai/guided-diffusion) "
                   "are released with that repository under the MIT License (see its model-card.md for intended use).")

# README MODEL_FLAGS, verbatim apart from order-independent whitespace.
MODEL_FLAGS: Dict[str, str] = {
    "64x64_diffusion": (
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --dropout 0.1 --image_size 64 "
        "--learn_sigma True --noise_schedule cosine --num_channels 192 --num_head_channels 64 --num_res_blocks 3 "
        "--resblock_updown True --use_new_attention_order True --use_fp16 True --use_scale_shift_norm True"),
    "128x128_diffusion": (
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 128 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_heads 4 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True"),
    "256x256_diffusion": (
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 256 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True"),
    "256x256_diffusion_uncond": (
        "--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 --image_size 256 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True"),
    "512x512_diffusion": (
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 512 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 False --use_scale_shift_norm True"),
    "64_256_upsampler": (
        "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --large_size 256  --small_size 64 "
        "--learn_sigma True --noise_schedule linear --num_channels 192 --num_heads 4 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True"),
    "128_512_upsampler": (
        "--attention_resolutions 32,16 --class_cond True --diffusion_steps 1000 --large_size 512 --small_size 128 "
        "--learn_sigma True --noise_schedule linear --num_channels 192 --num_head_channels 64 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True"),
    "lsun_256": (
        "--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 --dropout 0.1 --image_size 256 "
        "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 "
        "--resblock_updown True --use_fp16 True --use_scale_shift_norm True"),
}

# Classifier flags: classifier_defaults plus what the README passes (64x64: --classifier_depth 4).
# The classifier's image size is the shared --image_size flag.
CLASSIFIER_FLAGS: Dict[str, str] = {
    f"{s}x{s}_classifier": (
        f"--image_size {s} --classifier_attention_resolutions 32,16,8 --classifier_depth {4 if s == 64 else 2} "
        "--classifier_width 128 --classifier_pool attention --classifier_resblock_updown True "
        "--classifier_use_scale_shift_norm True")
    for s in (64, 128, 256, 512)
}

# name -> (title, model flags (README stem), classifier flags or None, README classifier scale)
_IMAGENET = {
    "imagenet64": ("ImageNet 64x64 (guided-diffusion)", "64x64_diffusion", "64x64_classifier", 1.0),
    "imagenet128": ("ImageNet 128x128 (guided-diffusion)", "128x128_diffusion", "128x128_classifier", 0.5),
    "imagenet256": ("ImageNet 256x256 (guided-diffusion)", "256x256_diffusion", "256x256_classifier", 1.0),
    "imagenet256-uncond": ("ImageNet 256x256 unconditional (guided-diffusion)", "256x256_diffusion_uncond",
                           "256x256_classifier", 10.0),
    "imagenet512": ("ImageNet 512x512 (guided-diffusion)", "512x512_diffusion", "512x512_classifier", 4.0),
}


def _make_preset(title: str, flags_key: str, classifier_key: Optional[str], scale: float,
                 respacing: str = "250") -> ModelPreset:
    mf = parse_model_flags(MODEL_FLAGS[flags_key])
    cf = parse_classifier_flags(CLASSIFIER_FLAGS[classifier_key]) if classifier_key else None
    if cf is not None:
        assert cf.classifier.image_size == mf.unet.image_size
    extra = dict(title=title, model_flags=MODEL_FLAGS[flags_key],
                 classifier_flags=CLASSIFIER_FLAGS[classifier_key] if classifier_key else None, use_fp16=mf.use_fp16)
    return ModelPreset(unet=mf.unet, diffusion=mf.diffusion, classifier=cf.classifier if cf else None,
                       classifier_scale=scale, timestep_respacing=respacing, use_ddim=False, extra=extra)


def _build_presets() -> Dict[str, ModelPreset]:
    presets: Dict[str, ModelPreset] = {}
    for name, (title, flags_key, cls, scale) in _IMAGENET.items():
        presets[name] = _make_preset(title, flags_key, cls, scale)
    presets["upsampler64-256"] = _make_preset("ImageNet 64->256 upsampler", "64_256_upsampler", None, 0.0)
    presets["upsampler128-512"] = _make_preset("ImageNet 128->512 upsampler", "128_512_upsampler", None, 0.0)
    for animal in ("bedroom", "cat", "horse"):
        presets[f"lsun-{animal}"] = _make_preset(f"LSUN {animal} 256x256", "lsun_256", None, 0.0, respacing="1000")
    nodrop = _make_preset("LSUN horse 256x256 (no dropout)", "lsun_256", None, 0.0, respacing="1000")
    nodrop.unet.dropout = 0.0
    nodrop.extra["model_flags"] = MODEL_FLAGS["lsun_256"].replace("--dropout 0.1", "--dropout 0.0")
    presets["lsun-horse-nodropout"] = nodrop
    return presets


PRESETS: Dict[str, ModelPreset] = _build_presets()

# The presets `npm run convert -- --preset NAME` accepts (the ImageNet diffusion models).
CONVERT_PRESETS: Tuple[str, ...] = tuple(_IMAGENET)


def get_preset(name: str) -> ModelPreset:
    key = name.strip().lower().replace("_", "-")
    if key not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[key]


# --- official checkpoint stems -> what to build ----------------------------------------------------

def official_checkpoint_config(stem: str) -> Tuple[str, object]:
    """'64x64_diffusion' -> ('unet', UNetConfig); '64_256_upsampler' -> ('superres', UNetConfig);
    '64x64_classifier' -> ('classifier', ClassifierConfig); 'lsun_256' -> ('unet', ...)."""
    if stem in CLASSIFIER_FLAGS:
        return "classifier", parse_classifier_flags(CLASSIFIER_FLAGS[stem]).classifier
    if stem in MODEL_FLAGS:
        mf = parse_model_flags(MODEL_FLAGS[stem])
        return ("superres" if mf.superres else "unet"), mf.unet
    raise KeyError(f"no official configuration named {stem!r}")


OFFICIAL_STEMS: Tuple[str, ...] = tuple(MODEL_FLAGS) + tuple(CLASSIFIER_FLAGS)


# --- cheap construction ----------------------------------------------------------------------------

_FACTORIES = (torch.empty, torch.zeros, torch.ones, torch.randn, torch.rand, torch.full, torch.arange,
              torch.tensor, torch.empty_like, torch.zeros_like, torch.ones_like)


class _MetaMode(torch.overrides.TorchFunctionMode):
    """Redirects tensor factory calls to the meta device (shapes only, no memory, no init cost)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _FACTORIES:
            kwargs["device"] = torch.device("meta")
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """Build modules on the meta device (torch 1.13 has no `with torch.device('meta')`)."""
    with _MetaMode():
        yield


_RESETTABLE = (nn.Linear, nn.modules.conv._ConvNd, nn.Embedding, nn.GroupNorm)


@contextlib.contextmanager
def skip_init() -> Iterator[None]:
    """Construct real (CPU) modules without running their random initialisers.

    Parameters are left uninitialised (torch.empty), which is what we want when a checkpoint is
    loaded right after: building the 550M-parameter models otherwise spends seconds in kaiming_uniform_.
    """
    saved = [(cls, cls.__dict__["reset_parameters"]) for cls in _RESETTABLE if "reset_parameters" in cls.__dict__]
    try:
        for cls, _ in saved:
            cls.reset_parameters = lambda self: None  # type: ignore[assignment]
        yield
    finally:
        for cls, fn in saved:
            cls.reset_parameters = fn  # type: ignore[assignment]


def build_model(kind: str, cfg, init: str = "random") -> nn.Module:
    """kind: 'unet' | 'superres' | 'classifier'; init: 'random' | 'skip' (uninitialised) | 'meta'."""
    from .unet import EncoderUNetModel, UNetModel

    if kind == "unet":
        ctor = UNetModel
    elif kind == "superres":
        from .superres import SuperResModel

        ctor = SuperResModel
    elif kind == "classifier":
        ctor = EncoderUNetModel
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    if init == "meta":
        with meta_device():
            return ctor(cfg)
    if init == "skip":
        with skip_init():
            return ctor(cfg)
    if init == "random":
        return ctor(cfg)
    raise ValueError(f"unknown init {init!r}")


def randomize_zero_init(model: nn.Module, seed: int = 0, std: float = 0.05) -> nn.Module:
    """Give the zero-initialised parameters (ResBlock out convs, attention proj_out, the U-Net's final
    conv) small random values so a randomly initialised network has non-trivial outputs and gradients.
    Used for tests and the random-weight test pack; never for real checkpoints."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.numel() and not p.detach().abs().sum():
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return model
