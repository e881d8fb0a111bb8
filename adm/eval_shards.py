"""An eval's sampling split across processes or machines, then scored as one run.

The unit of work is one sampler batch of one row: batch b of a row draws its noise from (seed, b) and its
classes from its run-wide sample indices (tools/sample.ts --batch-range), so any split of the units reproduces
the one-process samples exactly. The units, row by row, are cut in N contiguous parts (adm.dist.shard_bounds);
part I is one sampler call per row it touches.

    --shard I/N     draws part I into --out (shard.json + samples/<row>/) and scores nothing;
    --merge DIRS    checks that the shards are of this very eval (same pack files, rows, seed, batch, ...) and
                    together cover every unit once, puts each row's samples together and scores them;
    torchrun        each rank draws its part, rank 0 gathers the samples (gloo) and scores them.

The report equals the one-process report but for the timings (msPerStep, msPerImage: the shards' averages;
seconds, created).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

from .dist import Dist, shard_bounds
from .eval_plan import Plan
from .eval_rows import EvalError, row_tag, same_samples_key
from .eval_sampler import run_sampler
from .progress import Progress

SHARD_FILE = "shard.json"
TIMING = ("msPerStep", "msPerImage")


def row_batches(plan: Plan, args) -> int:
    n = args.samples_per_class * len(plan.classes)
    return -(-n // min(args.batch, n))


def sampled_runs(plan: Plan) -> List[Tuple[str, float, float]]:
    """The rows that are sampled: the first of each group that samples the same images (adm.eval_rows.same_samples_key;
    the eval scores the others from that row's samples, so no part draws them)."""
    seen, out = set(), []
    for run in plan.runs:
        key = same_samples_key(*run)
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out


def part_ranges(plan: Plan, args, index: int, count: int) -> Dict[int, Tuple[int, int]]:
    """Index in sampled_runs -> [from, to) batches of part `index` of `count`."""
    nb = row_batches(plan, args)
    lo, hi = shard_bounds(len(sampled_runs(plan)) * nb, index, count)
    out: Dict[int, Tuple[int, int]] = {}
    for u in range(lo, hi):
        r, b = divmod(u, nb)
        out[r] = (out[r][0], b + 1) if r in out else (b, b + 1)
    return out


def fingerprint(plan: Plan, args) -> Dict:
    """What must be equal for samples drawn apart to belong to one eval."""
    m = plan.manifest
    files = {k: m[k]["sha256"] for k in ("unet", "unetFp16", "classifierGrad", "upsampler") if k in m}
    return dict(pack=m["name"], files=files, rows=[list(r) for r in plan.runs], classes=[c.imagenet for c in plan.classes],
                samplesPerClass=args.samples_per_class, respacing=plan.respacing, ddim=plan.ddim, seed=args.seed,
                batch=args.batch)


def draw_part(plan: Plan, args, ranges: Dict[int, Tuple[int, int]], dest: Path) -> Dict[str, Dict]:
    """Run the sampler for this part's batches of each row into dest/samples/<tag>; returns tag -> timing."""
    total = sum(hi - lo for lo, hi in ranges.values()) * plan.steps
    bar = Progress("eval shard", total_steps=max(total, 1))
    done, rows = 0, {}
    for r, (lo, hi) in sorted(ranges.items()):
        mode, scale, cfg_scale = sampled_runs(plan)[r]
        tag = row_tag(mode, scale, cfg_scale)

        def progress(step, _total, base=done):
            bar.update(base + step, 0.0, 0, {})

        summary = run_sampler(plan, mode, scale, args.samples_per_class, args.seed, args.batch, args.threads,
                              dest / "samples" / tag, progress, cfg_scale=cfg_scale, batch_range=(lo, hi))
        rows[tag] = dict(batchRange=[lo, hi], count=len(summary["samples"]), **{k: summary.get(k) for k in TIMING})
        done += (hi - lo) * plan.steps
    bar.close()
    return rows


def write_shard(dest: Path, fp: Dict, index: int, count: int, rows: Dict[str, Dict]) -> None:
    (dest / SHARD_FILE).write_text(json.dumps(dict(fingerprint=fp, shard=[index, count], rows=rows), indent=1) + "\n")


def merge_rows(parts: List[Tuple[Path, Dict]], plan: Plan, args, tmp: Path) -> Dict[str, Dict]:
    """Put each row's samples from the parts (folder, shard.json content) into tmp/samples/<tag> as one sampler run
    would have written them; returns tag -> summary (the timing averaged over the parts)."""
    nb = row_batches(plan, args)
    seen: Dict[Tuple[str, int], Path] = {}
    per_row: Dict[str, List[Tuple[Path, Dict]]] = {}
    for folder, info in parts:
        for tag, row in info["rows"].items():
            for b in range(*row["batchRange"]):
                if (tag, b) in seen:
                    raise EvalError(f"--merge: batch {b} of row {tag} is in both {seen[(tag, b)]} and {folder}")
                seen[(tag, b)] = folder
            per_row.setdefault(tag, []).append((folder, row))
    tags = [row_tag(*r) for r in sampled_runs(plan)]
    missing = [f"{tag} batch {b}" for tag in tags for b in range(nb) if (tag, b) not in seen]
    if missing:
        raise EvalError(f"--merge: the shards lack {len(missing)} of {len(tags) * nb} sampler batches "
                        f"({', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}): give every shard's folder")
    out: Dict[str, Dict] = {}
    for tag in tags:
        dest = tmp / "samples" / tag
        dest.mkdir(parents=True, exist_ok=True)
        samples = []
        for folder, _ in per_row[tag]:
            listing = json.loads((folder / "samples" / tag / "samples.json").read_text())
            for s in listing["samples"]:
                shutil.copyfile(folder / "samples" / tag / s["file"], dest / s["file"])
            samples += listing["samples"]
        samples.sort(key=lambda s: s["index"])
        (dest / "samples.json").write_text(json.dumps(dict(pack=plan.manifest["name"], samples=samples), indent=1) + "\n")
        rows = [row for _, row in per_row[tag]]
        out[tag] = {k: _weighted(rows, k) for k in TIMING}
    return out


def _weighted(rows: List[Dict], key: str):
    vals = [(r[key], r["count"]) for r in rows if r.get(key) is not None]
    return sum(v * c for v, c in vals) / sum(c for _, c in vals) if vals else None


def read_shards(folders: List[Path], fp: Dict) -> List[Tuple[Path, Dict]]:
    parts = []
    for folder in folders:
        try:
            info = json.loads((folder / SHARD_FILE).read_text())
        except (OSError, ValueError) as e:
            raise EvalError(f"--merge: {folder} is not an eval shard ({SHARD_FILE}: {e})") from None
        if info.get("fingerprint") != fp:
            theirs = info.get("fingerprint") or {}
            diff = sorted(k for k in set(fp) | set(theirs) if fp.get(k) != theirs.get(k))
            raise EvalError(f"--merge: {folder} was drawn for another eval (differs in {', '.join(diff)}): give the "
                            "merge the same --pack, --modes, --scales, --cfg-scales, --samples-per-class, --respacing, "
                            "--ddim, --seed and --batch as the shards")
        parts.append((folder, info))
    return parts


def gather_parts(d: Dist, workdir: Path, rows: Dict[str, Dict]) -> List[Tuple[Path, Dict]]:
    """torchrun: every rank sends its drawn samples (PNG bytes) to rank 0, which writes them under workdir/rank<r>;
    returns rank 0's list of parts for merge_rows (empty on the other ranks)."""
    import torch.distributed as tdist

    payload = {}
    for tag, row in rows.items():
        listing = json.loads((workdir / "samples" / tag / "samples.json").read_text())
        payload[tag] = dict(row=row, listing=listing,
                            files={s["file"]: (workdir / "samples" / tag / s["file"]).read_bytes() for s in listing["samples"]})
    box = [None] * d.world_size if d.is_main else None
    tdist.gather_object(payload, box, dst=0)
    if not d.is_main:
        return []
    parts = []
    for r, got in enumerate(box):
        folder = workdir / f"rank{r}"
        for tag, item in got.items():
            (folder / "samples" / tag).mkdir(parents=True, exist_ok=True)
            for name, data in item["files"].items():
                (folder / "samples" / tag / name).write_bytes(data)
            (folder / "samples" / tag / "samples.json").write_text(json.dumps(item["listing"]))
        parts.append((folder, dict(rows={tag: item["row"] for tag, item in got.items()})))
    return parts
