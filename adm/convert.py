"""Convert guided-diffusion checkpoints (official format) into a browser pack.

    npm run convert -- --unet 64x64_diffusion.pt --unet-flags "<MODEL_FLAGS>" \\
        [--classifier 64x64_classifier.pt --classifier-flags "<classifier flags>"] --out DIR [--fp16]
        [--upsampler 64_256_upsampler.pt --upsampler-flags "<the upsampler's MODEL_FLAGS>"]
    npm run convert -- --preset imagenet64 --unet 64x64_diffusion.pt --classifier 64x64_classifier.pt --out DIR

(`npm run convert` runs `/usr/bin/python3 -m adm.convert` through scripts/py.sh.)

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
from typing import Dict, List, Optional, Tuple

import torch

from .checkpoint_io import CheckpointError, UnsafeCheckpointError
from .checkpoint_io import load_checkpoint as read_checkpoint_file
from .cli_safety import OutputFolderError, check_output_folder, sigterm_as_exit
from .config import ModelPreset
from .flags import FlagError, ModelFlags, parse_classifier_flags, parse_model_flags
from .manifest import IMAGENET_LABELS, model_fields, respacing_step_count, safe_name, sha256_file, upsampler_fields
from .pack import OnnxRunError, VerificationError, ort_available
from .template_index import SHIPPED
from .template_pack import template_for, write_template_pack
from .templates import spec_from_flags
from .presets import CONVERT_PRESETS, DEFAULT_LICENSE, OFFICIAL_STEMS, PRESETS, build_model, get_preset, official_checkpoint_config

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
WRAPPER_KEYS = ("state_dict", "model")


class ConvertError(Exception):
    """A user-facing error: printed as one paragraph, exit code 2."""


# --- checkpoints ----------------------------------------------------------------------------------------

def load_checkpoint(path: Path, what: str) -> Dict[str, torch.Tensor]:
    """Read an official-format checkpoint (flat state dict; {'state_dict'|'model': ...} accepted)."""
    if not path.exists():
        raise ConvertError(f"the {what} checkpoint {path} does not exist.")
    if not path.is_file():
        raise ConvertError(f"the {what} checkpoint {path} is not a file.")
    if path.stat().st_size == 0:
        raise ConvertError(f"the {what} checkpoint {path} is empty (0 bytes).")
    try:
        obj = read_checkpoint_file(path)  # refuses TorchScript archives and pickled code before running any
    except UnsafeCheckpointError as e:
        raise ConvertError(f"refusing the {what} checkpoint {path}: {e.reason}. Nothing was loaded from it.") from None
    except CheckpointError as e:  # truncated zip, not a pickle, unreadable, ...
        raise ConvertError(
            f"cannot read the {what} checkpoint {path} ({path.stat().st_size} bytes): it is not a complete PyTorch "
            f"checkpoint (truncated or corrupt download, or a different kind of file): {e.reason}") from None
    sd = _unwrap(obj, path, what)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _unwrap(obj, path: Path, what: str) -> Dict[str, torch.Tensor]:
    def is_sd(d) -> bool:
        return isinstance(d, dict) and len(d) > 0 and all(isinstance(k, str) and torch.is_tensor(v) for k, v in d.items())

    if is_sd(obj):
        return dict(obj)
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if is_sd(obj.get(key)):
                return dict(obj[key])
        keys = ", ".join(repr(k) for k in list(obj)[:8])
        raise ConvertError(
            f"the {what} checkpoint {path} holds a dict that is not a state dict (top-level keys: {keys}); expected a "
            f"flat mapping of parameter names to tensors as in the official .pt files, or one wrapped under "
            f"{' or '.join(repr(k) for k in WRAPPER_KEYS)}.")
    raise ConvertError(f"the {what} checkpoint {path} does not contain a state dict (found {type(obj).__name__}); "
                       "expected a mapping of parameter names to tensors as in the official .pt files.")


def _fmt_shape(s) -> str:
    return "(" + ", ".join(str(int(d)) for d in s) + ("," if len(s) == 1 else "") + ")"


def _expected_shapes(kind: str, cfg) -> Dict[str, Tuple[int, ...]]:
    model = build_model(kind, cfg, init="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _matching_official(sd: Dict[str, torch.Tensor]) -> List[str]:
    got = {k: tuple(v.shape) for k, v in sd.items()}
    hits = []
    for stem in OFFICIAL_STEMS:
        kind, cfg = official_checkpoint_config(stem)
        if _expected_shapes(kind, cfg) == got:
            hits.append(stem)
    return hits


def check_state_dict(sd: Dict[str, torch.Tensor], kind: str, cfg, what: str, path: Path, flags_name: str) -> None:
    """Raise ConvertError naming the first missing/unexpected keys and shape mismatches."""
    want = _expected_shapes(kind, cfg)
    got = {k: tuple(v.shape) for k, v in sd.items()}
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    mismatched = [k for k in want if k in got and got[k] != want[k]]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        first = "; ".join(f"{k} {_fmt_shape(want[k])}" for k in missing[:3])
        parts.append(f"{len(missing)} key(s) the flags need are missing from the checkpoint (first: {first})")
    if unexpected:
        first = "; ".join(f"{k} {_fmt_shape(got[k])}" for k in unexpected[:3])
        parts.append(f"{len(unexpected)} unexpected key(s) in the checkpoint (first: {first})")
    if mismatched:
        first = "; ".join(f"{k} is {_fmt_shape(got[k])} in the checkpoint but {_fmt_shape(want[k])} for these flags"
                          for k in mismatched[:3])
        parts.append(f"{len(mismatched)} shape mismatch(es) (first: {first})")
    msg = (f"the {what} checkpoint {path} does not match the architecture given by {flags_name}: "
           + "; ".join(parts) + ".")
    hint = _hint(missing, unexpected, mismatched)
    if hint:
        msg += " " + hint
    try:
        hits = _matching_official(sd)
    except Exception:
        hits = []
    if hits:
        from .presets import CLASSIFIER_FLAGS, MODEL_FLAGS

        stem = hits[0]
        flags = MODEL_FLAGS.get(stem) or CLASSIFIER_FLAGS.get(stem)
        msg += f" Its keys and shapes match the official {stem} configuration, whose flags are: \"{flags}\"."
    raise ConvertError(msg)


def _hint(missing: List[str], unexpected: List[str], mismatched: List[str]) -> str:
    if "label_emb.weight" in missing:
        return "The checkpoint has no class embedding: is it an unconditional model (--class_cond False)?"
    if "label_emb.weight" in unexpected:
        return "The checkpoint has a class embedding: it needs --class_cond True."
    if any(k.startswith("out.2.positional_embedding") or k.startswith("out.2.qkv_proj") for k in missing + unexpected):
        return "This looks like a classifier passed as a U-Net or the other way round."
    if mismatched and all(k.endswith("label_emb.weight") for k in mismatched):
        return "Only the number of classes differs."
    return ""


def _check_finite(sd: Dict[str, torch.Tensor], what: str, path: Path) -> None:
    for k, v in sd.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ConvertError(f"the {what} checkpoint {path} contains NaN or infinite values (first in {k}).")


def load_model(kind: str, cfg, sd: Dict[str, torch.Tensor], what: str, path: Path, flags_name: str):
    check_state_dict(sd, kind, cfg, what, path, flags_name)
    _check_finite(sd, what, path)
    model = build_model(kind, cfg, init="skip")
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.float().eval()


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="npm run convert --",
        description="Convert guided-diffusion checkpoints into a browser model pack (docs/pack-format.md).")
    p.add_argument("--unet", required=True, help="diffusion model checkpoint (.pt, official format)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--unet-flags", help='the model\'s MODEL_FLAGS, e.g. "--attention_resolutions 32,16,8 '
                                          '--class_cond True ... --use_scale_shift_norm True"')
    src.add_argument("--preset", help=f"an official configuration instead of flags: {', '.join(CONVERT_PRESETS)}")
    p.add_argument("--classifier", help="noisy-classifier checkpoint (.pt); adds the guidance gradient graph")
    p.add_argument("--classifier-flags", help='classifier flags, e.g. "--classifier_depth 4" (defaults: '
                                              'classifier_defaults, image size from the U-Net flags)')
    p.add_argument("--upsampler", help="super-resolution checkpoint (.pt, e.g. 64_256_upsampler.pt): the cascade's "
                                       "second stage, taking the base model's samples as low_res")
    p.add_argument("--upsampler-flags", help='the upsampler\'s MODEL_FLAGS as released, e.g. "--attention_resolutions '
                                             '32,16,8 --class_cond True ... --large_size 256 --small_size 64 ..."')
    p.add_argument("--upsampler-respacing", help='the upsampler\'s recommended respacing (default: its flags\' '
                                                 'timestep_respacing, else "250")')
    p.add_argument("--upsampler-ddim", action="store_true", help="recommend DDIM for the upsampler (default: "
                                                                 "ancestral, as super_res_sample.py)")
    p.add_argument("--upsampler-fp16", action="store_true", help="store the upsampler in fp16 instead of fp32")
    p.add_argument("--out", required=True, help="pack folder to create")
    p.add_argument("--fp16", action="store_true", help="also write an fp16 U-Net (unet.fp16.onnx)")
    p.add_argument("--force", action="store_true",
                   help="replace a non-empty --out that is a pack or eval folder this toolkit wrote, or a symbolic "
                        "link (the link is replaced, its target left alone)")
    p.add_argument("--replace-any-folder", action="store_true",
                   help="with --force: replace --out even if this toolkit did not write it (its contents are deleted)")
    p.add_argument("--name", help="pack id (default: preset name or checkpoint file name)")
    p.add_argument("--title", help="pack title shown in the app")
    p.add_argument("--classifier-scale", type=float, help="recommended guidance scale (default: preset table)")
    p.add_argument("--respacing", help='recommended timestep respacing, e.g. "250" or "ddim25" (default: preset)')
    ddim = p.add_mutually_exclusive_group()
    ddim.add_argument("--use-ddim", dest="use_ddim", action="store_true", default=None)
    ddim.add_argument("--no-ddim", dest="use_ddim", action="store_false")
    p.add_argument("--license", help="licence note stored in the manifest")
    p.add_argument("--templates", help="a folder of graph templates with its index.json (default: public/templates); "
                                       "flags without a template there get one made on the spot")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime parity check")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    raw = list(sys.argv[1:] if argv is None else argv)
    # a flag-string value such as "--image_size=64" (no space) would look like an option to argparse
    argv, i = [], 0
    while i < len(raw):
        if raw[i] in ("--unet-flags", "--classifier-flags", "--upsampler-flags") and i + 1 < len(raw):
            argv.append(f"{raw[i]}={raw[i + 1]}")
            i += 2
        else:
            argv.append(raw[i])
            i += 1
    args = build_parser().parse_args(argv)
    try:
        convert(args)
    except ConvertError as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (VerificationError, OnnxRunError) as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return EXIT_INTERNAL
    except OSError as e:  # --out changed under us, or the disk filled up: nothing was published
        print(f"convert: error: could not write the pack: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("convert"):  # SIGTERM removes the partial pack like Ctrl-C does
        sys.exit(main())
