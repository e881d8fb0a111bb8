"""The fixtures the TypeScript side is held to as well (tests/unit/diffusion/respace.test.ts,
tests/unit/app/sharedFixtures.test.ts): respacing strings with the steps they keep or the message that refuses them,
and the pack format's names (guidance modes, graph I/O). A language that drifts from the other fails here or there."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from adm import pack_format
from adm.respace import space_timesteps
from adm.manifest import ManifestError, respacing_step_count, validate_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RESPACING = json.loads((FIXTURES / "respacing.json").read_text(encoding="utf-8"))
NAMES = json.loads((FIXTURES / "pack-format-names.json").read_text(encoding="utf-8"))

_GRAPH = {"dtype": "float32", "bytes": 1, "sha256": "ab" * 32}
MANIFEST = {
    "schemaVersion": 1, "name": "fixture", "title": "Fixture", "imageSize": 16, "learnSigma": True, "classCond": True,
    "unconditionalLabel": 2, "labels": [0, 217],
    "diffusion": {"noiseSchedule": "cosine", "diffusionSteps": 1000, "predictXstart": False, "rescaleTimesteps": False},
    "sampling": {"classifierScale": 1.0, "timestepRespacing": "ddim10", "useDdim": True},
    "unet": {"file": "unet.onnx", "inputs": ["x", "timesteps", "y"], "outputs": ["model_output"], **_GRAPH},
    "source": "test", "license": "test",
}


def _case_id(c) -> str:
    return f'{c["diffusionSteps"]}:{c["respacing"]!r}'


def _with_respacing(steps: int, respacing: str) -> dict:
    m = copy.deepcopy(MANIFEST)
    m["diffusion"]["diffusionSteps"], m["sampling"]["timestepRespacing"] = steps, respacing
    return m


@pytest.mark.parametrize("case", RESPACING["accepted"], ids=_case_id)
def test_accepted_respacing(case):
    T, spec = case["diffusionSteps"], case["respacing"]
    assert sorted(space_timesteps(T, spec)) == case["steps"]
    assert respacing_step_count(T, spec) == len(case["steps"])
    if spec != "":  # the manifest wants a non-empty string before it asks the parser
        validate_manifest(_with_respacing(T, spec))


@pytest.mark.parametrize("case", RESPACING["rejected"], ids=_case_id)
def test_rejected_respacing(case):
    T, spec, message = case["diffusionSteps"], case["respacing"], case["message"]
    with pytest.raises(ValueError) as e:
        space_timesteps(T, spec)
    assert message in str(e.value)
    with pytest.raises(ValueError) as e:
        respacing_step_count(T, spec)
    assert message in str(e.value)
    if T >= 1:
        with pytest.raises(ManifestError) as e:
            validate_manifest(_with_respacing(T, spec))
        assert f"manifest.sampling.timestepRespacing: {message}" in str(e.value)


def test_guidance_modes():
    assert list(pack_format.GUIDANCE_MODES) == NAMES["guidanceModes"]


def test_graph_io_names():
    f = pack_format
    spelled = {
        "unet": (f.unet_inputs(True), f.unet_inputs(False), f.UNET_OUTPUTS, ()),
        "classifierGrad": (f.CLASSIFIER_GRAD_INPUTS, f.CLASSIFIER_GRAD_INPUTS, f.CLASSIFIER_GRAD_OUTPUTS,
                           (f.CLASSIFIER_FEATURES,)),
        "upsampler": (f.upsampler_inputs(True), f.upsampler_inputs(False), f.UNET_OUTPUTS, ()),
    }
    assert set(spelled) == set(NAMES["graphs"])
    for kind, (cond, uncond, outputs, optional) in spelled.items():
        g = NAMES["graphs"][kind]
        assert [list(cond), list(uncond), list(outputs), list(optional)] == [
            g["inputs"]["classCond"], g["inputs"]["unconditional"], g["outputs"], g["optionalOutputs"]], kind
