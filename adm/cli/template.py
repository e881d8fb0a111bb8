"""Make weight-free graph templates (adm.templates; docs/pack-format.md, "Templates").

    npm run template -- --kind unet|classifier|upsampler --flags "<guided-diffusion flags>" --out DIR [--title T]
    npm run template -- --stem 64x64_diffusion --out DIR          # a released model, with its README flags
    npm run template -- --shipped [--only STEM ...]                 # regenerate public/templates and its index.json
    npm run template -- --check [--only STEM ...]                   # regenerate into a temporary folder and compare

(`npm run template` runs `/usr/bin/python3 -m adm.cli.template` through scripts/py.sh.) A bad flag string, unknown
stem or unusable --out ends with one line on stderr and exit code 2; --check exits 1 when a shipped file differs
from what this toolkit writes. Each template folder is written beside its destination and renamed into place.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import List, Optional

import torch

from ..cli_safety import MARKER_NAME, OutputFolderError, check_output_folder, output_folder, sigterm_as_exit
from ..flags import FlagError
from ..presets import OFFICIAL_STEMS
from ..template_index import SHIPPED, read_index, write_index
from ..templates import SHIPPED_STEMS, SLOTS, TemplateSpec, make_template, official_spec, spec_from_flags

EXIT_BAD_INPUT = 2
EXIT_DIFFERS = 1


class TemplateCliError(Exception):
    """A user-facing error: one line, exit code 2."""


def _log(msg: str) -> None:
    print(f"template: {msg}", file=sys.stderr, flush=True)


def _peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _make(spec: TemplateSpec, out: Path) -> None:
    t0 = time.time()
    with output_folder(out) as tmp:
        make_template(spec, tmp, log=_log)
    size = sum(p.stat().st_size for p in out.iterdir())
    _log(f"{spec.stem or spec.slot}: {out} ({size / 1e6:.2f} MB) in {time.time() - t0:.0f}s, "
         f"peak RSS {_peak_rss_mib()} MiB")


def _stems(only: Optional[List[str]]) -> List[str]:
    stems = list(only or SHIPPED_STEMS)
    unknown = [s for s in stems if s not in SHIPPED_STEMS]
    if unknown:
        raise TemplateCliError(f"--only {unknown[0]!r} is not a shipped template; choose from: {', '.join(SHIPPED_STEMS)}")
    return stems


def check(stems: List[str]) -> int:
    """Regenerate `stems` into a temporary folder and compare every file with public/templates (and the index's
    generator record with this toolkit's). Returns the number of differences."""
    differences = 0
    index = read_index()
    recorded = {t["stem"]: t for t in index["templates"]}
    with tempfile.TemporaryDirectory(prefix="adm-template-check-") as tmp:
        for stem in stems:
            _make(official_spec(stem), Path(tmp) / stem)
            names = sorted(p.name for p in (Path(tmp) / stem).iterdir() if p.name != MARKER_NAME)
            shipped = SHIPPED / stem
            for name in names:
                same = (shipped / name).is_file() and filecmp.cmp(Path(tmp) / stem / name, shipped / name, shallow=False)
                if not same:
                    differences += 1
                    _log(f"{stem}/{name} differs from the shipped file")
            if (shipped / MARKER_NAME).is_file() != (Path(tmp) / stem / MARKER_NAME).is_file():
                differences += 1
                _log(f"{stem} lacks the {MARKER_NAME} marker the CLI writes")
            if stem not in recorded or sorted(recorded[stem]["files"]) != names:
                differences += 1
                _log(f"index.json's entry for {stem} does not list these files")
    return differences


def main(argv: Optional[List[str]] = None) -> int:
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    warnings.simplefilter("ignore")  # the exporter's warnings about traced code say nothing about the result
    raw = list(sys.argv[1:] if argv is None else argv)
    # a flag-string value such as "--image_size=64" (no space) would look like an option to argparse
    argv = []
    i = 0
    while i < len(raw):
        if raw[i] == "--flags" and i + 1 < len(raw):
            argv.append(f"--flags={raw[i + 1]}")
            i += 2
        else:
            argv.append(raw[i])
            i += 1
    p = argparse.ArgumentParser(prog="npm run template --", description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--kind", choices=SLOTS, help="the network the --flags describe")
    what.add_argument("--stem", help=f"a released checkpoint: {', '.join(OFFICIAL_STEMS)}")
    what.add_argument("--shipped", action="store_true", help="regenerate public/templates (and its index.json)")
    what.add_argument("--check", action="store_true", help="compare public/templates with a fresh regeneration")
    p.add_argument("--flags", help="the guided-diffusion flag string (with --kind)")
    p.add_argument("--title", help="the template's title (default: from the flags)")
    p.add_argument("--out", help="template folder to write (with --kind or --stem)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.add_argument("--only", nargs="+", metavar="STEM", help="with --shipped / --check: these stems only")
    args = p.parse_args(argv)
    try:
        if args.shipped or args.check:
            if args.out or args.flags:
                raise TemplateCliError("--shipped and --check take no --out or --flags")
            stems = _stems(args.only)
            if args.check:
                n = check(stems)
                _log(f"{len(stems)} template(s) checked: " + (f"{n} difference(s)" if n else "identical"))
                return EXIT_DIFFERS if n else 0
            for stem in stems:
                _make(official_spec(stem), SHIPPED / stem)
            write_index()
            _log(f"wrote {SHIPPED / 'index.json'}")
            return 0
        if args.only:
            raise TemplateCliError("--only goes with --shipped or --check")
        if not args.out:
            raise TemplateCliError("--out DIR is required with --kind or --stem")
        if args.stem is not None:
            if args.flags:
                raise TemplateCliError("--stem takes its flags from the release; give either --stem or --kind --flags")
            if args.stem not in OFFICIAL_STEMS:
                raise TemplateCliError(f"unknown --stem {args.stem!r}; choose one of: {', '.join(OFFICIAL_STEMS)}")
            spec = official_spec(args.stem)
            if args.title:
                spec.title = args.title
        else:
            if not args.flags or not args.flags.strip():
                raise TemplateCliError(f"--kind {args.kind} needs --flags \"<the network's guided-diffusion flags>\"")
            try:
                spec = spec_from_flags(args.kind, args.flags, title=args.title)
            except FlagError as e:
                raise TemplateCliError(f"--flags: {e}") from None
        out = Path(args.out).resolve()
        try:
            check_output_folder(out, replace=args.force)
        except OutputFolderError as e:
            raise TemplateCliError(f"--out {e}") from None
        _make(spec, out)
        return 0
    except TemplateCliError as e:
        print(f"template: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    with sigterm_as_exit("template"):
        sys.exit(main())
