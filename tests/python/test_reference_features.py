"""Reference features (manifest referenceFeatures): the classifier's penultimate features of real val images at
t = 0, written by write_pack / make-pack --data, equal to what the exported graph's "features" output gives the app
for the same images."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import run_ort
from test_judge import IMAGENETTE_WNIDS, make_image_folder

from adm import make_pack as make_pack_mod
from adm.tiny_pack import DIFFUSION, IMAGENETTE_LABELS, build_models
from adm.manifest import read_manifest
from adm.pack import write_pack
from adm.reference_features import REFERENCE_FILE, penultimate_features, read_reference, reference_set
from adm.cli import make_pack as make_pack_cli


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_image_folder(root, IMAGENETTE_WNIDS, size=16, n_train=1, n_val=5)
    unet, classifier = build_models()
    return root, unet, classifier


def test_reference_set(setup):
    root, _, classifier = setup
    ref = reference_set(classifier, str(root), IMAGENETTE_WNIDS, 16, per_label=4)
    c = classifier.cfg.model_channels * classifier.cfg.channel_mult[-1]
    assert ref.features.shape == (10, 4, c) and ref.features.dtype == np.float32 and ref.timestep == 0
    assert np.abs(ref.features).max() > 1e-3
    # label k's block holds class k's first 4 val images (sorted names), as the classifier sees them at t = 0
    from adm.data import load_image_folder
    val = load_image_folder(str(root), "val", 16, wnids=[IMAGENETTE_WNIDS[3]], limit_per_class=4)
    want = penultimate_features(classifier, val.images.float() / 127.5 - 1, torch.zeros(4)).numpy()
    assert np.allclose(ref.features[3], want, atol=1e-6)
    with pytest.raises(ValueError, match="at least 4"):
        reference_set(classifier, str(root), IMAGENETTE_WNIDS, 16, per_label=3)
    with pytest.raises(ValueError, match="fewer than 6"):
        reference_set(classifier, str(root), IMAGENETTE_WNIDS, 16, per_label=6)


def test_pack_with_reference_features(setup, tmp_path, need_ort):
    root, unet, classifier = setup
    ref = reference_set(classifier, str(root), IMAGENETTE_WNIDS, 16, per_label=4)
    out = write_pack(tmp_path / "p", unet, classifier, fp16=False, verify=True, reference=ref, name="p", title="p",
                     unconditional_label=10, labels=IMAGENETTE_LABELS, diffusion=DIFFUSION, classifier_scale=1.0,
                     timestep_respacing="ddim10", use_ddim=True, source="test", license="CC0-1.0")
    m = read_manifest(out)  # sizes and sha256 checked
    e = m["referenceFeatures"]
    assert e["file"] == REFERENCE_FILE and e["shape"] == [10, 4, ref.features.shape[2]] and e["timestep"] == 0
    assert e["bytes"] == ref.features.nbytes == (out / REFERENCE_FILE).stat().st_size
    assert "features" in m["classifierGrad"]["outputs"]
    assert np.array_equal(read_reference(out, e), ref.features)
    # The app's side: the graph's features output for the same images at t = 0 is the stored block.
    from adm.data import load_image_folder
    val = load_image_folder(str(root), "val", 16, wnids=IMAGENETTE_WNIDS, limit_per_class=4)
    x = (val.images.float() / 127.5 - 1).numpy()
    got = run_ort(out / m["classifierGrad"]["file"], [{"x": x, "timesteps": np.zeros(len(x), np.float32),
                                                       "y": val.labels.numpy()}], tmp_path)[0]["features"]
    assert np.abs(got - ref.features.reshape(len(x), -1)).max() <= 1e-4 * np.abs(got).max()


def test_make_pack_reference_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        make_pack_cli.main(["--run", str(tmp_path), "--out", str(tmp_path / "p"), "--reference-per-class", "-1"])
    assert e.value.code == 2 and "--reference-per-class" in capsys.readouterr().err
    assert json.dumps(make_pack_mod.DEFAULT_PER_LABEL) == "50"
