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


def run_ort(model_path, feeds_list, workdir, threads: int = 2):
    """Run an .onnx with onnxruntime-node (tools/ort_run.mjs) on each feeds dict (name -> np.ndarray),
    all on one session; returns a list of {output name: np.ndarray}."""
    import json
    import subprocess

    import numpy as np

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stem = Path(model_path).stem.replace(".", "_")
    # ask for every output: read the names from the graph
    import onnx

    outputs = [o.name for o in onnx.load(str(model_path), load_external_data=False).graph.output]
    runs = []
    for r, feeds in enumerate(feeds_list):
        ins = {}
        for name, arr in feeds.items():
            f = workdir / f"{stem}_{r}_in_{name}.npy"
            np.save(f, np.ascontiguousarray(arr))
            ins[name] = str(f)
        outs = {name: str(workdir / f"{stem}_{r}_out_{name}.npy") for name in outputs}
        runs.append({"inputs": ins, "outputs": outs})
    job = workdir / f"{stem}_job.json"
    job.write_text(json.dumps({"model": str(Path(model_path).resolve()), "threads": threads, "runs": runs}))
    proc = subprocess.run(["node", str(REPO / "tools" / "ort_run.mjs"), str(job)], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"ort_run failed ({proc.returncode}): {proc.stderr.strip()}")
    return [{name: np.load(path) for name, path in run["outputs"].items()} for run in runs]
