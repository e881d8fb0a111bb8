"""Write and read pack manifests (docs/pack-format.md, schema version 1); packs as a whole are adm.pack's.

The manifest's fields are docs/pack-manifest.schema.json's; `validate_manifest` (adm.manifest_check, re-exported here)
checks a manifest against it and the cross-field rules, as the app's parseManifest does, plus, given the pack folder,
that every named file exists with the recorded size and sha256. Builders validate what they build.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from .config import DiffusionConfig
from .manifest_check import IMAGENET_CLASSES, validate_manifest
from .pack_format import MANIFEST_SCHEMA, ManifestError
from .respace import space_timesteps

SCHEMA_VERSION = MANIFEST_SCHEMA["properties"]["schemaVersion"]["const"]
MANIFEST_NAME = "manifest.json"
IMAGENET_LABELS = list(range(IMAGENET_CLASSES))
MAX_MANIFEST_BYTES = 64 << 20  # a real manifest has a few KB (MANIFEST_LIMITS in src/shared/manifest.ts)
MAX_JSON_DEPTH = 64  # a real manifest nests 4 deep

PathLike = Union[str, Path]


def sha256_file(path: PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def graph_entry(path: PathLike, dtype: str, inputs: Sequence[str], outputs: Sequence[str]) -> Dict:
    """The manifest record of one ONNX file (name relative to the pack, byte size, sha256)."""
    p = Path(path)
    return {
        "file": p.name,
        "dtype": dtype,
        "bytes": p.stat().st_size,
        "sha256": sha256_file(p),
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def reference_features_entry(path: PathLike, shape: Sequence[int], timestep: int, source: str) -> Dict:
    """The referenceFeatures record of a float32 file of shape [labels, images per label, feature dim]."""
    p = Path(path)
    return {"file": p.name, "dtype": "float32", "shape": [int(v) for v in shape], "bytes": p.stat().st_size,
            "sha256": sha256_file(p), "timestep": int(timestep), "source": source}


def respacing_step_count(diffusion_steps: int, respacing: str) -> int:
    """How many sampling steps `respacing` ("", "250", "10,15,20", "ddimN") keeps out of `diffusion_steps`; ValueError
    when it is malformed or keeps none (adm.respace.space_timesteps is the parser)."""
    return len(space_timesteps(diffusion_steps, respacing))


def safe_name(text: str) -> str:
    """A folder-safe pack id from free text."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-._")
    return s or "pack"


def diffusion_fields(diffusion: DiffusionConfig) -> Dict:
    """The manifest's `diffusion` block (also an upsampler's)."""
    return {
        "noiseSchedule": diffusion.noise_schedule,
        "diffusionSteps": int(diffusion.diffusion_steps),
        "predictXstart": bool(diffusion.predict_xstart),
        "rescaleTimesteps": bool(diffusion.rescale_timesteps),
    }


def model_fields(*, image_size: int, learn_sigma: bool, class_cond: bool, unconditional_label: Optional[int],
                 labels: Sequence[int], diffusion: DiffusionConfig, classifier_scale: float, timestep_respacing: str,
                 use_ddim: bool, guidance_mode: Optional[str] = None, cfg_scale: Optional[float] = None) -> Dict:
    """The manifest's fields that follow from the U-Net and its sampling defaults: everything but the name, title,
    graphs, source and licence (build_manifest adds those; adm.templates stores these in a template)."""
    m: Dict = {
        "schemaVersion": SCHEMA_VERSION,
        "imageSize": int(image_size),
        "learnSigma": bool(learn_sigma),
        "classCond": bool(class_cond),
        "unconditionalLabel": None if unconditional_label is None else int(unconditional_label),
        "labels": [int(v) for v in labels],
        "diffusion": diffusion_fields(diffusion),
        "sampling": {
            "classifierScale": float(classifier_scale),
            "timestepRespacing": str(timestep_respacing),
            "useDdim": bool(use_ddim),
        },
    }
    if guidance_mode is not None:
        m["sampling"]["guidanceMode"] = str(guidance_mode)
    if cfg_scale is not None:
        m["sampling"]["cfgScale"] = float(cfg_scale)
    return m


def upsampler_fields(*, image_size: int, low_res_size: int, learn_sigma: bool, class_cond: bool,
                     diffusion: DiffusionConfig, timestep_respacing: str, use_ddim: bool) -> Dict:
    """The `upsampler` entry's fields other than its graph's (file, dtype, bytes, sha256, inputs, outputs)."""
    return {
        "imageSize": int(image_size), "lowResSize": int(low_res_size),
        "learnSigma": bool(learn_sigma), "classCond": bool(class_cond),
        "diffusion": diffusion_fields(diffusion),
        "sampling": {"timestepRespacing": str(timestep_respacing), "useDdim": bool(use_ddim)},
    }


def build_manifest(*, name: str, title: str, image_size: int, learn_sigma: bool, class_cond: bool,
                   unconditional_label: Optional[int], labels: Sequence[int], diffusion: DiffusionConfig,
                   classifier_scale: float, timestep_respacing: str, use_ddim: bool, unet: Dict,
                   unet_fp16: Optional[Dict] = None, classifier_grad: Optional[Dict] = None,
                   upsampler: Optional[Dict] = None,
                   source: str, license: str, guidance_mode: Optional[str] = None,
                   cfg_scale: Optional[float] = None, classifier_accuracy: Optional[Dict] = None,
                   training: Optional[Dict] = None, reference_features: Optional[Dict] = None) -> Dict:
    """The manifest dict (validated). guidance_mode / cfg_scale: optional recommended defaults (sampling.guidanceMode,
    sampling.cfgScale); left out when None, and then readers default to classifier guidance. classifier_accuracy:
    optional {"metric", "images", "top1ByT": {"lo-hi": fraction}} measured by adm.classifier_eval. training: optional
    {"unet" | "classifier": {"images", "steps", "minutes"}}, what each network was trained on in all (runs continued
    with --init-from included). reference_features: optional referenceFeatures entry (reference_features_entry)."""
    fields = model_fields(image_size=image_size, learn_sigma=learn_sigma, class_cond=class_cond,
                          unconditional_label=unconditional_label, labels=labels, diffusion=diffusion,
                          classifier_scale=classifier_scale, timestep_respacing=timestep_respacing, use_ddim=use_ddim,
                          guidance_mode=guidance_mode, cfg_scale=cfg_scale)
    return assemble_manifest(fields, name=name, title=title, unet=unet, unet_fp16=unet_fp16,
                             classifier_grad=classifier_grad, upsampler=upsampler, source=source, license=license,
                             classifier_accuracy=classifier_accuracy, training=training,
                             reference_features=reference_features)


def assemble_manifest(fields: Dict, *, name: str, title: str, unet: Dict, source: str, license: str,
                      unet_fp16: Optional[Dict] = None, classifier_grad: Optional[Dict] = None,
                      upsampler: Optional[Dict] = None, classifier_accuracy: Optional[Dict] = None,
                      training: Optional[Dict] = None, reference_features: Optional[Dict] = None) -> Dict:
    """model_fields' dict plus the name, title, graph entries and notes, in the manifest's key order (validated)."""
    m: Dict = {"schemaVersion": fields["schemaVersion"], "name": name, "title": title}
    m.update({k: v for k, v in fields.items() if k != "schemaVersion"})
    m["unet"] = unet
    for key, value in (("unetFp16", unet_fp16), ("classifierGrad", classifier_grad), ("upsampler", upsampler),
                       ("classifierAccuracy", classifier_accuracy), ("training", training),
                       ("referenceFeatures", reference_features)):
        if value is not None:
            m[key] = value
    m["source"] = source
    m["license"] = license
    validate_manifest(m)
    return m


def write_manifest(pack_dir: PathLike, manifest: Dict) -> Path:
    validate_manifest(manifest, pack_dir)
    path = Path(pack_dir) / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def read_manifest(pack_dir: PathLike, check_files: bool = True) -> Dict:
    """The validated manifest of `pack_dir` (with `check_files`, every listed file's size and sha256 too).
    manifest.json is read like the pack's other files: not through a symbolic link, at most MAX_MANIFEST_BYTES,
    JSON nested at most MAX_JSON_DEPTH deep (adm.json_limits)."""
    from .json_limits import JsonLimitError, loads_bounded
    from .pack_files import PackFileError, open_listed

    path = Path(pack_dir) / MANIFEST_NAME
    try:
        with open_listed(pack_dir, MANIFEST_NAME) as (f, st):
            if st.st_size > MAX_MANIFEST_BYTES:
                raise ManifestError(f"{path} has {st.st_size} bytes; a manifest may have at most {MAX_MANIFEST_BYTES}")
            raw = f.read(MAX_MANIFEST_BYTES + 1)
        m = loads_bounded(raw, MAX_MANIFEST_BYTES, MAX_JSON_DEPTH)
    except PackFileError as e:
        raise ManifestError(f"cannot read {path}: {e}") from None
    except JsonLimitError as e:
        raise ManifestError(f"cannot read {path}: {e}") from None
    validate_manifest(m, pack_dir if check_files else None)
    return m
