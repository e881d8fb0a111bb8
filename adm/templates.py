"""Graph templates: a model's pack graphs without its weights, plus the plan for filling them from a checkpoint.

    spec = official_spec("64x64_diffusion")              # a released model (adm.presets' flags)
    spec = spec_from_flags("classifier", "<flags>")      # any flag string (FlagError when it cannot describe one)
    make_template(spec, out_dir)                          # the graphs + template.json
    template = read_template(out_dir)                     # parsed, its graph files checked

A template folder holds the pack's graph files of one network (adm.pack's file names: unet.onnx and unet.fp16.onnx,
classifier_grad.onnx, or upsampler.onnx and upsampler.fp16.onnx) with every weight as ONNX external data named by
its checkpoint key (adm.template_graph), and `template.json`: the keys and shapes that recognise a checkpoint, where
each key's bytes go in the external-data files, and the manifest fields the flags imply. The format is the contract
with the page, which fills the same files from a dropped checkpoint: docs/pack-format.md, "Templates".
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import onnx
import torch.nn as nn

from .export import check_ops, external_data_file
from .flags import FlagError, parse_classifier_flags, parse_model_flags
from .manifest import IMAGENET_LABELS, graph_entry, model_fields, sha256_file, upsampler_fields
from .pack import (CLASSIFIER_FEATURES, CLASSIFIER_GRAD_FILE, CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS, UNET_FILE, UNET_FP16_FILE,
                   UNET_OUTPUTS, UPSAMPLER_FILE, UPSAMPLER_FP16_FILE, unet_inputs, upsampler_inputs)
from .presets import CLASSIFIER_FLAGS, DEFAULT_LICENSE, MODEL_FLAGS, PRESETS, build_model, official_checkpoint_config
from .template_graph import fp16_variant, trace_weight_free, weight_keys
from .template_layout import FLOAT, compact_names, externalize

PathLike = Union[str, Path]
FORMAT = "adm-graph-template"
VERSION = 1
TEMPLATE_FILE = "template.json"
DATA_ALIGN = 64  # every tensor starts at a multiple of this offset in its data file
DATA_FILE_BYTES = 1 << 30  # data files are at most 1 GiB (an ArrayBuffer and the wasm heap each take one whole)
SLOTS = ("unet", "classifier", "upsampler")
# slot -> its graphs: (manifest key, file, fp16); the two upsampler graphs are alternatives for the one key
GRAPHS = {
    "unet": (("unet", UNET_FILE, False), ("unetFp16", UNET_FP16_FILE, True)),
    "classifier": (("classifierGrad", CLASSIFIER_GRAD_FILE, False),),
    "upsampler": (("upsampler", UPSAMPLER_FILE, False), ("upsampler", UPSAMPLER_FP16_FILE, True)),
}
# The released models a browser can run, shipped under public/templates/<stem>/ (LSUN's three share the
# 256x256_diffusion_uncond network).
SHIPPED_STEMS = ("64x64_diffusion", "64x64_classifier", "128x128_diffusion", "128x128_classifier",
                 "256x256_diffusion", "256x256_diffusion_uncond", "256x256_classifier", "512x512_diffusion",
                 "512x512_classifier", "64_256_upsampler", "128_512_upsampler")


class TemplateError(ValueError):
    """A template folder that is missing, malformed or whose files do not match its template.json."""


@dataclass
class TemplateSpec:
    """What a template is made from: the slot, the flag string and what it parses to."""

    slot: str
    flags: str
    title: str
    cfg: object  # UNetConfig or ClassifierConfig
    manifest: Dict = field(default_factory=dict)  # the manifest fields the flags imply (see manifest_fragment)
    stem: Optional[str] = None
    low_res_size: Optional[int] = None  # upsamplers: the base model's image size

    @property
    def model_kind(self) -> str:
        """adm.presets.build_model's kind."""
        return {"unet": "unet", "classifier": "classifier", "upsampler": "superres"}[self.slot]


def _size(n: int) -> str:
    return f"{n}\u00d7{n}"


def spec_from_flags(slot: str, flags: str, stem: Optional[str] = None, title: Optional[str] = None,
                    classifier_scale: float = 1.0, image_size: Optional[int] = None) -> TemplateSpec:
    """The template of `slot` for a guided-diffusion flag string (MODEL_FLAGS for a U-Net or an upsampler, the
    classifier flags for a classifier, whose --image_size defaults to `image_size` as in
    adm.flags.parse_classifier_flags). FlagError when the flags cannot describe such a network."""
    if slot not in SLOTS:
        raise FlagError(f"unknown kind {slot!r}; choose one of: {', '.join(SLOTS)}")
    if slot == "classifier":
        cf = parse_classifier_flags(flags, image_size=image_size)
        s = cf.classifier.image_size
        return TemplateSpec(slot, flags, title or f"{_size(s)} noisy classifier", cf.classifier, {}, stem)
    mf = parse_model_flags(flags)
    cond = "class-conditional" if mf.class_cond else "unconditional"
    respacing = mf.diffusion.timestep_respacing or "250"
    if slot == "upsampler":
        if not mf.superres:
            raise FlagError("these flags describe a base diffusion model: an upsampler's flags give --large_size and "
                            "--small_size (use --kind unet for a base model)")
        u = mf.unet
        fields = upsampler_fields(image_size=u.image_size, low_res_size=mf.small_size, learn_sigma=u.learn_sigma,
                                  class_cond=mf.class_cond, diffusion=mf.diffusion, timestep_respacing=respacing,
                                  use_ddim=respacing.startswith("ddim"))
        return TemplateSpec(slot, flags, title or f"{mf.small_size}\u2192{u.image_size} {cond} upsampler", u,
                            {"upsampler": fields}, stem, mf.small_size)
    if mf.superres:
        raise FlagError("these flags describe a super-resolution model (--large_size/--small_size): use --kind "
                        "upsampler")
    u = mf.unet
    fields = model_fields(image_size=u.image_size, learn_sigma=u.learn_sigma, class_cond=mf.class_cond,
                          unconditional_label=None, labels=IMAGENET_LABELS, diffusion=mf.diffusion,
                          classifier_scale=classifier_scale, timestep_respacing=respacing,
                          use_ddim=respacing.startswith("ddim"))
    fields["license"] = DEFAULT_LICENSE
    return TemplateSpec(slot, flags, title or f"{_size(u.image_size)} {cond} U-Net", u, fields, stem)


def official_spec(stem: str) -> TemplateSpec:
    """The template of a released checkpoint (adm.presets' flags; KeyError for an unknown stem). A U-Net's sampling
    defaults are its preset's (the README's classifier scale)."""
    kind, _ = official_checkpoint_config(stem)
    slot = {"classifier": "classifier", "superres": "upsampler"}.get(kind, "unet")
    flags = CLASSIFIER_FLAGS[stem] if slot == "classifier" else MODEL_FLAGS[stem]
    scale = next((p.classifier_scale for p in PRESETS.values() if p.extra.get("model_flags") == flags), 1.0)
    base = spec_from_flags(slot, flags, stem, classifier_scale=scale)
    where = "LSUN" if stem.startswith("lsun") else "ImageNet"
    return replace(base, title=f"{where} {base.title}")


# --- making ------------------------------------------------------------------------------------------------

def blank_model(spec: TemplateSpec) -> nn.Module:
    """The spec's network on the meta device (shapes, no memory): traced with zeros (adm.template_graph), as weight
    values never reach a template."""
    return build_model(spec.model_kind, spec.cfg, init="meta").eval()


def keys_sha256(keys: List[List]) -> str:
    """sha256 of the lines "KEY<TAB>DTYPE<TAB>D0,D1,...<LF>" in order (a scalar's shape is empty): what index.json
    records so a reader can find a checkpoint's template from its key list alone."""
    text = "".join(f"{k}\t{dt}\t{','.join(str(d) for d in shape)}\n" for k, dt, shape in keys)
    return hashlib.sha256(text.encode()).hexdigest()


def make_template(spec: TemplateSpec, out: PathLike, model: Optional[nn.Module] = None,
                  log: Callable[[str], None] = lambda s: None) -> Dict:
    """Write the spec's graphs and template.json into `out` (created); returns the template dict. `model`: the
    network to trace (any weights, e.g. a loaded checkpoint's; default blank_model)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if model is None:
        model = blank_model(spec)
    keys = weight_keys(model)
    params = dict(model.named_parameters())
    shapes = {k: [int(d) for d in params[k].shape] for k in keys}
    graph_kind = "classifier" if spec.slot == "classifier" else spec.slot
    traced = trace_weight_free(graph_kind, model, spec.low_res_size)
    log(f"traced {spec.stem or spec.slot} in {time.time() - t0:.1f}s")
    if spec.slot == "classifier":
        ins, outs = CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS + (CLASSIFIER_FEATURES,)
    elif spec.slot == "upsampler":
        ins, outs = upsampler_inputs(spec.cfg.num_classes is not None), UNET_OUTPUTS
    else:
        ins, outs = unet_inputs(spec.cfg.num_classes is not None), UNET_OUTPUTS
    graphs = []
    for key, file, fp16 in GRAPHS[spec.slot]:
        if fp16:
            proto, stored = fp16_variant(traced, keys)
        else:
            proto = onnx.ModelProto()
            proto.CopyFrom(traced)
            stored = {k: FLOAT for k in keys}
        pieces = externalize(proto, keys, shapes, stored, external_data_file(file).name, DATA_FILE_BYTES, DATA_ALIGN)
        compact_names(proto)
        check_ops(proto)
        (out / file).write_bytes(proto.SerializeToString())
        entry = {"manifestKey": key, **graph_entry(out / file, "float16" if fp16 else "float32", ins, outs)}
        entry["externalData"] = pieces
        graphs.append(entry)
    template = {
        "format": FORMAT, "version": VERSION, "stem": spec.stem, "title": spec.title, "slot": spec.slot,
        "imageSize": int(spec.cfg.image_size),
        **({"lowResSize": int(spec.low_res_size)} if spec.low_res_size else {}),
        "parameters": sum(p.numel() for p in params.values()),
        "flags": spec.flags,
        "keys": [[k, "float32", shapes[k]] for k in keys],
        "graphs": graphs,
        "manifest": spec.manifest,
    }
    if template["stem"] is None:
        del template["stem"]
    (out / TEMPLATE_FILE).write_text(dump_json(template))
    log(f"wrote {out} in {time.time() - t0:.1f}s")
    return template


def dump_json(obj) -> str:
    """JSON with one line per key entry and per tensor entry (readable diffs, small files)."""
    def flat(v) -> bool:
        return not isinstance(v, (dict, list)) or (isinstance(v, list) and all(
            not isinstance(x, (dict, list)) or (isinstance(x, list) and all(not isinstance(y, (dict, list)) for y in x))
            for x in v))

    def enc(v, ind: str) -> str:
        if isinstance(v, dict):
            if not v:
                return "{}"
            inner = ind + " "
            return "{\n" + ",\n".join(f"{inner}{json.dumps(k)}: {enc(x, inner)}" for k, x in v.items()) + "\n" + ind + "}"
        if isinstance(v, list) and v and isinstance(v[0], list) and flat(v):
            inner = ind + " "
            return "[\n" + ",\n".join(inner + json.dumps(x, separators=(",", ":"), ensure_ascii=False)
                                      for x in v) + "\n" + ind + "]"
        if isinstance(v, list) and not flat(v):
            inner = ind + " "
            return "[\n" + ",\n".join(inner + enc(x, inner) for x in v) + "\n" + ind + "]"
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

    return enc(obj, "") + "\n"


# --- reading -----------------------------------------------------------------------------------------------

def read_template(folder: PathLike, check_files: bool = True) -> Dict:
    """The template in `folder`; TemplateError when template.json is missing or not this format, or (check_files)
    a graph file's size or sha256 differs from what it records."""
    folder = Path(folder)
    path = folder / TEMPLATE_FILE
    try:
        t = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise TemplateError(f"cannot read {path}: {e}") from None
    if not isinstance(t, dict) or t.get("format") != FORMAT or t.get("version") != VERSION:
        raise TemplateError(f"{path} is not a version-{VERSION} {FORMAT} file")
    if t.get("slot") not in SLOTS:
        raise TemplateError(f"{path}: unknown slot {t.get('slot')!r}")
    if check_files:
        for g in t["graphs"]:
            p = folder / g["file"]
            if not p.is_file() or p.stat().st_size != g["bytes"] or sha256_file(p) != g["sha256"]:
                raise TemplateError(f"{p} is missing or differs from {TEMPLATE_FILE} (regenerate the template)")
    return t


def same_network(spec: TemplateSpec, other: TemplateSpec) -> bool:
    """Whether the two make the same graphs: the same slot and configuration, dropout (training only) aside."""
    def arch(cfg):
        return replace(cfg, dropout=0.0) if hasattr(cfg, "dropout") else cfg

    return spec.slot == other.slot and spec.low_res_size == other.low_res_size and arch(spec.cfg) == arch(other.cfg)
