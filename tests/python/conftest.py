"""Shared pytest setup for the Python toolkit tests (run with /usr/bin/python3 -m pytest tests/python)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from adm.pack import ort_available, run_onnx  # noqa: E402

torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))


def official_keys_dir() -> Path:
    env = os.environ.get("ADM_OFFICIAL_KEYS")
    if env:
        return Path(env)
    return (REPO / ".." / "shared" / "reference" / "official-keys").resolve()


@pytest.fixture
def need_ort():
    if not ort_available():
        pytest.skip("onnxruntime-node not installed (run `npm install`): ONNX parity needs node + node_modules/onnxruntime-node")


def run_ort(model_path, feeds_list, workdir, threads: int = 2):
    """adm.pack.run_onnx with a time limit: every output of the graph for each feeds dict, on one session."""
    return run_onnx(model_path, feeds_list, workdir, threads, timeout=300)


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """(data, judge) for evaluating the tiny16 pack: a synthetic 16 px ImageFolder of its 10 classes and a tiny
    judge trained on it (tests/python/test_eval*.py)."""
    from test_judge import IMAGENETTE_WNIDS, make_image_folder, train_tiny_judge

    root = tmp_path_factory.mktemp("tiny")
    data = make_image_folder(root / "data", IMAGENETTE_WNIDS, 16, n_train=3, n_val=3)
    judge = train_tiny_judge(data, root / "judge.pt", 16, steps=3)
    return data, judge
