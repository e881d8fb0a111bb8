"""SIGTERM during a pack export removes the partial folder (like Ctrl-C); --out below a regular file is a clear
error (exit 2, nothing written). adm/cli_safety.py and its use by adm/pack.py in convert, make-pack and make_tiny_pack."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO

from adm import export, tiny_pack
from adm.cli_safety import SIGTERM_EXIT, blocking_file, sigterm_as_exit
from adm.flags import parse_classifier_flags, parse_model_flags
from adm.unet import EncoderUNetModel, UNetModel
from adm.cli import train as train_cli
from adm.cli import make_pack as make_pack_cli
from adm.cli import convert as convert_cli
from test_convert import CLS_FLAGS, UNET_FLAGS
from test_judge import make_image_folder


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    torch.save(UNetModel(parse_model_flags(UNET_FLAGS).unet).state_dict(), d / "unet.pt")
    torch.save(EncoderUNetModel(parse_classifier_flags(CLS_FLAGS, image_size=64).classifier).state_dict(),
               d / "cls.pt")
    return d


def _leftovers(folder: Path, name: str):
    return sorted(p.name for p in folder.glob(f".{name}.*"))


def test_convert_sigterm_removes_partial_pack(ckpts, tmp_path):
    out = tmp_path / "pack"
    cmd = ["bash", str(REPO / "scripts" / "py.sh"), "-m", "adm.cli.convert", "--unet", str(ckpts / "unet.pt"),
           "--unet-flags", UNET_FLAGS, "--classifier", str(ckpts / "cls.pt"), "--classifier-flags", CLS_FLAGS,
           "--out", str(out), "--fp16", "--no-verify"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)  # py.sh execs
    try:
        deadline = time.time() + 240
        # wait until the export has written its first graph into the partial folder, then stop it mid-export
        while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob(".pack.partial-*/unet.onnx")):
            time.sleep(0.02)
        assert proc.poll() is None, f"convert ended before the signal: {proc.communicate()}"
        assert _leftovers(tmp_path, "pack"), "no partial folder appeared"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == SIGTERM_EXIT, err
    assert "convert: stopped by SIGTERM; partial output removed" in err, err
    assert "Traceback" not in err, err
    assert _leftovers(tmp_path, "pack") == [] and not out.exists()


def test_write_pack_sigterm_in_process(tmp_path, monkeypatch):
    """The same path without a subprocess: a real SIGTERM arrives between two graph exports of write_pack."""
    real_export = export.export_unet
    calls = []

    def export_then_signal(*a, **k):
        real_export(*a, **k)
        calls.append(a[1])
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(export, "export_unet", export_then_signal)  # what adm.pack.write_pack calls
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        with sigterm_as_exit("make-pack"):
            tiny_pack.make_pack(tmp_path / "pack")
    assert info.value.code == SIGTERM_EXIT and len(calls) == 1
    assert signal.getsignal(signal.SIGTERM) is previous  # restored
    assert _leftovers(tmp_path, "pack") == [] and not (tmp_path / "pack").exists()


def test_sigterm_as_exit_keeps_an_ignored_sigterm():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with sigterm_as_exit("x"):
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)  # ignored: nothing happens
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- --out below a regular file ------------------------------------------------------------------------------

def test_blocking_file(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    assert blocking_file(tmp_path / "f.txt" / "pack") == tmp_path / "f.txt"
    assert blocking_file(tmp_path / "f.txt" / "a" / "b") == tmp_path / "f.txt"
    assert blocking_file(tmp_path / "f.txt") == tmp_path / "f.txt"
    assert blocking_file(tmp_path / "new" / "pack") is None and blocking_file(tmp_path) is None


def test_convert_out_below_a_file(ckpts, tmp_path, capsys):
    (tmp_path / "somefile.txt").write_text("keep")
    out = tmp_path / "somefile.txt" / "pack"
    code = convert_cli.main(["--unet", str(ckpts / "unet.pt"), "--unet-flags", UNET_FLAGS, "--out", str(out),
                         "--no-verify", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("convert: error: --out ") and "is a file, not a folder" in err and err.count("\n") == 1
    assert (tmp_path / "somefile.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile.txt"]


def test_make_pack_out_below_a_file(tmp_path, tmp_path_factory, capsys):
    data = tmp_path_factory.mktemp("data")
    make_image_folder(data, ["n01440764", "n02102040"], size=16, n_train=2, n_val=1)
    run = tmp_path / "run"
    for model in ("unet", "classifier"):
        assert train_cli.main(["--data", str(data), "--out", str(run), "--model", model, "--preset", "tiny",
                           "--max-steps", "1", "--batch-size", "2", "--threads", "1", "--no-bf16"]) == 0
    capsys.readouterr()
    (tmp_path / "somefile.txt").write_text("keep")
    code = make_pack_cli.main(["--run", str(run), "--out", str(tmp_path / "somefile.txt" / "pack")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("make-pack: error: ") and "is a file, not a folder" in err and err.count("\n") == 1
    assert (tmp_path / "somefile.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "somefile.txt"]
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        tiny_pack.make_pack(tmp_path / "somefile.txt" / "tiny")


@pytest.mark.parametrize("respacing", ["ddim0", "0", "10,0", "ddim2000"])
def test_convert_refuses_unusable_respacing_before_export(ckpts, tmp_path, capsys, respacing):
    out = tmp_path / "pack"
    code = convert_cli.main(["--unet", str(ckpts / "unet.pt"), "--unet-flags", UNET_FLAGS, "--out", str(out),
                         "--respacing", respacing, "--no-verify", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"convert: error: timestep respacing '{respacing}' is not usable") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
