"""Hostile packs against the toolkit's pack readers (adm/pack_files.py, adm/manifest.py read_manifest): a graph that
takes its weights from a file the manifest does not list, listed files that are symbolic links to outside files, a
FIFO, manifests nested 100k deep, too large, with 1e309 or NaN. `train --init-from` and `classifier-eval` exit 2
with one line and no outside byte reaches any output; control cases show each payload works on a plain onnx.load."""
from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from adm import manifest as manifest_mod, train
from adm.data import imagenet_index_of_wnids
from adm.export import export_classifier_grad
from adm.manifest import ManifestError, read_manifest
from adm.onnx_weights import onnx_state_dict
from adm.pack import write_pack
from adm.pack_files import PackFileError, load_pack_graph
from adm.unet import EncoderUNetModel, UNetModel
from adm.cli import train as train_cli
from adm.cli import classifier_eval as classifier_eval_cli
from test_judge import make_image_folder

WNIDS = ["n01440764", "n02102040", "n03888257"]
SEVEN = 7.0  # the "outside" bytes: every weight 7.0


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(data folder, a genuine pack trained on nothing, an outside folder) shared by the tests."""
    root = tmp_path_factory.mktemp("readers")
    data = make_image_folder(root / "data", WNIDS, size=16, n_train=2, n_val=1)
    preset = train.TRAIN_PRESETS["tiny"]
    ucfg, ccfg = copy.deepcopy(preset["unet"]), copy.deepcopy(preset["classifier"])
    ucfg.num_classes, ccfg.out_channels = len(WNIDS) + 1, len(WNIDS)
    torch.manual_seed(0)
    pack = write_pack(root / "pack", UNetModel(ucfg).eval(), EncoderUNetModel(ccfg).eval(), fp16=False,
                      name="pack", title="t", unconditional_label=len(WNIDS), labels=imagenet_index_of_wnids(WNIDS),
                      diffusion=preset["diffusion"], classifier_scale=1.0, timestep_respacing="ddim10", use_ddim=True,
                      source="test", license="test")
    outside = root / "outside"
    outside.mkdir()
    return data, pack, outside


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def external_pack(pack: Path, dst: Path, outside: Path, location: str, listed: bool, link: bool) -> Path:
    """A copy of `pack` whose classifier graph keeps its weights in `location`, filled with SEVEN; `listed`: the
    manifest lists that file (with the outside file's size and sha256); `link`: it is a symbolic link to a file in
    `outside` instead of a file in the pack."""
    shutil.copytree(pack, dst)
    g = dst / "classifier_grad.onnx"
    onnx.save_model(onnx.load(str(g)), str(g), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=1024)
    data = dst / location
    np.full(data.stat().st_size // 4, SEVEN, dtype=np.float32).tofile(data)
    m = json.loads((dst / "manifest.json").read_text())
    e = m["classifierGrad"]
    e["bytes"], e["sha256"] = g.stat().st_size, _sha(g)
    if listed:
        e["externalData"] = [{"file": location, "bytes": data.stat().st_size, "sha256": _sha(data)}]
    if link:
        target = outside / f"{dst.name}.bin"
        shutil.move(str(data), target)
        os.symlink(target, data)
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def _sevens(proto) -> int:
    return sum(int((onnx.numpy_helper.to_array(t) == SEVEN).sum()) for t in proto.graph.initializer if t.raw_data)


def _init_from(data: Path, pack: Path, out: Path, capsys):
    code = train_cli.main(["--data", str(data), "--out", str(out), "--model", "classifier", "--preset", "tiny",
                       "--max-steps", "0", "--init-from", str(pack), "--threads", "1", "--no-bf16"])
    return code, capsys.readouterr().err


def _classifier_eval(data: Path, pack: Path, capsys):
    code = classifier_eval_cli.main(["--pack", str(pack), "--data", str(data), "--limit", "2"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("listed,link", [(False, False), (False, True), (True, True)],
                         ids=["unlisted file in the pack", "unlisted link out", "listed link out"])
def test_external_data_the_manifest_does_not_vouch_for(setup, tmp_path, capsys, listed, link):
    data, pack, outside = setup
    evil = external_pack(pack, tmp_path / "evil", outside, "evil.data", listed, link)
    # Control: what the readers did before (onnx.load) takes every weight from that file.
    assert _sevens(onnx.load(str(evil / "classifier_grad.onnx"))) > 100_000
    m = read_manifest(evil, check_files=False)
    with pytest.raises(PackFileError, match="symbolic link" if link and listed else "not one of this graph's"):
        load_pack_graph(evil, m, "classifierGrad")
    out = tmp_path / "run"
    code, err = _init_from(data, evil, out, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "evil.data" in err and not (out / "classifier.pt").exists()
    code, err = _classifier_eval(data, evil, capsys)
    assert code == 2 and err.startswith("classifier-eval: error: ") and "evil.data" in err, err


def test_listed_external_data_is_read_from_memory(setup, tmp_path, capsys):
    """The genuine case: a listed external-data file inside the pack fills the graph, onnx reads no file itself."""
    data, pack, outside = setup
    good = external_pack(pack, tmp_path / "good", outside, "w.data", listed=True, link=False)
    m = read_manifest(good)  # sizes and sha256 of every listed file
    proto = load_pack_graph(good, m, "classifierGrad")
    assert _sevens(proto) > 100_000 and not any(t.external_data for t in proto.graph.initializer)
    ccfg = copy.deepcopy(train.TRAIN_PRESETS["tiny"]["classifier"])
    ccfg.out_channels = len(WNIDS)
    sd = onnx_state_dict(EncoderUNetModel(ccfg), proto, export_classifier_grad)
    assert any(bool((v == SEVEN).all()) for v in sd.values())
    # A changed byte in the listed file: refused by its sha256.
    with open(good / "w.data", "r+b") as f:
        f.write(b"\x01")  # the first byte of 7.0f is 0
    with pytest.raises(PackFileError, match=r"externalData\[0\]\.sha256"):
        load_pack_graph(good, m, "classifierGrad")
    # And a path to a graph with external data is refused outright (only load_pack_graph resolves it).
    with pytest.raises(ValueError, match="keeps weights in external-data files"):
        onnx_state_dict(EncoderUNetModel(ccfg), good / "classifier_grad.onnx", export_classifier_grad)


def test_graph_file_and_manifest_as_links_out(setup, tmp_path, capsys):
    data, pack, outside = setup
    # The graph file itself a link to an identical copy outside: its size and sha256 match, the link is refused.
    evil = tmp_path / "graphlink"
    shutil.copytree(pack, evil)
    target = outside / "classifier_copy.onnx"
    shutil.move(str(evil / "classifier_grad.onnx"), target)
    os.symlink(target, evil / "classifier_grad.onnx")
    code, err = _init_from(data, evil, tmp_path / "run", capsys)
    assert code == 2 and "classifier_grad.onnx" in err and "symbolic link" in err, err
    # manifest.json a link to a manifest outside.
    evil2 = tmp_path / "manifestlink"
    shutil.copytree(pack, evil2)
    shutil.move(str(evil2 / "manifest.json"), outside / "manifest.json")
    os.symlink(outside / "manifest.json", evil2 / "manifest.json")
    with pytest.raises(ManifestError, match="symbolic link"):
        read_manifest(evil2)
    code, err = _classifier_eval(data, evil2, capsys)
    assert code == 2 and "symbolic link" in err, err


def test_a_fifo_in_place_of_a_graph_does_not_hang(setup, tmp_path):
    _, pack, _ = setup
    evil = tmp_path / "fifo"
    shutil.copytree(pack, evil)
    (evil / "classifier_grad.onnx").unlink()
    os.mkfifo(evil / "classifier_grad.onnx")
    done = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(ManifestError, read_manifest, evil)), daemon=True)
    t.start()
    t.join(30)
    assert done, "reading a pack with a FIFO blocked"
    assert "not a regular file" in str(done[0].value)


@pytest.mark.parametrize("text,message", [
    ('{"schemaVersion": 1, "labels": ' + "[" * 100_000 + "]" * 100_000 + "}", "more than 64 deep"),
    ('{"schemaVersion": 1, "x": NaN}', "NaN is not a JSON number"),
    ('{"schemaVersion": 1, "x": Infinity}', "Infinity is not a JSON number"),
    ('{"schemaVersion": 1, "x": 1', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_manifest_text_refused_in_one_line(setup, tmp_path, capsys, text, message):
    data, pack, _ = setup
    evil = tmp_path / "evil"
    shutil.copytree(pack, evil)
    (evil / "manifest.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ManifestError, match=message):
        read_manifest(evil)
    code, err = _classifier_eval(data, evil, capsys)
    assert code == 2 and message.split()[0] in err and err.count("\n") == 1 and "Traceback" not in err, err
    code, err = _init_from(data, evil, tmp_path / "run", capsys)
    assert code == 2 and err.count("\n") == 1, err


def test_manifest_size_and_huge_numbers(setup, tmp_path, monkeypatch):
    _, pack, _ = setup
    evil = tmp_path / "evil"
    shutil.copytree(pack, evil)
    m = json.loads((pack / "manifest.json").read_text())
    text = json.dumps(m).replace('"classifierScale": 1.0', '"classifierScale": 1e309')
    assert "1e309" in text
    (evil / "manifest.json").write_text(text)
    with pytest.raises(ManifestError, match=r"classifierScale must be a finite number \(got Infinity \(the number "
                                            r"is too large for a 64-bit float\)\)"):
        read_manifest(evil)
    monkeypatch.setattr(manifest_mod, "MAX_MANIFEST_BYTES", 100)
    (evil / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="a manifest may have at most 100$"):
        read_manifest(evil)
