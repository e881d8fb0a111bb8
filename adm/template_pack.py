"""A pack made from templates and checkpoints: what `npm run convert` writes and what the page builds.

    part = Part(template_dir, read_template(template_dir), state_dict)
    write_template_pack(out, fields, unet=part, classifier=..., upsampler=..., fp16=True, name=..., ...)

Each chosen graph is the template's file, copied as it is, plus its external-data files filled from the
checkpoint (adm.template_fill); its manifest entry is the template's graph entry without `manifestKey`, each
externalData item reduced to {file, bytes, sha256}, and for the upsampler the template's manifest.upsampler fields
added. The page does the same in TypeScript (docs/pack-format.md, "Templates"), so both write the same bytes.
Templates for convert: the shipped one of the same network when there is one (public/templates), else one made
on the spot from the flags.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Union

import torch
import torch.nn as nn

from .cli_safety import output_folder
from .manifest import assemble_manifest, write_manifest
from .pack import verify_pack
from .template_fill import write_data_files
from .template_index import SHIPPED, shipped_template
from .templates import TemplateError, TemplateSpec, make_template, read_template

PathLike = Union[str, Path]


@dataclass
class Part:
    """One network of the pack: its template folder, the parsed template, and the checkpoint's tensors by key."""

    folder: Path
    template: Dict
    tensors: Mapping[str, torch.Tensor]


def manifest_entry(graph: Dict, external_data) -> Dict:
    """A template graph entry as the manifest records it once its data files exist."""
    entry = {k: v for k, v in graph.items() if k not in ("manifestKey", "externalData")}
    entry["externalData"] = external_data
    return entry


def _chosen_graph(part: Part, dtype: str) -> Dict:
    for g in part.template["graphs"]:
        if g["dtype"] == dtype:
            return g
    raise TemplateError(f"the {part.template['slot']} template in {part.folder} has no {dtype} graph")


def _add_graph(tmp: Path, part: Part, graph: Dict) -> Dict:
    shutil.copyfile(part.folder / graph["file"], tmp / graph["file"])
    return manifest_entry(graph, write_data_files(graph, part.tensors, tmp))


def write_template_pack(out: PathLike, fields: Dict, *, unet: Part, classifier: Optional[Part] = None,
                        upsampler: Optional[Part] = None, fp16: bool = False, upsampler_fp16: bool = False,
                        upsampler_fields: Optional[Dict] = None, name: str, title: str, source: str, license: str,
                        verify_models: Optional[Dict[str, Optional[nn.Module]]] = None,
                        log: Callable[[str], None] = lambda s: None, replace_any: bool = False) -> Path:
    """Publish the pack `out` (replaced if it exists; adm.cli_safety.output_folder): the U-Net (fp32, plus fp16 with
    `fp16`), the classifier gradient, the upsampler (fp16 with `upsampler_fp16`; its fields default to its
    template's), and the manifest of model_fields' `fields`. `verify_models` ({"unet", "classifier",
    "upsampler"} -> module) runs adm.pack.verify_pack on the result before it is published."""
    out = Path(out)  # never resolved: a symbolic link at `out` is replaced, its target left alone (cli_safety)
    with output_folder(out, "pack", replace_any) as tmp:
        entries: Dict[str, Dict] = {"unet": _add_graph(tmp, unet, _chosen_graph(unet, "float32"))}
        if fp16:
            entries["unetFp16"] = _add_graph(tmp, unet, _chosen_graph(unet, "float16"))
        if classifier is not None:
            entries["classifierGrad"] = _add_graph(tmp, classifier, _chosen_graph(classifier, "float32"))
        if upsampler is not None:
            e = _add_graph(tmp, upsampler, _chosen_graph(upsampler, "float16" if upsampler_fp16 else "float32"))
            entries["upsampler"] = {**e, **(upsampler_fields or upsampler.template["manifest"]["upsampler"])}
        manifest = assemble_manifest(fields, name=name, title=title, unet=entries["unet"],
                                     unet_fp16=entries.get("unetFp16"), classifier_grad=entries.get("classifierGrad"),
                                     upsampler=entries.get("upsampler"), source=source, license=license)
        write_manifest(tmp, manifest)
        if verify_models is not None:
            for line in verify_pack(tmp, verify_models["unet"], verify_models.get("classifier"), manifest,
                                    verify_models.get("upsampler")):
                log(f"verified {line}")
    return out


# --- finding templates --------------------------------------------------------------------------------------

def template_for(spec: TemplateSpec, model: nn.Module, workdir: PathLike, log: Callable[[str], None],
                 root: PathLike = SHIPPED) -> Part:
    """A Part for `model` (a loaded checkpoint): the template of its network under `root` (default: the shipped
    ones), else one made in `workdir`."""
    folder = shipped_template(spec, root)
    if folder is not None:
        log(f"{spec.slot}: the template {folder}")
    else:
        folder = Path(workdir) / spec.slot
        log(f"{spec.slot}: no shipped template for these flags; making one")
        make_template(spec, folder, model=model, log=log)
    return Part(folder, read_template(folder), dict(model.state_dict()))
