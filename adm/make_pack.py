"""Turn a training run (`npm run train` checkpoints) into a browser pack.

    npm run make-pack -- --run runs/imagenette64 --out public/models/imagenette64 --scale 4 --respacing ddim25

Uses the EMA weights of `<run>/unet.pt` and `<run>/classifier.pt`; adm.pack.write_pack exports the fp32
and fp16 U-Net and the classifier-gradient graph and writes the manifest (ImageNet index of every label,
the null label for unconditional sampling, recommended scale and respacing, licence note). With --data it
also measures the classifier's noisy top-1 and stores its features of real val images at t = 0
(reference_features.bin, manifest referenceFeatures) for the app's precision/recall. The pack is
built in a temp folder beside --out and renamed at the end, so a failure leaves nothing half-written.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .checkpoint_io import load_checkpoint
from .cli_safety import check_output_folder
from .config import ClassifierConfig, DiffusionConfig, UNetConfig
from .data import imagenet_index_of_wnids
from .manifest import respacing_step_count
from .pack import write_pack
from .reference_features import DEFAULT_PER_LABEL, reference_set
from .unet import EncoderUNetModel, UNetModel

ACCURACY_METRIC = ("classifier top-1 on val images noised to q(x_t|x_0), t uniform in each bucket "
                   "(npm run classifier-eval); 'all' is the mean over buckets")
LICENSE = ("Weights trained by this project on Imagenette (a subset of ImageNet). ImageNet's terms allow "
           "non-commercial research and education use only; this pack inherits that restriction.")


def _load(path: Path, kind: str):
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (train it with: npm run train -- --model {kind} ...)")
    ck = load_checkpoint(path)  # CheckpointError (a ValueError): damaged, or holds more than weights and data
    if not isinstance(ck, dict) or ck.get("kind") != kind:
        raise ValueError(f"{path} is not a {kind} checkpoint written by adm.train")
    cfg_d = dict(ck["config"])
    for k in ("attention_resolutions", "channel_mult"):
        cfg_d[k] = tuple(cfg_d[k])
    cfg = UNetConfig(**cfg_d) if kind == "unet" else ClassifierConfig(**cfg_d)
    model = UNetModel(cfg) if kind == "unet" else EncoderUNetModel(cfg)
    model.load_state_dict(ck["ema"])
    return model.eval(), ck


def make_pack(run: Path, out: Path, scale: float, respacing: str, use_ddim: bool, force: bool,
              guidance_mode: Optional[str] = None, cfg_scale: Optional[float] = None,
              data: Optional[Path] = None, accuracy_limit: int = 1000, replace_any: bool = False,
              reference_per_label: int = DEFAULT_PER_LABEL, source: Optional[str] = None) -> Path:
    unet, uck = _load(run / "unet.pt", "unet")
    classifier, cck = _load(run / "classifier.pt", "classifier")
    if uck["wnids"] != cck["wnids"]:
        raise ValueError("the U-Net and the classifier were trained on different classes")
    labels = imagenet_index_of_wnids(uck["wnids"])
    respacing_step_count(int(uck["diffusion"]["diffusion_steps"]), respacing)  # ValueError before any export
    out = Path(os.path.abspath(out))  # never resolved: a symbolic link at --out is replaced, not followed
    check_output_folder(out, replace=force, replace_any=replace_any)  # OutputFolderError before any export
    size = unet.cfg.image_size
    accuracy = None
    reference = None
    if data is not None:  # measured now, on the weights that go into the pack
        from .classifier_eval import val_accuracy
        d = DiffusionConfig(**uck["diffusion"])
        acc, images = val_accuracy(classifier, str(data), cck["wnids"], size, d.noise_schedule, d.diffusion_steps,
                                   d.learn_sigma, limit=accuracy_limit)
        accuracy = dict(metric=ACCURACY_METRIC, images=images, top1ByT={k: round(float(v), 4) for k, v in acc.items()})
        if reference_per_label > 0:
            reference = reference_set(classifier, str(data), cck["wnids"], size, reference_per_label)
    elif cck.get("val_acc") and cck.get("val_acc_step") == cck["step"]:  # adm.train's check of these weights
        accuracy = dict(metric=ACCURACY_METRIC, images=int(cck.get("val_images") or 1),
                        top1ByT={k: round(float(v), 4) for k, v in cck["val_acc"].items()})
    return write_pack(
        out, unet, classifier, replace_any=replace_any, name=out.name,
        title=f"Imagenette {size}x{size} (trained here)",
        unconditional_label=len(labels), labels=labels, diffusion=DiffusionConfig(**uck["diffusion"]),
        classifier_scale=scale, timestep_respacing=respacing, use_ddim=use_ddim, guidance_mode=guidance_mode,
        cfg_scale=cfg_scale, classifier_accuracy=accuracy,
        training=dict(unet=training_totals(uck), classifier=training_totals(cck)),
        source=source or (f"adm.train on {len(labels)} Imagenette classes: U-Net EMA at step {uck['step']} "
                          f"({run_text(uck)}), classifier EMA at step {cck['step']} ({run_text(cck)}); "
                          f"see docs/training-report.md"),
        license=LICENSE, reference=reference)


def training_totals(ck: dict) -> dict:
    """What the network was trained on in all: this run, plus the pack it continued (--init-from) when that pack
    stated its own totals (manifest `training`)."""
    prior = (ck.get("init_from") or {}).get("prior") or dict(images=0, steps=0, minutes=0.0)
    return dict(images=int(prior["images"]) + int(ck["seen"]), steps=int(prior["steps"]) + int(ck["step"]),
                minutes=round(float(prior["minutes"]) + ck["elapsed"] / 60, 1))


def run_text(ck: dict) -> str:
    """'69408 images, 85 min' for a run from scratch; with --init-from, this run's share and the totals."""
    this = f"{ck['seen']} images, {ck['elapsed'] / 60:.0f} min"
    init = ck.get("init_from")
    if not init:
        return this
    if init.get("trunk"):
        return f"{this}; trunk initialised from pack {init['pack']}'s U-Net"
    if not init.get("prior"):
        return f"{this}, continued from pack {init['pack']} (its earlier training not recorded)"
    t = training_totals(ck)
    return f"{this} continued from pack {init['pack']}: {t['images']} images, {t['minutes']:.0f} min in all"
