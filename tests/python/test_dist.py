"""Data-parallel training under torchrun (gloo on the CPU): the global batch does not depend on the number of
processes, 2 processes train the same weights as 1, rank 0 alone writes, a run resumes with another world size,
a killed rank ends the job, SIGTERM to the launcher saves and stops every rank."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO
from test_judge import make_image_folder

from adm.dist import Dist, shard_bounds
from adm.global_batch import draw_batch, flip_and_crop, mix_seed
from adm.grad_sync import GradSync
from adm.cli.torchrun import repair_std_parser
from adm.cli import train as train_cli

WNIDS = ["n01440764", "n02102040", "n03888257"]
LAUNCH_TIMEOUT = 150  # s: a broken launch fails the test instead of hanging the suite


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data"), WNIDS, size=16, n_train=8, n_val=2)


def _args(data, out, steps, *extra, seed=0):
    return ["--data", str(data), "--out", str(out), "--model", "unet", "--preset", "tiny", "--max-steps", str(steps),
            "--batch-size", "8", "--limit-per-class", "8", "--seed", str(seed), "--threads", "1", "--no-bf16", *extra]


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")


def _launch(nproc, argv, **popen):
    """adm.cli.torchrun (torch's launcher, repaired for torch 1.13 on Python 3.11) running adm.cli.train on nproc ranks."""
    cmd = [sys.executable, "-m", "adm.cli.torchrun", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{_free_port()}", "-m", "adm.cli.train", *argv]
    return subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **popen)


def _run(nproc, argv):
    proc = _launch(nproc, argv)
    out, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
    return proc.returncode, out


def _max_rel(a: dict, b: dict) -> float:
    """Largest per-tensor max|a - b| / max|b| (zero tensors compared absolutely)."""
    worst = 0.0
    for k in b:
        x, y = a[k].double(), b[k].double()
        worst = max(worst, ((x - y).abs().max() / y.abs().max().clamp_min(1e-12)).item())
    return worst


def _global_rel(a: dict, b: dict) -> float:
    """max|a - b| / max|b| over all the weights at once."""
    return (max((a[k].double() - b[k].double()).abs().max().item() for k in b)
            / max(b[k].double().abs().max().item() for k in b))


# ------------------------------------------------------------------------------------------- no processes

def test_shards_are_disjoint_and_cover_the_global_batch():
    for n in (1, 7, 8, 33):
        for w in range(1, min(n, 5) + 1):
            got = [i for r in range(w) for i in range(*shard_bounds(n, r, w))]
            assert got == list(range(n))
    # The ranks' slices of one global batch are exactly the one-process draw, cut in pieces.
    args = dict(seed=3, step=5, batch_size=7, num_images=40, num_timesteps=1000, image_shape=(3, 4, 4), crop_pad=2,
                label_dropout=0.3)
    whole = draw_batch(part=slice(0, 7), **args)
    for w in (2, 3):
        parts = [draw_batch(part=slice(*shard_bounds(7, r, w)), **args) for r in range(w)]
        for field in ("idx", "flip", "crop", "t", "drop", "noise"):
            assert torch.equal(torch.cat([getattr(p, field) for p in parts]), getattr(whole, field)), field
    # Another step or seed draws another batch.
    assert not torch.equal(draw_batch(part=slice(0, 7), **{**args, "step": 6}).noise, whole.noise)
    assert not torch.equal(draw_batch(part=slice(0, 7), **{**args, "seed": 4}).idx, whole.idx)
    assert len({mix_seed(0, 2, s, i) for s in range(50) for i in range(50)}) == 2500
    assert len({mix_seed(s) for s in range(1000)}) == 1000


def test_micro_batch_chunks_cover_the_batch_for_any_world_size():
    for bs, m in ((8, 1), (10, 3), (256, 32)):
        for w in range(1, min(-(-bs // m), 6) + 1):
            parts = [p for r in range(w) for p in GradSync(Dist(rank=r, world_size=w), bs, m).parts()]
            assert [i for p in parts for i in range(p.start, p.stop)] == list(range(bs))
            assert all(p.stop - p.start == m for p in parts[:-1])  # chunk borders fixed by M alone


def test_flip_and_crop_match_slicing():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    flip, crop = torch.tensor([True, False]), torch.tensor([[0, 4], [2, 1]])
    got = flip_and_crop(x, flip, crop, 2)
    padded = torch.nn.functional.pad(torch.stack([x[0].flip(-1), x[1]]), (2, 2, 2, 2), mode="reflect")
    assert torch.equal(got, torch.stack([padded[0, :, 0:5, 4:9], padded[1, :, 2:7, 1:6]]))


def test_launcher_parses_redirects_and_tee():
    from torch.distributed.elastic.multiprocessing.api import Std
    repair_std_parser()
    assert Std.from_str("0") == Std.NONE and Std.from_str("3") == Std.ALL
    assert Std.from_str("0:3,1:0") == {0: Std.ALL, 1: Std.NONE}
    with pytest.raises(ValueError):
        Std.from_str("7")


# ------------------------------------------------------------------------------------------- torchrun

@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory):
    """The 1-process reference: its checkpoints after 2 and after 3 steps."""
    out = tmp_path_factory.mktemp("w1")
    assert train_cli.main(_args(data, out, 2)) == 0
    at2 = torch.load(out / "unet.pt")
    assert train_cli.main(_args(data, out, 3)) == 0
    return at2, torch.load(out / "unet.pt")


def test_two_processes_train_the_one_process_weights(data, one_process, tmp_path):
    at2, at3 = one_process
    out = tmp_path / "w2"
    rc, log = _run(2, _args(data, out, 2))
    assert rc == 0, log
    ck = torch.load(out / "unet.pt")
    assert ck["world_size"] == 2 and ck["step"] == 2 and ck["seen"] == 16
    for key in ("model", "ema"):  # the EMA too: the same on every rank, so rank 0's is everyone's
        assert _max_rel(ck[key], at2[key]) <= 1e-5, key
    # Rank 0 alone wrote: one checkpoint, one sample grid, one summary line; the other rank wrote nothing.
    assert sorted(p.name for p in out.iterdir()) == ["samples", "unet.log.jsonl", "unet.pt"]
    assert [p.name for p in (out / "samples").iterdir()] == ["unet_step0000002.png"]
    summaries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["world_size"] == 2
    # Resumed with 2 processes, then (a copy) with 1: both continue exactly as the 1-process run did.
    other = tmp_path / "w2to1"
    shutil.copytree(out, other)
    rc, log = _run(2, _args(data, out, 3))
    assert rc == 0, log
    ck3 = torch.load(out / "unet.pt")
    assert ck3["world_size"] == 2 and _max_rel(ck3["model"], at3["model"]) <= 1e-5
    assert train_cli.main(_args(data, other, 3)) == 0
    ck = torch.load(other / "unet.pt")
    assert ck["world_size"] == 1 and ck["step"] == 3
    assert _max_rel(ck["model"], at3["model"]) <= 1e-5 and _max_rel(ck["ema"], at3["ema"]) <= 1e-5
    # A different seed is a different run.
    assert train_cli.main(_args(data, tmp_path / "seed1", 3, seed=1)) == 0
    assert _global_rel(torch.load(tmp_path / "seed1" / "unet.pt")["model"], at3["model"]) > 1e-3


def test_ddp_path_matches_up_to_summation_order(data, tmp_path):
    """Without --micro-batch (DDP averaging one chunk per rank) the weights agree up to float32 summation order."""
    ref = tmp_path / "w1"
    assert train_cli.main(_args(data, ref, 3, "--micro-batch", "0")) == 0
    rc, log = _run(2, _args(data, tmp_path / "w2", 3, "--micro-batch", "0"))
    assert rc == 0, log
    a, b = torch.load(tmp_path / "w2" / "unet.pt"), torch.load(ref / "unet.pt")
    assert _global_rel(a["model"], b["model"]) <= 1e-5 and _global_rel(a["ema"], b["ema"]) <= 1e-5


def _wait_for(path: Path, proc, timeout: float = 90.0):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.2)


def _worker_pid(launcher: int, rank: int) -> int:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (d / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher and f"RANK={rank}".encode() in env:
            return int(d.name)
    raise AssertionError(f"no rank {rank} under launcher {launcher}")


def test_a_killed_rank_ends_the_job(data, tmp_path):
    out = tmp_path / "k"
    proc = _launch(2, _args(data, out, 100000, "--micro-batch", "0", "--ckpt-every-min", "0"))
    try:
        _wait_for(out / "unet.pt", proc)
        os.kill(_worker_pid(proc.pid, 1), signal.SIGKILL)
        t0 = time.time()
        log, _ = proc.communicate(timeout=60)
        assert time.time() - t0 < 60
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "error: [rank 0/2] training stopped" in log, log[-3000:]


def test_sigterm_to_the_launcher_saves_and_stops_every_rank(data, tmp_path):
    out = tmp_path / "t"
    proc = _launch(2, _args(data, out, 100000, "--micro-batch", "0", "--ckpt-every-min", "0"))
    try:
        _wait_for(out / "unet.pt", proc)
        workers = [_worker_pid(proc.pid, r) for r in (0, 1)]
        step = torch.load(out / "unet.pt")["step"]
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, log[-3000:]
    assert "stopped by a signal" in log and "torchrun: stopped by signal 15" in log
    assert not [p for p in workers if Path(f"/proc/{p}").exists()], "a worker outlived the launcher"
    ck = torch.load(out / "unet.pt")
    assert ck["step"] >= step and ck["world_size"] == 2
