"""`npm run convert` (adm.cli.convert over adm.convert): round trip on a tiny official-format checkpoint, and every error path.

Error paths must exit with code 2, print one paragraph naming the problem, and leave no --out folder.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, ort_available, run_ort

from adm.cli.convert import main
from adm.flags import parse_classifier_flags, parse_model_flags
from adm.manifest import read_manifest, sha256_file
from adm.presets import randomize_zero_init
from adm.unet import EncoderUNetModel, UNetModel

UNET_FLAGS = ("--attention_resolutions 16 --class_cond True --diffusion_steps 1000 --image_size 64 "
              "--learn_sigma True --noise_schedule cosine --num_channels 32 --channel_mult 1,1,2 --num_head_channels 32 "
              "--num_res_blocks 1 --resblock_updown True --use_fp16 True --use_scale_shift_norm True")
CLS_FLAGS = "--classifier_width 32 --classifier_depth 1 --classifier_attention_resolutions 8"


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    unet = randomize_zero_init(UNetModel(parse_model_flags(UNET_FLAGS).unet), seed=1).eval()
    cls = randomize_zero_init(EncoderUNetModel(parse_classifier_flags(CLS_FLAGS, image_size=64).classifier),
                              seed=2).eval()
    torch.save(unet.state_dict(), d / "unet.pt")  # flat state dict, like the official files
    torch.save({"state_dict": cls.state_dict(), "step": 3}, d / "cls.pt")  # a wrapped one
    return {"dir": d, "unet": unet, "cls": cls, "unet_pt": d / "unet.pt", "cls_pt": d / "cls.pt"}


def _run(argv, capsys):
    code = main([str(a) for a in argv] + ["--quiet"])
    err = capsys.readouterr().err
    return code, err


def test_round_trip(ckpts, tmp_path, capsys):
    out = tmp_path / "pack"
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--classifier", ckpts["cls_pt"],
                      "--classifier-flags", CLS_FLAGS, "--out", out, "--fp16", "--name", "tiny"], capsys)
    assert code == 0, err
    m = read_manifest(out)  # validates fields, sizes and sha256
    # graphs from templates (made from these flags on the spot), weights in external data beside each
    assert sorted(p.name for p in out.iterdir()) == [
        ".adm-output.json", "classifier_grad.onnx", "classifier_grad.onnx.data", "manifest.json", "unet.fp16.onnx",
        "unet.fp16.onnx.data", "unet.onnx", "unet.onnx.data"]
    assert [e["file"] for e in m["unet"]["externalData"]] == ["unet.onnx.data"]
    assert m["name"] == "tiny" and m["imageSize"] == 64 and m["classCond"] and m["learnSigma"]
    assert m["labels"] == list(range(1000)) and m["unconditionalLabel"] is None
    assert m["diffusion"] == {"noiseSchedule": "cosine", "diffusionSteps": 1000, "predictXstart": False,
                              "rescaleTimesteps": False}
    assert m["sampling"] == {"classifierScale": 1.0, "timestepRespacing": "250", "useDdim": False}
    assert m["unet"]["inputs"] == ["x", "timesteps", "y"] and m["unet"]["dtype"] == "float32"
    assert m["unetFp16"]["dtype"] == "float16"
    assert m["classifierGrad"]["outputs"] == ["grad", "logp", "logits", "features"]  # templates export the features
    assert sha256_file(ckpts["unet_pt"]) in m["source"]
    assert not list(tmp_path.glob(".pack.*")), "temporary folders left behind"
    if not ort_available():
        pytest.skip("onnxruntime-node not installed: ONNX parity part skipped")
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 64, 64, generator=g)
    t = torch.tensor([10.0, 900.0])
    y = torch.tensor([3, 999])
    outs = run_ort(out / "unet.onnx", [{"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()}], tmp_path / "w")
    with torch.no_grad():
        ref = ckpts["unet"](x, t, y).numpy()
    assert np.abs(outs[0]["model_output"] - ref).max() <= 1e-4 * np.abs(ref).max()
    outs = run_ort(out / "classifier_grad.onnx", [{"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()}],
                   tmp_path / "w")
    xg = x.clone().requires_grad_(True)
    logp = torch.log_softmax(ckpts["cls"](xg, t), -1)[torch.arange(2), y]
    (grad,) = torch.autograd.grad(logp.sum(), xg)
    assert np.abs(outs[0]["grad"] - grad.numpy()).max() <= 1e-3 * float(grad.abs().max())
    assert np.abs(outs[0]["logp"] - logp.detach().numpy()).max() <= 1e-4


def test_unconditional_without_classifier(tmp_path, capsys):
    flags = UNET_FLAGS.replace("--class_cond True", "--class_cond False").replace("--learn_sigma True", "")
    torch.manual_seed(1)
    model = UNetModel(parse_model_flags(flags).unet)
    torch.save(model.state_dict(), tmp_path / "u.pt")
    code, err = _run(["--unet", tmp_path / "u.pt", "--unet-flags", flags, "--out", tmp_path / "p", "--no-verify",
                      "--respacing", "ddim25"], capsys)
    assert code == 0, err
    m = read_manifest(tmp_path / "p")
    assert not m["classCond"] and not m["learnSigma"] and m["unet"]["inputs"] == ["x", "timesteps"]
    assert "classifierGrad" not in m and "unetFp16" not in m
    assert m["sampling"]["timestepRespacing"] == "ddim25" and m["sampling"]["useDdim"] is True


# --- error paths ------------------------------------------------------------------------------------------

def _assert_fails(argv, capsys, out, *needles):
    code, err = _run(argv, capsys)
    assert code == 2, err
    assert err.startswith("convert: error: ") and err.count("\n") == 1, err  # one paragraph
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    if out is not None:
        assert not Path(out).exists() or not any(Path(out).iterdir())
        assert not list(Path(out).parent.glob(f".{Path(out).name}.*")), "temporary folder left behind"
    return err


def test_wrong_flags_for_checkpoint(ckpts, tmp_path, capsys):
    out = tmp_path / "p"
    bad = UNET_FLAGS.replace("--num_channels 32", "--num_channels 64")
    err = _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", bad, "--out", out], capsys, out,
                        "does not match", "shape mismatch", "time_embed.0.weight is (128, 32) in the "
                        "checkpoint but (256, 64) for these flags")
    assert "--unet-flags" in err


def test_class_cond_flag_wrong(ckpts, tmp_path, capsys):
    out = tmp_path / "p"
    bad = UNET_FLAGS.replace("--class_cond True", "--class_cond False")
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", bad, "--out", out], capsys, out,
                  "unexpected key", "label_emb.weight (1000, 128)", "--class_cond True")


def test_truncated_checkpoint(ckpts, tmp_path, capsys):
    data = ckpts["unet_pt"].read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    out = tmp_path / "p"
    _assert_fails(["--unet", tmp_path / "t.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "not a complete PyTorch checkpoint", "t.pt")


def test_not_a_checkpoint(tmp_path, capsys):
    (tmp_path / "notes.pt").write_text("this is not a checkpoint\n")
    out = tmp_path / "p"
    _assert_fails(["--unet", tmp_path / "notes.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "not a complete PyTorch checkpoint")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    _assert_fails(["--unet", tmp_path / "list.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "does not contain a state dict", "list")
    _assert_fails(["--unet", tmp_path / "missing.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "does not exist")


def test_missing_key(ckpts, tmp_path, capsys):
    sd = dict(ckpts["unet"].state_dict())
    del sd["out.2.weight"]
    torch.save(sd, tmp_path / "m.pt")
    out = tmp_path / "p"
    _assert_fails(["--unet", tmp_path / "m.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "1 key(s) the flags need are missing", "out.2.weight (6, 32, 3, 3)")


def test_unexpected_key(ckpts, tmp_path, capsys):
    sd = dict(ckpts["unet"].state_dict())
    sd["extra.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "u.pt")
    out = tmp_path / "p"
    _assert_fails(["--unet", tmp_path / "u.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "1 unexpected key(s)", "extra.weight (3,)")


def test_shape_mismatch(ckpts, tmp_path, capsys):
    sd = dict(ckpts["unet"].state_dict())
    sd["time_embed.0.weight"] = torch.zeros(128, 16)
    torch.save(sd, tmp_path / "s.pt")
    out = tmp_path / "p"
    _assert_fails(["--unet", tmp_path / "s.pt", "--unet-flags", UNET_FLAGS, "--out", out], capsys, out,
                  "1 shape mismatch(es)", "time_embed.0.weight is (128, 16) in the checkpoint but (128, 32)")


def test_classifier_errors(ckpts, tmp_path, capsys):
    out = tmp_path / "p"
    # a U-Net checkpoint given as the classifier
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--classifier", ckpts["unet_pt"],
                   "--classifier-flags", CLS_FLAGS, "--out", out], capsys, out, "classifier checkpoint",
                  "--classifier-flags")
    # default classifier flags (width 128, depth 2) do not fit this tiny classifier
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--classifier", ckpts["cls_pt"],
                   "--out", out], capsys, out, "default classifier flags", "shape mismatch")


def test_bad_flags(ckpts, tmp_path, capsys):
    out = tmp_path / "p"
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS + " --num_chanels 3", "--out", out],
                  capsys, out, "unknown model flag", "--num_chanels", "did you mean --num_channels")
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS.replace("cosine", "quadratic"), "--out", out],
                  capsys, out, "--noise_schedule")
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", "--image_size 48", "--out", out],
                  capsys, out, "no default channel_mult for image size 48")
    _assert_fails(["--unet", ckpts["unet_pt"], "--preset", "imagenet1024", "--out", out], capsys, out,
                  "unknown --preset")
    # a one-token flag string is a value, not an option
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", "--image_size=48", "--out", out], capsys, out,
                  "no default channel_mult for image size 48")


def test_existing_out_dir(ckpts, tmp_path, capsys):
    out = tmp_path / "p"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--out", out, "--no-verify"], capsys)
    assert code == 2 and "already exists and is not empty" in err and "--force" in err
    assert (out / "keep.txt").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    # --force replaces only a folder this toolkit wrote; another one needs --replace-any-folder as well
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--out", out, "--no-verify",
                      "--force"], capsys)
    assert code == 2 and "is not a folder this toolkit wrote" in err and "--replace-any-folder" in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--out", out, "--no-verify",
                      "--force", "--replace-any-folder"], capsys)
    assert code == 0, err
    assert not (out / "keep.txt").exists() and (out / "manifest.json").exists()
    # the pack it wrote is replaced by --force alone (the marker says it is ours)
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--out", out, "--no-verify",
                      "--force"], capsys)
    assert code == 0, err
    assert not list(tmp_path.glob(".p.*"))


def test_cli_exit_code(tmp_path):
    """The real command line (scripts/py.sh -m adm.cli.convert, as `npm run convert` runs it)."""
    (tmp_path / "x.pt").write_bytes(b"\x00" * 100)
    out = tmp_path / "p"
    p = subprocess.run(["bash", str(REPO / "scripts" / "py.sh"), "-m", "adm.cli.convert", "--unet", str(tmp_path / "x.pt"),
                        "--preset", "imagenet64", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "not a complete PyTorch checkpoint" in p.stderr
    assert not out.exists()


def test_verification_failure_exit_1(ckpts, tmp_path, capsys, monkeypatch):
    """A graph that ONNX Runtime computes differently (adm.pack.VerificationError) ends convert with exit 1 and
    leaves no pack; the error is told apart by its class, not its message."""
    from adm import convert, pack, template_pack

    def disagree(*args, **kwargs):
        raise pack.VerificationError("the graphs disagree")

    monkeypatch.setattr(convert, "ort_available", lambda: True)
    monkeypatch.setattr(template_pack, "verify_pack", disagree)
    out = tmp_path / "p"
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--out", out], capsys)
    assert code == 1 and err == "convert: error: the graphs disagree\n", err
    assert not out.exists() and not list(tmp_path.glob(".p.*"))


UPSAMPLER_FLAGS = ("--attention_resolutions 32 --class_cond True --diffusion_steps 1000 --large_size 256 "
                   "--small_size 64 --learn_sigma True --noise_schedule linear --num_channels 32 --num_head_channels 32 "
                   "--num_res_blocks 1 --resblock_updown True --use_fp16 True --use_scale_shift_norm True")


def test_cascade_round_trip(ckpts, tmp_path, capsys):
    """--upsampler: the SuperResModel lands in the same pack, verified under ONNX Runtime, with its own schedule."""
    from adm.superres import SuperResModel

    torch.manual_seed(3)
    up = randomize_zero_init(SuperResModel(parse_model_flags(UPSAMPLER_FLAGS).unet), seed=4).eval()
    torch.save(up.state_dict(), tmp_path / "up.pt")
    out = tmp_path / "pack"
    code, err = _run(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--upsampler", tmp_path / "up.pt",
                      "--upsampler-flags", UPSAMPLER_FLAGS, "--upsampler-respacing", "ddim25", "--out", out], capsys)
    assert code == 0, err
    m = read_manifest(out)
    assert sorted(p.name for p in out.iterdir()) == [".adm-output.json", "manifest.json", "unet.onnx", "unet.onnx.data",
                                                      "upsampler.onnx", "upsampler.onnx.data"]
    u = m["upsampler"]
    assert (u["imageSize"], u["lowResSize"], u["classCond"], u["dtype"]) == (256, 64, True, "float32")
    assert u["diffusion"]["noiseSchedule"] == "linear" and m["diffusion"]["noiseSchedule"] == "cosine"
    assert u["sampling"] == {"timestepRespacing": "ddim25", "useDdim": True}
    assert sha256_file(tmp_path / "up.pt") in m["source"] and "--large_size 256" in m["source"]
    # errors: flags of a base model, sizes that do not chain, flags without a checkpoint
    bad = tmp_path / "bad"
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--upsampler", tmp_path / "up.pt",
                   "--upsampler-flags", UNET_FLAGS, "--out", bad], capsys, bad, "--large_size and --small_size")
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--upsampler", tmp_path / "up.pt",
                   "--upsampler-flags", UPSAMPLER_FLAGS.replace("--small_size 64", "--small_size 128"), "--out", bad],
                  capsys, bad, "takes 128x128 images")
    _assert_fails(["--unet", ckpts["unet_pt"], "--unet-flags", UNET_FLAGS, "--upsampler-flags", UPSAMPLER_FLAGS,
                   "--out", bad], capsys, bad, "--upsampler-flags given without --upsampler")
    _assert_fails(["--unet", tmp_path / "up.pt", "--unet-flags", UPSAMPLER_FLAGS, "--out", bad], capsys, bad,
                  "super-resolution model", "--upsampler")
