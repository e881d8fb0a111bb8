"""Optional guidance defaults in pack manifests (sampling.guidanceMode, sampling.cfgScale): written by build_manifest,
checked by validate_manifest with the same rules as src/shared/manifest.ts."""
from __future__ import annotations

import copy

import pytest

from conftest import REPO

from adm.manifest import ManifestError, read_manifest, validate_manifest

TINY16 = REPO / "public" / "models" / "tiny16"


def _with(base, **sampling):
    m = copy.deepcopy(base)
    m["sampling"].update(sampling)
    return m


def test_guidance_defaults_optional_and_checked():
    base = read_manifest(TINY16, check_files=False)
    assert "guidanceMode" not in base["sampling"]  # packs without them default to classifier guidance
    for mode in ("classifier", "cfg", "both"):
        validate_manifest(_with(base, guidanceMode=mode, cfgScale=3))
    for bad, message in [({"guidanceMode": "free"}, "sampling.guidanceMode"), ({"cfgScale": "3"}, "sampling.cfgScale"),
                         ({"cfgScale": float("nan")}, "sampling.cfgScale"), ({"cfgScale": True}, "sampling.cfgScale")]:
        with pytest.raises(ManifestError, match=message):
            validate_manifest(_with(base, **bad))
    no_null = _with(base, guidanceMode="cfg")
    no_null["unconditionalLabel"] = None
    with pytest.raises(ManifestError, match="without unconditionalLabel"):
        validate_manifest(no_null)


def test_build_manifest_writes_them_only_when_given():
    from adm.config import DiffusionConfig
    from adm.manifest import build_manifest

    base = read_manifest(TINY16, check_files=False)
    kw = dict(name="t", title="t", image_size=16, learn_sigma=True, class_cond=True, unconditional_label=10,
              labels=base["labels"], diffusion=DiffusionConfig(noise_schedule="cosine"), classifier_scale=1.0,
              timestep_respacing="ddim10", use_ddim=True, unet=base["unet"], source="s", license="l")
    assert set(build_manifest(**kw)["sampling"]) == {"classifierScale", "timestepRespacing", "useDdim"}
    s = build_manifest(**kw, guidance_mode="both", cfg_scale=2)["sampling"]
    assert s["guidanceMode"] == "both" and s["cfgScale"] == 2.0
    with pytest.raises(ManifestError, match="without unconditionalLabel"):
        build_manifest(**dict(kw, unconditional_label=None), guidance_mode="cfg")
