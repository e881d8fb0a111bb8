"""Our modules' state_dict keys and shapes equal every released guided-diffusion checkpoint's.

The reference lists (official-keys/*.keys.txt, one `key<TAB>(shape)` per line) were produced from the
official code with the README flags; they live in ../shared/reference/official-keys beside the clone (or
ADM_OFFICIAL_KEYS), and a missing list is a failure, not a skip. Models are built on the meta device from
our presets, so this is fast and allocates nothing.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import official_keys_dir

from adm.presets import OFFICIAL_STEMS, build_model, official_checkpoint_config

KEYS_DIR = official_keys_dir()
MISSING = (f"official key lists not found at {KEYS_DIR}: these tests need the shared reference data "
           "(../shared/reference/official-keys beside the clone, or set ADM_OFFICIAL_KEYS)")


def read_keys(path: Path):
    out = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        key, shape = line.split("\t")
        out[key.strip()] = tuple(ast.literal_eval(shape.strip()))
    return out


def test_reference_files_present():
    assert KEYS_DIR.is_dir(), MISSING
    key_files = sorted(KEYS_DIR.glob("*.keys.txt"))
    stems = {p.name[: -len(".keys.txt")] for p in key_files}
    assert len(key_files) == 12, stems
    assert stems == set(OFFICIAL_STEMS)


@pytest.mark.parametrize("stem", OFFICIAL_STEMS)
def test_keys_and_shapes_match_official(stem: str):
    path = KEYS_DIR / f"{stem}.keys.txt"
    assert path.is_file(), f"{path} is missing. {MISSING}"
    kind, cfg = official_checkpoint_config(stem)
    model = build_model(kind, cfg, init="meta")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ref = read_keys(path)
    missing = sorted(set(ref) - set(ours))
    unexpected = sorted(set(ours) - set(ref))
    assert not missing and not unexpected, f"{stem}: missing {missing[:5]}, unexpected {unexpected[:5]}"
    bad = [(k, ours[k], ref[k]) for k in ref if ours[k] != ref[k]]
    assert not bad, f"{stem}: shape mismatches (key, ours, official): {bad[:5]}"
    # order matters for nothing, but the official files list keys in state_dict order: check it too
    assert list(ours) == list(ref), f"{stem}: same keys, different order"


def test_superres_forward():
    """SuperResModel: noisy image + bilinearly upsampled low-res image (6 input channels)."""
    import torch
    import torch.nn.functional as F

    from adm.config import UNetConfig
    from adm.superres import SuperResModel

    torch.manual_seed(0)
    cfg = UNetConfig(image_size=16, in_channels=6, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                     attention_resolutions=(2,), num_classes=5, num_head_channels=32)
    m = SuperResModel(cfg).eval()
    x, low = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 8, 8)
    t, y = torch.tensor([3.0, 700.0]), torch.tensor([1, 4])
    with torch.no_grad():
        out = m(x, t, low, y)
        ref = super(SuperResModel, m).forward(
            torch.cat([x, F.interpolate(low, (16, 16), mode="bilinear", align_corners=False)], 1), t, y)
    assert out.shape == (2, 6, 16, 16) and torch.equal(out, ref)
