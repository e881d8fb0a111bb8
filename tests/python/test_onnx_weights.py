"""Pack weights read back into PyTorch: exact round trip, clear errors, and training resumed from a pack."""
from __future__ import annotations

import json

import pytest
import torch

from adm import make_pack as make_pack_mod
from adm import train
from adm.classifier_eval import T_BUCKETS, format_table, noisy_accuracy
from adm.data import load_image_folder
from adm.diffusion import GaussianDiffusion
from adm.export import export_classifier_grad, export_unet
from adm.onnx_weights import OnnxWeightsError, onnx_state_dict
from adm.train_presets import TRAIN_PRESETS
from adm.unet import EncoderUNetModel, UNetModel
from adm.cli import train as train_cli
from adm.cli import classifier_eval as classifier_eval_cli
from test_judge import make_image_folder

WNIDS = ["n01440764", "n02102040", "n03888257"]


def _randomise(model):
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model


def _tiny_unet(num_classes=4):
    cfg = TRAIN_PRESETS["tiny"]["unet"]
    cfg = type(cfg)(**{**cfg.__dict__, "num_classes": num_classes})
    return _randomise(UNetModel(cfg).eval())


def _tiny_classifier(n=3):
    cfg = TRAIN_PRESETS["tiny"]["classifier"]
    cfg = type(cfg)(**{**cfg.__dict__, "out_channels": n})
    return _randomise(EncoderUNetModel(cfg).eval())


@pytest.mark.parametrize("kind", ["unet", "classifier"])
def test_round_trip_is_exact(kind, tmp_path):
    src = _tiny_unet() if kind == "unet" else _tiny_classifier()
    export = export_unet if kind == "unet" else export_classifier_grad
    path = tmp_path / "g.onnx"
    export(src, path)
    fresh = type(src)(src.cfg)
    got = onnx_state_dict(fresh, path, export)
    want = src.state_dict()
    assert set(got) == set(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k  # bit-exact, GroupNorm scales and shifts included


def test_other_architecture_is_refused(tmp_path):
    src = _tiny_unet()
    export_unet(src, tmp_path / "u.onnx")
    other = UNetModel(type(src.cfg)(**{**src.cfg.__dict__, "model_channels": 64}))
    with pytest.raises(OnnxWeightsError, match="shape"):
        onnx_state_dict(other, tmp_path / "u.onnx", export_unet)
    export_unet(src, tmp_path / "u16.onnx", fp16=True)
    with pytest.raises(OnnxWeightsError):
        onnx_state_dict(type(src)(src.cfg), tmp_path / "u16.onnx", export_unet)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """A tiny trained run turned into a pack, as `npm run make-pack` does."""
    root = tmp_path_factory.mktemp("data")
    make_image_folder(root, WNIDS, size=16, n_train=4, n_val=2)
    run = tmp_path_factory.mktemp("run")
    for model in ("unet", "classifier"):
        assert train_cli.main(["--data", str(root), "--out", str(run), "--model", model, "--preset", "tiny",
                           "--max-steps", "2", "--batch-size", "4", "--threads", "1", "--no-bf16"]) == 0
    out = tmp_path_factory.mktemp("packs") / "p"
    make_pack_mod.make_pack(run, out, scale=1.0, respacing="ddim5", use_ddim=True, force=True)
    return root, run, out


def _args(data, out, model, *extra):
    return ["--data", str(data), "--out", str(out), "--model", model, "--preset", "tiny", "--max-steps", "1",
            "--batch-size", "4", "--threads", "1", "--no-bf16", *extra]


@pytest.mark.parametrize("model", ["unet", "classifier"])
def test_init_from_pack_starts_from_its_weights(pack, tmp_path, model):
    data, run, out = pack
    trainer = train.Trainer(train_cli.parse_args(_args(data, tmp_path, model, "--init-from", str(out))))
    ema = torch.load(run / f"{model}.pt")["ema"]  # the pack holds the EMA weights
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, ema[k]), k
    trainer.run()
    assert (tmp_path / f"{model}.pt").is_file()


def test_training_totals_carry_across_init_from(pack, tmp_path):
    """A pack made from a continued run states each network's totals (its manifest `training`): the earlier pack's
    plus this run's, and the next continuation adds to those again."""
    data, run, out = pack
    first = json.loads((out / "manifest.json").read_text())["training"]
    assert first["unet"] == dict(images=8, steps=2, minutes=first["unet"]["minutes"])  # 2 steps of batch 4
    run2 = tmp_path / "run2"
    for model in ("unet", "classifier"):
        assert train_cli.main(_args(data, run2, model, "--init-from", str(out))) == 0
    assert torch.load(run2 / "unet.pt")["init_from"]["prior"]["images"] == 8
    out2 = tmp_path / "p2"
    make_pack_mod.make_pack(run2, out2, scale=1.0, respacing="ddim5", use_ddim=True, force=True)
    m2 = json.loads((out2 / "manifest.json").read_text())
    assert m2["training"]["unet"]["images"] == 8 + 4 and m2["training"]["unet"]["steps"] == 3
    assert m2["training"]["classifier"]["images"] == 8 + 4
    assert "4 images, 0 min continued from pack p: 12 images" in m2["source"]


@pytest.mark.parametrize("bad, where", [
    ({"unet": {"images": -1, "steps": 0, "minutes": 0}}, "training.unet.images"),
    ({"judge": {"images": 1, "steps": 1, "minutes": 1}}, "training"),
    ({"unet": {"images": 1, "steps": 1, "minutes": float("nan")}}, "training.unet.minutes"),
])
def test_manifest_training_field_is_validated(pack, bad, where):
    from adm.manifest import ManifestError, validate_manifest
    _, _, out = pack
    m = json.loads((out / "manifest.json").read_text())
    with pytest.raises(ManifestError, match=where.replace(".", r"\.")):
        validate_manifest({**m, "training": bad})


def test_classifier_trunk_from_unet_encoder(pack, tmp_path, capsys):
    data, run, out = pack
    trainer = train.Trainer(train_cli.parse_args(_args(data, tmp_path, "classifier", "--init-trunk-from", str(out))))
    unet = torch.load(run / "unet.pt")["ema"]
    own = trainer.model.state_dict()
    copied = [k for k in own if k.startswith(("time_embed", "input_blocks", "middle_block"))]
    assert copied and all(torch.equal(own[k], unet[k]) for k in copied)
    assert "U-Net encoder" in capsys.readouterr().err


def test_init_from_refuses_other_classes(pack, tmp_path, tmp_path_factory):
    _, _, out = pack
    other = tmp_path_factory.mktemp("other")
    make_image_folder(other, WNIDS[:2], size=16, n_train=2, n_val=1)
    assert train_cli.main(_args(other, tmp_path, "unet", "--init-from", str(out))) == 2
    assert not (tmp_path / "unet.pt").exists()


def test_trunk_flag_is_for_classifiers(pack, tmp_path):
    data, _, out = pack
    with pytest.raises(SystemExit):
        train_cli.parse_args(_args(data, tmp_path, "unet", "--init-trunk-from", str(out)))


def test_classifier_run_logs_noisy_val_accuracy(pack, tmp_path, capsys):
    data, _, _ = pack
    assert train_cli.main(_args(data, tmp_path, "classifier")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(summary["val_acc"]) == {f"{lo}-{hi}" for lo, hi in T_BUCKETS} | {"all"}
    assert torch.load(tmp_path / "classifier.pt")["val_acc"] == pytest.approx(summary["val_acc"], abs=1e-4)


def test_noisy_accuracy_separates_easy_classes(tmp_path):
    """A classifier that reads the mean grey level is right at small t and near chance at t ~ 999."""
    levels = [-0.8, 0.0, 0.8]
    root = make_image_folder(tmp_path, WNIDS, size=8, n_train=1, n_val=30, levels=levels, noise=0.05)
    val = load_image_folder(str(root), "val", 8)
    diffusion = GaussianDiffusion.from_config("cosine", 1000, learn_sigma=True)

    class MeanLevel(torch.nn.Module):
        def forward(self, x, t):
            scale = torch.as_tensor(diffusion.sqrt_alphas_cumprod, dtype=torch.float32)[t]
            m = x.mean(dim=(1, 2, 3)) / scale
            return -(m[:, None] - torch.tensor(levels)[None]) ** 2

    acc = noisy_accuracy(MeanLevel(), val, diffusion)
    assert acc["0-99"] == 1.0
    assert acc["600-999"] < 0.9
    assert "| t 0-99 |" in format_table([("mean level", acc)])


def test_sigterm_saves_and_resumes(pack, tmp_path):
    """A stopped session loses nothing: SIGTERM ends the step, saves, and the same command resumes."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    data, _, _ = pack
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    cmd = [sys.executable, "-m", "adm.cli.train", *_args(data, tmp_path, "classifier")]
    cmd[cmd.index("--max-steps") + 1] = "100000"
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "classifier.log.jsonl"
    deadline = time.time() + 120
    while not log.exists() or not log.read_text().strip():  # a few steps are done once the log has a line
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "checkpoint saved" in err
    step = json.loads(out.strip().splitlines()[-1])["step"]
    assert step > 0 and not (tmp_path / "classifier.pt.tmp").exists()
    from adm.checkpoint_io import load_checkpoint
    assert load_checkpoint(tmp_path / "classifier.pt")["step"] == step


def test_classifier_eval_cli_on_a_pack(pack, capsys):
    data, _, out = pack
    assert classifier_eval_cli.main(["--pack", str(out), "--data", str(data)]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res["top1"]) == {f"{lo}-{hi}" for lo, hi in T_BUCKETS} | {"all"}
    assert all(0.0 <= v <= 1.0 for v in res["top1"].values())
    # the wrong data is refused before any work
    other = out.parent / "otherdata"
    make_image_folder(other, WNIDS[:2], size=16, n_train=1, n_val=1)
    assert classifier_eval_cli.main(["--pack", str(out), "--data", str(other)]) == 2
    assert "labels" in capsys.readouterr().err
