"""Convert guided-diffusion checkpoints (official format) into a browser pack.

    npm run convert -- --unet 64x64_diffusion.pt --unet-flags "<MODEL_FLAGS>" \\
        [--classifier 64x64_classifier.pt --classifier-flags "<classifier flags>"] --out DIR [--fp16]
        [--upsampler 64_256_upsampler.pt --upsampler-flags "<the upsampler's MODEL_FLAGS>"]
    npm run convert -- --preset imagenet64 --unet 64x64_diffusion.pt --classifier 64x64_classifier.pt --out DIR

(`npm run convert` runs `/usr/bin/python3 -m adm.cli.convert` through scripts/py.sh; this module is the conversion,
adm.convert_input reads and checks the checkpoints.)

The checkpoints are loaded strictly against the architecture the flags describe (the official
factory's defaults apply to flags not given; the classifier's image size is the U-Net's). Any
mismatch, unreadable file or bad flag ends with one paragraph on stderr and exit code 2, and nothing
is left in --out: the pack is written to a temporary folder beside it and renamed at the end. An
existing non-empty --out is only replaced with --force.

The graphs are templates (adm.templates): the shipped one of each network under public/templates (or
--templates DIR), else one made from the flags on the spot, with the checkpoint's tensors written into their
external-data files (adm.template_pack), byte for byte what the page builds from the same files. With node and
onnxruntime-node available, every graph is run once under ONNX Runtime and compared with PyTorch before the
pack is published (--no-verify skips this).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional, Tuple

from .cli_safety import OutputFolderError, check_output_folder
from .config import ModelPreset
from .convert_input import ConvertError, load_checkpoint, load_model
from .flags import FlagError, ModelFlags, parse_classifier_flags, parse_model_flags
from .manifest import IMAGENET_LABELS, model_fields, respacing_step_count, safe_name, sha256_file, upsampler_fields
from .pack import ort_available
from .template_index import SHIPPED
from .template_pack import template_for, write_template_pack
from .templates import spec_from_flags
from .presets import CONVERT_PRESETS, DEFAULT_LICENSE, PRESETS, get_preset



# --- the conversion ----------------------------------------------------------------------------------------

def _find_preset(mf: ModelFlags) -> Optional[Tuple[str, ModelPreset]]:
    for name in CONVERT_PRESETS:
        p = PRESETS[name]
        if (replace(p.unet, dropout=0.0) == replace(mf.unet, dropout=0.0)
                and p.diffusion.noise_schedule == mf.diffusion.noise_schedule
                and p.diffusion.diffusion_steps == mf.diffusion.diffusion_steps
                and p.diffusion.learn_sigma == mf.diffusion.learn_sigma):
            return name, p
    return None


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def convert(args: argparse.Namespace) -> Path:
    quiet = args.quiet
    out = Path(os.path.abspath(args.out))  # never resolved: a symbolic link at --out is replaced, not followed
    try:
        check_output_folder(out, replace=args.force, replace_any=args.replace_any_folder)
    except OutputFolderError as e:
        raise ConvertError(f"--out {e}.") from None

    # flags
    preset_name = None
    preset: Optional[ModelPreset] = None
    if args.preset:
        try:
            preset = get_preset(args.preset)
        except KeyError:
            raise ConvertError(f"unknown --preset {args.preset!r}; choose one of: {', '.join(CONVERT_PRESETS)}.") from None
        preset_name = args.preset
        unet_flags_text = preset.extra["model_flags"]
        unet_flags_name = f"--preset {preset_name}"
    else:
        unet_flags_text = args.unet_flags
        unet_flags_name = "--unet-flags"
    try:
        mf = parse_model_flags(unet_flags_text)
    except FlagError as e:
        raise ConvertError(f"{unet_flags_name}: {e}") from None
    if mf.superres:
        raise ConvertError(f"{unet_flags_name} describes a super-resolution model (--large_size/--small_size); "
                           "give the base model as --unet and this one as --upsampler with --upsampler-flags.")
    if preset is None:
        found = _find_preset(mf)
        if found:
            preset_name, preset = found

    cf = None
    if args.classifier:
        if args.classifier_flags is not None:
            cflags_text, cflags_name = args.classifier_flags, "--classifier-flags"
        elif preset is not None and preset.extra.get("classifier_flags"):
            cflags_text, cflags_name = preset.extra["classifier_flags"], f"the {preset_name} preset's classifier flags"
        else:
            cflags_text, cflags_name = "", "the default classifier flags"
        try:
            cf = parse_classifier_flags(cflags_text, image_size=mf.unet.image_size)
        except FlagError as e:
            raise ConvertError(f"{cflags_name}: {e}") from None
        if cf.classifier.image_size != mf.unet.image_size:
            raise ConvertError(f"the classifier's image size ({cf.classifier.image_size}) differs from the U-Net's "
                               f"({mf.unet.image_size}).")
    elif args.classifier_flags is not None:
        raise ConvertError("--classifier-flags given without --classifier.")

    umf = None
    if args.upsampler:
        if not args.upsampler_flags:
            raise ConvertError("--upsampler needs --upsampler-flags (the release's upsampler MODEL_FLAGS, with "
                               "--large_size and --small_size).")
        try:
            umf = parse_model_flags(args.upsampler_flags)
        except FlagError as e:
            raise ConvertError(f"--upsampler-flags: {e}") from None
        if not umf.superres:
            raise ConvertError("--upsampler-flags describe a base diffusion model: an upsampler's flags give "
                               "--large_size and --small_size.")
        if umf.small_size != mf.unet.image_size:
            raise ConvertError(f"the upsampler takes {umf.small_size}x{umf.small_size} images (--small_size) but the "
                               f"base model makes {mf.unet.image_size}x{mf.unet.image_size} ones.")
        if umf.unet.num_classes is not None and not mf.unet.num_classes:
            _log(quiet, "convert: the upsampler is class-conditional and the base model is not: sampling the "
                        "cascade needs a class")
        up_respacing = args.upsampler_respacing or umf.diffusion.timestep_respacing or "250"
        try:
            respacing_step_count(umf.diffusion.diffusion_steps, str(up_respacing))
        except ValueError as e:
            raise ConvertError(f"upsampler timestep respacing {str(up_respacing)!r} is not usable: {e}.") from None
    elif args.upsampler_flags is not None:
        raise ConvertError("--upsampler-flags given without --upsampler.")

    # checkpoints
    unet_path = Path(args.unet)
    t0 = time.time()
    unet_sd = load_checkpoint(unet_path, "U-Net")
    unet = load_model("unet", mf.unet, unet_sd, "U-Net", unet_path, unet_flags_name)
    del unet_sd
    classifier = None
    cls_path = None
    if cf is not None:
        cls_path = Path(args.classifier)
        csd = load_checkpoint(cls_path, "classifier")
        classifier = load_model("classifier", cf.classifier, csd, "classifier", cls_path, cflags_name)
        del csd
    upsampler = None
    up_path = None
    if umf is not None:
        up_path = Path(args.upsampler)
        usd = load_checkpoint(up_path, "upsampler")
        upsampler = load_model("superres", umf.unet, usd, "upsampler", up_path, "--upsampler-flags")
        del usd
        # guided-diffusion's super_res_sample.py always runs p_sample_loop (its use_ddim flag is ignored)
        up_ddim = bool(args.upsampler_ddim) or str(up_respacing).startswith("ddim")
        up_fields = upsampler_fields(image_size=umf.unet.image_size, low_res_size=umf.small_size,
                                     learn_sigma=umf.unet.learn_sigma, class_cond=umf.class_cond,
                                     diffusion=umf.diffusion, timestep_respacing=str(up_respacing), use_ddim=up_ddim)
    _log(quiet, f"convert: loaded checkpoints in {time.time() - t0:.1f}s")

    # sampling defaults: CLI > values in the pasted flags > preset table > 1.0 / "250" / ancestral
    sampling_src = {**(cf.extra if cf else {}), **mf.extra}
    scale = args.classifier_scale
    if scale is None:
        scale = sampling_src.get("classifier_scale", preset.classifier_scale if preset else 1.0)
    respacing = args.respacing or mf.diffusion.timestep_respacing or (preset.timestep_respacing if preset else "250")
    use_ddim = args.use_ddim if args.use_ddim is not None else bool(
        sampling_src.get("use_ddim", preset.use_ddim if preset else False))
    if respacing.startswith("ddim") and args.use_ddim is None and "use_ddim" not in sampling_src:
        use_ddim = True
    if not math.isfinite(float(scale)):
        raise ConvertError(f"classifier scale must be finite, got {scale}.")
    try:
        respacing_step_count(mf.diffusion.diffusion_steps, str(respacing))
    except ValueError as e:
        raise ConvertError(f"timestep respacing {str(respacing)!r} is not usable: {e}.") from None

    name = safe_name(args.name or preset_name or unet_path.stem)
    title = args.title or (preset.extra.get("title") if preset else None) or f"{unet_path.name} (converted)"
    source = (f"guided-diffusion checkpoint {unet_path.name} (sha256 {sha256_file(unet_path)}) with flags: "
              f"{mf.flag_string()}")
    if classifier is not None:
        source += (f"; classifier {cls_path.name} (sha256 {sha256_file(cls_path)}) with flags: "
                   f"{cf.flag_string()}")
    if upsampler is not None:
        source += (f"; upsampler {up_path.name} (sha256 {sha256_file(up_path)}) with flags: "
                   f"{umf.flag_string()}")
    verify = not args.no_verify and ort_available()
    if not args.no_verify and not verify:
        _log(quiet, "convert: node/onnxruntime-node not found: skipping the ONNX Runtime check (--no-verify "
                    "silences this)")
    fields = model_fields(image_size=mf.unet.image_size, learn_sigma=mf.unet.learn_sigma, class_cond=mf.class_cond,
                          unconditional_label=None, labels=IMAGENET_LABELS, diffusion=mf.diffusion,
                          classifier_scale=float(scale), timestep_respacing=str(respacing), use_ddim=use_ddim)
    def log(line: str) -> None:
        _log(quiet, f"convert: {line}")

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="adm-templates-") as work:
        # the graphs come from templates (the shipped one of each network, else made from the flags here) and
        # the weights go into their external-data files: the bytes the page writes from the same checkpoints
        specs = [("unet", unet, spec_from_flags("unet", unet_flags_text))]
        if classifier is not None:
            specs.append(("classifier", classifier,
                          spec_from_flags("classifier", cflags_text, image_size=mf.unet.image_size)))
        if upsampler is not None:
            specs.append(("upsampler", upsampler, spec_from_flags("upsampler", args.upsampler_flags)))
        root = Path(args.templates) if args.templates else SHIPPED
        parts = {slot: template_for(spec, model, work, log, root) for slot, model, spec in specs}
        models = {slot: model for slot, model, _ in specs}
        write_template_pack(out, fields, unet=parts["unet"], classifier=parts.get("classifier"),
                            upsampler=parts.get("upsampler"), fp16=args.fp16,
                            upsampler_fp16=bool(args.upsampler_fp16),
                            upsampler_fields=up_fields if upsampler is not None else None, name=name, title=title,
                            source=source, license=args.license or DEFAULT_LICENSE,
                            verify_models=models if verify else None, log=log,
                            replace_any=args.replace_any_folder)
    log(f"wrote the graphs and their weights in {time.time() - t0:.1f}s")
    _log(quiet, f"convert: wrote {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")
    return out
