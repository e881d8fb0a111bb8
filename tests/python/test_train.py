"""The training CLI on a tiny configuration (a few steps), resuming, and the run -> pack step."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from adm.diffusion import GaussianDiffusion
from adm.manifest import read_manifest
from adm.cli import train as train_cli
from adm.cli import make_pack as make_pack_cli
from test_judge import make_image_folder

WNIDS = ["n01440764", "n02102040", "n03888257"]  # tench, English springer, parachute


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_image_folder(root, WNIDS, size=16, n_train=4, n_val=2)
    return root


def _train(data, out, model, steps):
    return train_cli.main(["--data", str(data), "--out", str(out), "--model", model, "--preset", "tiny",
                       "--max-steps", str(steps), "--batch-size", "4", "--threads", "1", "--no-bf16"])


def test_unet_trains_resumes_and_samples(data, tmp_path, capsys):
    assert _train(data, tmp_path, "unet", 2) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["seen"] == 8 and np.isfinite(summary["loss"])
    ck = torch.load(tmp_path / "unet.pt")
    assert ck["wnids"] == WNIDS and ck["config"]["num_classes"] == len(WNIDS) + 1  # + the null label
    first = {k: v.clone() for k, v in ck["model"].items()}
    # Resuming continues the same run: the step count carries on and the weights move.
    assert _train(data, tmp_path, "unet", 3) == 0
    ck2 = torch.load(tmp_path / "unet.pt")
    assert ck2["step"] == 3
    assert any(not torch.equal(first[k], ck2["model"][k]) for k in first)
    log = [json.loads(line) for line in (tmp_path / "unet.log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in log)
    assert list((tmp_path / "samples").glob("unet_step*.png"))


def test_classifier_trains(data, tmp_path, capsys):
    assert _train(data, tmp_path, "classifier", 2) == 0
    ck = torch.load(tmp_path / "classifier.pt")
    assert ck["config"]["out_channels"] == len(WNIDS)


def test_resume_refuses_other_classes(data, tmp_path, tmp_path_factory):
    assert _train(data, tmp_path, "classifier", 1) == 0
    other = tmp_path_factory.mktemp("other")
    make_image_folder(other, WNIDS[:2], size=16, n_train=2, n_val=1)
    with pytest.raises(SystemExit, match="trained on classes"):
        _train(other, tmp_path, "classifier", 2)


def test_bad_data_exit_2(tmp_path, capsys):
    assert _train(tmp_path / "missing", tmp_path / "out", "unet", 1) == 2
    assert "not a directory" in capsys.readouterr().err


def test_budget_required():
    with pytest.raises(SystemExit):
        train_cli.parse_args(["--data", "d", "--out", "o", "--model", "unet"])


def test_hybrid_loss_terms_finite():
    diff = GaussianDiffusion.from_config("cosine", 1000, learn_sigma=True)
    x0 = torch.rand(3, 3, 8, 8) * 2 - 1
    t = torch.tensor([0, 500, 999])
    terms = diff.training_losses(lambda x, ts: torch.zeros(3, 6, 8, 8), x0, t, noise=torch.randn_like(x0))
    # A zero eps prediction has MSE = E[noise^2] ~ 1; v = 0 sits mid-range, so the VB term is finite.
    assert torch.isfinite(terms["loss"]).all() and terms["mse"].mean() > 0.5


def test_min_snr_weight_caps_the_clean_steps():
    diff = GaussianDiffusion.from_config("cosine", 1000, learn_sigma=True)
    t = torch.arange(1000)
    w = diff.min_snr_weight(t, 5.0)
    abar = torch.as_tensor(diff.alphas_cumprod)
    snr = abar / (1 - abar)
    # Noisy steps (SNR <= 5) keep weight 1; clean ones get gamma / SNR, so SNR * w never exceeds gamma.
    assert torch.equal(w[snr <= 5], torch.ones(int((snr <= 5).sum())))
    assert torch.allclose((snr * w.double())[snr > 5], torch.full((int((snr > 5).sum()),), 5.0, dtype=torch.float64))
    assert 0 < int((snr > 5).sum()) < 1000 and w[0] < 1e-3


def test_min_snr_loss_reweights_only_the_eps_term():
    diff = GaussianDiffusion.from_config("cosine", 1000, learn_sigma=True)
    x0 = torch.rand(2, 3, 8, 8) * 2 - 1
    t = torch.tensor([5, 900])
    noise = torch.randn_like(x0)
    out = torch.randn(2, 6, 8, 8)
    plain = diff.training_losses(lambda x, ts: out, x0, t, noise=noise)
    snr = diff.training_losses(lambda x, ts: out, x0, t, noise=noise, min_snr_gamma=5.0)
    assert torch.equal(plain["mse"], snr["mse"]) and torch.equal(plain["vb"], snr["vb"])
    expected = plain["mse"] * diff.min_snr_weight(t, 5.0) + plain["vb"]
    assert torch.allclose(snr["loss"], expected)
    assert snr["loss"][0] < plain["loss"][0] and torch.isclose(snr["loss"][1], plain["loss"][1])


def test_min_snr_gamma_is_for_the_unet():
    with pytest.raises(SystemExit):
        train_cli.parse_args(["--data", "d", "--out", "o", "--model", "classifier", "--max-steps", "1", "--min-snr-gamma", "5"])
    assert train_cli.parse_args(["--data", "d", "--out", "o", "--model", "unet", "--max-steps", "4", "--anneal-lr",
                             "--min-snr-gamma", "5"]).min_snr_gamma == 5.0


def test_make_pack_from_run(data, tmp_path, capsys, need_ort):
    run = tmp_path / "run"
    assert _train(data, run, "unet", 1) == 0 and _train(data, run, "classifier", 1) == 0
    out = tmp_path / "pack"
    assert make_pack_cli.main(["--run", str(run), "--out", str(out), "--scale", "2", "--respacing", "ddim10"]) == 0
    m = read_manifest(out)
    assert m["labels"] == [0, 217, 701] and m["unconditionalLabel"] == 3 and m["classCond"]
    assert m["sampling"] == {"classifierScale": 2.0, "timestepRespacing": "ddim10", "useDdim": True}
    assert {m["unet"]["file"], m["unetFp16"]["file"], m["classifierGrad"]["file"]} <= {p.name for p in out.iterdir()}
    # The classifier's noisy-val accuracy from training travels with the pack.
    acc = m["classifierAccuracy"]
    assert acc["images"] == 2 * len(WNIDS) and set(acc["top1ByT"]) == {"0-99", "100-299", "300-599", "600-999", "all"}
    assert all(0 <= v <= 1 for v in acc["top1ByT"].values())
    # The recommended guidance mode and w are written when given.
    out2 = tmp_path / "pack2"
    assert make_pack_cli.main(["--run", str(run), "--out", str(out2), "--guidance-mode", "cfg", "--cfg-scale", "3",
                               "--data", str(data), "--reference-per-class", "0"]) == 0
    m2 = read_manifest(out2)
    assert m2["sampling"]["guidanceMode"] == "cfg" and m2["sampling"]["cfgScale"] == 3.0
    # --data measures the packed weights now (same protocol as the run's own check of the same weights)
    assert m2["classifierAccuracy"]["images"] == 2 * len(WNIDS)
    assert m2["classifierAccuracy"]["top1ByT"].keys() == acc["top1ByT"].keys()
    assert "referenceFeatures" not in m2 and "referenceFeatures" not in m
    # with fewer val images per class than reference features need: a clear error, nothing written
    assert make_pack_cli.main(["--run", str(run), "--out", str(tmp_path / "p3"), "--data", str(data)]) == 2
    assert "fewer than 50" in capsys.readouterr().err and not (tmp_path / "p3").exists()
    # An existing pack is not clobbered without --force, and a missing run is a clear error.
    assert make_pack_cli.main(["--run", str(run), "--out", str(out)]) == 2
    assert make_pack_cli.main(["--run", str(tmp_path / "nope"), "--out", str(tmp_path / "p2")]) == 2
    assert not (tmp_path / "p2").exists()
