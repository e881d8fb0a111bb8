"""tests/fixtures/manifests.json through adm/manifest_check.py: valid manifests pass, invalid ones are refused with the
exact message. tests/unit/app/manifestFixtures.test.ts runs the same file through the app's parseManifest, so the two
languages cannot drift apart on a case there. Also: the schema's names and limits are the ones the code uses."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from adm import manifest_check, pack_format
from adm.manifest import ManifestError, validate_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = json.loads((FIXTURES / "manifests.json").read_text(encoding="utf-8"))
NAMES = json.loads((FIXTURES / "pack-format-names.json").read_text(encoding="utf-8"))
SCHEMA = pack_format.MANIFEST_SCHEMA


def case_manifest(c):
    """The case's manifest: its base with the fields set and deleted (dotted paths; a number indexes a list)."""
    if "manifest" in c:
        return copy.deepcopy(c["manifest"])
    m = copy.deepcopy(CASES["bases"][c["base"]])

    def at(path):
        keys = path.split(".")
        parent = m
        for k in keys[:-1]:
            parent = parent[int(k)] if isinstance(parent, list) else parent[k]
        return parent, (int(keys[-1]) if isinstance(parent, list) else keys[-1])

    for path, value in c.get("set", {}).items():
        parent, key = at(path)
        parent[key] = copy.deepcopy(value)
    for path in c.get("delete", []):
        parent, key = at(path)
        del parent[key]
    return m


def _verdict(c):
    try:
        validate_manifest(case_manifest(c))
    except ManifestError as e:
        return str(e)
    return None


@pytest.mark.parametrize("case", CASES["valid"], ids=lambda c: c["why"])
def test_valid(case):
    assert _verdict(case) is None


@pytest.mark.parametrize("case", CASES["invalid"], ids=lambda c: c["why"])
def test_invalid(case):
    refuses = "languages" not in case or "python" in case["languages"]
    assert _verdict(case) == (case["message"] if refuses else None)


def test_too_many_values():
    c = CASES["tooManyValues"]
    labels = [i % 1000 for i in range(c["labels"])]
    assert _verdict({**c, "set": {"labels": labels}}) == c["message"]
    assert _verdict({**c, "set": {"labels": [-1] * len(labels)}}) == c["message"]


def test_fixture_has_cases_of_every_kind():
    assert len(CASES["valid"]) >= 5 and len(CASES["invalid"]) >= 50


def _contained(node):
    """The names a graph schema requires of a list ({"contains": {"const": name}}, directly or under allOf)."""
    found = [node["contains"]["const"]] if "contains" in node else []
    return found + [n for sub in node.get("allOf", []) for n in _contained(sub)]


def test_schema_graph_names_are_the_format_names():
    defs = SCHEMA["definitions"]
    required = {"unet": defs["unetGraph"]["allOf"][1], "classifierGrad": SCHEMA["properties"]["classifierGrad"]["allOf"][1],
                "upsampler": defs["upsampler"]["allOf"][1]}
    for graph, node in required.items():
        want = NAMES["graphs"][graph]
        assert set(_contained(node["properties"]["inputs"])) == set(want["inputs"]["unconditional"]), graph
        assert set(_contained(node["properties"]["outputs"])) == set(want["outputs"]), graph
    # y, required only when classCond (the schema's if/then), is the one input the two lists differ by
    assert _contained(defs["classInput"]["properties"]["inputs"]) == ["y"]
    for graph in ("unet", "upsampler"):
        want = NAMES["graphs"][graph]["inputs"]
        assert set(want["classCond"]) - set(want["unconditional"]) == {"y"}
    assert list(pack_format.GUIDANCE_MODES) == NAMES["guidanceModes"]


def test_limits_are_the_schema_s():
    assert manifest_check.MAX_IMAGE_SIZE == 1024 == SCHEMA["properties"]["imageSize"]["maximum"]
    assert manifest_check.MAX_DIFFUSION_STEPS == 10000
    assert manifest_check.IMAGENET_CLASSES == 1000 and manifest_check.MIN_REFERENCE_PER_LABEL == 4
    assert pack_format.MAX_FILE_NAME_LENGTH == 200
