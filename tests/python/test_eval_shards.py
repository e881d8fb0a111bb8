"""adm.eval with its sampling split: --shard I/N parts merged with --merge, and torchrun ranks, give the one-process
report (timings aside); a merge of parts that are missing, repeated or of another eval is refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from test_dist import _free_port

from adm.cli.eval import main

TINY16 = REPO / "public" / "models" / "tiny16"
TIMING = {"msPerStep", "msPerImage", "seconds", "created"}


def _args(data, judge, out, *extra):
    # 2 rows x 3 sampler batches of 4: three parts split the rows in the middle of a row.
    return ["--pack", str(TINY16), "--data", str(data), "--judge", str(judge), "--out", str(out), "--modes", "cond",
            "--scales", "0,2", "--samples-per-class", "1", "--batch", "4", "--threads", "1", "--ref-per-class", "2",
            *extra]


def _report(folder):
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in TIMING}
        return [strip(v) for v in o] if isinstance(o, list) else o
    return strip(json.loads((folder / "eval.json").read_text()))


@pytest.fixture(scope="module")
def one_process(tiny_setup, tmp_path_factory):
    data, judge = tiny_setup
    out = tmp_path_factory.mktemp("one") / "eval"
    assert main(_args(data, judge, out)) == 0
    return out


def test_shards_merge_to_the_one_process_report(tiny_setup, one_process, tmp_path, capsys, need_ort):
    data, judge = tiny_setup
    parts = [tmp_path / f"s{i}" for i in range(3)]
    for i, part in enumerate(parts):
        assert main(_args(data, judge, part, "--shard", f"{i}/3")) == 0
        drawn = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
        assert [r["batchRange"] for r in drawn.values()] == [[[0, 2]], [[2, 3], [0, 1]], [[1, 3]]][i]
        assert (part / "shard.json").is_file() and not (part / "eval.json").exists()  # a part scores nothing
    # Every sample drawn once: 2 rows x 10 samples over the three parts.
    counts = [r["count"] for p in parts for r in json.loads((p / "shard.json").read_text())["rows"].values()]
    assert sum(counts) == 20
    out = tmp_path / "merged"
    assert main(_args(data, judge, out, "--merge", *map(str, parts))) == 0
    assert _report(out) == _report(one_process)
    assert (out / "grids" / "cond_scale2.png").read_bytes() == (one_process / "grids" / "cond_scale2.png").read_bytes()

    # Refused, exit 2 and nothing written: a missing part, a part given twice, a part of another eval.
    other = tmp_path / "other-seed"
    assert main(_args(data, judge, other, "--shard", "2/3", "--seed", "5")) == 0
    for given, message in (([parts[0], parts[1]], "lack 2 of 6"), ([parts[0], parts[0], parts[1], parts[2]], "in both"),
                           ([parts[0], parts[1], other], "differs in seed")):
        capsys.readouterr()
        assert main(_args(data, judge, tmp_path / "bad", "--merge", *map(str, given))) == 2
        err = capsys.readouterr().err
        assert message in err and not (tmp_path / "bad").exists(), err


def test_torchrun_ranks_give_the_one_process_report(tiny_setup, one_process, tmp_path, need_ort):
    data, judge = tiny_setup
    out = tmp_path / "ranks"
    cmd = [sys.executable, "-m", "adm.cli.torchrun", "--nnodes", "1", "--nproc_per_node", "2", "--rdzv_backend", "c10d",
           "--rdzv_endpoint", f"127.0.0.1:{_free_port()}", "-m", "adm.cli.eval", *_args(data, judge, out)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    assert len([ln for ln in p.stdout.splitlines() if ln.startswith("{")]) == 1  # rank 0 alone reports
    assert _report(out) == _report(one_process)


def test_rows_that_sample_the_same_images_are_drawn_by_no_part():
    """cfg w 0 samples what classifier s 0 samples (the eval scores it from that row): the parts split only the
    rows that are sampled, and together cover each of their batches once."""
    from types import SimpleNamespace

    from adm.eval_shards import part_ranges, sampled_runs

    plan = SimpleNamespace(runs=[("classifier", 0.0, 0.0), ("classifier", 2.0, 0.0), ("cfg", 0.0, 0.0),
                                 ("cfg", 0.0, 3.0)], classes=[None] * 2)
    args = SimpleNamespace(samples_per_class=4, batch=4)  # 2 batches per row
    assert sampled_runs(plan) == [plan.runs[0], plan.runs[1], plan.runs[3]]
    units = sorted((r, b) for i in range(4) for r, (lo, hi) in part_ranges(plan, args, i, 4).items()
                   for b in range(lo, hi))
    assert units == [(r, b) for r in range(3) for b in range(2)]
