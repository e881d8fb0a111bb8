#!/usr/bin/env python3
"""PyTorch counterpart of tools/device/webgpu_node.mjs: the same weights, timed on CUDA (or the CPU).

    python3 tools/device/torch_cuda.py --pack public/models/imagenette64 [--device cuda] [--batch 1]
        [--warmup 3] [--iters 20] [--io-dir DIR] [--fp16] [--out result.json]

Weights: a pack's fp32 ONNX graphs are read back into the toolkit's modules (adm.onnx_weights, as
`npm run train -- --init-from` does (adm.train_init)) for the packs this project trains or generates (tiny16, imagenette64); a pack
made by tools/device/make_fullsize.py carries a `device_torch.json` naming the random state dicts it was
converted from (the released architecture's flags, adm.presets), which are loaded directly.

Timed, median of --iters after --warmup, CUDA synchronised around each call:
  unet            U-Net forward (no grad), fp32; unetFp16: the same under autocast(float16) (with --fp16)
  classifierGrad  autograd of sum_i log_softmax(classifier(x, t))[i, y_i] w.r.t. x (what the gradient graph computes)
  guidedStep      U-Net call + gradient call
each as `ms` (inputs already on the device, outputs left there) and `msHostIO` (inputs copied from and
outputs copied back to the host, as ORT's session.run with CPU tensors does).

--io-dir: the folder webgpu_node.mjs wrote (x.npy, timesteps.npy, y.npy, webgpu_<graph>_<output>.npy): the same
inputs are used and every output is compared with WebGPU's (maxAbsDiffVsWebgpu). If the Python package
onnxruntime is importable, the pack's graphs also run once on its CPU EP on those inputs, and WebGPU's outputs are
compared with them (webgpuMaxAbsDiffVsOrtCpu): the correctness check on a machine without onnxruntime-node.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def legacy_onnx_export() -> None:
    """torch >= 2.9 exports with the dynamo exporter by default; the toolkit (and adm.onnx_weights, which
    re-exports a template to map names) was written for the TorchScript exporter: ask for that one."""
    import inspect

    export = torch.onnx.export
    if "dynamo" not in inspect.signature(export).parameters or getattr(export, "_legacy_patched", False):
        return

    def patched(*args, **kwargs):
        kwargs.setdefault("dynamo", False)
        return export(*args, **kwargs)

    patched._legacy_patched = True
    torch.onnx.export = patched


def build_models(pack: Path, manifest: dict):
    """(unet, classifier or None, how the weights were obtained)."""
    side = pack / "device_torch.json"
    if side.exists():
        from adm.flags import parse_classifier_flags, parse_model_flags
        from adm.presets import build_model

        spec = json.loads(side.read_text())
        ucfg = parse_model_flags(spec["modelFlags"]).unet
        unet = build_model("unet", ucfg, init="skip")
        unet.load_state_dict(torch.load(pack / spec["unet"], map_location="cpu"))
        cls = None
        if spec.get("classifier"):
            ccfg = parse_classifier_flags(spec["classifierFlags"], image_size=ucfg.image_size).classifier
            cls = build_model("classifier", ccfg, init="skip")
            cls.load_state_dict(torch.load(pack / spec["classifier"], map_location="cpu"))
        return unet, cls, f"the random state dicts the pack was converted from ({side.name}: flags + .pt)"

    legacy_onnx_export()
    from adm.export import export_classifier_grad, export_unet
    from adm.onnx_weights import load_onnx_weights
    from adm.pack_files import load_pack_graph
    from adm.unet import EncoderUNetModel, UNetModel

    name = manifest.get("name")
    if name == "tiny16":
        from adm.tiny_pack import CLASSIFIER, UNET
        ucfg, ccfg = copy.deepcopy(UNET), copy.deepcopy(CLASSIFIER)
    else:
        from adm.train import TRAIN_PRESETS
        presets = [p for p in TRAIN_PRESETS.values() if p["unet"].image_size == manifest["imageSize"]]
        if not presets:
            raise SystemExit(f"torch_cuda: no known architecture for pack {name!r} ({manifest['imageSize']} px)")
        ucfg, ccfg = copy.deepcopy(presets[0]["unet"]), copy.deepcopy(presets[0]["classifier"])
        k = len(manifest["labels"])
        ucfg.num_classes = k + 1 if manifest.get("unconditionalLabel") is not None else k
        ccfg.out_channels = k
    unet = UNetModel(ucfg)
    cls = EncoderUNetModel(ccfg) if "classifierGrad" in manifest else None
    try:
        load_onnx_weights(unet, load_pack_graph(pack, manifest, "unet"), export_unet)
        if cls is not None:
            load_onnx_weights(cls, load_pack_graph(pack, manifest, "classifierGrad"), export_classifier_grad)
    except Exception as e:  # noqa: BLE001 - e.g. another torch's exporter lays the template graph out differently
        # The timings need only the architecture; the output comparison is then meaningless (and skipped).
        return unet, cls, f"RANDOM (same architecture): reading the pack's weights failed: {type(e).__name__}: {e}"
    return unet, cls, "read back from the pack's fp32 ONNX graphs (adm.onnx_weights)"


def make_inputs(manifest: dict, n: int, io_dir: Path | None):
    if io_dir is not None and (io_dir / "x.npy").exists():
        return (torch.from_numpy(np.load(io_dir / "x.npy")), torch.from_numpy(np.load(io_dir / "timesteps.npy")),
                torch.from_numpy(np.load(io_dir / "y.npy")))
    s = manifest["imageSize"]
    g = torch.Generator().manual_seed(20210511)
    x = torch.randn(n, 3, s, s, generator=g)
    steps = manifest.get("diffusion", {}).get("diffusionSteps", 1000)
    t = torch.tensor([round((i + 1) * (steps - 1) / (n + 1)) for i in range(n)], dtype=torch.float32)
    y = torch.tensor([i % len(manifest["labels"]) for i in range(n)], dtype=torch.int64)
    return x, t, y


def stats(ms):
    return {"median": round(statistics.median(ms), 4), "min": round(min(ms), 4), "max": round(max(ms), 4), "n": len(ms)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pack", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--fp16", action="store_true", help="also time the U-Net under autocast(float16) (CUDA only)")
    ap.add_argument("--io-dir", type=Path, help="inputs and WebGPU outputs written by webgpu_node.mjs --io-dir")
    ap.add_argument("--label")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "1")))
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch_cuda: torch.cuda.is_available() is False (no GPU or a CPU-only torch); use --device cpu")
    manifest = json.loads((args.pack / "manifest.json").read_text())
    t0 = time.time()
    unet, cls, how = build_models(args.pack, manifest)
    load_s = time.time() - t0
    unet = unet.eval().to(dev)
    if cls is not None:
        cls = cls.eval().to(dev)
    x_h, t_h, y_h = make_inputs(manifest, args.batch, args.io_dir)
    x_d, t_d, y_d = x_h.to(dev), t_h.to(dev), y_h.to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    fp16 = args.fp16 and dev.type == "cuda"

    def unet_call(x, t, y, half=False):
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=half):
            return unet(x, t, y).float()

    def grad_call(x, t, y):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            logp_all = F.log_softmax(cls(x, t), dim=-1)
            logp = logp_all[torch.arange(x.shape[0], device=x.device), y]
            (grad,) = torch.autograd.grad(logp.sum(), x)
        return grad, logp.detach(), logp_all

    def host(fn):
        def run():
            out = fn(x_h.to(dev), t_h.to(dev), y_h.to(dev))
            return [o.cpu() for o in (out if isinstance(out, tuple) else (out,))]
        return run

    def resident(fn):
        return lambda: fn(x_d, t_d, y_d)

    def timed(fns):
        for _ in range(args.warmup):
            for f in fns:
                f()
        sync()
        ms = []
        for _ in range(args.iters):
            sync()
            a = time.perf_counter()
            for f in fns:
                f()
            sync()
            ms.append((time.perf_counter() - a) * 1000)
        return stats(ms)

    calls = {"unet": lambda x, t, y: unet_call(x, t, y)}
    if fp16:
        calls["unetFp16"] = lambda x, t, y: unet_call(x, t, y, half=True)
    if cls is not None:
        calls["classifierGrad"] = grad_call

    result = {
        "tool": "tools/device/torch_cuda.py", "label": args.label, "pack": str(args.pack), "packName": manifest.get("name"),
        "imageSize": manifest["imageSize"], "batch": args.batch, "warmup": args.warmup, "iters": args.iters,
        "torch": torch.__version__, "device": str(dev),
        "deviceName": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "cudnnAllowTf32": torch.backends.cudnn.allow_tf32, "matmulAllowTf32": torch.backends.cuda.matmul.allow_tf32,
        "weights": how, "loadS": round(load_s, 1),
        "params": {"unet": sum(p.numel() for p in unet.parameters()),
                   "classifier": sum(p.numel() for p in cls.parameters()) if cls is not None else 0},
        "graphs": {}, "guidedStep": {},
    }
    for g, fn in calls.items():
        result["graphs"][g] = {"ms": timed([resident(fn)]), "msHostIO": timed([host(fn)])}
    if cls is not None:
        for u in ("unet", "unetFp16"):
            if u in calls:
                result["guidedStep"][u] = {"ms": timed([resident(calls[u]), resident(grad_call)]),
                                           "msHostIO": timed([host(calls[u]), host(grad_call)])}

    if args.io_dir is not None:
        compare(args, manifest, calls, x_d, t_d, y_d, result, torch_has_pack_weights=not how.startswith("RANDOM"))

    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


def compare(args, manifest, calls, x_d, t_d, y_d, result, torch_has_pack_weights: bool) -> None:
    """WebGPU's outputs against PyTorch's and, where the onnxruntime package exists, against its CPU EP."""
    io = args.io_dir
    if not torch_has_pack_weights:
        result["maxAbsDiffVsWebgpu"] = "skipped: PyTorch runs random weights here (see weights)"
        calls = {}
    names = {"unet": ["model_output"], "unetFp16": ["model_output"], "classifierGrad": ["grad", "logp"]}
    torch_out = {}
    for g, fn in calls.items():
        out = fn(x_d, t_d, y_d)
        out = out if isinstance(out, tuple) else (out,)
        torch_out[g] = {n: o.float().cpu().numpy() for n, o in zip(names[g], out)}
    diffs = {}
    for g in torch_out:
        for n, ref in torch_out[g].items():
            f = io / f"webgpu_{g}_{n}.npy"
            if f.exists():
                diffs[f"{g}.{n}"] = float(np.max(np.abs(np.load(f) - ref)))
    if torch_has_pack_weights:
        result["maxAbsDiffVsWebgpu"] = diffs
    try:
        import onnxruntime as ort
    except ImportError:
        result["webgpuMaxAbsDiffVsOrtCpu"] = "python onnxruntime not installed"
        return
    feeds = {"x": np.load(io / "x.npy"), "timesteps": np.load(io / "timesteps.npy"), "y": np.load(io / "y.npy")}
    out = {}
    for g in ("unet", "unetFp16", "classifierGrad"):
        if g not in manifest or not any(io.glob(f"webgpu_{g}_*.npy")):
            continue
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(os.environ.get("ORT_CPU_THREADS", "4"))
        sess = ort.InferenceSession(str(args.pack / manifest[g]["file"]), so, providers=["CPUExecutionProvider"])
        want = [o.name for o in sess.get_outputs()]
        for n, v in zip(want, sess.run(want, feeds)):
            f = io / f"webgpu_{g}_{n}.npy"
            if f.exists():
                out[f"{g}.{n}"] = float(np.max(np.abs(np.load(f) - v)))
        del sess
    result["webgpuMaxAbsDiffVsOrtCpu"] = out
    result["onnxruntimePython"] = ort.__version__


if __name__ == "__main__":
    sys.exit(main())
