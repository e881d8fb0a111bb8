"""Training data and checkpoints: every undecodable image (truncated JPEG and PNG, a non-image) named in one line
before training starts, a class folder without images refused, and the first checkpoint one minute after a start."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from adm import train
from adm.data import DataError, load_image_folder
from adm.cli import train as train_cli
from test_judge import make_image_folder

WNIDS = ["n01440764", "n02102040", "n03888257"]


def _jpeg(seed: int) -> bytes:
    arr = (np.random.default_rng(seed).random((16, 16, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG")
    return buf.getvalue()


def _train(data, out, capsys, *extra):
    capsys.readouterr()
    code = train_cli.main(["--data", str(data), "--out", str(out), "--model", "classifier", "--preset", "tiny",
                       "--max-steps", "1", "--batch-size", "2", "--threads", "1", "--no-bf16", *extra])
    return code, capsys.readouterr().err


def test_every_bad_image_is_named_before_training(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data", WNIDS, size=16, n_train=3, n_val=1)
    bad = {
        data / "train" / WNIDS[0] / "img000.png": (data / "train" / WNIDS[0] / "img000.png").read_bytes()[:200],
        data / "train" / WNIDS[1] / "cut.JPEG": _jpeg(1)[:-30],  # a JPEG cut before its end
        data / "train" / WNIDS[1] / "half.jpg": _jpeg(2)[:300],
        data / "train" / WNIDS[2] / "notes.jpeg": b"not an image at all\n",
        data / "val" / WNIDS[2] / "img000.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
    }
    for path, content in bad.items():
        path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_image_folder(str(data), "train", 16)
    for path in list(bad)[:4]:
        assert str(path) in str(info.value)
    code, err = _train(data, tmp_path / "run", capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "4 image files under" in err and "image file is truncated" in err and "cannot identify image file" in err
    assert not (tmp_path / "run" / "classifier.pt").exists() and not (tmp_path / "run" / "classifier.log.jsonl").exists()
    # With the train split fixed, the bad val image is named the same way (the classifier reads val/ too).
    for path in list(bad)[:4]:
        path.unlink()
    code, err = _train(data, tmp_path / "run", capsys)
    assert code == 2 and "1 image file under" in err and str(list(bad)[4]) in err, err


def test_empty_class_folder_is_refused(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data", WNIDS, size=16, n_train=2, n_val=1)
    empty = data / "train" / "n01443537"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    code, err = _train(data, tmp_path / "run", capsys)
    assert code == 2 and f"class folder {empty} has no images" in err and err.count("\n") == 1, err


def test_first_checkpoint_after_a_minute_then_the_cadence(tmp_path, capsys, monkeypatch):
    """FIRST_CKPT_S is the first checkpoint's delay; shrunk here so that steps stand in for minutes."""
    data = make_image_folder(tmp_path / "data", WNIDS, size=16, n_train=2, n_val=1)
    saved = []
    real_save = train.Trainer.save

    def save(self):
        saved.append(self.step)
        real_save(self)

    monkeypatch.setattr(train.Trainer, "save", save)
    code, err = _train(data, tmp_path / "a", capsys, "--max-steps", "3")
    assert code == 0, err
    assert saved == [3]  # a short run: only the final save (the first minute never passed)
    saved.clear()
    monkeypatch.setattr(train, "FIRST_CKPT_S", 0.0)
    code, err = _train(data, tmp_path / "b", capsys, "--max-steps", "3")  # --ckpt-every-min stays 5
    assert code == 0, err
    assert saved == [1, 3]  # the first checkpoint right after the first step, then none until the end
    ck = torch.load(tmp_path / "b" / "classifier.pt")
    assert ck["step"] == 3
