"""Write and check pack manifests (docs/pack-format.md, schema version 1); packs as a whole are adm.pack's.

The browser validates manifests with src/shared/manifest.ts; `validate_manifest` here applies the same
rules (plus, given the pack folder, that every named file exists with the recorded size and sha256),
so a pack the Python toolkit writes is one the app accepts. The graphs' I/O names, the file-name rule and the
guidance modes it checks are adm.pack_format's.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from .config import DiffusionConfig
from .pack_format import (CLASSIFIER_FEATURES, CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS, GUIDANCE_MODES, NAME_RE,
                          UNET_OUTPUTS, ManifestError, plain_file_name, unet_inputs, upsampler_inputs)
from .respace import space_timesteps

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
IMAGENET_LABELS = list(range(1000))
# MANIFEST_LIMITS in src/shared/manifest.ts
IMAGENET_CLASSES = 1000
MAX_IMAGE_SIZE = 1024
MAX_DIFFUSION_STEPS = 10000
MAX_EXTERNAL_DATA_FILES = 16
MAX_MANIFEST_BYTES = 64 << 20  # a real manifest has a few KB
MAX_JSON_DEPTH = 64  # a real manifest nests 4 deep
MAX_REFERENCE_FEATURE_BYTES = 1 << 20  # referenceFeatures: a few hundred feature vectors, at most 1 MiB
MIN_REFERENCE_PER_LABEL = 4  # precision/recall's k = 3 needs more than 3 points per set

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


# --- validation (same rules as src/shared/manifest.ts, plus file checks) ------------------------------------

def _show(value) -> str:
    if isinstance(value, float) and math.isinf(value):  # e.g. 1e309: JSON allows it, a float64 cannot hold it
        return f"{'-' if value < 0 else ''}Infinity (the number is too large for a 64-bit float)"
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except RecursionError:
            text = "a value nested too deeply to show"
    return text if len(text) <= 200 else text[:197] + "..."


def _need(ok: bool, path: str, what: str, value) -> None:
    if not ok:
        raise ManifestError(f"manifest.{path} must be {what} (got {_show(value)})")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _graph(m: Dict, key: str, required_in: Sequence[str], required_out: Sequence[str],
           pack_dir: Optional[Path]) -> None:
    g = m.get(key)
    _need(isinstance(g, dict), key, "an object", g)
    f = g.get("file")
    _need(isinstance(f, str) and f != "", f"{key}.file", "a non-empty string", f)
    _need(plain_file_name(f), f"{key}.file", 'a plain file name inside the pack (letters, digits, . _ -; no "..")', f)
    _need(g.get("dtype") in ("float32", "float16"), f"{key}.dtype", '"float32" or "float16"', g.get("dtype"))
    sha = g.get("sha256")
    _need(isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) is not None, f"{key}.sha256",
          "64 lowercase hex digits", sha)
    for field in ("inputs", "outputs"):
        v = g.get(field)
        _need(isinstance(v, list) and all(isinstance(s, str) for s in v), f"{key}.{field}", "a list of strings", v)
    for name in required_in:
        _need(name in g["inputs"], f"{key}.inputs", f'a list containing "{name}"', g["inputs"])
    for name in required_out:
        _need(name in g["outputs"], f"{key}.outputs", f'a list containing "{name}"', g["outputs"])
    _need(_is_int(g.get("bytes")) and g["bytes"] > 0, f"{key}.bytes", "a positive integer", g.get("bytes"))
    _check_file(pack_dir, key, f, g["bytes"], sha)
    if "externalData" in g:
        _external_data(g["externalData"], key, f, pack_dir)


def _check_file(pack_dir: Optional[Path], key: str, f: str, size_wanted: int, sha: str) -> None:
    if pack_dir is not None:
        from .pack_files import check_pack_file  # opened without following links, checked on the descriptor

        check_pack_file(pack_dir, {"file": f, "bytes": size_wanted, "sha256": sha}, key)


def _external_data(ext, key: str, graph_file: str, pack_dir: Optional[Path]) -> None:
    """A graph's ONNX external-data files: [{file, bytes, sha256}], 1..MAX_EXTERNAL_DATA_FILES plain names beside
    the graph, distinct from each other and from the graph file (src/shared/manifest.ts: externalData)."""
    _need(isinstance(ext, list) and 0 < len(ext) <= MAX_EXTERNAL_DATA_FILES, f"{key}.externalData",
          f"a list of 1 to {MAX_EXTERNAL_DATA_FILES} files", ext)
    seen = {graph_file}
    for i, e in enumerate(ext):
        at = f"{key}.externalData[{i}]"
        _need(isinstance(e, dict), at, "an object", e)
        f = e.get("file")
        _need(plain_file_name(f), f"{at}.file", 'a plain file name inside the pack (letters, digits, . _ -; no "..")', f)
        _need(f not in seen, f"{at}.file", "a file named once in this graph entry", f)
        seen.add(f)
        _need(_is_int(e.get("bytes")) and e["bytes"] > 0, f"{at}.bytes", "a positive integer", e.get("bytes"))
        sha = e.get("sha256")
        _need(isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) is not None, f"{at}.sha256",
              "64 lowercase hex digits", sha)
        _check_file(pack_dir, at, f, e["bytes"], sha)


def _diffusion_block(d, at: str) -> None:
    _need(isinstance(d, dict), at, "an object", d)
    _need(d.get("noiseSchedule") in ("linear", "cosine"), f"{at}.noiseSchedule", '"linear" or "cosine"',
          d.get("noiseSchedule"))
    _need(_is_int(d.get("diffusionSteps")) and d["diffusionSteps"] > 0, f"{at}.diffusionSteps",
          "a positive integer", d.get("diffusionSteps"))
    _need(d["diffusionSteps"] <= MAX_DIFFUSION_STEPS, f"{at}.diffusionSteps", f"at most {MAX_DIFFUSION_STEPS}",
          d["diffusionSteps"])
    for key in ("predictXstart", "rescaleTimesteps"):
        _need(isinstance(d.get(key), bool), f"{at}.{key}", "true or false", d.get(key))


def _upsampler(m: Dict, pack_dir: Optional[Path]) -> None:
    """The optional second stage (docs/pack-format.md, "Upsampler cascade"): a super-resolution U-Net that takes the
    base model's imageSize samples as low_res and has its own diffusion process and sampling defaults."""
    u = m.get("upsampler")
    _need(isinstance(u, dict), "upsampler", "an object", u)
    for key in ("learnSigma", "classCond"):
        _need(isinstance(u.get(key), bool), f"upsampler.{key}", "true or false", u.get(key))
    _need(_is_int(u.get("lowResSize")) and u["lowResSize"] == m["imageSize"], "upsampler.lowResSize",
          f"the base model's imageSize ({m['imageSize']})", u.get("lowResSize"))
    size = u.get("imageSize")
    _need(_is_int(size) and m["imageSize"] < size <= MAX_IMAGE_SIZE, "upsampler.imageSize",
          f"an integer from {m['imageSize'] + 1} to {MAX_IMAGE_SIZE}", size)
    _diffusion_block(u.get("diffusion"), "upsampler.diffusion")
    s = u.get("sampling")
    _need(isinstance(s, dict), "upsampler.sampling", "an object", s)
    _need(isinstance(s.get("timestepRespacing"), str) and s["timestepRespacing"] != "",
          "upsampler.sampling.timestepRespacing", "a non-empty string", s.get("timestepRespacing"))
    try:
        respacing_step_count(u["diffusion"]["diffusionSteps"], s["timestepRespacing"])
    except ValueError as e:
        raise ManifestError(f"manifest.upsampler.sampling.timestepRespacing: {e}") from None
    _need(isinstance(s.get("useDdim"), bool), "upsampler.sampling.useDdim", "true or false", s.get("useDdim"))
    _graph(m, "upsampler", upsampler_inputs(u["classCond"]), UNET_OUTPUTS, pack_dir)


def _classifier_accuracy(a) -> None:
    """Informational: the classifier's top-1 on noised val images per t bucket (apps may show it)."""
    _need(isinstance(a, dict), "classifierAccuracy", "an object", a)
    _need(isinstance(a.get("metric"), str) and a["metric"] != "", "classifierAccuracy.metric", "a non-empty string",
          a.get("metric"))
    _need(_is_int(a.get("images")) and a["images"] > 0, "classifierAccuracy.images", "a positive integer", a.get("images"))
    by_t = a.get("top1ByT")
    _need(isinstance(by_t, dict) and len(by_t) > 0, "classifierAccuracy.top1ByT", "a non-empty object", by_t)
    for k, v in by_t.items():
        _need(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1,
              f"classifierAccuracy.top1ByT.{k}", "a fraction in [0, 1]", v)


TRAINED_NETWORKS = ("unet", "classifier")


def _training(t) -> None:
    """Informational: per network, the images, optimizer steps and minutes of training in all (adm.train with
    --init-from carries a pack's totals forward)."""
    _need(isinstance(t, dict) and len(t) > 0 and all(k in TRAINED_NETWORKS for k in t), "training",
          f"an object with keys among {', '.join(TRAINED_NETWORKS)}", t)
    for k, v in t.items():
        _need(isinstance(v, dict), f"training.{k}", "an object", v)
        for f in ("images", "steps"):
            _need(_is_int(v.get(f)) and v[f] >= 0, f"training.{k}.{f}", "a non-negative integer", v.get(f))
        minutes = v.get("minutes")
        _need(isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and math.isfinite(minutes)
              and minutes >= 0, f"training.{k}.minutes", "a non-negative number", minutes)


def _reference_features(m: Dict, pack_dir: Optional[Path]) -> None:
    """The classifier's penultimate features of real images per label (src/shared/manifest.ts: referenceFeatures):
    float32 [labels, images per label, dim], little-endian, in label order; needs a gradient graph with "features"."""
    r = m["referenceFeatures"]
    _need(isinstance(r, dict), "referenceFeatures", "an object", r)
    f = r.get("file")
    _need(isinstance(f, str) and plain_file_name(f), "referenceFeatures.file",
          'a plain file name inside the pack (letters, digits, . _ -; no "..")', f)
    _need(r.get("dtype") == "float32", "referenceFeatures.dtype", '"float32"', r.get("dtype"))
    shape = r.get("shape")
    n_labels = len(m["labels"])
    _need(isinstance(shape, list) and len(shape) == 3 and all(_is_int(v) for v in shape) and shape[0] == n_labels
          and shape[1] >= MIN_REFERENCE_PER_LABEL and shape[2] >= 1, "referenceFeatures.shape",
          f"[{n_labels} (the labels), images per label (at least {MIN_REFERENCE_PER_LABEL}), feature size]", shape)
    size = 4 * shape[0] * shape[1] * shape[2]
    _need(size <= MAX_REFERENCE_FEATURE_BYTES, "referenceFeatures.shape", f"at most {MAX_REFERENCE_FEATURE_BYTES} bytes "
          "of float32", shape)
    _need(r.get("bytes") == size and _is_int(r.get("bytes")), "referenceFeatures.bytes", f"4 x the shape's product ({size})",
          r.get("bytes"))
    sha = r.get("sha256")
    _need(isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) is not None, "referenceFeatures.sha256",
          "64 lowercase hex digits", sha)
    t = r.get("timestep")
    _need(_is_int(t) and 0 <= t < m["diffusion"]["diffusionSteps"], "referenceFeatures.timestep",
          f"a timestep 0..{m['diffusion']['diffusionSteps'] - 1}", t)
    g = m.get("classifierGrad")
    _need(isinstance(g, dict) and CLASSIFIER_FEATURES in g["outputs"], "referenceFeatures",
          f'given only with a classifierGrad graph whose outputs include "{CLASSIFIER_FEATURES}"', r)
    _check_file(pack_dir, "referenceFeatures", f, size, sha)


def validate_manifest(m: Dict, pack_dir: Optional[PathLike] = None) -> None:
    """Raise ManifestError naming the first bad field; with `pack_dir`, also check the files."""
    _need(isinstance(m, dict), "", "a JSON object", m)
    _need(m.get("schemaVersion") == SCHEMA_VERSION, "schemaVersion", str(SCHEMA_VERSION), m.get("schemaVersion"))
    for key in ("name", "title", "source", "license"):
        _need(isinstance(m.get(key), str) and m[key] != "", key, "a non-empty string", m.get(key))
    _need(NAME_RE.fullmatch(m["name"]) is not None, "name", "folder-safe (letters, digits, . _ -)", m["name"])
    _need(_is_int(m.get("imageSize")) and m["imageSize"] > 0, "imageSize", "a positive integer", m.get("imageSize"))
    _need(m["imageSize"] <= MAX_IMAGE_SIZE, "imageSize", f"at most {MAX_IMAGE_SIZE}", m["imageSize"])
    for key in ("learnSigma", "classCond"):
        _need(isinstance(m.get(key), bool), key, "true or false", m.get(key))
    labels = m.get("labels")
    K = IMAGENET_CLASSES
    _need(isinstance(labels, list) and 0 < len(labels) <= K, "labels",
          f"a non-empty list of at most {K} ImageNet indices", labels)
    for i, v in enumerate(labels):
        _need(_is_int(v) and 0 <= v < K, f"labels[{i}]", f"an ImageNet index 0..{K - 1}", v)
    _need(len(set(labels)) == len(labels), "labels", "unique (each ImageNet class at most once)", labels)
    # unconditionalLabel is a model label (the U-Net's "no class" y): outside the class labels 0..len(labels)-1 and
    # inside a label space of at most 1000 classes + 1.
    ul = m.get("unconditionalLabel", "missing")
    _need(ul is None or (_is_int(ul) and len(labels) <= ul <= K), "unconditionalLabel",
          f"null or a label from {len(labels)} to {K} (outside the class labels 0..{len(labels) - 1})", ul)
    d = m.get("diffusion")
    _need(isinstance(d, dict), "diffusion", "an object", d)
    _need(d.get("noiseSchedule") in ("linear", "cosine"), "diffusion.noiseSchedule", '"linear" or "cosine"',
          d.get("noiseSchedule"))
    _need(_is_int(d.get("diffusionSteps")) and d["diffusionSteps"] > 0, "diffusion.diffusionSteps",
          "a positive integer", d.get("diffusionSteps"))
    _need(d["diffusionSteps"] <= MAX_DIFFUSION_STEPS, "diffusion.diffusionSteps", f"at most {MAX_DIFFUSION_STEPS}",
          d["diffusionSteps"])
    for key in ("predictXstart", "rescaleTimesteps"):
        _need(isinstance(d.get(key), bool), f"diffusion.{key}", "true or false", d.get(key))
    s = m.get("sampling")
    _need(isinstance(s, dict), "sampling", "an object", s)
    cs = s.get("classifierScale")
    _need(isinstance(cs, (int, float)) and not isinstance(cs, bool) and cs == cs and abs(cs) != float("inf"),
          "sampling.classifierScale", "a finite number", cs)
    _need(isinstance(s.get("timestepRespacing"), str) and s["timestepRespacing"] != "", "sampling.timestepRespacing",
          "a non-empty string", s.get("timestepRespacing"))
    try:
        respacing_step_count(d["diffusionSteps"], s["timestepRespacing"])
    except ValueError as e:
        raise ManifestError(f"manifest.sampling.timestepRespacing: {e}") from None
    _need(isinstance(s.get("useDdim"), bool), "sampling.useDdim", "true or false", s.get("useDdim"))
    if "guidanceMode" in s:
        gm = s["guidanceMode"]
        _need(gm in GUIDANCE_MODES, "sampling.guidanceMode", '"classifier", "cfg" or "both"', gm)
        _need(gm == "classifier" or (m["classCond"] and ul is not None), "sampling.guidanceMode",
              '"classifier" for a pack without unconditionalLabel', gm)
    if "cfgScale" in s:
        w = s["cfgScale"]
        _need(isinstance(w, (int, float)) and not isinstance(w, bool) and w == w and abs(w) != float("inf"),
              "sampling.cfgScale", "a finite number", w)
    if "classifierAccuracy" in m:
        _classifier_accuracy(m["classifierAccuracy"])
    if "training" in m:
        _training(m["training"])
    pd = Path(pack_dir) if pack_dir is not None else None
    unet_in = unet_inputs(m["classCond"])
    _graph(m, "unet", unet_in, UNET_OUTPUTS, pd)
    if "unetFp16" in m:
        _graph(m, "unetFp16", unet_in, UNET_OUTPUTS, pd)
    if "classifierGrad" in m:
        _graph(m, "classifierGrad", CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS, pd)
    if "upsampler" in m:
        _upsampler(m, pd)
    if "referenceFeatures" in m:
        _reference_features(m, pd)
