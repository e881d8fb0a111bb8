"""`npm run classifier-eval`: the noisy top-1 of a pack's classifier per t bucket (adm.classifier_eval measures it)."""
from __future__ import annotations

import torch

from ..classifier_eval import classifier_from_pack, format_table, val_accuracy


def main(argv=None) -> int:
    """npm run classifier-eval -- --pack public/models/imagenette64 --data ../shared/data/imagenette-64"""
    import argparse
    import json
    import os
    import sys

    from ..data import imagenet_index_of_wnids, list_classes

    p = argparse.ArgumentParser(prog="npm run classifier-eval --",
                                description="Top-1 of a pack's noise-aware classifier on val images noised to "
                                            "q(x_t|x_0), per t bucket (the paper's way of judging its classifiers).")
    p.add_argument("--pack", required=True, help="pack folder trained by this toolkit (manifest.json + ONNX files)")
    p.add_argument("--data", required=True, help="ImageFolder root with val/<wnid> folders of the pack's classes")
    p.add_argument("--limit", type=int, default=None, help="val images per bucket (default: all)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("ADM_TORCH_THREADS", "2")))
    try:
        model, m = classifier_from_pack(a.pack)
        wnids = list_classes(os.path.join(a.data, "val"))
        if imagenet_index_of_wnids(wnids) != m["labels"]:
            raise ValueError(f"{a.data}/val has classes {wnids}; the pack's labels are ImageNet {m['labels']}")
        acc, images = val_accuracy(model, a.data, wnids, m["imageSize"], m["diffusion"]["noiseSchedule"],
                                   m["diffusion"]["diffusionSteps"], m["learnSigma"], limit=a.limit, seed=a.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"classifier-eval: error: {e}", file=sys.stderr)
        return 2
    print(format_table([(m["name"], acc)]), file=sys.stderr)
    print(json.dumps({"pack": m["name"], "images": images, "top1": acc}))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
