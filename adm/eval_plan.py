"""An eval's plan (adm.eval): the pack, its classes with their ImageNet names, the rows, the respacing and the output
folder, every input checked before any sampling (EvalError)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .cli_safety import OutputFolderError, check_output_folder
from .data import IMAGENET_WNIDS_PATH, list_classes
from .judge import DEFAULT_JUDGE_PATH
from .manifest import ManifestError
from .pack import read_pack
from .eval_rows import CLASSIFIER_MODES, MODES, EvalError, parse_scales, respacing_steps, run_list


REPO = Path(__file__).resolve().parents[1]


def shown_path(p: Path) -> str:
    """A path as eval.json records it: relative to the repository when inside it or beside it (its results get
    published in docs/, which must not name a machine's folders), else as given."""
    full = Path(p).resolve()
    bases = [(REPO, "")] + ([(REPO.parent, "../")] if REPO.parent != REPO.parent.parent else [])
    for base, prefix in bases:
        try:
            return prefix + str(full.relative_to(base))
        except ValueError:
            continue
    return str(p)


def default_classes_tsv() -> Path:
    """The default class list (--classes-tsv): the app's ImageNet class names (src/ui/data/imagenet-classes.json, in
    label order), whose wnids are the repo's adm/imagenet_wnids.txt."""
    return REPO / "src" / "ui" / "data" / "imagenet-classes.json"


def load_class_table(path: Path) -> Dict[int, Tuple[str, str]]:
    """ImageNet index -> (wnid, names) from `index<TAB>wnid<TAB>names` (header row allowed), a plain wnid list
    (one per line, index = line number) or a JSON list of names in label order (wnids from the repo's list)."""
    if not path.is_file():
        raise EvalError(f"--classes-tsv {path} does not exist")
    if path.suffix == ".json":
        wnids = load_class_table(Path(IMAGENET_WNIDS_PATH))
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise EvalError(f"{path}: {e}") from None
        if not (isinstance(names, list) and len(names) == len(wnids) and all(isinstance(n, str) for n in names)):
            raise EvalError(f"{path}: expected a JSON list of {len(wnids)} class names in label order")
        return {i: (wnids[i][0], name) for i, name in enumerate(names)}
    table: Dict[int, Tuple[str, str]] = {}
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    if lines and "\t" not in lines[0] and re.fullmatch(r"n\d{8}", lines[0].strip()):
        return {i: (ln.strip(), ln.strip()) for i, ln in enumerate(lines)}
    for n, ln in enumerate(lines):
        parts = ln.split("\t")
        if n == 0 and parts[0].strip().lower() == "index":
            continue
        if len(parts) < 2 or not parts[0].strip().isdigit():
            raise EvalError(f"{path}:{n + 1}: expected `index<TAB>wnid<TAB>names`, got {ln[:80]!r}")
        table[int(parts[0])] = (parts[1].strip(), parts[2].strip() if len(parts) > 2 else parts[1].strip())
    if not table:
        raise EvalError(f"{path} lists no classes")
    return table


@dataclass
class PackClass:
    label: int  # model label
    imagenet: int
    wnid: str
    name: str


@dataclass
class Plan:
    pack_dir: Path
    manifest: Dict
    classes: List[PackClass]
    classes_tsv: Path
    scales: List[float]
    modes: List[str]
    respacing: str
    steps: int
    ddim: bool
    out: Path
    judge_path: Path
    cfg_scales: List[float] = field(default_factory=list)
    # (mode, classifier scale, cfg scale) per row, in order
    runs: List[Tuple[str, float, float]] = field(default_factory=list)
    both_cfg_scales: Optional[List[float]] = None
    both_scales: Optional[List[float]] = None


def plan_eval(args) -> Plan:
    """Checks every input that can be checked without the judge; raises EvalError."""
    pack_dir = Path(args.pack)
    try:
        m = read_pack(pack_dir)
    except ManifestError as e:
        raise EvalError(f"--pack: {e}") from None
    scales = parse_scales(args.scales)
    cfg_scales = parse_scales(args.cfg_scales, "--cfg-scales")
    both_cfg_scales = parse_scales(args.both_cfg_scales, "--both-cfg-scales") if args.both_cfg_scales else None
    both_scales = parse_scales(args.both_scales, "--both-scales") if args.both_scales else None
    can_uncond = (not m["classCond"]) or m.get("unconditionalLabel") is not None
    if args.unconditional and args.modes:
        raise EvalError("give --unconditional or --modes, not both")
    if args.unconditional:
        modes = ["uncond"]
    elif args.modes:
        modes = [s.strip() for s in args.modes.split(",") if s.strip()]
        bad = [s for s in modes if s not in MODES]
        if bad or not modes or len(set(modes)) != len(modes):
            raise EvalError(f"--modes must be a comma list of {', '.join(MODES)} (got {args.modes!r})")
        if "cond" in modes and "classifier" in modes:
            raise EvalError("--modes: cond and classifier are the same runs; give one of them")
    else:
        modes = [md for md in MODES if (md == "cond" and m["classCond"]) or (md == "uncond" and can_uncond)]
    if "cond" in modes and not m["classCond"]:
        raise EvalError(f"pack {m['name']} is not class-conditional: only --modes uncond applies")
    if "uncond" in modes and not can_uncond:
        raise EvalError(f"pack {m['name']} has no unconditionalLabel: its U-Net cannot sample unconditionally")
    if "classifier" in modes and not m["classCond"]:
        raise EvalError(f"pack {m['name']} is not class-conditional: use --modes uncond for classifier guidance")
    if any(md in ("cfg", "both") for md in modes) and not (m["classCond"] and m.get("unconditionalLabel") is not None):
        raise EvalError(f"pack {m['name']} has no unconditionalLabel: it cannot use classifier-free guidance "
                        "(--modes cfg, both)")
    if any(md in CLASSIFIER_MODES for md in modes) and any(s != 0 for s in scales) and "classifierGrad" not in m:
        raise EvalError(f"pack {m['name']} has no classifier gradient graph: it cannot be guided (use --scales 0)")
    runs = run_list(modes, scales, cfg_scales, both_cfg_scales, both_scales)
    if "both" in modes and not any(r[0] == "both" for r in runs):
        raise EvalError("--modes both needs a non-zero value in --scales (--both-scales) and in --cfg-scales "
                        "(--both-cfg-scales)")
    respacing = args.respacing or m["sampling"]["timestepRespacing"]
    steps = respacing_steps(respacing, m["diffusion"]["diffusionSteps"])
    ddim = m["sampling"]["useDdim"] if args.ddim is None else args.ddim

    tsv = Path(args.classes_tsv) if args.classes_tsv else default_classes_tsv()
    table = load_class_table(tsv)
    classes = []
    for label, idx in enumerate(m["labels"]):
        if idx not in table:
            raise EvalError(f"ImageNet class {idx} of pack {m['name']} is not in {tsv}")
        classes.append(PackClass(label, idx, *table[idx]))

    data = Path(args.data)
    for split in ("val", "train"):
        try:
            have = set(list_classes(str(data / split)))
        except (FileNotFoundError, ValueError) as e:
            raise EvalError(f"--data: {e}") from None
        missing = [c for c in classes if c.wnid not in have]
        if missing:
            desc = ", ".join(f"{c.wnid} ({c.imagenet} {c.name.split(',')[0]})" for c in missing[:6])
            raise EvalError(f"--data {data} has no {split}/ folders for {len(missing)} of the pack's classes: {desc}"
                            f"{' ...' if len(missing) > 6 else ''}")

    name = m["name"] + (f".shard-{args.shard[0]}-of-{args.shard[1]}" if args.shard else "")
    out = Path(args.out) if args.out else REPO / "runs" / "eval" / name
    try:
        check_output_folder(out, replace_any=args.replace_any_folder)
    except OutputFolderError as e:
        raise EvalError(f"--out {e}") from None
    judge_path = Path(args.judge) if args.judge else REPO / DEFAULT_JUDGE_PATH
    return Plan(pack_dir, m, classes, tsv, scales, modes, respacing, steps, ddim, out, judge_path, cfg_scales, runs,
                both_cfg_scales, both_scales)
