"""adm.eval rows per guidance mode: classifier, classifier-free (cfg) and both, with ms per image beside each row."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from test_eval import CLI_PACK, TINY16, _assert_png, _eval_args, _run

from adm.eval_rows import EvalError, row_tag, run_list, same_samples_key
from adm.eval_sampler import sampler_guidance_args


def test_eval_tiny16_guidance_modes(tiny_setup, tmp_path, capsys, need_ort):
    data, judge = tiny_setup
    out = tmp_path / "eval"
    kept = tmp_path / "kept"
    rc, stdout, stderr = _run(_eval_args(TINY16, data, judge, out, extra=["--modes", "classifier,cfg,both",
                                                                         "--cfg-scales", "0,3", "--batch", "10",
                                                                         "--samples-dir", str(kept)]),
                              capsys)
    assert rc == 0, stderr
    report = json.loads((out / "eval.json").read_text())
    assert report["settings"]["modes"] == ["classifier", "cfg", "both"] and report["settings"]["cfgScales"] == [0.0, 3.0]
    rows = report["results"]
    assert [(r["mode"], r["scale"], r["cfgScale"]) for r in rows] == [
        ("classifier", 0.0, 0.0), ("classifier", 2.0, 0.0), ("cfg", 0.0, 0.0), ("cfg", 0.0, 3.0), ("both", 2.0, 3.0)]
    for r in rows:
        assert r["numSamples"] == 10 and 0.0 <= r["judgeAccuracy"] <= 1.0
        assert r["fd"] is not None and np.isfinite(r["fd"])
        assert r["msPerImage"] is not None and r["msPerImage"] > 0
        _assert_png(out / r["grid"], (16, 16 * 10))
    assert sorted(p.name for p in (out / "grids").iterdir()) == [
        "both_scale2_w3.png", "cfg_w0.png", "cfg_w3.png", "classifier_scale0.png", "classifier_scale2.png"]
    # Scale 0 is the same unguided sampler run whatever the mode is called: sampled once.
    by = {(r["mode"], r["scale"], r["cfgScale"]): r for r in rows}
    assert by[("cfg", 0.0, 0.0)]["fd"] == by[("classifier", 0.0, 0.0)]["fd"]
    assert by[("cfg", 0.0, 0.0)]["sameSamplesAs"] == "classifier_scale0"
    assert sorted(p.name for p in kept.iterdir()) == ["both_scale2_w3", "cfg_w3", "classifier_scale0",
                                                      "classifier_scale2"]
    assert by[("cfg", 0.0, 3.0)]["fd"] != by[("cfg", 0.0, 0.0)]["fd"]
    assert "ms/image" in stderr
    _assert_png(out / "eval.png", (4 * 500, 400))  # a fourth panel: FD vs accuracy, cost per image in the legend
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert [r["cfgScale"] for r in summary["results"]] == [0.0, 0.0, 0.0, 3.0, 3.0]

    # --samples-dir: a second eval rescores the kept rows without sampling; a row whose settings changed
    # (here the seed of every row) is sampled again.
    stamp = {p: p.stat().st_mtime_ns for p in kept.rglob("*.png")}
    rc, _, stderr = _run(_eval_args(TINY16, data, judge, tmp_path / "again", extra=[
        "--modes", "classifier,both", "--cfg-scales", "0", "--both-cfg-scales", "3", "--batch", "10",
        "--samples-dir", str(kept), "--bootstrap", "50"]), capsys)
    assert rc == 0, stderr
    again = json.loads((tmp_path / "again" / "eval.json").read_text())
    assert [(r["mode"], r["scale"], r["cfgScale"]) for r in again["results"]] == [
        ("classifier", 0.0, 0.0), ("classifier", 2.0, 0.0), ("both", 2.0, 3.0)]
    assert [r["fd"] for r in again["results"]] == [by[k]["fd"] for k in [
        ("classifier", 0.0, 0.0), ("classifier", 2.0, 0.0), ("both", 2.0, 3.0)]]
    assert {p: p.stat().st_mtime_ns for p in kept.rglob("*.png")} == stamp
    rc, _, stderr = _run(_eval_args(TINY16, data, judge, tmp_path / "reseeded", scales="2", extra=[
        "--modes", "classifier", "--batch", "10", "--samples-dir", str(kept), "--seed", "5"]), capsys)
    assert rc == 0, stderr
    assert (kept / "classifier_scale2" / "sample_00000.png").stat().st_mtime_ns != stamp[kept / "classifier_scale2" / "sample_00000.png"]


def test_eval_scores_the_first_samples_of_a_longer_kept_row(tiny_setup, tmp_path, capsys, need_ort):
    """A kept row with 2 batches serves a 1-batch eval with its first batch, unsampled, and scores exactly what a
    fresh 1-batch run scores (batch b's noise depends on b alone)."""
    data, judge = tiny_setup
    kept, fresh = tmp_path / "kept", tmp_path / "fresh"
    common = ["--modes", "classifier", "--batch", "10", "--bootstrap", "50"]

    def run(out, per_class, samples_dir):
        args = _eval_args(TINY16, data, judge, tmp_path / out, scales="2", extra=[*common, "--samples-dir", str(samples_dir)])
        args[args.index("--samples-per-class") + 1] = str(per_class)
        rc, _, stderr = _run(args, capsys)
        assert rc == 0, stderr
        return {r["tag"]: r for r in json.loads((tmp_path / out / "eval.json").read_text())["results"]}

    run("long", 2, kept)
    stamp = {p: p.stat().st_mtime_ns for p in kept.rglob("*.png")}
    assert len(json.loads((kept / "classifier_scale2" / "samples.json").read_text())["samples"]) == 20
    first = run("first", 1, kept)
    assert {p: p.stat().st_mtime_ns for p in kept.rglob("*.png")} == stamp
    own = run("own", 1, fresh)
    a, b = first["classifier_scale2"], own["classifier_scale2"]
    assert a["numSamples"] == b["numSamples"] == 10 and a["firstOfKept"] == 20 and "firstOfKept" not in b
    for key in ("fd", "precision", "recall", "inceptionScore", "judgeAccuracy", "judgeLogp"):
        assert a[key] == b[key], key


def test_eval_guidance_bad_input(tiny_setup, tmp_path, capsys, need_ort):
    data, judge = tiny_setup
    no_null = tmp_path / "no-null"
    shutil.copytree(CLI_PACK, no_null)
    m = json.loads((no_null / "manifest.json").read_text())
    m["unconditionalLabel"] = None
    (no_null / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "out"
    cases = {
        "cond and classifier": (TINY16, ["--modes", "cond,classifier"], "the same runs"),
        "cfg scales not numbers": (TINY16, ["--modes", "cfg", "--cfg-scales", "1,x"], "--cfg-scales must be a comma list"),
        "negative cfg scale": (TINY16, ["--modes", "cfg", "--cfg-scales", "-1"], "--cfg-scales: each scale"),
        "both without a non-zero pair": (TINY16, ["--modes", "both", "--cfg-scales", "0"], "needs a non-zero value"),
        "unknown mode": (TINY16, ["--modes", "cfg,sideways"], "cond, uncond, classifier, cfg, both"),
        "no null label": (no_null, ["--modes", "cfg"], "cannot use classifier-free guidance"),
    }
    for name, (pack, extra, message) in cases.items():
        rc, stdout, stderr = _run(_eval_args(pack, data, judge, out) + extra, capsys)
        assert rc == 2, f"{name}: rc {rc}\n{stderr}"
        assert message in stderr, f"{name}: {stderr}"
        assert stdout == "" and not out.exists()


def test_rows_and_sampler_flags():
    assert run_list(["cond", "cfg", "both"], [0.0, 2.0], [0.0, 1.0, 3.0]) == [
        ("cond", 0.0, 0.0), ("cond", 2.0, 0.0), ("cfg", 0.0, 0.0), ("cfg", 0.0, 1.0), ("cfg", 0.0, 3.0),
        ("both", 2.0, 1.0), ("both", 2.0, 3.0)]
    assert sampler_guidance_args("uncond", 2.0, 0.0) == ["--mode", "classifier", "--scale", "2.0", "--unconditional"]
    assert sampler_guidance_args("cfg", 0.0, 3.0) == ["--mode", "cfg", "--cfg-scale", "3.0"]
    assert sampler_guidance_args("both", 1.5, 3.0) == ["--mode", "both", "--scale", "1.5", "--cfg-scale", "3.0"]
    assert row_tag("cond", 2.0, 0.0) == "cond_scale2" and row_tag("cfg", 0.0, 1.5) == "cfg_w1.5"
    assert run_list(["both"], [0.0, 2.0, 4.0], [0.0, 1.0], both_cfg_scales=[3.0]) == [("both", 2.0, 3.0), ("both", 4.0, 3.0)]
    assert run_list(["classifier", "both"], [0.0, 4.0, 8.0], [3.0], both_scales=[4.0]) == [
        ("classifier", 0.0, 0.0), ("classifier", 4.0, 0.0), ("classifier", 8.0, 0.0), ("both", 4.0, 3.0)]
    # rows that sample the same images: cfg w 0 = classifier (cond) s 0; never across the U-Net's label
    assert same_samples_key("cfg", 0.0, 0.0) == same_samples_key("classifier", 0.0, 0.0) == same_samples_key("cond", 0.0, 0.0)
    assert same_samples_key("both", 0.0, 3.0) == same_samples_key("cfg", 0.0, 3.0)
    assert same_samples_key("uncond", 0.0, 0.0) != same_samples_key("cond", 0.0, 0.0)
    assert same_samples_key("cfg", 0.0, 3.0) != same_samples_key("both", 2.0, 3.0)
    assert issubclass(EvalError, Exception)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
