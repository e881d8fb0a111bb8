"""The paper's fidelity/diversity trade-off on a pack, scored by an independent judge classifier.

    npm run eval -- --pack public/models/imagenette64 --data ../shared/data/imagenette-64 --scales 0,1,2,4,8
    npm run eval -- --pack ... --data ... --modes classifier,cfg,both --scales 0,1,2,4 --cfg-scales 0,1,3,5

For each mode and scale, the Node sampler (tools/sample.ts, the browser's sampling loop on
onnxruntime-node) draws --samples-per-class images for every class of the pack:
  cond        the class-conditional U-Net gets the class, the classifier gradient steers on top
              (one row per --scales value);
  classifier  the same as cond, under the guidance-mode name (give one of the two);
  uncond      the U-Net gets the pack's unconditionalLabel, only the classifier steers (the paper's
              "unconditional model + classifier guidance");
  cfg         classifier-free guidance (Ho & Salimans): the U-Net on the class and on the null label in
              one batch of 2N, no classifier (one row per --cfg-scales value);
  both        classifier-free and classifier guidance together (one row per non-zero pair of
              --both-scales x --both-cfg-scales, which default to --scales and --cfg-scales).
Every row uses the same seed, so the runs start from the same noise. Each row records msPerImage, the
sampler's time per image (CFG doubles the U-Net batch, classifier guidance adds the gradient graph):
compare modes at equal cost with it.

The judge (adm/judge.py: a small ResNet trained on clean train images only, never used for guidance)
scores the samples: accuracy on the requested class (fidelity), mean judge log p of the requested
class, the Fréchet distance between Gaussian fits of its penultimate features for the samples
and for the val images (diversity + quality), and the paper's other metrics on the same judge
(adm/eval_scores.py): precision and recall of its features against as many real val images (k = 3),
and the Inception-Score analogue of its softmax; every number has a 95% bootstrap interval (ci). The guidance classifier's own final log p (from the
sampler) is recorded beside them. Reference rows: the judge on real val images, and the FD of real
train images vs val, with as many images as one sample set (the floor at this sample size) and
with up to --ref-per-class per class.

Rows that sample the same thing (cfg w 0 and classifier scale 0) are sampled once. --samples-dir keeps each
row's samples in <dir>/<row tag>/ and reuses a row found there with the same sampler settings, so an
interrupted eval resumes and a new judge rescores without sampling again; a kept row with more samples serves a
smaller --samples-per-class that is whole sampler batches with its first samples (the same images; row firstOfKept).

Writes to --out (atomically: a temp folder renamed at the end): eval.json, eval.png (the plot),
tradeoff.png (precision and recall against the scale, IS against FD) and grids/<mode>_scale<S>.png, cfg_w<W>.png, both_scale<S>_w<W>.png (one row per class). JSON summary on stdout, progress on stderr.
Bad input exits with status 2 before any sampling.

Sampling scales out (adm/eval_shards.py): under torchrun every rank draws a part and rank 0 scores the whole;
on separate machines, `--shard I/N` draws part I into --out and `--merge DIR...` scores the parts. Either way
the report is the one-process report with the same seed, timings aside.
    npm run torchrun -- --standalone --nproc_per_node 4 -m adm.cli.eval --pack ... --data ... --out ...
    npm run eval -- --pack P --data D --shard 0/2 --out s0     (and --shard 1/2 --out s1 elsewhere)
    npm run eval -- --pack P --data D --merge s0 s1 --out runs/eval/P
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from .. import eval_shards as shards
from ..cli_safety import OutputFolderError, output_folder, sigterm_as_exit
from ..data import DataError
from ..dist import Dist, DistError, init as init_dist, launched
from ..judge import DEFAULT_JUDGE_PATH
from ..eval import evaluate, prepare_judge
from ..eval_plan import plan_eval
from ..eval_rows import EvalError
from ..eval_sampler import tsx_command


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="npm run eval --", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pack", required=True, help="pack folder (manifest.json + ONNX files)")
    p.add_argument("--data", required=True, help="ImageFolder root with val/ (and train/) <wnid> folders")
    p.add_argument("--scales", default="0,1,2,4,8", help="classifier scales, comma list (default 0,1,2,4,8)")
    p.add_argument("--cfg-scales", default="0,1,3,5",
                   help="classifier-free scales w for --modes cfg and both, comma list (default 0,1,3,5)")
    p.add_argument("--both-scales", default=None,
                   help="classifier scales s of the --modes both rows (default: --scales)")
    p.add_argument("--both-cfg-scales", default=None,
                   help="classifier-free scales w of the --modes both rows (default: --cfg-scales)")
    p.add_argument("--modes", default=None, help="comma list of cond, uncond, classifier, cfg, both "
                   "(default: cond,uncond as far as the pack supports them)")
    p.add_argument("--unconditional", action="store_true", help="only the unconditional mode (= --modes uncond)")
    p.add_argument("--samples-per-class", type=int, default=10)
    p.add_argument("--respacing", default=None, help="timestep respacing (default: the pack's)")
    ddim = p.add_mutually_exclusive_group()
    ddim.add_argument("--ddim", dest="ddim", action="store_true", default=None)
    ddim.add_argument("--no-ddim", dest="ddim", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=25, help="sampler batch size")
    p.add_argument("--judge", default=None, help=f"judge checkpoint (default {DEFAULT_JUDGE_PATH}; trained there if missing)")
    p.add_argument("--judge-minutes", type=float, default=10.0, help="budget when the judge must be trained first")
    p.add_argument("--classes-tsv", default=None, help="ImageNet class list (index, wnid, names)")
    p.add_argument("--ref-per-class", type=int, default=100, help="train images per class for the large FD reference")
    p.add_argument("--out", default=None, help="output folder (default runs/eval/<pack name>); an existing one is "
                                                 "replaced if this toolkit wrote it")
    p.add_argument("--replace-any-folder", action="store_true",
                   help="replace --out even if this toolkit did not write it (its contents are deleted)")
    p.add_argument("--keep-samples", action="store_true", help="keep every sample PNG and samples.json under samples/")
    p.add_argument("--samples-dir", default=None, help="keep each row's samples in DIR/<row tag>/ and reuse rows "
                   "found there with the same sampler settings (resume, or rescore with another judge; a longer "
                   "kept row serves with its first whole batches)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates per interval (default 1000)")
    p.add_argument("--threads", type=int, default=int(os.environ.get("ADM_TORCH_THREADS", "2")))
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="only draw part I of N (0 <= I < N) of the samples into --out, for --merge to score")
    p.add_argument("--merge", nargs="+", type=Path, default=None, metavar="DIR",
                   help="score the samples that --shard runs (all N of them) drew into these folders")
    args = p.parse_args(argv)
    if args.shard is not None and args.merge is not None:
        p.error("give --shard (draw a part) or --merge (score the parts), not both")
    if args.shard is not None:
        m = re.fullmatch(r"(\d+)/(\d+)", args.shard.strip())
        if not m or not int(m[1]) < int(m[2]):
            p.error(f"--shard must be I/N with 0 <= I < N, e.g. 0/4 (got {args.shard!r})")
        args.shard = (int(m[1]), int(m[2]))
    if args.samples_per_class < 1:
        p.error("--samples-per-class must be >= 1")
    if args.batch < 1 or args.threads < 1 or args.ref_per_class < 1 or args.bootstrap < 1:
        p.error("--batch, --threads, --ref-per-class and --bootstrap must be >= 1")
    if args.judge_minutes <= 0:
        p.error("--judge-minutes must be > 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    d = Dist()
    try:
        # Ranks that finish their part early wait for the slowest at the gather: a long collective timeout.
        d = init_dist("cpu", float(os.environ.get("ADM_DIST_TIMEOUT_S", 3 * 3600))) if launched() else Dist()
        if d.active and (args.shard or args.merge):
            raise EvalError("under torchrun the ranks share the samples themselves: drop --shard / --merge")
        plan = plan_eval(args)
        part = args.shard or (d.rank, d.world_size)
        if not args.merge:
            tsx_command()
        # The judge is needed where the samples are scored: here, unless this draws a part only.
        judge_bundle = prepare_judge(args, plan) if not args.shard and not d.active else None
        parts = shards.read_shards(args.merge, shards.fingerprint(plan, args)) if args.merge else None
    except (EvalError, DistError) as e:
        print(f"error: {d.tag()}{e}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="adm-eval-part-")) if d.active else None
    try:
        if args.shard:
            with output_folder(plan.out, "eval", args.replace_any_folder) as tmp:
                rows = shards.draw_part(plan, args, shards.part_ranges(plan, args, *part), tmp)
                shards.write_shard(tmp, shards.fingerprint(plan, args), *part, rows)
            print(json.dumps(dict(out=str(plan.out), shard=list(part), rows=rows)))
            return 0
        if work is not None:  # torchrun: each rank draws its part, rank 0 gathers and scores
            rows = shards.draw_part(plan, args, shards.part_ranges(plan, args, *part), work)
            parts = shards.gather_parts(d, work, rows)
            if not d.is_main:
                return 0
            judge_bundle = prepare_judge(args, plan)
        with output_folder(plan.out, "eval", args.replace_any_folder) as tmp:
            drawn = shards.merge_rows(parts, plan, args, tmp) if parts is not None else None
            report = evaluate(args, plan, judge_bundle, tmp, drawn)
    except (EvalError, OutputFolderError, DataError) as e:
        print(f"error: {d.tag()}{e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {d.tag()}{e}", file=sys.stderr)
        return 1
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    summary = dict(out=str(plan.out), json=str(plan.out / "eval.json"), plot=str(plan.out / "eval.png"),
                   reference={k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items()
                                                                        if kk != "perClassAccuracy"})
                              for k, v in report["reference"].items() if k != "note"},
                   results=[{k: v for k, v in r.items() if k != "perClassAccuracy"} for r in report["results"]],
                   seconds=report["seconds"])
    print(json.dumps(summary))
    print(f"eval: wrote {plan.out}/eval.json and eval.png ({report['seconds']}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    with sigterm_as_exit("eval"):  # SIGTERM removes the temp output folder (and stops the sampler) like Ctrl-C
        sys.exit(main())
