"""ImageFolder loading (`<root>/<split>/<wnid>/*.JPEG`) into one uint8 tensor held in memory.

Imagenette-64 is 9,469 train images (116 MB as uint8), so decoding once and sampling batches from
memory is far cheaper than a DataLoader on a 2-core machine. Every file is decoded before training starts, so
an image that cannot be read (truncated, not an image at all) is found then: all of them are named in one
DataError, and a class folder without images is refused, instead of a traceback or a class trained on nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch
from PIL import Image

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
MAX_NAMED_BAD_IMAGES = 50  # named in the message; the rest are counted


class DataError(ValueError):
    """The image folder cannot be used as it is (one line, naming the files)."""


@dataclass
class ImageFolderData:
    images: torch.Tensor  # uint8 [N, 3, H, W]
    labels: torch.Tensor  # int64 [N], index into `wnids`
    wnids: List[str]

    def batch(self, idx: torch.Tensor, flip: bool, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Float batch in [-1, 1]; random horizontal flips when `flip`."""
        x = self.images[idx].float() / 127.5 - 1.0
        if flip:
            mask = torch.rand(len(idx), generator=generator) < 0.5
            x[mask] = x[mask].flip(-1)
        return x


def list_classes(split_dir: str) -> List[str]:
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f"{split_dir} is not a directory (expected an ImageFolder: <data>/<split>/<class>/*.JPEG)")
    classes = sorted(d for d in os.listdir(split_dir) if os.path.isdir(os.path.join(split_dir, d)))
    if not classes:
        raise ValueError(f"{split_dir} has no class folders")
    return classes


def _decode(path: str, image_size: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")  # decodes the whole file: a truncated one fails here
        if im.size != (image_size, image_size):
            im = im.resize((image_size, image_size), Image.BICUBIC)
        return np.asarray(im, dtype=np.uint8)


def load_image_folder(root: str, split: str, image_size: int, wnids: Optional[List[str]] = None,
                      limit_per_class: Optional[int] = None) -> ImageFolderData:
    """Decodes every image of `root/split`, resized to image_size if needed (bicubic). DataError for an empty class
    folder or for images that cannot be decoded (all of them named, after the whole folder was read)."""
    split_dir = os.path.join(root, split)
    wnids = wnids or list_classes(split_dir)
    images, labels, bad = [], [], []
    for label, wnid in enumerate(wnids):
        folder = os.path.join(split_dir, wnid)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"class folder {folder} is missing (classes must match the train split)")
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise DataError(f"class folder {folder} has no images ({', '.join(IMAGE_EXTENSIONS)}): add images or "
                            "remove the folder (a class without images cannot be learned)")
        if limit_per_class:
            files = files[:limit_per_class]
        for f in files:
            path = os.path.join(folder, f)
            try:
                images.append(_decode(path, image_size))
            except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
                bad.append(f"{path} ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})")
                continue
            labels.append(label)
    if bad:
        shown = "; ".join(bad[:MAX_NAMED_BAD_IMAGES])
        more = f"; and {len(bad) - MAX_NAMED_BAD_IMAGES} more" if len(bad) > MAX_NAMED_BAD_IMAGES else ""
        raise DataError(f"{len(bad)} image file{'s' if len(bad) > 1 else ''} under {split_dir} cannot be decoded "
                        f"(truncated or not images): {shown}{more}; remove or replace them")
    if not images:
        raise ValueError(f"no images found under {split_dir}")
    arr = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return ImageFolderData(arr, torch.tensor(labels, dtype=torch.long), list(wnids))


IMAGENET_WNIDS_PATH = os.path.join(os.path.dirname(__file__), "imagenet_wnids.txt")


def imagenet_index_of_wnids(wnids: List[str]) -> List[int]:
    """ImageNet-1k label (sorted-wnid order, as the official checkpoints use) of each wnid."""
    with open(IMAGENET_WNIDS_PATH) as f:
        index = {w.strip(): i for i, w in enumerate(f) if w.strip()}
    missing = [w for w in wnids if w not in index]
    if missing:
        raise ValueError(f"class folders {missing[:5]} are not ImageNet-1k wnids (expected names like n01440764)")
    return [index[w] for w in wnids]
