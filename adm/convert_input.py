"""The checkpoints convert reads: official-format state dicts, loaded without running code (adm.checkpoint_io) and
checked against the architecture their flags describe, every refusal one ConvertError paragraph naming the file."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import torch

from .checkpoint_io import CheckpointError, UnsafeCheckpointError
from .checkpoint_io import load_checkpoint as read_checkpoint_file
from .presets import OFFICIAL_STEMS, build_model, official_checkpoint_config

WRAPPER_KEYS = ("state_dict", "model")


class ConvertError(Exception):
    """A user-facing error: printed as one paragraph, exit code 2."""


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
