"""tools/device/slim_run.py: the float16 EMA weights a GPU run sends back, in parts, rebuild a run make-pack reads;
tools/device/train_pack.sh parses (its --dry-run runs every step on the CPU: docs/benchmarks.md)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from test_judge import make_image_folder

from adm import make_pack
from adm.cli import train as train_cli

sys.path.insert(0, str(REPO / "tools" / "device"))
import slim_run  # noqa: E402

WNIDS = ["n01440764", "n02102040"]


def test_weights_travel_in_parts_and_rebuild_the_run(tmp_path):
    data = make_image_folder(tmp_path / "data", WNIDS, size=16, n_train=2, n_val=1)
    run = tmp_path / "run"
    for kind in ("unet", "classifier"):
        assert train_cli.main(["--data", str(data), "--out", str(run), "--model", kind, "--preset", "tiny", "--max-steps",
                           "1", "--batch-size", "2", "--threads", "1", "--no-bf16", "--micro-batch", "0"]) == 0
    sent = tmp_path / "sent"
    meta = slim_run.export(run, sent, part_mib=0.3)
    assert len(meta["parts"]) >= 2 and sorted(p.name for p in sent.iterdir()) == sorted(meta["parts"] + ["weights.json"])
    assert all((sent / p).stat().st_size <= 0.3 * 1048576 for p in meta["parts"])
    back = tmp_path / "back"
    slim_run.join(sent, back)
    for kind in ("unet", "classifier"):
        full, slim = torch.load(run / f"{kind}.pt"), torch.load(back / f"{kind}.pt")
        assert "opt" not in slim and "model" not in slim and slim["step"] == full["step"] == 1
        assert all(torch.equal(slim["ema"][k], v.half()) for k, v in full["ema"].items())
        model, ck = make_pack._load(back / f"{kind}.pt", kind)  # what make-pack reads: float32 from the float16 EMA
        assert next(model.parameters()).dtype == torch.float32 and ck["wnids"] == WNIDS
    # A damaged part is refused before anything is written.
    (sent / meta["parts"][0]).write_bytes(b"x")
    with pytest.raises(SystemExit, match="sha256"):
        slim_run.join(sent, tmp_path / "again")
    assert not (tmp_path / "again").exists()
    assert json.loads((sent / "weights.json").read_text())["sha256"] == meta["sha256"]


def test_device_script_parses():
    p = subprocess.run(["bash", "-n", str(REPO / "tools" / "device" / "train_pack.sh")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["bash", str(REPO / "tools" / "device" / "train_pack.sh"), "--nonsense"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "unknown argument" in p.stderr
