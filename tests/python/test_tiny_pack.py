"""The committed browser test pack public/models/tiny16 is valid, reproducible and runs under ONNX Runtime."""
from __future__ import annotations

import numpy as np
import torch

from conftest import REPO, run_ort

from adm.export import WEBGPU_OPS, check_ops, op_counts
from adm.tiny_pack import IMAGENETTE_LABELS, build_models, make_pack
from adm.manifest import read_manifest

PACK = REPO / "public" / "models" / "tiny16"


def test_manifest_valid():
    m = read_manifest(PACK)  # fields + sizes + sha256
    assert m["name"] == "tiny16" and m["imageSize"] == 16
    assert m["labels"] == IMAGENETTE_LABELS and m["unconditionalLabel"] == 10
    assert m["classCond"] and m["learnSigma"] and m["diffusion"]["noiseSchedule"] == "cosine"
    assert {"unet", "unetFp16", "classifierGrad"} <= set(m)
    for key in ("unet", "unetFp16", "classifierGrad"):
        check_ops(PACK / m[key]["file"])
        assert not set(op_counts(PACK / m[key]["file"])) - WEBGPU_OPS


def test_reproducible(tmp_path):
    out = make_pack(tmp_path / "tiny16")
    for f in sorted(PACK.iterdir()):
        assert (out / f.name).read_bytes() == f.read_bytes(), (
            f"{f.name} differs from a fresh build: run `/usr/bin/python3 -m adm.cli.make_tiny_pack --out "
            "public/models/tiny16` and commit the result")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in PACK.iterdir())


def test_pack_runs(tmp_path, need_ort):
    m = read_manifest(PACK, check_files=False)
    unet, classifier = build_models()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 16, 16, generator=g)
    t = torch.tensor([999.0, 100.0])
    y = torch.tensor([10, 4])  # the null label and a class
    feeds = [{"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()}]
    with torch.no_grad():
        ref = unet(x, t, y).numpy()
    o32 = run_ort(PACK / m["unet"]["file"], feeds, tmp_path)[0]["model_output"]
    o16 = run_ort(PACK / m["unetFp16"]["file"], feeds, tmp_path)[0]["model_output"]
    scale = np.abs(ref).max()
    assert scale > 1e-3
    assert np.abs(o32 - ref).max() <= 1e-4 * scale
    assert np.abs(o16 - ref).max() <= 1e-2 * scale
    yc = torch.tensor([9, 4])
    out = run_ort(PACK / m["classifierGrad"]["file"], [{"x": x.numpy(), "timesteps": t.numpy(), "y": yc.numpy()}],
                  tmp_path)[0]
    xg = x.clone().requires_grad_(True)
    logp = torch.log_softmax(classifier(xg, t), -1)[torch.arange(2), yc]
    (grad,) = torch.autograd.grad(logp.sum(), xg)
    assert np.abs(out["grad"] - grad.numpy()).max() <= 1e-3 * float(grad.abs().max())
    assert np.abs(out["logp"] - logp.detach().numpy()).max() <= 1e-4
