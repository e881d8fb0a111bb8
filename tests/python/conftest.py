"""Shared pytest setup for the Python toolkit tests (run with /usr/bin/python3 -m pytest tests/python)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))


def official_keys_dir() -> Path:
    env = os.environ.get("ADM_OFFICIAL_KEYS")
    if env:
        return Path(env)
    return (REPO / ".." / "shared" / "reference" / "official-keys").resolve()


def ort_available() -> bool:
    return shutil.which("node") is not None and (REPO / "node_modules" / "onnxruntime-node").is_dir()


@pytest.fixture
def need_ort():
    if not ort_available():
        pytest.skip("onnxruntime-node not installed (run `npm install`): ONNX parity needs node + node_modules/onnxruntime-node")
