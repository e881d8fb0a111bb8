"""The upsampler cascade: SuperResModel export parity under onnxruntime-node (fp32 and fp16), the bilinear
resize against F.interpolate, ONNX external data, and packs that hold an upsampler (adm.pack, adm.manifest)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from conftest import run_ort

from adm.config import UNetConfig
from adm.export import bilinear_matrix, export_upsampler, io_signature
from adm.presets import randomize_zero_init
from adm.superres import SuperResModel

SR_CASES = {
    # 8 -> 16, class-conditional, legacy attention, learned sigma, BigGAN up/down (the released upsamplers' kind)
    "cond_8_16": (dict(image_size=16, in_channels=6, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                       attention_resolutions=(2,), num_classes=11, num_head_channels=32, out_channels=6,
                       resblock_updown=True), 8),
    # 12 -> 32 (a ratio that is not a power of two), unconditional, fixed sigma
    "uncond_12_32": (dict(image_size=32, in_channels=6, model_channels=32, channel_mult=(1, 1, 2), num_res_blocks=1,
                          attention_resolutions=(4,), num_classes=None, num_heads=2, out_channels=3,
                          resblock_updown=True), 12),
}


def _model(case: str) -> SuperResModel:
    kw, _ = SR_CASES[case]
    torch.manual_seed(5)
    return randomize_zero_init(SuperResModel(UNetConfig(**kw)), seed=9).eval()


def _feeds(model: SuperResModel, low: int, n: int, seed: int):
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, cfg.image_size, cfg.image_size, generator=g)
    lr = torch.rand(n, 3, low, low, generator=g) * 2 - 1
    t = torch.tensor([999.0, 0.0, 417.0][:n])
    y = torch.randint(0, cfg.num_classes or 1, (n,), generator=g)
    cond = cfg.num_classes is not None
    with torch.no_grad():
        ref = model(x, t, lr, y if cond else None).numpy()
    feeds = {"x": x.numpy(), "timesteps": t.numpy(), "low_res": lr.numpy()}
    if cond:
        feeds["y"] = y.numpy()
    return feeds, ref


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("size,low", [(16, 8), (256, 64), (512, 128), (32, 12), (7, 3)])
def test_bilinear_matrix_is_interpolate(size, low):
    img = torch.randn(2, 3, low, low, dtype=torch.float64)
    a = bilinear_matrix(size, low).double()
    ours = a @ img @ a.t()
    ref = F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)
    assert torch.allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("case", list(SR_CASES))
def test_upsampler_parity_fp32(case, tmp_path, need_ort):
    model = _model(case)
    low = SR_CASES[case][1]
    path = tmp_path / "upsampler.onnx"
    export_upsampler(model, path, low)
    cond = model.num_classes is not None
    sig = io_signature(path)
    names = ["x", "timesteps", "low_res", "y"] if cond else ["x", "timesteps", "low_res"]
    assert [i[0] for i in sig["inputs"]] == names
    assert [o[0] for o in sig["outputs"]] == ["model_output"]
    lr_sig = sig["inputs"][2]
    assert lr_sig[2] == ["N", 3, low, low]
    from adm.export import check_ops
    check_ops(path)
    cases = [_feeds(model, low, n, s) for n, s in ((1, 1), (3, 2))]
    outs = run_ort(path, [f for f, _ in cases], tmp_path)
    for (_, ref), out in zip(cases, outs):
        got = out["model_output"]
        assert got.shape == ref.shape and np.abs(ref).max() > 1e-3
        assert _rel(got, ref) <= 1e-4


def test_upsampler_parity_fp16(tmp_path, need_ort):
    model = _model("cond_8_16")
    path = tmp_path / "upsampler.fp16.onnx"
    export_upsampler(model, path, 8, fp16=True)
    m16 = onnx.load(str(path))
    assert sum(1 for t in m16.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16) >= 20
    feeds, ref = _feeds(model, 8, 3, 4)
    got = run_ort(path, [feeds], tmp_path)[0]["model_output"]
    assert np.isfinite(got).all()
    assert _rel(got, ref) <= 2e-2


def test_upsampler_export_refuses_a_base_unet():
    from adm.unet import UNetModel

    kw = dict(SR_CASES["cond_8_16"][0], in_channels=3)
    with pytest.raises(ValueError, match="6 input channels"):
        export_upsampler(UNetModel(UNetConfig(**kw)), None, 8)


# --- packs with an upsampler and with external data ------------------------------------------------------

@pytest.fixture(scope="module")
def cascade_pack(tmp_path_factory):
    """tiny16up (adm.cli.make_tiny_pack --cascade), every graph forced to external data, verified under ORT."""
    from adm import tiny_pack
    from adm.pack import Upsampler, write_pack

    if not __import__("adm.pack", fromlist=["ort_available"]).ort_available():
        pytest.skip("onnxruntime-node not installed")
    unet, classifier = tiny_pack.build_models()
    up = tiny_pack.build_upsampler()
    out = tmp_path_factory.mktemp("cascade") / "tiny16up"
    write_pack(out, unet, classifier, fp16=True, verify=True, external_data_bytes=0,
               upsampler=Upsampler(up, 16, tiny_pack.UPSAMPLER_DIFFUSION, "ddim10", True),
               name="tiny16up", title="t", unconditional_label=10, labels=tiny_pack.IMAGENETTE_LABELS,
               diffusion=tiny_pack.DIFFUSION, classifier_scale=1.0, timestep_respacing="ddim10", use_ddim=True,
               source="test", license="CC0-1.0")
    return out


def test_cascade_pack_manifest_and_files(cascade_pack):
    from adm.pack import read_pack

    m = read_pack(cascade_pack)
    u = m["upsampler"]
    assert (u["imageSize"], u["lowResSize"], u["classCond"], u["learnSigma"]) == (32, 16, True, True)
    assert u["inputs"] == ["x", "timesteps", "low_res", "y"] and u["outputs"] == ["model_output"]
    assert u["diffusion"]["noiseSchedule"] == "linear" and u["sampling"] == {"timestepRespacing": "ddim10",
                                                                            "useDdim": True}
    for key in ("unet", "unetFp16", "upsampler"):
        ext = m[key]["externalData"]
        assert [e["file"] for e in ext] == [m[key]["file"] + ".data"]
        # the graph names its data file by the plain name, so a runtime resolves it beside the graph
        g = onnx.load(str(cascade_pack / m[key]["file"]), load_external_data=False)
        locs = {kv.value for t in g.graph.initializer for kv in t.external_data if kv.key == "location"}
        assert locs == {ext[0]["file"]}
        assert (cascade_pack / m[key]["file"]).stat().st_size < ext[0]["bytes"]


def test_external_data_graph_runs_like_a_single_file(cascade_pack, tmp_path, need_ort):
    from adm import tiny_pack
    from adm.export import export_unet

    unet, _ = tiny_pack.build_models()
    single = tmp_path / "unet.onnx"
    export_unet(unet, single)
    g = torch.Generator().manual_seed(3)
    feeds = [{"x": torch.randn(2, 3, 16, 16, generator=g).numpy(), "timesteps": np.array([10.0, 900.0], np.float32),
              "y": np.array([1, 10])}]
    a = run_ort(single, feeds, tmp_path / "a")[0]["model_output"]
    b = run_ort(cascade_pack / "unet.onnx", feeds, tmp_path / "b")[0]["model_output"]
    assert np.array_equal(a, b)


def _manifest(cascade_pack):
    import json

    return json.loads((cascade_pack / "manifest.json").read_text())


@pytest.mark.parametrize("mutate,match", [
    (lambda m: m["upsampler"].update(lowResSize=8), "upsampler.lowResSize"),
    (lambda m: m["upsampler"].update(imageSize=16), "upsampler.imageSize"),
    (lambda m: m["upsampler"].update(imageSize=2048), "upsampler.imageSize"),
    (lambda m: m["upsampler"].update(inputs=["x", "timesteps", "y"]), "upsampler.inputs"),
    (lambda m: m["upsampler"].update(classCond="yes"), "upsampler.classCond"),
    (lambda m: m["upsampler"]["diffusion"].update(noiseSchedule="sigmoid"), "upsampler.diffusion.noiseSchedule"),
    (lambda m: m["upsampler"]["sampling"].update(timestepRespacing="ddim0"), "upsampler.sampling.timestepRespacing"),
    (lambda m: m["upsampler"].pop("sampling"), "upsampler.sampling"),
    (lambda m: m["unet"]["externalData"][0].update(file="../x.data"), r"unet.externalData\[0\].file"),
    (lambda m: m["unet"]["externalData"][0].update(file="unet.onnx"), r"unet.externalData\[0\].file"),
    (lambda m: m["unet"].update(externalData=[]), "unet.externalData"),
    (lambda m: m["unet"]["externalData"][0].update(bytes=0), r"unet.externalData\[0\].bytes"),
    (lambda m: m["unet"]["externalData"][0].update(sha256="AB"), r"unet.externalData\[0\].sha256"),
])
def test_manifest_rules(cascade_pack, mutate, match):
    from adm.manifest import ManifestError, validate_manifest

    m = _manifest(cascade_pack)
    validate_manifest(m)
    mutate(m)
    with pytest.raises(ManifestError, match=match):
        validate_manifest(m)


def test_external_data_file_checked(cascade_pack, tmp_path):
    import shutil

    from adm.manifest import ManifestError, validate_manifest

    pack = tmp_path / "p"
    shutil.copytree(cascade_pack, pack)
    with open(pack / "upsampler.onnx.data", "r+b") as f:
        f.seek(100)
        f.write(b"\x01\x02")
    with pytest.raises(ManifestError, match=r"upsampler.externalData\[0\].sha256"):
        validate_manifest(_manifest(pack), pack)
    (pack / "upsampler.onnx.data").unlink()
    with pytest.raises(ManifestError, match=r"upsampler.externalData\[0\].file"):
        validate_manifest(_manifest(pack), pack)


def test_app_validator_agrees_on_cascade_rules(cascade_pack, tmp_path):
    """Each mutation above refused by src/shared/manifest.ts with the same field path; the valid one accepted."""
    import json
    import os
    import shutil
    import subprocess

    from conftest import REPO
    from test_manifest_fuzz import TS_CHECK

    from adm.manifest import ManifestError, validate_manifest

    tsx = REPO / "node_modules" / ".bin" / "tsx"
    if not tsx.exists() or shutil.which("node") is None:
        pytest.skip("node_modules/.bin/tsx missing (npm install)")
    params = test_manifest_rules.pytestmark[0].args[1]
    cases = [_manifest(cascade_pack)]
    for mutate, _ in params:
        m = _manifest(cascade_pack)
        mutate(m)
        cases.append(m)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = dict(os.environ, ADM_MANIFEST_CASES=str(tmp_path / "cases.json"),
               ADM_MANIFEST_RESULTS=str(tmp_path / "results.json"))
    p = subprocess.run([str(tsx), "-e", TS_CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    ts = json.loads((tmp_path / "results.json").read_text())
    assert ts[0] is None
    for m, ts_error in zip(cases[1:], ts[1:]):
        with pytest.raises(ManifestError) as e:
            validate_manifest(m)
        assert ts_error is not None, f"the app accepts what Python refuses: {e.value}"
        assert ts_error.split(" must ")[0] == str(e.value).split(" must ")[0], (ts_error, str(e.value))


def _sample(pack, *args):
    import json
    import subprocess

    from conftest import REPO

    p = subprocess.run(["node", "--import", "tsx", "tools/sample.ts", "--pack", str(pack), *map(str, args)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    summary = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None
    return p.returncode, summary, p.stderr


def test_sample_cli_runs_the_cascade(cascade_pack, tmp_path, need_ort):
    """npm run sample on a cascade pack whose graphs all have external data: base, then upsampler."""
    from PIL import Image

    code, s, err = _sample(cascade_pack, "--class", "217", "--seed", "3", "--batch", "2", "--save-samples",
                           tmp_path / "up", "--progress-json")
    assert code == 0, err
    assert s["imageSize"] == 32 and s["settings"]["upsampler"]["steps"] == 10
    assert s["msUpsamplerPerStep"] > 0
    up = np.asarray(Image.open(tmp_path / "up" / "sample_00001.png"))
    assert up.shape == (32, 32, 4)
    code, s, err = _sample(cascade_pack, "--class", "217", "--seed", "3", "--batch", "2", "--save-samples",
                           tmp_path / "base", "--no-upsample")
    assert code == 0, err
    assert s["imageSize"] == 16 and s["settings"]["upsampler"] is None and s["msUpsamplerPerStep"] is None
    base = np.asarray(Image.open(tmp_path / "base" / "sample_00001.png"))
    assert base.shape == (16, 16, 4)
    # the upsampler refuses to run without a class, and --upsample-respacing needs an upsampler
    code, _, err = _sample(cascade_pack, "--unconditional", "--scale", "0", "--out", tmp_path / "u.png")
    assert code != 0 and "upsampler" in err and "--class" in err
    code, _, err = _sample(cascade_pack, "--class", "217", "--no-upsample", "--upsample-respacing", "5",
                           "--out", tmp_path / "u.png")
    assert code != 0 and "--upsample-respacing" in err


def test_sample_cli_respacing_override(cascade_pack, tmp_path, need_ort):
    """--upsample-respacing overrides the upsampler's own respacing (the base keeps --respacing)."""
    code, s, err = _sample(cascade_pack, "--class", "217", "--seed", "5", "--batch", "1", "--respacing", "2",
                           "--upsample-respacing", "3", "--out", tmp_path / "one.png")
    assert code == 0, err
    assert s["settings"]["steps"] == 2 and s["settings"]["upsampler"]["steps"] == 3
