"""Graph templates (adm.templates, adm.template_graph, adm.template_fill) on narrowed configurations: a template
filled from a checkpoint runs like the PyTorch model under onnxruntime-node, the template does not depend on the
weights, the fp16 cast is numpy's, convert's data files are the fill's, and the template CLI's errors.
"""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
import torch

from conftest import run_ort

from adm.checkpoint_io import load_checkpoint
from adm.export import WEBGPU_OPS, op_counts
from adm.cli.make_fixture import FOLDERS, NARROW_CLASSIFIER_FLAGS, NARROW_UNET_FLAGS, TITLES, fp16_cases, make_fixture
from adm.presets import build_model, randomize_zero_init
from adm.cli.template import main as template_cli
from adm.template_fill import float32_to_float16_bits, tensor_bytes, write_data_files
from adm.templates import DATA_ALIGN, make_template, read_template, spec_from_flags

# A narrowed 64 -> 128 upsampler (the released 64_256 flags with small widths) for the upsampler path.
NARROW_UPSAMPLER_FLAGS = (
    "--attention_resolutions 16 --class_cond True --diffusion_steps 1000 --large_size 64 --small_size 32 "
    "--learn_sigma True --noise_schedule linear --num_channels 32 --num_heads 1 --num_res_blocks 1 "
    "--resblock_updown True --use_fp16 True --use_scale_shift_norm True")


def _random(spec, seed):
    torch.manual_seed(seed)
    return randomize_zero_init(build_model(spec.model_kind, spec.cfg, init="random"), seed=seed, std=0.02).eval()


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    """adm.cli.make_fixture's narrowed pair, converted (convert's own ONNX Runtime verification included)."""
    out = tmp_path_factory.mktemp("fixture") / "narrow"
    make_fixture(out, seed=1, convert=True)
    return out


@pytest.fixture(scope="module")
def upsampler_template(tmp_path_factory):
    """A narrowed upsampler's template made as the CLI makes it (zero weights), and a random model to fill it with."""
    spec = spec_from_flags("upsampler", NARROW_UPSAMPLER_FLAGS)
    folder = tmp_path_factory.mktemp("up") / "t"
    make_template(spec, folder)
    return spec, _random(spec, 5), folder


# --- the fp16 cast --------------------------------------------------------------------------------------------

def test_fp16_bits_are_numpys():
    rng = np.random.default_rng(0)
    bits = np.concatenate([fp16_cases(), rng.integers(0, 2**32, 300_000, dtype=np.uint64).astype(np.uint32)]
                          + [(np.uint32(e) << 23) | np.arange(0, 1 << 23, 61, dtype=np.uint32)
                             for e in (102, 103, 112, 113, 142, 143)])  # every rounding regime, densely
    values = bits.view(np.float32)
    finite = np.isfinite(values)
    with np.errstate(over="ignore"):
        want = values[finite].astype(np.float16).view(np.uint16)
    got = float32_to_float16_bits(bits[finite])
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, [(hex(bits[finite][i]), hex(want[i]), hex(got[i])) for i in bad[:5]]
    assert float32_to_float16_bits(np.array([0x7F800000, 0xFF800000], dtype=np.uint32)).tolist() == [0x7C00, 0xFC00]


def test_tensor_bytes():
    t = torch.tensor([[1.0, -2.5e-8, 65519.0], [65520.0, 1e-5, 3.14159]])
    assert tensor_bytes(t, "float32") == t.numpy().astype("<f4").tobytes()
    half = np.frombuffer(tensor_bytes(t, "float16"), dtype="<u2")
    assert half.tolist() == float32_to_float16_bits(t.numpy().reshape(-1).view(np.uint32)).tolist()
    assert half[3] == 0x7C00  # 65520 rounds up to infinity, as numpy does
    with pytest.raises(ValueError, match="unknown stored dtype"):
        tensor_bytes(t, "bfloat16")


# --- structure ------------------------------------------------------------------------------------------------

def _check_structure(folder):
    """Every initializer that is a weight is external, named by its key, at the template's offset; the rest is small."""
    t = read_template(folder)
    shapes = {k: shape for k, _, shape in t["keys"]}
    for g in t["graphs"]:
        proto = onnx.load(str(folder / g["file"]), load_external_data=False)
        assert not set(op_counts(proto)) - WEBGPU_OPS
        assert [i.name for i in proto.graph.input] == g["inputs"]
        assert [o.name for o in proto.graph.output] == g["outputs"]
        external = {i.name: i for i in proto.graph.initializer if i.data_location == onnx.TensorProto.EXTERNAL}
        inline = [i for i in proto.graph.initializer if i.data_location != onnx.TensorProto.EXTERNAL]
        assert all(i.name not in shapes for i in inline)
        planned = {}
        for piece in g["externalData"]:
            assert piece["bytes"] <= 1 << 30
            end = 0
            for key, offset, n, dtype in piece["tensors"]:
                assert offset % DATA_ALIGN == 0 and offset >= end
                end = offset + n
                planned[key] = (piece["file"], offset, n, dtype)
            assert end == piece["bytes"]
        assert sorted(planned) == sorted(external) == sorted(shapes), "each checkpoint key is exactly one initializer"
        for key, init in external.items():
            loc = {e.key: e.value for e in init.external_data}
            f, offset, n, dtype = planned[key]
            assert (loc["location"], int(loc["offset"]), int(loc["length"])) == (f, offset, n)
            assert list(init.dims) == shapes[key]
            assert init.data_type == (onnx.TensorProto.FLOAT16 if dtype == "float16" else onnx.TensorProto.FLOAT)
        if g["dtype"] == "float32":
            assert {d for p in g["externalData"] for *_, d in p["tensors"]} == {"float32"}
        # what is not a weight (frequencies, shapes, resize matrices) is small
        assert sum(len(i.raw_data) for i in inline) < 1 << 20
    return t


def test_fixture_templates_structure(fixture_dir):
    for name in ("narrow64_diffusion", "narrow64_classifier"):
        t = _check_structure(fixture_dir / "templates" / name)
        assert t["flags"] in (NARROW_UNET_FLAGS, NARROW_CLASSIFIER_FLAGS)
    unet = read_template(fixture_dir / "templates" / "narrow64_diffusion")
    half = next(g for g in unet["graphs"] if g["dtype"] == "float16")
    stored = {key: d for p in half["externalData"] for key, _, _, d in p["tensors"]}
    assert stored["input_blocks.1.0.in_layers.2.weight"] == "float16"  # convs in fp16
    assert stored["input_blocks.1.0.in_layers.0.weight"] == "float32"  # GroupNorm affine in fp32
    assert stored["label_emb.weight"] == "float16"  # large, read in fp32: stored fp16, widened in the graph
    assert unet["manifest"]["labels"] == list(range(1000)) and unet["manifest"]["imageSize"] == 64


def test_upsampler_template_structure(upsampler_template):
    _, _, folder = upsampler_template
    t = _check_structure(folder)
    assert t["slot"] == "upsampler" and t["lowResSize"] == 32 and t["manifest"]["upsampler"]["lowResSize"] == 32
    assert [g["dtype"] for g in t["graphs"]] == ["float32", "float16"]


# --- weight independence -------------------------------------------------------------------------------------

@pytest.mark.parametrize("slot,flags", [("unet", NARROW_UNET_FLAGS), ("classifier", NARROW_CLASSIFIER_FLAGS)])
def test_template_does_not_depend_on_the_weights(slot, flags, tmp_path, fixture_dir):
    """The CLI's template (made by make_fixture from zero weights) and one traced from random weights: same bytes."""
    cli = fixture_dir / "templates" / FOLDERS[slot]
    spec = spec_from_flags(slot, flags, title=TITLES[slot])
    make_template(spec, tmp_path / "t", model=_random(spec, 11))
    names = sorted(p.name for p in cli.iterdir() if p.name != ".adm-output.json")  # the CLI's output-folder marker
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == names
    for name in names:
        assert (tmp_path / "t" / name).read_bytes() == (cli / name).read_bytes(), name


# --- filled templates under ONNX Runtime -------------------------------------------------------------------------

def _fill(folder, tensors, dest):
    t = read_template(folder)
    dest.mkdir(parents=True, exist_ok=True)
    for g in t["graphs"]:
        (dest / g["file"]).write_bytes((folder / g["file"]).read_bytes())
        write_data_files(g, tensors, dest)
    return t


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def _filled_fixture(fixture_dir, slot, dest):
    """The fixture's checkpoint of `slot` as a PyTorch model, and its template filled from the .pt file in `dest`."""
    spec = spec_from_flags(slot, {"unet": NARROW_UNET_FLAGS, "classifier": NARROW_CLASSIFIER_FLAGS}[slot])
    sd = load_checkpoint(fixture_dir / f"{slot}.pt")
    model = build_model(slot, spec.cfg, init="skip")
    model.load_state_dict(sd)
    _fill(fixture_dir / "templates" / FOLDERS[slot], sd, dest)
    return model.eval()


def test_filled_unet_runs_like_pytorch(fixture_dir, tmp_path, need_ort):
    model = _filled_fixture(fixture_dir, "unet", tmp_path / "p")
    g = torch.Generator().manual_seed(3)
    x, t, y = torch.randn(3, 3, 64, 64, generator=g), torch.tensor([999.0, 0.0, 417.0]), torch.tensor([1, 999, 417])
    with torch.no_grad():
        ref = model(x, t, y).numpy()
    feeds = [{"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()}]
    got32 = run_ort(tmp_path / "p" / "unet.onnx", feeds, tmp_path)[0]["model_output"]
    got16 = run_ort(tmp_path / "p" / "unet.fp16.onnx", feeds, tmp_path)[0]["model_output"]
    assert np.abs(ref).max() > 1e-2
    assert _rel(got32, ref) <= 1e-4
    assert np.isfinite(got16).all() and _rel(got16, ref) <= 2e-2


def test_filled_classifier_gradient_is_autograd(fixture_dir, tmp_path, need_ort):
    model = _filled_fixture(fixture_dir, "classifier", tmp_path / "p")
    g = torch.Generator().manual_seed(4)
    x, t, y = torch.randn(2, 3, 64, 64, generator=g), torch.tensor([10.0, 700.0]), torch.tensor([5, 998])
    xg = x.clone().requires_grad_(True)
    logp = torch.log_softmax(model(xg, t), dim=-1)[torch.arange(2), y]
    (grad,) = torch.autograd.grad(logp.sum(), xg)
    out = run_ort(tmp_path / "p" / "classifier_grad.onnx", [{"x": x.numpy(), "timesteps": t.numpy(),
                                                             "y": y.numpy()}], tmp_path)[0]
    assert _rel(out["grad"], grad.numpy()) <= 1e-3
    assert np.abs(out["logp"] - logp.detach().numpy()).max() <= 1e-4


def test_filled_upsampler_runs_like_pytorch(upsampler_template, tmp_path, need_ort):
    """A template traced from zero weights, filled with random ones, computes what those random ones compute."""
    _, model, folder = upsampler_template
    _fill(folder, model.state_dict(), tmp_path / "p")
    g = torch.Generator().manual_seed(6)
    x, low = torch.randn(2, 3, 64, 64, generator=g), torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    t, y = torch.tensor([5.0, 900.0]), torch.tensor([3, 7])
    with torch.no_grad():
        ref = model(x, t, low, y).numpy()
    feeds = [{"x": x.numpy(), "timesteps": t.numpy(), "low_res": low.numpy(), "y": y.numpy()}]
    assert _rel(run_ort(tmp_path / "p" / "upsampler.onnx", feeds, tmp_path)[0]["model_output"], ref) <= 1e-4
    assert _rel(run_ort(tmp_path / "p" / "upsampler.fp16.onnx", feeds, tmp_path)[0]["model_output"], ref) <= 2e-2


# --- convert writes the page's bytes ------------------------------------------------------------------------------

def test_convert_data_files_are_the_fill_of_the_checkpoint(fixture_dir, tmp_path):
    """The bytes the page writes: the template's plan applied to the tensors read straight from the .pt files."""
    pack = fixture_dir / "pack"
    m = json.loads((pack / "manifest.json").read_text())
    for key, name, ckpt in (("unet", "narrow64_diffusion", "unet.pt"), ("unetFp16", "narrow64_diffusion", "unet.pt"),
                            ("classifierGrad", "narrow64_classifier", "classifier.pt")):
        t = read_template(fixture_dir / "templates" / name)
        g = next(g for g in t["graphs"] if g["file"] == m[key]["file"])
        assert (pack / g["file"]).read_bytes() == (fixture_dir / "templates" / name / g["file"]).read_bytes()
        items = write_data_files(g, load_checkpoint(fixture_dir / ckpt), tmp_path)
        assert items == m[key]["externalData"]
        for item in items:
            assert (tmp_path / item["file"]).read_bytes() == (pack / item["file"]).read_bytes()
    # an fp32 tensor is the checkpoint's bytes verbatim
    sd = load_checkpoint(fixture_dir / "unet.pt")
    g = read_template(fixture_dir / "templates" / "narrow64_diffusion")["graphs"][0]
    data = (pack / g["externalData"][0]["file"]).read_bytes()
    for key, offset, n, _ in g["externalData"][0]["tensors"][:5]:
        assert data[offset:offset + n] == sd[key].numpy().tobytes()


def test_fill_refuses_a_wrong_shape(fixture_dir, tmp_path):
    sd = load_checkpoint(fixture_dir / "unet.pt")
    sd["time_embed.0.bias"] = torch.zeros(3)
    g = read_template(fixture_dir / "templates" / "narrow64_diffusion")["graphs"][0]
    with pytest.raises(ValueError, match="time_embed.0.bias"):
        write_data_files(g, sd, tmp_path)


# --- the CLI --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,match", [
    (["--kind", "unet", "--flags", "--image_size 64 --num_chanels 32"], "unknown model flag.*did you mean --num_channels"),
    (["--kind", "unet", "--flags", "--image_size 64 --learn_sigma maybe"], "--learn_sigma: expected a boolean"),
    (["--kind", "unet", "--flags", "--image_size 48"], "no default channel_mult for image size 48"),
    (["--kind", "unet", "--flags", "--num_channels 30"], "--flags: .*"),
    (["--kind", "upsampler", "--flags", NARROW_UNET_FLAGS], "describe a base diffusion model"),
    (["--kind", "unet", "--flags", NARROW_UPSAMPLER_FLAGS], "super-resolution model.*--kind upsampler"),
    (["--kind", "classifier", "--flags", "--classifier_pool spatial"], "not supported here"),
    (["--kind", "unet"], "needs --flags"),
    (["--kind", "unet", "--flags", "  "], "needs --flags"),
    (["--stem", "64x64_diffusion"], "--out DIR is required"),
    (["--stem", "1024x1024_diffusion", "--out", "X"], "unknown --stem '1024x1024_diffusion'"),
    (["--stem", "64x64_diffusion", "--flags", "--image_size 64", "--out", "X"], "either --stem or --kind"),
    (["--shipped", "--only", "lsun_256"], "is not a shipped template"),
    (["--check", "--out", "X"], "take no --out"),
    (["--stem", "64x64_diffusion", "--only", "64x64_diffusion", "--out", "X"], "--only goes with"),
])
def test_cli_errors(argv, match, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = template_cli(argv + (["--out", str(tmp_path / "o")] if argv[0] == "--kind" else []))
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("template: error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "X").exists()


def test_cli_out_folder_errors(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("mine")
    for out, match in ((tmp_path / "file", "exists and is not a folder"), (tmp_path / "file" / "sub", "is a file"),
                       (tmp_path / "full", "pass --force")):
        code = template_cli(["--kind", "classifier", "--flags", NARROW_CLASSIFIER_FLAGS, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "full" / "mine.txt").read_text() == "mine"


def test_weights_read_back_from_a_converted_pack(fixture_dir):
    """train --init-from (adm.onnx_weights) on a pack made from templates: the checkpoint's tensors, by key."""
    from adm.export import export_classifier_grad, export_unet
    from adm.manifest import read_manifest
    from adm.onnx_weights import onnx_state_dict
    from adm.pack_files import load_pack_graph

    pack = fixture_dir / "pack"
    m = read_manifest(pack)
    for slot, flags, entry, ckpt, export in (
            ("unet", NARROW_UNET_FLAGS, "unet", "unet.pt", export_unet),
            ("classifier", NARROW_CLASSIFIER_FLAGS, "classifierGrad", "classifier.pt", export_classifier_grad)):
        spec = spec_from_flags(slot, flags)
        got = onnx_state_dict(build_model(spec.model_kind, spec.cfg, init="meta"), load_pack_graph(pack, m, entry), export)
        want = load_checkpoint(fixture_dir / ckpt)
        assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)


def test_weights_split_over_several_data_files(fixture_dir, tmp_path, monkeypatch, need_ort):
    """Graphs whose weights pass the data-file limit (the released 256 and 512 U-Nets at 1 GiB) use several files:
    same outputs as one file, a manifest both validators accept."""
    import os
    import subprocess

    from conftest import REPO
    from test_manifest_fuzz import TS_CHECK

    from adm import templates
    from adm.template_pack import Part, write_template_pack

    monkeypatch.setattr(templates, "DATA_FILE_BYTES", 1_000_000)
    spec = spec_from_flags("unet", NARROW_UNET_FLAGS)
    make_template(spec, tmp_path / "t")
    t = read_template(tmp_path / "t")
    names = [p["file"] for p in t["graphs"][0]["externalData"]]
    assert len(names) >= 3 and names == [f"unet.onnx.{i}.data" for i in range(len(names))]
    sd = load_checkpoint(fixture_dir / "unet.pt")
    one = json.loads((fixture_dir / "pack" / "manifest.json").read_text())
    pack = write_template_pack(tmp_path / "pack", {k: one[k] for k in one if k not in (
        "name", "title", "unet", "unetFp16", "classifierGrad", "source", "license")}, unet=Part(tmp_path / "t", t, sd),
        fp16=True, name="split", title="split", source="test", license="test")
    m = json.loads((pack / "manifest.json").read_text())
    assert [e["file"] for e in m["unet"]["externalData"]] == names and len(m["unetFp16"]["externalData"]) >= 2
    g = torch.Generator().manual_seed(8)
    feeds = [{"x": torch.randn(1, 3, 64, 64, generator=g).numpy(), "timesteps": np.array([321.0], np.float32),
              "y": np.array([7])}]
    for graph in ("unet.onnx", "unet.fp16.onnx"):
        a = run_ort(pack / graph, feeds, tmp_path / "a")[0]["model_output"]
        b = run_ort(fixture_dir / "pack" / graph, feeds, tmp_path / "b")[0]["model_output"]
        assert np.array_equal(a, b), graph
    (tmp_path / "cases.json").write_text(json.dumps([m]))
    env = dict(os.environ, ADM_MANIFEST_CASES=str(tmp_path / "cases.json"),
               ADM_MANIFEST_RESULTS=str(tmp_path / "results.json"))
    p = subprocess.run([str(REPO / "node_modules" / ".bin" / "tsx"), "-e", TS_CHECK], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "results.json").read_text()) == [None]
