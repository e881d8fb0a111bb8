"""Write and check pack manifests (docs/pack-format.md, schema version 1).

The browser validates manifests with src/shared/manifest.ts; `validate_manifest` here applies the same
rules (plus, given the pack folder, that every named file exists with the recorded size and sha256),
so a pack the Python toolkit writes is one the app accepts.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from .config import DiffusionConfig

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
UNET_OUTPUTS = ["model_output"]
CLASSIFIER_GRAD_INPUTS = ["x", "timesteps", "y"]
CLASSIFIER_GRAD_OUTPUTS = ["grad", "logp", "logits"]
IMAGENET_LABELS = list(range(1000))
GUIDANCE_MODES = ("classifier", "cfg", "both")  # classifier-free ("cfg", "both") needs an unconditionalLabel
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

PathLike = Union[str, Path]


class ManifestError(ValueError):
    pass


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


def unet_inputs(class_cond: bool) -> List[str]:
    return ["x", "timesteps", "y"] if class_cond else ["x", "timesteps"]


def safe_name(text: str) -> str:
    """A folder-safe pack id from free text."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-._")
    return s or "pack"


def build_manifest(*, name: str, title: str, image_size: int, learn_sigma: bool, class_cond: bool,
                   unconditional_label: Optional[int], labels: Sequence[int], diffusion: DiffusionConfig,
                   classifier_scale: float, timestep_respacing: str, use_ddim: bool, unet: Dict,
                   unet_fp16: Optional[Dict] = None, classifier_grad: Optional[Dict] = None,
                   source: str, license: str, guidance_mode: Optional[str] = None,
                   cfg_scale: Optional[float] = None) -> Dict:
    """The manifest dict (validated). guidance_mode / cfg_scale: optional recommended defaults (sampling.guidanceMode,
    sampling.cfgScale); left out when None, and then readers default to classifier guidance."""
    m: Dict = {
        "schemaVersion": SCHEMA_VERSION,
        "name": name,
        "title": title,
        "imageSize": int(image_size),
        "learnSigma": bool(learn_sigma),
        "classCond": bool(class_cond),
        "unconditionalLabel": None if unconditional_label is None else int(unconditional_label),
        "labels": [int(v) for v in labels],
        "diffusion": {
            "noiseSchedule": diffusion.noise_schedule,
            "diffusionSteps": int(diffusion.diffusion_steps),
            "predictXstart": bool(diffusion.predict_xstart),
            "rescaleTimesteps": bool(diffusion.rescale_timesteps),
        },
        "sampling": {
            "classifierScale": float(classifier_scale),
            "timestepRespacing": str(timestep_respacing),
            "useDdim": bool(use_ddim),
        },
        "unet": unet,
    }
    if guidance_mode is not None:
        m["sampling"]["guidanceMode"] = str(guidance_mode)
    if cfg_scale is not None:
        m["sampling"]["cfgScale"] = float(cfg_scale)
    if unet_fp16 is not None:
        m["unetFp16"] = unet_fp16
    if classifier_grad is not None:
        m["classifierGrad"] = classifier_grad
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
    path = Path(pack_dir) / MANIFEST_NAME
    try:
        m = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ManifestError(f"cannot read {path}: {e}") from None
    validate_manifest(m, pack_dir if check_files else None)
    return m


# --- validation (same rules as src/shared/manifest.ts, plus file checks) ------------------------------------

def _need(ok: bool, path: str, what: str, value) -> None:
    if not ok:
        raise ManifestError(f"manifest.{path} must be {what} (got {json.dumps(value)})")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _graph(m: Dict, key: str, required_in: Sequence[str], required_out: Sequence[str],
           pack_dir: Optional[Path]) -> None:
    g = m.get(key)
    _need(isinstance(g, dict), key, "an object", g)
    f = g.get("file")
    _need(isinstance(f, str) and f != "", f"{key}.file", "a non-empty string", f)
    _need("/" not in f and "\\" not in f and not f.startswith("."), f"{key}.file", "a plain file name inside the pack", f)
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
    if pack_dir is not None:
        p = Path(pack_dir) / f
        _need(p.is_file(), f"{key}.file", f"an existing file in {pack_dir}", f)
        size = p.stat().st_size
        _need(size == g["bytes"], f"{key}.bytes", f"the file size ({size})", g["bytes"])
        digest = sha256_file(p)
        _need(digest == sha, f"{key}.sha256", f"the file's sha256 ({digest})", sha)


def validate_manifest(m: Dict, pack_dir: Optional[PathLike] = None) -> None:
    """Raise ManifestError naming the first bad field; with `pack_dir`, also check the files."""
    _need(isinstance(m, dict), "", "a JSON object", m)
    _need(m.get("schemaVersion") == SCHEMA_VERSION, "schemaVersion", str(SCHEMA_VERSION), m.get("schemaVersion"))
    for key in ("name", "title", "source", "license"):
        _need(isinstance(m.get(key), str) and m[key] != "", key, "a non-empty string", m.get(key))
    _need(_NAME_RE.match(m["name"]) is not None, "name", "folder-safe (letters, digits, . _ -)", m["name"])
    _need(_is_int(m.get("imageSize")) and m["imageSize"] > 0, "imageSize", "a positive integer", m.get("imageSize"))
    for key in ("learnSigma", "classCond"):
        _need(isinstance(m.get(key), bool), key, "true or false", m.get(key))
    labels = m.get("labels")
    _need(isinstance(labels, list) and len(labels) > 0 and all(_is_int(v) and 0 <= v < 1000 for v in labels),
          "labels", "a non-empty list of ImageNet indices 0..999", labels)
    ul = m.get("unconditionalLabel", "missing")
    _need(ul is None or (_is_int(ul) and ul >= 0), "unconditionalLabel", "null or a non-negative integer", ul)
    d = m.get("diffusion")
    _need(isinstance(d, dict), "diffusion", "an object", d)
    _need(d.get("noiseSchedule") in ("linear", "cosine"), "diffusion.noiseSchedule", '"linear" or "cosine"',
          d.get("noiseSchedule"))
    _need(_is_int(d.get("diffusionSteps")) and d["diffusionSteps"] > 0, "diffusion.diffusionSteps",
          "a positive integer", d.get("diffusionSteps"))
    for key in ("predictXstart", "rescaleTimesteps"):
        _need(isinstance(d.get(key), bool), f"diffusion.{key}", "true or false", d.get(key))
    s = m.get("sampling")
    _need(isinstance(s, dict), "sampling", "an object", s)
    cs = s.get("classifierScale")
    _need(isinstance(cs, (int, float)) and not isinstance(cs, bool) and cs == cs and abs(cs) != float("inf"),
          "sampling.classifierScale", "a finite number", cs)
    _need(isinstance(s.get("timestepRespacing"), str) and s["timestepRespacing"] != "", "sampling.timestepRespacing",
          "a non-empty string", s.get("timestepRespacing"))
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
    pd = Path(pack_dir) if pack_dir is not None else None
    unet_in = unet_inputs(m["classCond"])
    _graph(m, "unet", unet_in, UNET_OUTPUTS, pd)
    if "unetFp16" in m:
        _graph(m, "unetFp16", unet_in, UNET_OUTPUTS, pd)
    if "classifierGrad" in m:
        _graph(m, "classifierGrad", CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS, pd)
    # consistency beyond the TS checks
    if m["classCond"] and ul is not None:
        _need(ul >= len(labels), "unconditionalLabel", f"a label outside 0..{len(labels) - 1} (the class labels)", ul)
