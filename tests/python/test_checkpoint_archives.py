"""adm.checkpoint_io against the archives the page's reader is tested with (tests/fixtures/make_torch_archives.py).

Both readers must refuse the same hostile files, with the same unsafe/damaged verdict and, where the rule is shared,
the same words. A few files only the page refuses (views and non-contiguous or shared records it cannot map byte for
byte, legacy files, non-state-dict pickles) must still load here, since convert copies tensors out of them.
"""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from conftest import REPO

from adm.checkpoint_io import CheckpointError, UnsafeCheckpointError, load_checkpoint

# Python words the rule differently, or fails inside torch/zipfile rather than in its own check.
OWN_WORDS = {"build_tensor", "shape_overflow", "shape_beyond_2_53", "negative_stride", "past_storage", "memo_missing",
             "stack_underflow", "protocol0", "truncated_pickle", "truncated", "absurd_entries", "bare_pickle"}


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("make_torch_archives", REPO / "tests" / "fixtures" / "make_torch_archives.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path_factory.mktemp("archives")
    assert mod.main([str(out)]) == 0
    return out, json.loads((out / "hostile.json").read_text()), json.loads((out / "good.json").read_text())


def test_hostile_files(archives):
    out, hostile, _ = archives
    assert len(hostile) >= 45
    for case in hostile:
        path = out / "hostile" / case["file"]
        name = case["file"][:-3]
        if case["python"] == "accept":
            load_checkpoint(path)
            continue
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        assert isinstance(info.value, UnsafeCheckpointError) == case["unsafe"], (name, str(info.value))
        if name not in OWN_WORDS:
            assert case["needle"] in info.value.reason, (name, info.value.reason)
        assert "\n" not in str(info.value)


def test_good_files(archives):
    out, _, good = archives
    for file, want in good.items():
        obj = load_checkpoint(out / "good" / file)
        sd = obj[want["wrapper"]] if want["wrapper"] else obj
        keys = [k[len(want["strippedPrefix"] or ""):] for k in sd]
        assert keys == [t["key"] for t in want["tensors"]], file
        for t in want["tensors"]:
            v = sd[(want["strippedPrefix"] or "") + t["key"]]
            assert str(v.dtype) == f"torch.{t['dtype']}" and list(v.shape) == t["shape"], (file, t["key"])
    assert torch.equal(load_checkpoint(out / "good" / "zip64.pt")["nd"], load_checkpoint(out / "good" / "dtypes.pt")["nd"])
