"""What --force may replace (adm/cli_safety.py): a symbolic link at --out is replaced, never its target; a folder this
toolkit did not write is refused unless --replace-any-folder; packs and eval folders it wrote (marker, or a
recognisable layout for those written before markers, such as the shipped packs) are replaced; an unwritable --out
is refused before any export; the publish step checks again what it is about to replace."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO

from adm import cli_safety, pack as pack_mod
from adm.cli_safety import MARKER_NAME, OutputFolderError, check_output_folder, foreign_reason, output_folder
from adm.manifest import read_manifest
from adm.cli import make_pack as make_pack_cli
from test_judge import make_image_folder
from test_train import _train

WNIDS = ["n01440764", "n02102040"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("outfolders")
    data = make_image_folder(root / "data", WNIDS, size=16, n_train=2, n_val=1)
    assert _train(data, root / "run", "unet", 1) == 0 and _train(data, root / "run", "classifier", 1) == 0
    return root / "run"


def _make_pack(run: Path, out: Path, capsys, *extra: str):
    capsys.readouterr()
    code = make_pack_cli.main(["--run", str(run), "--out", str(out), *extra])
    return code, capsys.readouterr().err


def _user_folder(path: Path, n: int = 28) -> dict:
    path.mkdir()
    for i in range(n):
        (path / f"note{i}.txt").write_text(f"mine {i}")
    return {p.name: p.read_text() for p in path.iterdir()}


def _contents(path: Path) -> dict:
    return {p.name: p.read_text() for p in path.iterdir()}


def test_force_replaces_a_link_never_its_target(run, tmp_path, capsys):
    mine = tmp_path / "mine"
    before = _user_folder(mine)
    link = tmp_path / "L"
    link.symlink_to(mine)
    code, err = _make_pack(run, link, capsys)
    assert code == 2 and "is a symbolic link" in err and "--force" in err and err.count("\n") == 1, err
    code, err = _make_pack(run, link, capsys, "--force")
    assert code == 0, err
    assert not link.is_symlink() and (link / MARKER_NAME).is_file() and read_manifest(link)["name"] == "L"
    assert _contents(mine) == before  # the folder the link pointed to: untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["L", "mine"]  # no temporary folder left


def test_force_refuses_a_folder_it_did_not_write(run, tmp_path, capsys):
    mine = tmp_path / "mine"
    before = _user_folder(mine)
    code, err = _make_pack(run, mine, capsys, "--force")
    assert code == 2 and err.count("\n") == 1, err
    assert "is not a folder this toolkit wrote" in err and "28 entries" in err and "--replace-any-folder" in err
    assert _contents(mine) == before
    code, err = _make_pack(run, mine, capsys, "--force", "--replace-any-folder")  # told in so many words
    assert code == 0, err
    assert not (mine / "note0.txt").exists() and read_manifest(mine)["name"] == "mine"
    code, err = _make_pack(run, mine, capsys, "--force")  # now it carries the marker: --force alone will do
    assert code == 0, err


def test_shipped_packs_without_a_marker_are_still_replaced(run, tmp_path, capsys):
    """public/models/imagenette64 predates the marker: a valid manifest and only the files it lists make it a pack,
    so `make-pack --out public/models/imagenette64 --force` (README) keeps working."""
    for name in ("imagenette64", "tiny16"):
        copy = tmp_path / name
        shutil.copytree(REPO / "public" / "models" / name, copy)
        (copy / MARKER_NAME).unlink(missing_ok=True)
        assert foreign_reason(copy) is None, name
    code, err = _make_pack(run, tmp_path / "imagenette64", capsys, "--force")
    assert code == 0, err
    assert (tmp_path / "imagenette64" / MARKER_NAME).is_file()
    # The same pack with one extra file is not recognisably ours any more.
    (tmp_path / "tiny16" / "notes.txt").write_text("mine")
    assert "notes.txt" in foreign_reason(tmp_path / "tiny16")
    code, err = _make_pack(run, tmp_path / "tiny16", capsys, "--force")
    assert code == 2 and "notes.txt" in err, err
    assert (tmp_path / "tiny16" / "notes.txt").read_text() == "mine"


def test_what_counts_as_ours(tmp_path):
    ev = tmp_path / "eval"
    (ev / "grids").mkdir(parents=True)
    (ev / "eval.json").write_text("{}")
    (ev / "eval.png").write_bytes(b"png")
    assert foreign_reason(ev) is None  # an eval folder written before markers
    (ev / "keep.txt").write_text("x")
    assert "keep.txt" in foreign_reason(ev)
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "data.txt").write_text("x")
    (tmp_path / "marker.json").write_text(json.dumps({"writtenBy": cli_safety.WRITTEN_BY, "kind": "pack"}))
    (forged / MARKER_NAME).symlink_to(tmp_path / "marker.json")  # a marker must be a regular file
    assert foreign_reason(forged) is not None
    (forged / MARKER_NAME).unlink()
    (forged / MARKER_NAME).write_text("[" * 10_000 + "]" * 10_000)  # and a small JSON object
    assert foreign_reason(forged) is not None
    (forged / MARKER_NAME).write_text(json.dumps({"writtenBy": cli_safety.WRITTEN_BY, "kind": "eval"}))
    assert foreign_reason(forged) is None
    link_manifest = tmp_path / "linked"
    shutil.copytree(REPO / "public" / "models" / "tiny16", link_manifest)
    (link_manifest / MARKER_NAME).unlink()
    os.replace(link_manifest / "manifest.json", tmp_path / "outside.json")
    (link_manifest / "manifest.json").symlink_to(tmp_path / "outside.json")
    assert foreign_reason(link_manifest) is not None


def test_unwritable_out_is_refused_before_any_export(run, tmp_path, capsys, monkeypatch):
    def no_export(*a, **k):
        raise AssertionError("exported although --out cannot be written")

    monkeypatch.setattr(pack_mod, "_export_graphs", no_export)
    real_mkdtemp = cli_safety.tempfile.mkdtemp

    def refuse_probe(prefix="", dir=None, **k):
        if prefix == ".adm-probe-" and str(dir) == str(tmp_path / "ro"):
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(prefix=prefix, dir=dir, **k)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(cli_safety.tempfile, "mkdtemp", refuse_probe)
    code, err = _make_pack(run, tmp_path / "ro" / "pack", capsys)
    assert code == 2 and "cannot be written: Permission denied" in err and err.count("\n") == 1, err
    try:  # sysfs takes no new folders, even from root: a real unwritable place where there is one
        os.rmdir(real_mkdtemp(dir="/sys"))
    except OSError:
        code, err = _make_pack(run, Path("/sys/adm-test-pack"), capsys)
        assert code == 2 and "cannot be written" in err, err


def test_publish_checks_again_what_it_replaces(tmp_path):
    """--out was a pack of ours when the command started, and someone's folder by the time the pack is done."""
    out = tmp_path / "p"
    with output_folder(out) as tmp:
        (tmp / "manifest.json").write_text("{}")
    assert (out / MARKER_NAME).is_file()
    with pytest.raises(OutputFolderError, match="is not a folder this toolkit wrote"):
        with output_folder(out) as tmp:
            shutil.rmtree(out)
            before = _user_folder(out, 3)
    assert _contents(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
    check_output_folder(out, replace=True, replace_any=True)  # explicitly allowed
