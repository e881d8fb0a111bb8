"""The shipped templates (public/templates) are what `npm run template -- --shipped` writes, and they fit the released
checkpoints.

Regenerating all eleven full-size templates takes far too long for this suite on 2 cores (the 64x64 classifier's
gradient graph alone takes minutes in torch's exporter), so the check is split: (1) every file's bytes and sha256
are the ones the CLI recorded in index.json when it wrote them; (2) the generator recorded there (a digest of the
syntax trees of every toolkit module that decides a template's bytes, and the torch and onnx versions) is this
checkout's, so the CLI would write them again; (3) generation is deterministic and independent of the weights
(tests/python/test_templates.py, on narrowed configurations through the same code); (4) every template.json but its
graph hashes is re-derived here from the released flags (keys, manifest, the data files' tensor plans), which takes
seconds. Together: the shipped files are the CLI's output. `npm run template -- --check` regenerates them all and
compares bytes (the full check, minutes to an hour on 2 cores).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from conftest import REPO, official_keys_dir, run_ort
from test_official_keys import read_keys
from test_templates import _check_structure, _fill, _rel

from adm.cli_safety import MARKER_NAME
from adm.export import external_data_file
from adm.manifest import sha256_file
from adm.presets import PRESETS, build_model, randomize_zero_init
from adm.reference_features import penultimate_features
from adm.template_index import GENERATOR_MODULES, SHIPPED, generator_fingerprint, read_index
from adm.template_graph import weight_keys
from adm.template_layout import externalize
from adm.templates import (DATA_ALIGN, DATA_FILE_BYTES, GRAPHS, SHIPPED_STEMS, TEMPLATE_FILE, blank_model, keys_sha256,
                           official_spec, read_template)

BUDGET_BYTES = 12_000_000
REGENERATE = "run `npm run template -- --shipped` to regenerate them (and `npm run template -- --check` to compare)"


@pytest.fixture(scope="module")
def index():
    return read_index()


def test_every_shipped_template_is_indexed_with_its_files(index):
    assert [t["stem"] for t in index["templates"]] == list(SHIPPED_STEMS)
    for item in index["templates"]:
        folder = SHIPPED / item["dir"]
        # besides the files index.json lists, only the marker of the CLI's output folders (adm.cli_safety)
        assert sorted(p.name for p in folder.iterdir()) == sorted([*item["files"], MARKER_NAME]), item["stem"]
        for name, f in item["files"].items():
            assert (folder / name).stat().st_size == f["bytes"] and sha256_file(folder / name) == f["sha256"], \
                f"{item['stem']}/{name} is not the file the template CLI wrote; {REGENERATE}"
        t = read_template(folder)  # graph files against template.json
        assert t["stem"] == item["stem"] and t["slot"] == item["slot"] and t["title"] == item["title"]
        assert item["keysSha256"] == keys_sha256(t["keys"])


def test_generated_by_this_toolkit(index):
    assert index["generator"] == generator_fingerprint(), (
        f"public/templates were made by other code than this checkout's (or another torch/onnx); {REGENERATE}")


def test_generator_modules_are_complete():
    """Every toolkit module a template's bytes can depend on is in the fingerprint."""
    code = "import sys, adm.templates; print(' '.join(m for m in sys.modules if m.startswith('adm.')))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert set(loaded.stdout.split()) | {"adm.superres"} == set(GENERATOR_MODULES)


def test_budget(index):
    total = sum(f["bytes"] for t in index["templates"] for f in t["files"].values())
    total += (SHIPPED / "index.json").stat().st_size
    assert total <= BUDGET_BYTES, f"shipped templates take {total} bytes, over the {BUDGET_BYTES} budget"


@pytest.mark.parametrize("stem", SHIPPED_STEMS)
def test_template_fits_the_released_checkpoint(stem):
    """Keys, shapes and order are the released file's; each key is one external initializer at its planned offset."""
    folder = SHIPPED / stem
    t = _check_structure(folder)
    ref = read_keys(official_keys_dir() / f"{stem}.keys.txt")
    assert [k for k, _, _ in t["keys"]] == list(ref)
    assert all(tuple(shape) == ref[k] and dt == "float32" for k, dt, shape in t["keys"])
    assert t["parameters"] == sum(int(np.prod(s)) for s in ref.values())
    spec = official_spec(stem)
    assert t["flags"] == spec.flags and t["title"] == spec.title and t["manifest"] == spec.manifest
    assert [g["file"] for g in t["graphs"]] == {
        "unet": ["unet.onnx", "unet.fp16.onnx"], "classifier": ["classifier_grad.onnx"],
        "upsampler": ["upsampler.onnx", "upsampler.fp16.onnx"]}[t["slot"]]
    if t["slot"] == "unet":  # the README's recommended classifier scale
        preset = next(p for p in PRESETS.values() if p.extra.get("model_flags") == t["flags"])
        assert t["manifest"]["sampling"]["classifierScale"] == preset.classifier_scale
    assert (folder / TEMPLATE_FILE).is_file()


def _replanned(keys, shapes, graph_file, stored):
    """adm.template_layout.externalize's plan for a graph that reads every key, stored as `stored` says."""
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", [k], [f"o{i}"]) for i, k in enumerate(keys)], "g",
        [onnx.helper.make_tensor_value_info(k, stored[k], shapes[k]) for k in keys], [])
    return externalize(onnx.helper.make_model(g), keys, shapes, stored, external_data_file(graph_file).name,
                       DATA_FILE_BYTES, DATA_ALIGN)


@pytest.mark.parametrize("stem", SHIPPED_STEMS)
def test_template_json_is_rederived(stem):
    """template.json is what this toolkit derives from the released flags (make_template without the trace): title,
    slot, sizes, flags, keys and shapes of the blank network, parameter count, manifest fields, graph files in
    order, and every data file's tensor plan (offsets, 64-byte alignment, 1 GiB split) re-planned by
    adm.template_layout from the keys and each key's stored dtype in the shipped graph. The graphs' own bytes are
    the fingerprinted generator's (test_generated_by_this_toolkit); tracing them again takes minutes per network."""
    folder = SHIPPED / stem
    t = read_template(folder)
    spec = official_spec(stem)
    model = blank_model(spec)
    keys = weight_keys(model)
    shapes = {k: [int(d) for d in p.shape] for k, p in model.named_parameters()}
    expected = {"format": "adm-graph-template", "version": 1, "stem": stem, "title": spec.title, "slot": spec.slot,
                "imageSize": spec.cfg.image_size,
                **({"lowResSize": spec.low_res_size} if spec.low_res_size else {}),
                "parameters": sum(int(np.prod(s)) for s in shapes.values()), "flags": spec.flags,
                "keys": [[k, "float32", shapes[k]] for k in keys], "manifest": spec.manifest}
    assert {k: v for k, v in t.items() if k != "graphs"} == expected
    assert [(g["manifestKey"], g["file"], g["dtype"]) for g in t["graphs"]] == [
        (key, file, "float16" if fp16 else "float32") for key, file, fp16 in GRAPHS[spec.slot]]
    for g in t["graphs"]:
        proto = onnx.load(str(folder / g["file"]), load_external_data=False)
        stored = {i.name: i.data_type for i in proto.graph.initializer if i.name in shapes}
        assert g["externalData"] == _replanned(keys, shapes, g["file"], stored), f"{stem}/{g['file']}"


def test_full_size_classifier_gradient_filled_with_random_weights(tmp_path, need_ort):
    """The released 64x64 classifier's template, filled with random weights, against torch.autograd (and its logits
    and penultimate features against the forward pass)."""
    spec = official_spec("64x64_classifier")
    torch.manual_seed(0)
    model = randomize_zero_init(build_model("classifier", spec.cfg), seed=0, std=0.02).eval()
    _fill(SHIPPED / "64x64_classifier", model.state_dict(), tmp_path / "p")
    g = torch.Generator().manual_seed(1)
    x, t, y = torch.randn(1, 3, 64, 64, generator=g), torch.tensor([300.0]), torch.tensor([207])
    xg = x.clone().requires_grad_(True)
    logp = torch.log_softmax(model(xg, t), dim=-1)[0, y[0]]
    (grad,) = torch.autograd.grad(logp, xg)
    out = run_ort(tmp_path / "p" / "classifier_grad.onnx", [{"x": x.numpy(), "timesteps": t.numpy(),
                                                             "y": y.numpy()}], tmp_path)[0]
    assert _rel(out["grad"], grad.numpy()) <= 1e-3
    assert abs(float(out["logp"][0]) - float(logp)) <= 1e-4
    with torch.no_grad():
        assert _rel(out["logits"], model(x, t).numpy()) <= 1e-4
        assert _rel(out["features"], penultimate_features(model, x, t).numpy()) <= 1e-4


def test_convert_finds_the_shipped_template_of_a_network():
    """convert's lookup: by network, so the released flags, LSUN's (the 256x256 unconditional network) and flags that
    differ in dropout only find a shipped template; other networks find none."""
    from adm.presets import MODEL_FLAGS
    from adm.template_index import shipped_template
    from adm.templates import spec_from_flags

    for stem in SHIPPED_STEMS:
        assert shipped_template(official_spec(stem)) == SHIPPED / stem
    assert shipped_template(official_spec("lsun_256")) == SHIPPED / "256x256_diffusion_uncond"
    flags = MODEL_FLAGS["64x64_diffusion"].replace("--dropout 0.1", "--dropout 0.3")
    assert shipped_template(spec_from_flags("unet", flags)) == SHIPPED / "64x64_diffusion"
    assert shipped_template(spec_from_flags("unet", flags.replace("--num_res_blocks 3", "--num_res_blocks 2"))) is None
    assert shipped_template(spec_from_flags("classifier", "--classifier_depth 3", image_size=64)) is None
