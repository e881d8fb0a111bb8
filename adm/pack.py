"""The model pack on the Python side (docs/pack-format.md): the one place that knows what a pack holds.

    write_pack(out, unet, classifier, fp16=True, verify=False, **manifest_fields)  # export, manifest, publish
    write_pack(..., upsampler=Upsampler(sr_model, low_res_size, diffusion, "250", False))  # + the cascade's stage 2
    read_pack(pack_dir)                          # the validated manifest (files' sizes and sha256 checked)
    load_pack_graph(pack_dir, manifest, "unet")  # a graph from memory, external data checked (adm.pack_files)
    verify_pack(pack_dir, unet, classifier, manifest)  # each graph under onnxruntime-node vs PyTorch
    run_onnx(model_path, feeds_list, workdir)    # one .onnx under onnxruntime-node (tools/ort_run.mjs)

The graph I/O names below are the contract with the browser (src/shared/manifest.ts reads the same ones);
adm.export names the graphs' inputs and outputs with them and adm.manifest checks manifests against them.
A pack is built in a hidden folder beside its destination and renamed into place at the end
(adm.cli_safety.output_folder), so a failure or a signal leaves nothing half-written.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from .cli_safety import output_folder
from .config import DiffusionConfig
from .manifest import (ManifestError, build_manifest, graph_entry, read_manifest, reference_features_entry, sha256_file,
                       upsampler_fields, write_manifest)
from .pack_format import (CLASSIFIER_FEATURES, CLASSIFIER_GRAD_INPUTS, CLASSIFIER_GRAD_OUTPUTS, UNET_OUTPUTS, unet_inputs,
                          upsampler_inputs)

if TYPE_CHECKING:
    from .reference_features import ReferenceSet

PathLike = Union[str, Path]
REPO = Path(__file__).resolve().parents[1]

# --- the files --------------------------------------------------------------------------------------------

UNET_FILE = "unet.onnx"
UNET_FP16_FILE = "unet.fp16.onnx"
CLASSIFIER_GRAD_FILE = "classifier_grad.onnx"
UPSAMPLER_FILE = "upsampler.onnx"
UPSAMPLER_FP16_FILE = "upsampler.fp16.onnx"
# A graph whose fp32 weights reach this many bytes is written with its weights in one external-data file
# (`<graph>.data`): a single .onnx file cannot pass protobuf's 2 GiB.
EXTERNAL_DATA_BYTES = 2**31 - 2**20 - (64 << 20)
BIG_MODEL_PARAMS = 50_000_000  # above this, graphs are traced at batch 1 (the exported batch axis is dynamic)


class OnnxRunError(RuntimeError):
    """onnxruntime-node could not load or run a graph."""


class VerificationError(RuntimeError):
    """A graph's outputs under ONNX Runtime differ from PyTorch's beyond the tolerance."""


def _silent(message: str) -> None:
    pass


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tracing_batch(model: nn.Module) -> int:
    return 1 if _params(model) > BIG_MODEL_PARAMS else 2


# --- writing ----------------------------------------------------------------------------------------------

@dataclass
class Upsampler:
    """The pack's optional second stage: a SuperResModel (adm.superres) with its own diffusion process and sampling
    defaults; `fp16` stores it as fp16 (float32 at the edges) instead of fp32."""

    model: nn.Module
    low_res_size: int
    diffusion: DiffusionConfig
    timestep_respacing: str = "250"
    use_ddim: bool = False
    fp16: bool = False


def _entry(files: Sequence[Path], dtype: str, inputs: Sequence[str], outputs: Sequence[str]) -> Dict:
    """The manifest record of a graph file and, when export.save wrote one, its external-data file."""
    e = graph_entry(files[0], dtype, inputs, outputs)
    if len(files) > 1:
        e["externalData"] = [{"file": p.name, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files[1:]]
    return e


def _export_graphs(folder: Path, unet: nn.Module, classifier: Optional[nn.Module], fp16: bool,
                   log: Callable[[str], None], upsampler: Optional[Upsampler] = None,
                   external_data_bytes: int = EXTERNAL_DATA_BYTES) -> Dict[str, Dict]:
    """Export the graphs into `folder`; returns their manifest entries by manifest key. A graph whose fp32 weights
    reach `external_data_bytes` keeps them in an external-data file beside it."""
    # imported here: the exporter pulls in torch.onnx, and it takes the I/O names from this module
    from .export import export_classifier_grad, export_unet, export_upsampler, save

    t0 = time.time()
    ins = unet_inputs(unet.num_classes is not None)
    batch = _tracing_batch(unet)
    entries: Dict[str, Dict] = {}
    fp32_bytes = _params(unet) * 4
    external = fp32_bytes >= external_data_bytes
    if external:
        log(f"the fp32 U-Net ({fp32_bytes / 2**30:.2f} GiB) is written with its weights in an external-data file "
            f"({UNET_FILE}.data)")
    files = save(export_unet(unet, None, example_batch=batch), folder / UNET_FILE, external)
    entries["unet"] = _entry(files, "float32", ins, UNET_OUTPUTS)
    if fp16:
        files = save(export_unet(unet, None, fp16=True, example_batch=batch), folder / UNET_FP16_FILE,
                     fp32_bytes // 2 >= external_data_bytes)
        entries["unetFp16"] = _entry(files, "float16", ins, UNET_OUTPUTS)
    if upsampler is not None:
        up = upsampler.model
        up_bytes = _params(up) * (2 if upsampler.fp16 else 4)
        name = UPSAMPLER_FP16_FILE if upsampler.fp16 else UPSAMPLER_FILE
        proto = export_upsampler(up, None, upsampler.low_res_size, fp16=upsampler.fp16, example_batch=_tracing_batch(up))
        files = save(proto, folder / name, up_bytes >= external_data_bytes)
        e = _entry(files, "float16" if upsampler.fp16 else "float32", upsampler_inputs(up.num_classes is not None),
                   UNET_OUTPUTS)
        e.update(upsampler_fields(
            image_size=up.cfg.image_size, low_res_size=upsampler.low_res_size, learn_sigma=up.cfg.learn_sigma,
            class_cond=up.num_classes is not None, diffusion=upsampler.diffusion,
            timestep_respacing=upsampler.timestep_respacing, use_ddim=upsampler.use_ddim))
        entries["upsampler"] = e
    if classifier is not None:
        export_classifier_grad(classifier, folder / CLASSIFIER_GRAD_FILE, example_batch=_tracing_batch(classifier))
        entries["classifierGrad"] = graph_entry(folder / CLASSIFIER_GRAD_FILE, "float32", CLASSIFIER_GRAD_INPUTS,
                                                CLASSIFIER_GRAD_OUTPUTS + (CLASSIFIER_FEATURES,))
    log(f"exported ONNX graphs in {time.time() - t0:.1f}s")
    return entries


def write_pack(out: PathLike, unet: nn.Module, classifier: Optional[nn.Module] = None, *, fp16: bool = True,
               verify: bool = False, log: Callable[[str], None] = _silent, upsampler: Optional[Upsampler] = None,
               external_data_bytes: int = EXTERNAL_DATA_BYTES, replace_any: bool = False,
               reference: Optional["ReferenceSet"] = None, **fields) -> Path:
    """Export the U-Net (fp32, and fp16 too with `fp16`; a graph whose fp32 weights reach `external_data_bytes`, by
    default the ones that would pass 2 GiB, keeps them in an external-data file beside it), given a classifier its
    gradient graph and given an `upsampler` the cascade's second stage, write the manifest, optionally `verify` every
    graph under ONNX Runtime, and
    publish the folder as `out` (an existing `out` is replaced; adm.cli_safety.OutputFolderError when `out` cannot
    be a folder, or is a non-empty folder this toolkit did not write and `replace_any` is not set; a symbolic link at
    `out` is replaced, never followed). `reference`: the classifier's features of real images (adm.reference_features),
    written as the manifest's referenceFeatures. `fields` are build_manifest's arguments other than the graph entries
    and the U-Net's own facts (image size, learned sigma, class-conditional). Returns the pack folder."""
    from .reference_features import write_reference

    out = Path(os.path.abspath(out))
    with output_folder(out, "pack", replace_any) as tmp:
        entries = _export_graphs(tmp, unet, classifier, fp16, log, upsampler, external_data_bytes)
        ref_entry = None
        if reference is not None:
            ref_entry = reference_features_entry(write_reference(tmp, reference), reference.features.shape,
                                                 reference.timestep, reference.source)
        manifest = build_manifest(
            image_size=unet.cfg.image_size, learn_sigma=unet.cfg.learn_sigma, class_cond=unet.num_classes is not None,
            unet=entries["unet"], unet_fp16=entries.get("unetFp16"), classifier_grad=entries.get("classifierGrad"),
            upsampler=entries.get("upsampler"), reference_features=ref_entry,
            **fields)
        write_manifest(tmp, manifest)
        if verify:
            for line in verify_pack(tmp, unet, classifier, manifest, upsampler.model if upsampler else None):
                log(f"verified {line}")
    return out


# --- reading --------------------------------------------------------------------------------------------

def read_pack(pack_dir: PathLike, check_files: bool = True) -> Dict:
    """The manifest of the pack in `pack_dir`, validated as the app validates it; with `check_files`, every graph
    file must also exist with the recorded size and sha256. ManifestError (a ValueError) otherwise."""
    d = Path(pack_dir)
    if not d.is_dir():
        raise ManifestError(f"{d} is not a folder")
    return read_manifest(d, check_files)


# --- running and verifying --------------------------------------------------------------------------------

def ort_available() -> bool:
    """node and the onnxruntime-node package (npm install) are there."""
    return shutil.which("node") is not None and (REPO / "node_modules" / "onnxruntime-node").is_dir()


def run_onnx(model_path: PathLike, feeds_list: Sequence[Mapping[str, np.ndarray]], workdir: PathLike,
             threads: int = 2, outputs: Optional[Sequence[str]] = None,
             timeout: Optional[float] = None) -> List[Dict[str, np.ndarray]]:
    """Run an .onnx with onnxruntime-node (tools/ort_run.mjs) on each feeds dict (input name -> array), all on one
    session; returns one {output name: array} per feeds dict. `outputs`: the names to fetch (default: all the
    graph's outputs). OnnxRunError when node cannot run it."""
    model_path, workdir = Path(model_path), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if outputs is None:
        import onnx

        outputs = [o.name for o in onnx.load(str(model_path), load_external_data=False).graph.output]
    stem = model_path.stem.replace(".", "_")
    runs = []
    for r, feeds in enumerate(feeds_list):
        ins = {}
        for name, arr in feeds.items():
            f = workdir / f"{stem}_{r}_in_{name}.npy"
            np.save(f, np.ascontiguousarray(arr))
            ins[name] = str(f)
        runs.append({"inputs": ins, "outputs": {name: str(workdir / f"{stem}_{r}_out_{name}.npy") for name in outputs}})
    job = workdir / f"{stem}_job.json"
    job.write_text(json.dumps({"model": str(model_path.resolve()), "threads": threads, "runs": runs}))
    try:
        proc = subprocess.run(["node", str(REPO / "tools" / "ort_run.mjs"), str(job)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OnnxRunError(f"onnxruntime-node did not finish {model_path.name} within {timeout:g}s") from None
    if proc.returncode != 0:
        raise OnnxRunError(f"onnxruntime-node could not run {model_path.name}: {proc.stderr.strip()}")
    return [{name: np.load(path) for name, path in run["outputs"].items()} for run in runs]


def verify_pack(pack_dir: PathLike, unet: nn.Module, classifier: Optional[nn.Module], manifest: Dict,
                upsampler: Optional[nn.Module] = None) -> List[str]:
    """Run each graph of the pack once under onnxruntime-node and compare with the PyTorch modules it came from;
    returns one report line per graph. VerificationError past the tolerance, OnnxRunError if a graph does not run."""
    pack_dir = Path(pack_dir)
    size = manifest["imageSize"]
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(1, 3, size, size, generator=g)
    t = torch.tensor([500.0])
    k = classifier.cfg.out_channels if classifier is not None else 1000
    y = torch.tensor([int(torch.randint(0, min(k, len(manifest["labels"])), (1,), generator=g))])
    feeds_all = {"x": x.numpy(), "timesteps": t.numpy(), "y": y.numpy()}
    lines = []

    with tempfile.TemporaryDirectory(prefix="adm-verify-") as work:
        def run(key: str) -> Dict[str, np.ndarray]:
            e = manifest[key]
            feeds = {name: feeds_all[name] for name in e["inputs"]}
            return run_onnx(pack_dir / e["file"], [feeds], work, outputs=e["outputs"])[0]

        with torch.no_grad():
            ref = unet(x, t, y if manifest["classCond"] else None).numpy()
        scale = max(float(np.abs(ref).max()), 1e-6)
        for key, tol in (("unet", 1e-4 if manifest["unet"]["dtype"] == "float32" else 2e-2), ("unetFp16", 2e-2)):
            if key not in manifest:
                continue
            got = run(key)["model_output"]
            err = float(np.abs(got - ref).max()) / scale
            lines.append(f"{manifest[key]['file']}: max |ONNX - torch| / max |torch| = {err:.2e} (limit {tol:g})")
            if not np.isfinite(got).all() or err > tol:
                raise VerificationError(f"verification failed for {manifest[key]['file']}: relative error "
                                        f"{err:.3e} > {tol:g}")
        if classifier is not None:
            xg = x.clone().requires_grad_(True)
            logp = torch.log_softmax(classifier(xg, t), dim=-1)[0, y[0]]
            (grad,) = torch.autograd.grad(logp, xg)
            got = run("classifierGrad")
            gerr = float(np.abs(got["grad"] - grad.numpy()).max()) / max(float(grad.abs().max()), 1e-12)
            lerr = float(abs(got["logp"][0] - float(logp)))
            lines.append(f"{manifest['classifierGrad']['file']}: grad rel. error {gerr:.2e} (limit 1e-3), "
                         f"logp abs. error {lerr:.2e} (limit 1e-4)")
            if gerr > 1e-3 or lerr > 1e-4:
                raise VerificationError(f"verification failed for the classifier gradient: grad {gerr:.3e}, "
                                        f"logp {lerr:.3e}")
            if CLASSIFIER_FEATURES in got:
                from .reference_features import penultimate_features

                ref_f = penultimate_features(classifier, x, t).numpy()
                ferr = float(np.abs(got[CLASSIFIER_FEATURES] - ref_f).max()) / max(float(np.abs(ref_f).max()), 1e-12)
                lines.append(f"{manifest['classifierGrad']['file']}: features rel. error {ferr:.2e} (limit 1e-4)")
                if ferr > 1e-4:
                    raise VerificationError(f"verification failed for the classifier features: {ferr:.3e}")
        if upsampler is not None and "upsampler" in manifest:
            e = manifest["upsampler"]
            xu = torch.randn(1, 3, e["imageSize"], e["imageSize"], generator=g)
            low = torch.rand(1, 3, e["lowResSize"], e["lowResSize"], generator=g) * 2 - 1
            with torch.no_grad():
                ref = upsampler(xu, t, low, y if e["classCond"] else None).numpy()
            feeds = {"x": xu.numpy(), "timesteps": t.numpy(), "low_res": low.numpy(), "y": y.numpy()}
            got = run_onnx(pack_dir / e["file"], [{k: feeds[k] for k in e["inputs"]}], work,
                           outputs=e["outputs"])[0]["model_output"]
            tol = 1e-4 if e["dtype"] == "float32" else 2e-2
            err = float(np.abs(got - ref).max()) / max(float(np.abs(ref).max()), 1e-6)
            lines.append(f"{e['file']}: max |ONNX - torch| / max |torch| = {err:.2e} (limit {tol:g})")
            if not np.isfinite(got).all() or err > tol:
                raise VerificationError(f"verification failed for {e['file']}: relative error {err:.3e} > {tol:g}")
    return lines
