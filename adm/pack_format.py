"""Facts of the pack format (docs/pack-format.md) that the modules writing, exporting, reading and checking packs
all use: the manifest schema (docs/pack-manifest.schema.json, the contract of record), the error a bad pack raises,
the rule for file names inside a pack, the graphs' input and output names and the guidance modes. A leaf: it imports
nothing from adm, so adm.manifest, adm.pack, adm.pack_files and adm.export can all build on it without importing one
another in a circle. The TypeScript owner of the same facts is src/shared/manifest.ts (GRAPH_IO, GUIDANCE_MODES);
tests/fixtures/pack-format-names.json holds both, and the schema, to one list.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Tuple

MANIFEST_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "pack-manifest.schema.json"
MANIFEST_SCHEMA = json.loads(MANIFEST_SCHEMA_PATH.read_text(encoding="utf-8"))

# The schema's file-name rule (definitions.fileName): a pattern for re.search, as JSON Schema validators use it.
_FILE_NAME = MANIFEST_SCHEMA["definitions"]["fileName"]
_FILE_NAME_RE = re.compile(_FILE_NAME["pattern"])
MAX_FILE_NAME_LENGTH: int = _FILE_NAME["maxLength"]

# What steers sampling; classifier-free ("cfg", "both") needs an unconditionalLabel.
GUIDANCE_MODES: Tuple[str, ...] = tuple(MANIFEST_SCHEMA["properties"]["sampling"]["properties"]["guidanceMode"]["enum"])


class ManifestError(ValueError):
    pass


def plain_file_name(name) -> bool:
    """A name the app will fetch from inside the pack folder: letters, digits, . _ - only, not starting with . _ or -,
    no "..", at most 200 characters (so no path, scheme, query, fragment, %-escape or control character)."""
    return isinstance(name, str) and _FILE_NAME_RE.search(name) is not None and len(name) <= MAX_FILE_NAME_LENGTH


# --- the graphs' I/O names ----------------------------------------------------------------------------------------

UNET_OUTPUTS: Tuple[str, ...] = ("model_output",)
CLASSIFIER_GRAD_INPUTS: Tuple[str, ...] = ("x", "timesteps", "y")
CLASSIFIER_GRAD_OUTPUTS: Tuple[str, ...] = ("grad", "logp", "logits")
# The classifier's penultimate features [N, C], an output the graphs exported since have beside the three a
# classifier-gradient graph must give; a pack's reference features (manifest referenceFeatures) are its values.
CLASSIFIER_FEATURES = "features"


def unet_inputs(class_cond: bool) -> Tuple[str, ...]:
    """x [N,3,H,W] float32, timesteps [N] float32, and y [N] int64 only for a class-conditional U-Net."""
    return ("x", "timesteps", "y") if class_cond else ("x", "timesteps")


def upsampler_inputs(class_cond: bool) -> Tuple[str, ...]:
    """x [N,3,H,W] (noisy high-resolution image), timesteps [N], low_res [N,3,h,w] (the base model's sample, in
    [-1, 1]) float32, and y [N] int64 only for a class-conditional upsampler."""
    return ("x", "timesteps", "low_res", "y") if class_cond else ("x", "timesteps", "low_res")
