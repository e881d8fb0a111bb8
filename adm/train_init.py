"""Starting a training run: its network for the preset and the data's classes, and with --init-from /
--init-trunk-from a pack's graph weights read back into it. The pack functions return the run's init_from record,
which a pack made from the run keeps so that it can state its training totals."""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch

from .config import ClassifierConfig, UNetConfig
from .data import imagenet_index_of_wnids
from .export import classifier_grad_exporter, export_unet
from .onnx_weights import load_onnx_weights
from .pack import read_pack
from .pack_files import load_pack_graph
from .unet import EncoderUNetModel, UNetModel


def new_network(preset: Dict, kind: str, n_cls: int) -> Tuple[Union[UNetConfig, ClassifierConfig], torch.nn.Module]:
    """The preset's U-Net with n_cls labels plus the null ("no class") label last, or its classifier of n_cls."""
    if kind == "unet":
        cfg = copy.deepcopy(preset["unet"])
        cfg.num_classes = n_cls + 1
        return cfg, UNetModel(cfg)
    cfg = copy.deepcopy(preset["classifier"])
    cfg.out_channels = n_cls
    return cfg, EncoderUNetModel(cfg)


def start_from_pack(args, model: torch.nn.Module, cfg, preset: Dict, wnids: List[str], resuming: bool) -> Optional[Dict]:
    """--init-from / --init-trunk-from applied to a new run's network (a run that resumes keeps its checkpoint's)."""
    if resuming and (args.init_from or args.init_trunk_from):
        print(f"note: {args.out} already has a {args.model} checkpoint: resuming it, not initialising from a pack",
              file=sys.stderr)
    elif args.init_from:
        return init_from_pack(model, args.model, cfg, args.init_from, wnids)
    elif args.init_trunk_from:
        return init_trunk_from_pack(model, cfg, preset["unet"], args.init_trunk_from, wnids)
    return None


def pack_manifest(pack: Path, wnids: List[str], image_size: int) -> dict:
    """The manifest of a pack trained on the data's classes at this image size; ValueError when it is not."""
    m = read_pack(pack, check_files=False)  # the graph used is read and checked by load_pack_graph
    labels = imagenet_index_of_wnids(wnids)
    if m["labels"] != labels:
        raise ValueError(f"{pack} was trained on ImageNet labels {m['labels']}, the data's classes are {labels}")
    if m.get("imageSize") != image_size:
        raise ValueError(f"{pack} is {m.get('imageSize')} px, this preset trains {image_size} px")
    return m


def init_from_pack(model: torch.nn.Module, kind: str, cfg, pack: Path, wnids: List[str]) -> Dict:
    """The pack's U-Net (kind "unet") or classifier weights into `model`, to continue their training."""
    m = pack_manifest(pack, wnids, cfg.image_size)
    if kind == "unet":
        if m.get("unconditionalLabel") != cfg.num_classes - 1:
            raise ValueError(f"{pack} has no null label at {cfg.num_classes - 1}: cannot continue its U-Net")
        load_onnx_weights(model, load_pack_graph(pack, m, "unet"), export_unet)
    else:
        load_onnx_weights(model, load_pack_graph(pack, m, "classifierGrad"),
                          classifier_grad_exporter(m["classifierGrad"]["outputs"]))
    print(f"initialised the {kind} from {pack}", file=sys.stderr)
    return dict(pack=m["name"], prior=(m.get("training") or {}).get(kind))


def init_trunk_from_pack(model: torch.nn.Module, cfg: ClassifierConfig, unet_cfg: UNetConfig, pack: Path,
                         wnids: List[str]) -> Dict:
    """A classifier's encoder (time embedding, input and middle blocks) from the pack's U-Net (unet_cfg, the preset's
    U-Net): a start, not a continuation."""
    m = pack_manifest(pack, wnids, cfg.image_size)
    ucfg = copy.deepcopy(unet_cfg)
    ucfg.num_classes = len(wnids) + 1 if m.get("unconditionalLabel") is not None else len(wnids)
    unet = load_onnx_weights(UNetModel(ucfg), load_pack_graph(pack, m, "unet"), export_unet)
    src = unet.state_dict()
    own = model.state_dict()
    shared = {k: v for k, v in src.items()
              if k.split(".")[0] in ("time_embed", "input_blocks", "middle_block") and k in own
              and own[k].shape == v.shape}
    if not shared:
        raise ValueError(f"no classifier weight matches {pack}'s U-Net encoder (different architecture)")
    model.load_state_dict(shared, strict=False)
    print(f"initialised {len(shared)} of {len(own)} classifier tensors from {pack}'s U-Net encoder", file=sys.stderr)
    return dict(pack=m["name"], prior=None, trunk=True)
