"""Facts of the pack format (docs/pack-format.md) that the modules writing, exporting, reading and checking packs
all use: the error a bad pack raises, the rule for file names inside a pack, the graphs' input and output names and
the guidance modes. A leaf: it imports nothing from adm, so adm.manifest, adm.pack, adm.pack_files and adm.export
can all build on it without importing one another in a circle. The TypeScript owner of the same facts is
src/shared/manifest.ts (GRAPH_IO, GUIDANCE_MODES, PACK_FILE_NAME); tests/fixtures/pack-format-names.json holds
both to one list.
"""
from __future__ import annotations

import re
from typing import Tuple

# Pack names and pack file names: PACK_FILE_NAME in src/shared/manifest.ts. Always used with fullmatch (a "$" would let
# a trailing newline through).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_FILE_NAME_LENGTH = 200

# What steers sampling; classifier-free ("cfg", "both") needs an unconditionalLabel.
GUIDANCE_MODES: Tuple[str, ...] = ("classifier", "cfg", "both")


class ManifestError(ValueError):
    pass


def plain_file_name(name) -> bool:
    """A name the app will fetch from inside the pack folder: letters, digits, . _ - only, not starting with . _ or -,
    no "..", at most 200 characters (so no path, scheme, query, fragment, %-escape or control character)."""
    return (isinstance(name, str) and NAME_RE.fullmatch(name) is not None and ".." not in name
            and len(name) <= MAX_FILE_NAME_LENGTH)


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
