"""validate_manifest: a manifest checked against docs/pack-manifest.schema.json (field by field, with jsonschema),
then against the rules that relate two fields, which a schema cannot state, and, given the pack folder, every file it
names (size and sha256). src/shared/manifestCheck.ts applies the same rules in the same order, so a pack the toolkit
writes is one the app accepts; tests/fixtures/manifests.json holds both to the same messages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

from .manifest_errors import need, schema_problem
from .pack_format import CLASSIFIER_FEATURES, MANIFEST_SCHEMA, ManifestError
from .respace import space_timesteps

_FIELDS = MANIFEST_SCHEMA["properties"]
# The limits the schema owns, for code that sizes things by them; and the one it cannot state (a product of fields).
IMAGENET_CLASSES = _FIELDS["labels"]["maxItems"]
MAX_IMAGE_SIZE = _FIELDS["imageSize"]["maximum"]
MAX_DIFFUSION_STEPS = MANIFEST_SCHEMA["definitions"]["diffusion"]["properties"]["diffusionSteps"]["maximum"]
MIN_REFERENCE_PER_LABEL = _FIELDS["referenceFeatures"]["properties"]["shape"]["items"][1]["minimum"]
MAX_REFERENCE_FEATURE_BYTES = 1 << 20  # referenceFeatures: a few hundred feature vectors, at most 1 MiB (float32)
MAX_JSON_VALUES = 10_000  # checked before the schema, whose errors are all listed (MANIFEST_LIMITS.maxJsonValues)
GRAPH_KEYS = ("unet", "unetFp16", "classifierGrad", "upsampler")


def _respacing_ok(steps: int, respacing: str, path: str) -> None:
    try:
        space_timesteps(steps, respacing)
    except ValueError as e:
        why = str(e)
        raise ManifestError(f"manifest.{path}: {why if len(why) <= 200 else why[:200] + '…'}") from None


def _external_data_names_ok(g: Dict, key: str) -> None:
    """A graph's external-data files are named once each and never as the graph itself."""
    seen = {g["file"]}
    for i, e in enumerate(g.get("externalData", [])):
        need(e["file"] not in seen, f"{key}.externalData[{i}].file", "a file named once in this graph entry", e["file"])
        seen.add(e["file"])


def _upsampler_ok(m: Dict) -> None:
    """The cascade's second stage against the base model (docs/pack-format.md, "Upsampler cascade")."""
    u = m.get("upsampler")
    if u is None:
        return
    size = m["imageSize"]
    need(u["lowResSize"] == size, "upsampler.lowResSize", f"the base model's imageSize ({size})", u["lowResSize"])
    need(u["imageSize"] > size, "upsampler.imageSize", f"an integer from {size + 1} to {MAX_IMAGE_SIZE}", u["imageSize"])
    _respacing_ok(u["diffusion"]["diffusionSteps"], u["sampling"]["timestepRespacing"],
                  "upsampler.sampling.timestepRespacing")


def _reference_features_ok(m: Dict) -> None:
    """Reference features: one block per label, within the size limit, beside a classifier that gives features."""
    r = m.get("referenceFeatures")
    if r is None:
        return
    labels, per_label, dim = len(m["labels"]), r["shape"][1], r["shape"][2]
    need(r["shape"][0] == labels, "referenceFeatures.shape",
         f"[{labels} (the labels), images per label (at least {MIN_REFERENCE_PER_LABEL}), feature size]", r["shape"])
    size = 4 * labels * per_label * dim
    need(size <= MAX_REFERENCE_FEATURE_BYTES, "referenceFeatures.shape",
         f"at most {MAX_REFERENCE_FEATURE_BYTES} bytes of float32", r["shape"])
    need(r["bytes"] == size, "referenceFeatures.bytes", f"4 x the shape's product ({size})", r["bytes"])
    T = m["diffusion"]["diffusionSteps"]
    need(r["timestep"] < T, "referenceFeatures.timestep", f"a timestep 0..{T - 1}", r["timestep"])
    g = m.get("classifierGrad")
    need(g is not None and CLASSIFIER_FEATURES in g["outputs"], "referenceFeatures",
         f'given only with a classifierGrad graph whose outputs include "{CLASSIFIER_FEATURES}"', r)


def _check_files(m: Dict, pack_dir: Path) -> None:
    from .pack_files import check_pack_file  # opened without following links, checked on the descriptor

    for key in GRAPH_KEYS:
        g = m.get(key)
        if g is None:
            continue
        check_pack_file(pack_dir, g, key)
        for i, e in enumerate(g.get("externalData", [])):
            check_pack_file(pack_dir, e, f"{key}.externalData[{i}]")
    if "referenceFeatures" in m:
        check_pack_file(pack_dir, m["referenceFeatures"], "referenceFeatures")


def validate_manifest(m: Dict, pack_dir: Optional[Union[str, Path]] = None) -> None:
    """Raise ManifestError naming the first bad field; with `pack_dir`, also check the files."""
    problem = schema_problem(m, MAX_JSON_VALUES)
    if problem is not None:
        raise ManifestError(problem)
    n, ul = len(m["labels"]), m["unconditionalLabel"]
    need(ul is None or ul >= n, "unconditionalLabel",
         f"null or a label from {n} to {IMAGENET_CLASSES} (outside the class labels 0..{n - 1})", ul)
    _respacing_ok(m["diffusion"]["diffusionSteps"], m["sampling"]["timestepRespacing"], "sampling.timestepRespacing")
    mode = m["sampling"].get("guidanceMode")
    need(mode in (None, "classifier") or (m["classCond"] and ul is not None), "sampling.guidanceMode",
         '"classifier" for a pack without unconditionalLabel', mode)
    for key in GRAPH_KEYS:
        if key in m:
            _external_data_names_ok(m[key], key)
    _upsampler_ok(m)
    _reference_features_ok(m)
    if pack_dir is not None:
        _check_files(m, Path(pack_dir))
