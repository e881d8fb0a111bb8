"""adm.checkpoint_io: no code runs from a checkpoint, whichever toolkit loader reads it.

Every hostile file here would create a marker file if its payload ran; each test checks the payload is live
(an unrestricted load does create the marker) and that the toolkit's loaders refuse the file without creating it.
"""
from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import warnings
import zipfile
from pathlib import Path
from typing import Tuple

import pytest
import torch

from conftest import REPO

from adm import checkpoint_io, judge, make_pack
from adm.checkpoint_io import CheckpointError, UnsafeCheckpointError, load_checkpoint
from adm.cli import train as train_cli
from adm import convert_input
from test_judge import make_image_folder


class _Payload:
    """Unpickling this object runs `open(marker, "w")` through builtins.exec."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


class _ScriptedWriter(torch.nn.Module):
    """A TorchScript module whose scripted __setstate__ creates a file (torch.from_file with shared=True creates
    it) when torch.jit.load restores the module."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.w = torch.zeros(2)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, torch.Tensor, bool]:
        return self.marker, self.w, self.training

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, torch.Tensor, bool]) -> None:
        self.marker = state[0]
        self.training = state[2]
        created = torch.from_file(self.marker, True, 2, dtype=torch.uint8)
        self.w = state[1] + created.float() * 0.0  # the result is used, so the call is not optimised away

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.w


def _judge_loader(p: Path):
    return judge.load_judge(str(p))


def _make_pack_loader(p: Path):
    return make_pack._load(p, "unet")


def _convert_loader(p: Path):
    return convert_input.load_checkpoint(p, "U-Net")


LOADERS = {
    "load_checkpoint": load_checkpoint,
    "judge.load_judge": _judge_loader,
    "make_pack._load": _make_pack_loader,
    "convert_input.load_checkpoint": _convert_loader,
}
# convert_input.ConvertError is the convert CLI's user-facing error; the other loaders raise CheckpointError (a ValueError).
REFUSALS = (ValueError, convert_input.ConvertError)


def _save_pickle_payload(path: Path, marker: Path, legacy: bool) -> Path:
    obj = {"kind": "unet", "state_dict": {"w": torch.ones(2)}, "x": _Payload(marker)}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def _refused(loader, path: Path, marker: Path) -> str:
    with pytest.raises(REFUSALS) as info:
        loader(path)
    assert not marker.exists(), "the checkpoint's payload ran"
    return str(info.value)


# --- (a) + (c) pickled code, zip and legacy format -----------------------------------------------------------

@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_payload_is_live(tmp_path, legacy):
    """Control: an unrestricted torch.load runs the payload, so the refusals below are meaningful."""
    marker = tmp_path / "marker"
    path = _save_pickle_payload(tmp_path / "evil.pt", marker, legacy)
    torch.load(path, map_location="cpu")  # what judge.py and make_pack.py did before checkpoint_io
    assert marker.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("loader", list(LOADERS))
def test_pickled_code_is_refused(tmp_path, loader, legacy):
    marker = tmp_path / "marker"
    path = _save_pickle_payload(tmp_path / "evil.pt", marker, legacy)
    msg = _refused(LOADERS[loader], path, marker)
    assert "__builtin__.exec" in msg and "refusing" in msg, msg


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_protocols_are_refused(tmp_path, protocol):
    """data.pkl written with every pickle protocol (GLOBAL, STACK_GLOBAL, ...) inside a plain torch.save layout."""
    marker = tmp_path / "marker"
    path = _zip_with_data_pkl(tmp_path / "p.pt", pickle.dumps({"x": _Payload(marker)}, protocol=protocol))
    with pytest.raises(UnsafeCheckpointError, match="builtin"):
        load_checkpoint(path)
    assert not marker.exists()


def _zip_with_data_pkl(path: Path, data_pkl: bytes, extra: Tuple[Tuple[str, bytes], ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", b"3\n")
        for name, data in extra:
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("data_pkl, needle", [
    (b"(S'touch marker'\nios\nsystem\n.", "os.system"),  # protocol-0 INST opcode
    (b"\x80\x02]}b.", "list"),  # BUILD on a list
    (b"\x80\x02\x82\x01.", "extension"),  # EXT1
    (b"\x80\x02ctorch\nload\nq\x00.", "torch.load"),  # a torch function outside the allow-list
], ids=["inst", "build-list", "ext1", "torch-load"])
def test_restricted_opcodes(tmp_path, data_pkl, needle):
    with pytest.raises(UnsafeCheckpointError, match=needle):
        load_checkpoint(_zip_with_data_pkl(tmp_path / "c.pt", data_pkl))


# --- (b) TorchScript and other archives --------------------------------------------------------------------

@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    d = tmp_path_factory.mktemp("ts")
    marker = d / "marker"
    path = d / "scripted.pt"
    torch.jit.save(torch.jit.script(_ScriptedWriter(str(marker))), str(path))
    assert not marker.exists()
    return path, marker


def test_scripted_payload_is_live(scripted, tmp_path):
    """Control: torch.load(weights_only=True), as convert.py called it, hands the archive to torch.jit.load, and the
    scripted __setstate__ creates its file."""
    path, marker = scripted
    try:
        with pytest.warns(UserWarning, match="TorchScript"):
            torch.load(str(path), map_location="cpu", weights_only=True)
        assert marker.exists()
    finally:
        if marker.exists():
            marker.unlink()


@pytest.mark.parametrize("loader", list(LOADERS))
def test_torchscript_refused_before_torch_reads_it(scripted, loader, monkeypatch):
    path, marker = scripted

    def forbidden(*a, **k):
        raise AssertionError("torch was asked to load a refused archive")

    monkeypatch.setattr(torch.jit, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(torch.serialization, "_load", forbidden)
    msg = _refused(LOADERS[loader], path, marker)
    assert "TorchScript" in msg and "constants.pkl" in msg, msg


@pytest.mark.parametrize("extra, needle", [
    ((("archive/code/__torch__.py", b"print('x')\n"),), "TorchScript"),
    ((("archive/constants.pkl", b"\x80\x02)."),), "TorchScript"),
    ((("archive/helper.py", b""),), "TorchScript"),
    ((("archive/extra.pkl", b"\x80\x02)."),), "extra.pkl"),
    ((("other/data.pkl", b"\x80\x02)."),), "one top-level folder"),
    ((("archive/data.pkl", b"\x80\x02)."),), "twice"),
], ids=["code-dir", "constants", "py-file", "extra-pickle", "two-folders", "duplicate"])
def test_unexpected_archive_entries(tmp_path, extra, needle):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        path = _zip_with_data_pkl(tmp_path / "z.pt", pickle.dumps({"a": 1}, protocol=2), extra)
    with pytest.raises(UnsafeCheckpointError, match=needle):
        load_checkpoint(path)


# --- (d) the project's own files still load ------------------------------------------------------------------

WNIDS = ["n01440764", "n02102040"]


@pytest.fixture(scope="module")
def training_run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    make_image_folder(data, WNIDS, size=16, n_train=2, n_val=1)
    out = tmp_path_factory.mktemp("run")
    for model in ("unet", "classifier"):
        assert train_cli.main(["--data", str(data), "--out", str(out), "--model", model, "--preset", "tiny",
                           "--max-steps", "1", "--batch-size", "2", "--threads", "1", "--no-bf16"]) == 0
    return out


def test_training_checkpoints_load(training_run):
    for kind in ("unet", "classifier"):
        ck = load_checkpoint(training_run / f"{kind}.pt")
        ref = torch.load(training_run / f"{kind}.pt", map_location="cpu")  # trusted: written by this test
        assert set(ck) == set(ref) and ck["kind"] == kind and ck["step"] == 1 and ck["wnids"] == WNIDS
        assert isinstance(ck["elapsed"], float) and ck["train_args"] == ref["train_args"]
        assert ck["opt"]["param_groups"] == ref["opt"]["param_groups"]  # floats, tuples of floats, None, bools
        assert ck["world_size"] == ref["world_size"] == 1 and ck["config"] == ref["config"]
        for k, v in ref["ema"].items():
            assert torch.equal(ck["ema"][k], v)
        model, _ = make_pack._load(training_run / f"{kind}.pt", kind)
        assert sum(p.numel() for p in model.parameters()) > 0


def test_judge_checkpoint_round_trip(tmp_path):
    model = judge.JudgeNet(judge.JudgeConfig(image_size=16, num_classes=2, widths=(8, 16)))
    judge.save_judge(str(tmp_path / "j.pt"), model, WNIDS, {"val_accuracy": 0.5, "settings": {"lr": 0.1}})
    loaded, wnids, info = judge.load_judge(str(tmp_path / "j.pt"))
    assert wnids == WNIDS and info["val_accuracy"] == 0.5 and loaded.cfg.widths == (8, 16)
    assert not (tmp_path / "j.pt.tmp").exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dicts_load(tmp_path, legacy):
    """Official-format files: flat state dicts (OrderedDict with _metadata), parameters, every dtype."""
    lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    sd = lin.state_dict()
    extra = {"p": torch.nn.Parameter(torch.ones(2)), "bf16": torch.ones(2, dtype=torch.bfloat16),
             "u8": torch.arange(3, dtype=torch.uint8), "b": torch.tensor([True]), "h": torch.ones(1, dtype=torch.half),
             "view": torch.arange(10.0)[2:5], "big": 2 ** 70, "dt": torch.float16}
    torch.save({"state_dict": sd, **extra}, tmp_path / "s.pt", _use_new_zipfile_serialization=not legacy)
    got = load_checkpoint(tmp_path / "s.pt")
    assert list(got["state_dict"]) == list(sd) and got["state_dict"]._metadata == sd._metadata
    for k, v in sd.items():
        assert torch.equal(got["state_dict"][k], v)
    assert type(got["p"]) is torch.nn.Parameter and got["bf16"].dtype == torch.bfloat16
    assert torch.equal(got["view"], torch.tensor([2.0, 3.0, 4.0])) and got["big"] == 2 ** 70
    assert got["dt"] is torch.float16


# --- damaged files are CheckpointError, not UnsafeCheckpointError ----------------------------------------------

def test_damaged_files(tmp_path):
    torch.save({"w": torch.ones(100)}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt").write_text("not a checkpoint\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "pickle-trunc.pt").write_bytes(pickle.dumps({"a": list(range(100))}, protocol=2)[:40])
    os.mkfifo(tmp_path / "fifo")
    cases = {"missing.pt": "does not exist", "trunc.pt": "not a complete one", "text.pt": "neither a zip archive",
             "empty.pt": "empty", "fifo": "not a regular file", ".": "folder", "pickle-trunc.pt": "torch could not"}
    for name, needle in cases.items():
        with pytest.raises(CheckpointError, match=needle) as info:
            load_checkpoint(tmp_path / name)
        assert not isinstance(info.value, UnsafeCheckpointError), name
        assert "\n" not in str(info.value)


# --- the command lines ---------------------------------------------------------------------------------------

def _cli(*args, cwd):
    return subprocess.run(["bash", str(REPO / "scripts" / "py.sh"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_convert_cli_refuses_hostile_files(tmp_path, scripted):
    marker = tmp_path / "marker"
    evil = _save_pickle_payload(tmp_path / "evil.pt", marker, legacy=False)
    for ckpt, needle in ((evil, "__builtin__.exec"), (scripted[0], "TorchScript")):
        out = tmp_path / "pack"
        p = _cli("-m", "adm.cli.convert", "--unet", ckpt, "--preset", "imagenet64", "--out", out, cwd=tmp_path)
        assert p.returncode == 2, p.stderr
        assert p.stderr.startswith("convert: error: refusing the U-Net checkpoint") and needle in p.stderr, p.stderr
        assert p.stderr.count("\n") == 1, p.stderr
        assert not out.exists() and not marker.exists() and not scripted[1].exists()


def test_make_pack_cli_refuses_hostile_files(tmp_path):
    marker = tmp_path / "marker"
    run = tmp_path / "run"
    run.mkdir()
    _save_pickle_payload(run / "unet.pt", marker, legacy=True)
    p = _cli("-m", "adm.cli.make_pack", "--run", run, "--out", tmp_path / "pack", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("make-pack: error: refusing checkpoint") and p.stderr.count("\n") == 1, p.stderr
    assert not marker.exists() and not (tmp_path / "pack").exists()


def test_public_names():
    assert issubclass(UnsafeCheckpointError, CheckpointError) and issubclass(CheckpointError, ValueError)
    assert checkpoint_io.__all__ == ["CheckpointError", "UnsafeCheckpointError", "load_checkpoint"]
