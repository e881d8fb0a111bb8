"""adm.eval end to end: the Node sampler on small packs, a tiny judge on synthetic ImageFolders, JSON + plot + grids,
and every bad-input path (exit 2, nothing written)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from test_judge import IMAGENETTE_WNIDS, make_image_folder, train_tiny_judge

from adm.data import IMAGENET_WNIDS_PATH
from adm.cli.eval import main
from adm.eval_plan import PackClass, Plan, default_classes_tsv, load_class_table
from adm.eval_rows import EvalError, parse_scales, respacing_steps
from adm.eval_sampler import run_sampler, tsx_command
from adm.pack import read_pack
from adm.plot import nice_ticks

TINY16 = REPO / "public" / "models" / "tiny16"
CLI_PACK = REPO / "tests" / "fixtures" / "cli-pack"
CLI_PACK_WNIDS = ["n01443537", "n02099601", "n02444819"]  # ImageNet 1, 207, 360: the cli-pack's labels


def _run(argv, capsys):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _eval_args(pack, data, judge, out, scales="0,2", extra=()):
    return ["--pack", str(pack), "--data", str(data), "--judge", str(judge), "--out", str(out), "--scales", scales,
            "--samples-per-class", "1", "--threads", "1", "--ref-per-class", "2", *extra]


def _assert_png(path, min_size=(1, 1)):
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 1.0, f"{path} is blank"


def test_eval_tiny16_both_modes(tiny_setup, tmp_path, capsys, need_ort):
    data, judge = tiny_setup
    out = tmp_path / "eval"
    rc, stdout, stderr = _run(_eval_args(TINY16, data, judge, out, extra=["--batch", "10"]), capsys)
    assert rc == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["json"] == str(out / "eval.json")
    report = json.loads((out / "eval.json").read_text())
    assert report["pack"] == "tiny16" and report["packImageSize"] == 16
    # Paths inside the repository are recorded relative to it (reports get published in docs/).
    assert report["packDir"] == "public/models/tiny16" and report["classesTsv"] == "src/ui/data/imagenet-classes.json"
    assert [c["imagenet"] for c in report["classes"]] == [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]
    assert [c["wnid"] for c in report["classes"]] == IMAGENETTE_WNIDS
    assert report["settings"]["modes"] == ["cond", "uncond"] and report["settings"]["scales"] == [0.0, 2.0]
    assert report["settings"]["respacing"] == "ddim10" and report["settings"]["unconditionalLabel"] == 10
    assert report["judge"]["imageSize"] == 16 and report["judge"]["featureDim"] == 16 and not report["judge"]["resized"]
    ref = report["reference"]
    assert ref["chance"] == pytest.approx(0.1)
    assert ref["val"]["images"] == 30 and 0 <= ref["val"]["judgeAccuracy"] <= 1
    assert ref["trainSameSize"]["images"] == 10 and ref["trainSameSize"]["fd"] >= 0
    assert ref["trainLarge"]["images"] == 20 and ref["trainLarge"]["fd"] >= 0
    rows = report["results"]
    assert [(r["mode"], r["scale"]) for r in rows] == [("cond", 0.0), ("cond", 2.0), ("uncond", 0.0), ("uncond", 2.0)]
    for r in rows:
        assert r["numSamples"] == 10
        assert 0.0 <= r["judgeAccuracy"] <= 1.0 and r["judgeLogp"] <= 0.0
        assert r["fd"] is not None and np.isfinite(r["fd"]) and r["fd"] >= 0.0
        assert r["classifierLogp"] is not None and r["classifierLogp"] <= 0.0
        assert set(r["perClassAccuracy"]) == set(IMAGENETTE_WNIDS)
        _assert_png(out / r["grid"], (16, 16 * 10))  # one row per class
        assert "samples" not in r
        # the paper's metrics on the judge, each inside its bootstrap interval
        assert 0.0 <= r["precision"] <= 1.0 and 0.0 <= r["recall"] <= 1.0 and 1.0 <= r["inceptionScore"] <= 10.0
        for key in ("judgeAccuracy", "judgeLogp", "fd", "precision", "recall", "inceptionScore"):
            lo, hi = r["ci"][key]
            assert lo - 1e-4 <= r[key] <= hi + 1e-4, (key, r[key], r["ci"][key])
    assert ref["precisionRecallReference"] == dict(images=10, perClass=1, split="val")
    assert 0.0 <= ref["trainSameSize"]["precision"] <= 1.0 and 1.0 <= ref["val"]["inceptionScore"] <= 10.0
    assert "precision" in stderr and "IS" in stderr
    _assert_png(out / "eval.png", (800, 400))
    _assert_png(out / "tradeoff.png", (3 * 500, 400))
    assert sorted(p.name for p in out.iterdir()) == [".adm-output.json", "eval.json", "eval.png", "grids", "tradeoff.png"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp folders left behind"
    # a second run replaces the folder atomically
    rc, _, stderr = _run(_eval_args(TINY16, data, judge, out, scales="0", extra=["--modes", "uncond"]), capsys)
    assert rc == 0, stderr
    assert [r["mode"] for r in json.loads((out / "eval.json").read_text())["results"]] == ["uncond"]
    assert sorted(p.name for p in (out / "grids").iterdir()) == ["uncond_scale0.png"]


def _guided_image_folder(root: Path, scale: float, per_class_train: int, per_class_val: int, seed: int) -> Path:
    """An ImageFolder of the cli-pack's own classifier-guided samples (unconditional U-Net, this scale), sorted into
    class folders by the class guidance pulled toward: what "class k" looks like for this fake pack."""
    per_class = per_class_train + per_class_val
    n = per_class * len(CLI_PACK_WNIDS)
    tmp = root / "raw"
    cmd = tsx_command() + ["--pack", str(CLI_PACK), "--class", "1,207,360", "--scale", str(scale), "--unconditional",
                           "--seed", str(seed), "--batch", str(n), "--num-samples", str(n), "--save-samples", str(tmp),
                           "--threads", "1"]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    counts = [0] * len(CLI_PACK_WNIDS)
    for rec in json.loads((tmp / "samples.json").read_text())["samples"]:
        k = rec["label"]
        split = "train" if counts[k] < per_class_train else "val"
        counts[k] += 1
        (root / split / CLI_PACK_WNIDS[k]).mkdir(parents=True, exist_ok=True)
        (tmp / rec["file"]).rename(root / split / CLI_PACK_WNIDS[k] / rec["file"])
    return root


def test_eval_measures_guidance(tmp_path, capsys, need_ort):
    """On the cli-pack (analytic fakes whose classifier pulls class k toward its own grey level), a judge trained on
    what guidance toward each class produces must score the requested class near chance at scale 0 (the samples do not
    depend on it there) and far above chance with guidance, in both modes: the eval's class bookkeeping from the
    sampler's requested classes to the judge's classes is right, and its accuracy responds to guidance."""
    data = _guided_image_folder(tmp_path / "data", 4.0, per_class_train=10, per_class_val=4, seed=100)
    judge = train_tiny_judge(data, tmp_path / "judge.pt", 8, steps=40, lr=0.05)
    out = tmp_path / "eval"
    rc, _, stderr = _run(["--pack", str(CLI_PACK), "--data", str(data), "--judge", str(judge), "--out", str(out),
                          "--scales", "0,4", "--samples-per-class", "6", "--threads", "1", "--keep-samples"], capsys)
    assert rc == 0, stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["reference"]["val"]["judgeAccuracy"] >= 0.9, report["reference"]
    acc = {(r["mode"], r["scale"]): r["judgeAccuracy"] for r in report["results"]}
    assert acc[("uncond", 0.0)] <= 0.5, acc
    assert acc[("uncond", 4.0)] >= 0.8, acc
    assert acc[("cond", 4.0)] >= 0.8, acc
    logp = {(r["mode"], r["scale"]): r["classifierLogp"] for r in report["results"]}
    assert logp[("uncond", 4.0)] > logp[("uncond", 0.0)] and logp[("cond", 4.0)] > logp[("cond", 0.0)]
    row = report["results"][-1]
    samples = out / row["samples"]
    assert len(list(samples.glob("sample_*.png"))) == 18 and (samples / "samples.json").is_file()


def test_eval_trains_missing_judge(tmp_path, capsys, need_ort):
    data = make_image_folder(tmp_path / "data", CLI_PACK_WNIDS, 8, n_train=4, n_val=2)
    judge = tmp_path / "new" / "judge.pt"
    rc, _, stderr = _run(["--pack", str(CLI_PACK), "--data", str(data), "--judge", str(judge), "--judge-minutes",
                          "0.01", "--out", str(tmp_path / "eval"), "--scales", "0", "--modes", "uncond",
                          "--samples-per-class", "1", "--threads", "1"], capsys)
    assert rc == 0, stderr
    assert "training one" in stderr and judge.is_file()
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert report["judge"]["imageSize"] == 8 and report["judge"]["classes"] == 3


def _bad_cases(tmp_path):
    """name -> (option overrides, extra flags, expected message)."""
    other = make_image_folder(tmp_path / "other", ["n01443537", "n02099601"], 16, n_train=1, n_val=1)
    (tmp_path / "afile").write_text("x")
    foreign = train_tiny_judge(make_image_folder(tmp_path / "fd", IMAGENETTE_WNIDS[:9], 16, 1, 1),
                               tmp_path / "foreign.pt", 16, steps=1)
    (tmp_path / "garbage.pt").write_bytes(b"junk")
    return {
        "missing pack": ({"--pack": tmp_path / "nopack"}, [], "is not a folder"),
        "pack without manifest": ({"--pack": tmp_path}, [], "manifest"),
        "scales not numbers": ({"--scales": "0,x"}, [], "comma list of numbers"),
        "negative scale": ({"--scales": "-1"}, [], ">= 0"),
        "repeated scale": ({"--scales": "1,1"}, [], "twice"),
        "bad modes": ({}, ["--modes", "cond,sideways"], "--modes"),
        "modes and unconditional": ({}, ["--modes", "cond", "--unconditional"], "not both"),
        "data without the pack's classes": ({"--data": other}, [], "has no val/ folders for 10"),
        "data missing": ({"--data": tmp_path / "nodata"}, [], "--data"),
        "judge without a class": ({"--judge": foreign}, [], "without n03888257"),
        "judge not a checkpoint": ({"--judge": tmp_path / "garbage.pt"}, [], "--judge"),
        "out is a file": ({"--out": tmp_path / "afile"}, [], "not a folder"),
        "bad respacing": ({}, ["--respacing", "fast"], "respacing"),
        "classes tsv missing": ({}, ["--classes-tsv", str(tmp_path / "none.tsv")], "does not exist"),
    }


def test_eval_bad_input(tiny_setup, tmp_path, capsys, need_ort):
    data, judge = tiny_setup
    out = tmp_path / "out"
    for name, (overrides, extra, message) in _bad_cases(tmp_path).items():
        argv = _eval_args(TINY16, data, judge, out)
        for flag, value in overrides.items():
            argv[argv.index(flag) + 1] = str(value)
        rc, stdout, stderr = _run(argv + extra, capsys)
        assert rc == 2, f"{name}: rc {rc}\n{stderr}"
        assert "error:" in stderr and message in stderr, f"{name}: {stderr}"
        assert stdout == ""
        assert not out.exists(), f"{name}: wrote {out}"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], f"{name}: temp folder left"


def test_eval_cli_exit_code(tmp_path):
    """Through scripts/py.sh as `npm run eval` runs it: usage errors and bad input exit 2."""
    env = dict(os.environ, ADM_TORCH_THREADS="1")
    base = ["bash", str(REPO / "scripts" / "py.sh"), "-m", "adm.cli.eval"]
    p = subprocess.run(base + ["--pack", str(TINY16), "--data", str(tmp_path), "--scales", "a,b"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "comma list of numbers" in p.stderr
    p = subprocess.run(base + ["--samples-per-class", "0", "--pack", "x", "--data", "y"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--samples-per-class" in p.stderr


def test_eval_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "--scales" in capsys.readouterr().out


def test_helpers():
    assert parse_scales("4, 0,1.5") == [0.0, 1.5, 4.0]
    for bad in ("", "1,,2", "nan", "inf"):
        with pytest.raises(EvalError):
            parse_scales(bad)
    ticks = nice_ticks(0.0, 79.6)
    assert ticks[0] <= 0.0 and ticks[-1] >= 79.6 and 4 <= len(ticks) <= 8
    assert nice_ticks(-2.3, -2.3)[0] < -2.3 < nice_ticks(-2.3, -2.3)[-1]
    assert respacing_steps("ddim25") == 25 and respacing_steps("250") == 250 and respacing_steps("10,10,5") == 25
    with pytest.raises(EvalError):
        respacing_steps("ddimx")


def test_sampler_progress_is_read_from_its_json_lines(tmp_path, need_ort):
    """run_sampler follows the sampler through its --progress-json lines on stdout (not its stderr text) and returns
    the summary line that ends them."""
    m = read_pack(CLI_PACK)
    classes = [PackClass(label, idx, wnid, wnid) for label, (idx, wnid) in enumerate(zip(m["labels"], CLI_PACK_WNIDS))]
    plan = Plan(CLI_PACK, m, classes, default_classes_tsv(), [1.0], ["cond"], "ddim4", 4, True, tmp_path / "out",
                tmp_path / "judge.pt")
    seen = []
    summary = run_sampler(plan, "cond", 1.0, 2, 0, 3, 1, tmp_path / "samples", lambda done, total: seen.append((done, total)))
    assert seen == [(k, 8) for k in range(1, 9)]  # 6 samples in batches of 3: 2 x 4 steps
    assert summary["settings"]["numSamples"] == 6 and len(summary["samples"]) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples"]  # no stderr file left beside the samples


def test_class_tables_agree(tmp_path):
    """The TSV (index, wnid, names) and the repo's wnid list give the same ImageNet index -> wnid map."""
    wl = load_class_table(Path(IMAGENET_WNIDS_PATH))
    assert len(wl) == 1000 and wl[0][0] == "n01440764" and wl[701][0] == "n03888257"
    tsv = default_classes_tsv()
    table = load_class_table(tsv)
    assert {k: v[0] for k, v in table.items()} == {k: v[0] for k, v in wl.items()}
    (tmp_path / "bad.tsv").write_text("index\twnid\tnames\nzero\tn01440764\ttench\n")
    with pytest.raises(EvalError):
        load_class_table(tmp_path / "bad.tsv")
    mini = tmp_path / "mini.tsv"
    mini.write_text("index\twnid\tnames\n0\tn01440764\ttench, Tinca tinca\n")
    assert load_class_table(mini) == {0: ("n01440764", "tench, Tinca tinca")}



def test_default_class_list_is_the_apps(tmp_path):
    """Without --classes-tsv the class names are the app's (src/ui/data/imagenet-classes.json), in the repo."""
    assert default_classes_tsv().is_file() and default_classes_tsv().is_relative_to(REPO)
    table = load_class_table(default_classes_tsv())
    assert table[217] == ("n02102040", "English springer, English springer spaniel")
    (tmp_path / "short.json").write_text('["tench"]')
    with pytest.raises(EvalError, match="1000 class names"):
        load_class_table(tmp_path / "short.json")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
