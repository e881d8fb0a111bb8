"""Property-based fuzz (hypothesis) of the pack-manifest validator in adm/manifest.py and of the flag parser in
adm/flags.py, and a check that validate_manifest agrees with the app's parseManifest (src/shared/manifest.ts).

Properties:
* any JSON-like mutation of a valid manifest either validates or raises ManifestError (a ValueError), never another
  exception, and whatever validates satisfies the rules checked independently here;
* pack file names are accepted exactly when they are plain names ^[A-Za-z0-9][A-Za-z0-9._-]*$ without "..";
* labels: unique ints 0..999, at most 1000; unconditionalLabel null or outside the class labels, at most 1000;
* timestepRespacing must keep at least one step ("ddim0", "0", "10,0" refused);
* every manifest Python accepts, the app accepts too (run through tsx), and the app accepts nothing Python refuses
  except for the two rules where Python is deliberately stricter (folder-safe `name`, integral floats such as 64.0).
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
import string
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO

from adm.diffusion import space_timesteps
from adm.flags import FlagError, parse_classifier_flags, parse_model_flags, split_flags
from adm.manifest import ManifestError, respacing_step_count, validate_manifest
from adm.pack_format import plain_file_name

SHA = "0123456789abcdef" * 4
LABELS = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701]
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029" \
           "\u202f\u205f\u3000\ufeff"
FAST = settings(max_examples=300, deadline=None, database=None,  # no .hypothesis/ folder in the checkout
                suppress_health_check=[HealthCheck.too_slow])


def _graph(file, inputs, outputs, dtype="float32"):
    return {"file": file, "dtype": dtype, "bytes": 1234, "sha256": SHA, "inputs": list(inputs), "outputs": list(outputs)}


BASE = {
    "schemaVersion": 1, "name": "tiny16", "title": "Tiny", "imageSize": 16, "learnSigma": True, "classCond": True,
    "unconditionalLabel": 10, "labels": LABELS,
    "diffusion": {"noiseSchedule": "cosine", "diffusionSteps": 1000, "predictXstart": False, "rescaleTimesteps": False},
    "sampling": {"classifierScale": 1.0, "timestepRespacing": "ddim10", "useDdim": True},
    "unet": _graph("unet.onnx", ["x", "timesteps", "y"], ["model_output"]),
    "unetFp16": _graph("unet.fp16.onnx", ["x", "timesteps", "y"], ["model_output"], "float16"),
    "classifierGrad": _graph("classifier_grad.onnx", ["x", "timesteps", "y"], ["grad", "logp", "logits"]),
    "source": "test", "license": "CC0-1.0",
}


# A pack with reference features (the Trade-off view's precision/recall): its gradient graph gives "features".
WITH_REFERENCE = copy.deepcopy(BASE)
WITH_REFERENCE["classifierGrad"]["outputs"].append("features")
WITH_REFERENCE["referenceFeatures"] = {"file": "reference_features.bin", "dtype": "float32", "shape": [10, 50, 128],
                                       "bytes": 256000, "sha256": SHA, "timestep": 0, "source": "val"}


def test_base_is_valid():
    validate_manifest(copy.deepcopy(BASE))
    validate_manifest(copy.deepcopy(WITH_REFERENCE))


@pytest.mark.parametrize("change,message", [
    (dict(shape=[9, 50, 128], bytes=230400), "referenceFeatures.shape"),
    (dict(shape=[10, 3, 128], bytes=15360), "referenceFeatures.shape"),
    (dict(shape=[10, 500, 128], bytes=2560000), "at most 1048576 bytes"),
    (dict(bytes=256004), "referenceFeatures.bytes"),
    (dict(dtype="float16"), "referenceFeatures.dtype"),
    (dict(timestep=1000), "referenceFeatures.timestep"),
    (dict(file="../x.bin"), "referenceFeatures.file"),
])
def test_reference_features_rules(change, message):
    m = copy.deepcopy(WITH_REFERENCE)
    m["referenceFeatures"].update(change)
    with pytest.raises(ManifestError, match=message.replace(".", r"\.")):
        validate_manifest(m)
    no_features = copy.deepcopy(WITH_REFERENCE)
    no_features["classifierGrad"]["outputs"].remove("features")
    with pytest.raises(ManifestError, match='outputs include "features"'):
        validate_manifest(no_features)


# --- a random JSON-like mutator (driven by hypothesis' Random, or a seeded one for the cross-language check) -------

INTERESTING_STRINGS = [
    "", " ", ".", "..", "../unet.onnx", "a/b.onnx", "a\\b.onnx", "C:unet.onnx", "http://x/unet.onnx", "//x/unet.onnx",
    "unet.onnx?x=1", "unet.onnx#f", "%2e%2e", "unet%2Eonnx", "unet.onnx\n", "\nunet.onnx", ".hidden", "unet..onnx",
    "-x", "_x", "uné.onnx", "unet onnx", "unet\x00.onnx", "unet\x7f", "x" * 201, "x" * 200, "ddim0", "ddim", "ddim25",
    "ddim1000", "ddim1001", "0", "250", "10,0", "10,15,20", " 250 ", "+5", "1_0", "\u0665", "ddim-5", ",", "1,,2",
    "\ufeff25", "25\x1c", "float16", "float32", "cosine", "linear", "x", "y", "timesteps", "model_output", "classifier",
    "cfg", "both", SHA, SHA.upper(), SHA[:-1],
]
KEYS = sorted({*BASE, *BASE["diffusion"], *BASE["sampling"], *BASE["unet"], "guidanceMode", "cfgScale", "extra"})
CHAR_POOL = string.ascii_letters + string.digits + "._-/\\:%?#@ \t\n\x00\x1f\x7f" + "éß\u0665\u2028\ufeff\U0001f600"


def _text(rnd: random.Random) -> str:
    return "".join(rnd.choice(CHAR_POOL) for _ in range(rnd.randrange(0, 12)))


def _value(rnd: random.Random, depth: int = 0):
    k = rnd.randrange(13 if depth < 2 else 10)
    if k == 0:
        return None
    if k == 1:
        return rnd.random() < 0.5
    if k == 2:
        return rnd.randrange(-3, 1004)
    if k == 3:
        return rnd.randrange(-2 ** 40, 2 ** 40)
    if k == 4:
        return rnd.choice([0.0, -0.0, 1.5, 16.0, 1000.0, 1e308, -1e-308, math.nan, math.inf, -math.inf, rnd.random()])
    if k in (5, 6):
        return rnd.choice(INTERESTING_STRINGS)
    if k == 7:
        return _text(rnd)
    if k == 8:
        return rnd.choice([list(LABELS), LABELS + [LABELS[0]], list(range(1000)), list(range(1001)), [1000], [-1],
                           [True], [1.0], [], ["x", "timesteps"], ["model_output"]])
    if k == 9:
        return copy.deepcopy(rnd.choice([BASE["unet"], BASE["diffusion"], BASE["sampling"], {}, []]))
    if k == 10:
        return [_value(rnd, depth + 1) for _ in range(rnd.randrange(0, 4))]
    return {rnd.choice(KEYS + [_text(rnd)]): _value(rnd, depth + 1) for _ in range(rnd.randrange(0, 4))}


def _slots(node, out):
    """Every (container, key) below `node`."""
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((node, k))
            _slots(v, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _slots(v, out)
    return out


def mutate(m, rnd: random.Random, steps: int):
    for _ in range(steps):
        slots = _slots(m, [])
        containers = [m] + [c[k] for c, k in slots if isinstance(c[k], (dict, list))]
        op = rnd.randrange(6)
        if op <= 1 and slots:  # replace a value
            c, k = rnd.choice(slots)
            c[k] = _value(rnd)
        elif op == 2 and slots:  # delete
            c, k = rnd.choice(slots)
            del c[k]
        elif op == 3:  # insert
            c = rnd.choice(containers)
            if isinstance(c, dict):
                c[rnd.choice(KEYS)] = _value(rnd)
            else:
                c.insert(rnd.randrange(len(c) + 1), _value(rnd) if rnd.random() < 0.5 else
                         (copy.deepcopy(rnd.choice(c)) if c else 0))
        elif op == 4:  # edit a string in place
            strs = [(c, k) for c, k in slots if isinstance(c[k], str)]
            if strs:
                c, k = rnd.choice(strs)
                s = c[k]
                i = rnd.randrange(len(s) + 1)
                c[k] = s[:i] + rnd.choice(CHAR_POOL + ".") + s[i:]
        else:  # nudge a number
            nums = [(c, k) for c, k in slots if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)]
            if nums:
                c, k = rnd.choice(nums)
                c[k] = rnd.choice([c[k] + 1, c[k] - 1, -c[k], c[k] * 1000, float(c[k])])
    return m


# --- independent statement of the rules an accepted manifest must satisfy -----------------------------------------

ALNUM = set(string.ascii_letters + string.digits)


def oracle_file_name(name) -> bool:
    return (isinstance(name, str) and 1 <= len(name) <= 200 and name[0] in ALNUM
            and all(ch in ALNUM or ch in "._-" for ch in name) and ".." not in name)


def _is_int(v) -> bool:
    return type(v) is int


def oracle_labels(labels, ul) -> bool:
    return (isinstance(labels, list) and 1 <= len(labels) <= 1000 and all(_is_int(v) and 0 <= v < 1000 for v in labels)
            and len(set(labels)) == len(labels) and (ul is None or (_is_int(ul) and len(labels) <= ul <= 1000)))


def oracle_respacing_steps(T: int, spec: str):
    """Steps kept, via the reference port adm.diffusion.space_timesteps after a strict syntax check; None if refused."""
    s = spec.strip(JS_SPACE)
    if s == "":
        return T
    parts = [s[4:]] if s.startswith("ddim") else s.split(",")
    digits = [p.strip(JS_SPACE) for p in parts]
    if not all(d and all(ch in "0123456789" for ch in d) for d in digits) or min(int(d) for d in digits) < 1:
        return None
    try:
        kept = space_timesteps(T, ("ddim" if s.startswith("ddim") else "") + ",".join(digits))
    except ValueError:
        return None
    return len(kept) or None


def check_accepted(m) -> None:
    """What validate_manifest promises about a manifest it accepted."""
    assert isinstance(m, dict) and m["schemaVersion"] == 1
    for key in ("unet", "unetFp16", "classifierGrad"):
        if key in m:
            assert oracle_file_name(m[key]["file"]), m[key]["file"]
    assert oracle_labels(m["labels"], m["unconditionalLabel"])
    assert _is_int(m["imageSize"]) and 1 <= m["imageSize"] <= 1024
    T = m["diffusion"]["diffusionSteps"]
    assert _is_int(T) and 1 <= T <= 10000
    assert oracle_respacing_steps(T, m["sampling"]["timestepRespacing"]) is not None
    assert math.isfinite(m["sampling"]["classifierScale"])


def _validates(m) -> bool:
    try:
        validate_manifest(m)
    except ManifestError:
        return False
    return True


@FAST
@given(st.randoms(use_true_random=False), st.integers(1, 5))
def test_mutations_validate_or_raise_manifest_error(rnd, steps):
    m = mutate(copy.deepcopy(BASE), rnd, steps)
    if _validates(m):  # any exception other than ManifestError fails the test
        check_accepted(m)


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                    max_leaves=8))
def test_arbitrary_json_is_refused_cleanly(value):
    with pytest.raises(ManifestError):
        validate_manifest(value)


# --- file names ----------------------------------------------------------------------------------------------

def _with_file(name, key="unet"):
    m = copy.deepcopy(BASE)
    m[key]["file"] = name
    return m


@FAST
@given(st.one_of(st.text(max_size=24), st.text(alphabet=string.ascii_letters + string.digits + "._-", max_size=24),
                 st.sampled_from(INTERESTING_STRINGS)),
       st.sampled_from(["unet", "unetFp16", "classifierGrad"]))
def test_file_names_accepted_exactly_when_plain(name, key):
    assert _validates(_with_file(name, key)) == oracle_file_name(name) == plain_file_name(name)


FORBIDDEN = ["/", "\\", ":", "%", "?", "#", " ", "..", "@", "~", "é", "\u2028", "\ufeff"] + \
    [chr(c) for c in range(0, 32)] + ["\x7f"]


@FAST
@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True), st.sampled_from(FORBIDDEN),
       st.integers(0, 30))
def test_forbidden_characters_are_refused(name, bad, at):
    i = min(at, len(name))
    assert not _validates(_with_file(name[:i] + bad + name[i:]))


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "../unet.onnx", "a/unet.onnx", "a\\unet.onnx",
                                  "C:unet.onnx", "https://evil.example/unet.onnx", "unet.onnx?download",
                                  "unet.onnx#x", "%2e%2e%2funet.onnx", "unet..onnx", "unet.onnx\n", "-unet.onnx",
                                  "_unet.onnx", "x" * 201, 5, None, ["unet.onnx"]])
def test_bad_file_names(name):
    with pytest.raises(ManifestError, match=r"unet\.file"):
        validate_manifest(_with_file(name))


@pytest.mark.parametrize("name", ["unet.onnx", "u", "9", "unet.fp16.onnx", "classifier_grad.onnx", "a-b_c.d",
                                  "x" * 200])
def test_good_file_names(name):
    validate_manifest(_with_file(name))


# --- labels and the null label -------------------------------------------------------------------------------

@FAST
@given(st.lists(st.one_of(st.integers(-3, 1003), st.sampled_from([True, 1.0, "1", None])), max_size=24),
       st.one_of(st.none(), st.integers(-3, 1003), st.sampled_from([True, 10.0, "10"])),
       st.booleans())
def test_labels_and_unconditional_label(labels, ul, class_cond):
    m = copy.deepcopy(BASE)
    m["labels"], m["unconditionalLabel"], m["classCond"] = labels, ul, class_cond
    if not class_cond:
        for key in ("unet", "unetFp16"):
            m[key]["inputs"] = ["x", "timesteps"]
    assert _validates(m) == oracle_labels(labels, ul)


def test_label_limits():
    m = copy.deepcopy(BASE)
    m["labels"], m["unconditionalLabel"] = list(range(1000)), 1000
    validate_manifest(m)
    for labels, ul, where in [(list(range(1000)), 999, "unconditionalLabel"), (list(range(1000)), 1001,
                                                                               "unconditionalLabel"),
                              (list(range(1000)) + [0], None, "labels"), (LABELS + [217], None, "labels"),
                              (LABELS, 3, "unconditionalLabel"), (LABELS, 1001, "unconditionalLabel"),
                              ([1000], None, r"labels\[0\]"), ([], None, "labels")]:
        m["labels"], m["unconditionalLabel"] = labels, ul
        with pytest.raises(ManifestError, match=where):
            validate_manifest(m)


# --- timestep respacing --------------------------------------------------------------------------------------

RESPACING = st.one_of(
    st.text(alphabet="ddim0123456789, \t", max_size=12),
    st.integers(0, 1500).map(lambda n: f"ddim{n}"),
    st.lists(st.integers(0, 400), min_size=1, max_size=5).map(lambda v: ",".join(map(str, v))),
    st.text(max_size=8), st.sampled_from(INTERESTING_STRINGS))


@FAST
@given(st.integers(1, 1200), RESPACING)
def test_respacing(T, spec):
    m = copy.deepcopy(BASE)
    m["diffusion"]["diffusionSteps"], m["sampling"]["timestepRespacing"] = T, spec
    expected = oracle_respacing_steps(T, spec) if spec != "" else None
    assert _validates(m) == (expected is not None)
    if expected is not None:
        assert respacing_step_count(T, spec) == expected


@pytest.mark.parametrize("spec", ["ddim0", "0", "10,0", "0,0,0", "ddim", "ddim-5", "ddim+5", "+5", "1_0", "\u0665",
                                  "ddim1001", "1001", "ddim999", "5,,5", ",", "25 steps", ""])
def test_unusable_respacings(spec):
    m = copy.deepcopy(BASE)
    m["sampling"]["timestepRespacing"] = spec
    with pytest.raises(ManifestError, match="timestepRespacing"):
        validate_manifest(m)


@pytest.mark.parametrize("spec, steps", [("250", 250), ("ddim25", 25), (" ddim25 ", 25), ("ddim1000", 1000),
                                         ("10,15,20", 45), (" ", 1000), ("1", 1), ("ddim 50", 50)])
def test_usable_respacings(spec, steps):
    m = copy.deepcopy(BASE)
    m["sampling"]["timestepRespacing"] = spec
    validate_manifest(m)
    assert respacing_step_count(1000, spec) == steps


# --- the flag parser -----------------------------------------------------------------------------------------

FLAG_TOKENS = ["--image_size", "--num_channels", "--num_res_blocks", "--channel_mult", "--attention_resolutions",
               "--class_cond", "--learn_sigma", "--diffusion_steps", "--noise_schedule", "--num_head_channels",
               "--num_heads", "--dropout", "--timestep_respacing", "--large_size", "--small_size",
               "--classifier_width", "--classifier_depth", "--classifier_pool", "--use_fp16", "--image-size",
               "-image_size", "image_size=64", "--image_size=", "MODEL_FLAGS=", "python", "x.py", "64", "256", "0",
               "-1", "1e9", "99999999999999999999", "nan", "inf", "-inf", "0.5", "True", "False", "yes", "1,2,3",
               "1,,2", ",", "32,16,8", "0,1", "cosine", "linear", "attention", "'", '"', "=", "--", "-", "\\", "\x00",
               "ddim0", "é"]


@FAST
@given(st.one_of(st.text(max_size=40),
                 st.lists(st.sampled_from(FLAG_TOKENS), max_size=10).map(" ".join),
                 st.lists(st.sampled_from(FLAG_TOKENS), max_size=10).map("".join)))
def test_flag_parser_raises_only_flag_errors(text):
    for parse in (split_flags, parse_model_flags, lambda t: parse_classifier_flags(t, image_size=64),
                  parse_classifier_flags):
        try:
            parse(text)
        except FlagError:
            pass


# --- agreement with the app's validator (src/shared/manifest.ts through tsx) ------------------------------------

TS_CHECK = """
import('./src/shared/manifestCheck.ts').then(({ parseManifest }) => {
  const fs = require('node:fs');
  const cases = JSON.parse(fs.readFileSync(process.env.ADM_MANIFEST_CASES, 'utf8'));
  const out = cases.map((m) => { try { parseManifest(m); return null; } catch (e) { return String(e.message); } });
  fs.writeFileSync(process.env.ADM_MANIFEST_RESULTS, JSON.stringify(out));
});
"""


def _has_integral_float(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v) and v == int(v)
    if isinstance(v, dict):
        return any(_has_integral_float(x) for x in v.values())
    if isinstance(v, list):
        return any(_has_integral_float(x) for x in v)
    return False


def test_python_and_app_validators_agree(tmp_path):
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    if not tsx.exists() or shutil.which("node") is None:
        pytest.skip("node_modules/.bin/tsx missing (npm install)")
    rnd = random.Random(20240613)
    cases = [copy.deepcopy(BASE)]
    for name in INTERESTING_STRINGS:
        cases.append(_with_file(name))
        m = copy.deepcopy(BASE)
        m["sampling"]["timestepRespacing"] = name
        cases.append(m)
    for labels, ul in [(list(range(1000)), 1000), (list(range(1000)), 999), (LABELS + [0], 11), (LABELS, 9),
                       (LABELS, 1001), ([999], 1), ([999], 0)]:
        m = copy.deepcopy(BASE)
        m["labels"], m["unconditionalLabel"] = labels, ul
        cases.append(m)
    while len(cases) < 700:
        cases.append(mutate(copy.deepcopy(BASE if len(cases) % 3 else WITH_REFERENCE), rnd, rnd.randrange(1, 5)))
    text = []
    for m in cases:  # JSON cannot carry NaN/Infinity, and JS numbers are doubles: keep what survives both
        try:
            text.append(json.dumps(m, allow_nan=False))
        except ValueError:
            continue
    cases = [json.loads(t) for t in text]
    (tmp_path / "cases.json").write_text("[" + ",".join(text) + "]")
    env = dict(os.environ, ADM_MANIFEST_CASES=str(tmp_path / "cases.json"),
               ADM_MANIFEST_RESULTS=str(tmp_path / "results.json"))
    p = subprocess.run([str(tsx), "-e", TS_CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    ts_errors = json.loads((tmp_path / "results.json").read_text())
    assert len(ts_errors) == len(cases)
    n_ok = 0
    mismatches = []
    for m, ts_error in zip(cases, ts_errors):
        try:
            validate_manifest(m)
            py_error = None
        except ManifestError as e:
            py_error = str(e)
        if py_error is None:
            n_ok += 1
            assert ts_error is None, f"Python accepts what the app refuses ({ts_error}): {json.dumps(m)[:400]}"
        elif ts_error is None:  # Python is stricter only on purpose
            assert _has_integral_float(m), f"the app accepts what Python refuses ({py_error}): {json.dumps(m)[:400]}"
        elif py_error != ts_error and not _has_integral_float(m):  # both refuse: with the same message (the schema's, first in field order)
            mismatches.append((py_error, ts_error))
    assert not mismatches, f"{len(mismatches)} different messages, e.g. Python {mismatches[0][0]!r}, app {mismatches[0][1]!r}"
    assert n_ok >= 20  # the mix has accepted manifests too
