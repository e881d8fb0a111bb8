"""Flag strings -> configs, as guided-diffusion's script_util factory builds them."""
from __future__ import annotations

import pytest

from adm.flags import FlagError, parse_classifier_flags, parse_model_flags, split_flags
from adm.presets import CLASSIFIER_FLAGS, CONVERT_PRESETS, MODEL_FLAGS, PRESETS, get_preset

README_64 = ("--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --dropout 0.1 --image_size 64 "
             "--learn_sigma True --noise_schedule cosine --num_channels 192 --num_head_channels 64 --num_res_blocks 3 "
             "--resblock_updown True --use_new_attention_order True --use_fp16 True --use_scale_shift_norm True")


def test_readme_64():
    mf = parse_model_flags(README_64)
    u, d = mf.unet, mf.diffusion
    assert u.image_size == 64 and u.model_channels == 192 and u.num_res_blocks == 3
    assert u.attention_resolutions == (2, 4, 8)
    assert u.channel_mult == (1, 2, 3, 4)
    assert u.out_channels == 6 and u.num_classes == 1000 and u.in_channels == 3
    assert u.num_head_channels == 64 and u.num_heads == 4 and u.num_heads_upsample == -1
    assert u.use_new_attention_order and u.use_scale_shift_norm and u.resblock_updown
    assert u.dropout == 0.1 and mf.use_fp16 and not mf.superres
    assert d.noise_schedule == "cosine" and d.diffusion_steps == 1000 and d.learn_sigma
    assert not d.predict_xstart and not d.rescale_timesteps and d.timestep_respacing == ""


def test_defaults_match_model_and_diffusion_defaults():
    mf = parse_model_flags("")
    u, d = mf.unet, mf.diffusion
    assert u.image_size == 64 and u.model_channels == 128 and u.num_res_blocks == 2 and u.num_heads == 4
    assert u.attention_resolutions == (4, 8)  # "16,8" at 64
    assert u.out_channels == 3 and u.num_classes is None and u.dropout == 0.0
    assert u.use_scale_shift_norm and not u.resblock_updown and not u.use_new_attention_order
    assert d.noise_schedule == "linear" and not d.learn_sigma and not mf.use_fp16


def test_channel_mult_defaults_and_override():
    assert parse_model_flags("--image_size 512").unet.channel_mult == (0.5, 1, 1, 2, 2, 4, 4)
    assert parse_model_flags("--image_size 256").unet.channel_mult == (1, 1, 2, 2, 4, 4)
    assert parse_model_flags("--image_size 128").unet.channel_mult == (1, 1, 2, 3, 4)
    assert parse_model_flags("--image_size 32 --channel_mult 1,2,2").unet.channel_mult == (1, 2, 2)
    assert parse_model_flags("--image_size 256 --attention_resolutions 32,16,8").unet.attention_resolutions == (8, 16, 32)


def test_quirks():
    a = parse_model_flags(README_64)
    b = parse_model_flags('MODEL_FLAGS="' + README_64 + '"')
    c = parse_model_flags(README_64.replace("--image_size 64", "--image_size=64").replace("--class_cond True",
                                                                                          "--class-cond yes"))
    d = parse_model_flags("python scripts/classifier_sample.py " + README_64
                          + " --classifier_scale 1.0 --model_path models/64x64_diffusion.pt --batch_size 4")
    assert a.unet == b.unet == c.unet == d.unet
    assert d.extra["classifier_scale"] == 1.0 and d.extra["batch_size"] == 4 and "model_path" in d.ignored
    assert parse_model_flags("--class_cond --learn_sigma").unet.num_classes == 1000  # bare booleans
    assert split_flags("--a 1\n--b=2  --c") == {"a": "1", "b": "2", "c": ""}
    assert split_flags("--a 1 \\\n  --b 2 \\") == {"a": "1", "b": "2"}  # shell line continuations
    assert split_flags("-image_size 64 num_channels=192 --num_heads_upsample -1") == {
        "image_size": "64", "num_channels": "192", "num_heads_upsample": "-1"}
    assert split_flags('MODEL_FLAGS="--a 1" SAMPLE_FLAGS="--b 2"') == {"a": "1", "b": "2"}


@pytest.mark.parametrize("text,needle", [
    ("--num_chanels 192", "did you mean --num_channels"),
    ("--class_cond maybe", "expected a boolean"),
    ("--num_channels many", "expected an integer"),
    ("--num_channels", "needs a value"),
    ("--noise_schedule quadratic", "--noise_schedule"),
    ("--image_size 48", "no default channel_mult"),
    ("--attention_resolutions 32,x", "not an integer"),
    ("--attention_resolutions 0", "must be positive"),
    ("image_size 64", "expected a flag"),
    ("--num_channels 100", "multiple of 32"),
    ("--num_channels 96 --num_head_channels 64", "num_head_channels"),
    ("--large_size 256 --image_size 64", "super-resolution"),
    ('--dropout "0.1', "cannot split"),
])
def test_model_flag_errors(text, needle):
    with pytest.raises(FlagError, match=None) as e:
        parse_model_flags(text)
    assert needle in str(e.value)


def test_superres_flags():
    mf = parse_model_flags(MODEL_FLAGS["64_256_upsampler"])
    assert mf.superres and mf.small_size == 64 and mf.unet.in_channels == 6
    assert mf.unet.image_size == 256 and mf.unet.channel_mult == (1, 1, 2, 2, 4, 4)
    mf = parse_model_flags(MODEL_FLAGS["128_512_upsampler"])
    assert mf.unet.channel_mult == (1, 1, 2, 2, 4, 4) and mf.unet.attention_resolutions == (16, 32)


def test_classifier_flags():
    c = parse_classifier_flags("--image_size 64 --classifier_depth 4").classifier
    assert c.num_res_blocks == 4 and c.model_channels == 128 and c.out_channels == 1000
    assert c.attention_resolutions == (2, 4, 8) and c.channel_mult == (1, 2, 3, 4)
    assert c.num_head_channels == 64 and not c.use_new_attention_order and c.pool == "attention"
    assert c.use_scale_shift_norm and c.resblock_updown
    # image size from the model flags when absent; explicit wins
    assert parse_classifier_flags("", image_size=256).classifier.channel_mult == (1, 1, 2, 2, 4, 4)
    assert parse_classifier_flags("--image_size 128", image_size=256).classifier.image_size == 128
    # model flags pasted together with classifier flags are tolerated
    both = parse_classifier_flags(README_64 + " --classifier_depth 4 --classifier_scale 1.0")
    assert both.classifier.num_res_blocks == 4 and both.extra["classifier_scale"] == 1.0
    with pytest.raises(FlagError, match="classifier_pool"):
        parse_classifier_flags("--classifier_pool adaptive")
    with pytest.raises(FlagError, match="did you mean --classifier_depth"):
        parse_classifier_flags("--classifier_dept 4")
    with pytest.raises(FlagError, match="no default channel_mult"):
        parse_classifier_flags("--image_size 32")


def test_presets_table():
    assert set(CONVERT_PRESETS) == {"imagenet64", "imagenet128", "imagenet256", "imagenet256-uncond", "imagenet512"}
    want = {"imagenet64": 1.0, "imagenet128": 0.5, "imagenet256": 1.0, "imagenet256-uncond": 10.0, "imagenet512": 4.0}
    for name, scale in want.items():
        p = PRESETS[name]
        assert p.classifier_scale == scale and p.timestep_respacing == "250" and not p.use_ddim
        assert p.classifier is not None and p.classifier.image_size == p.unet.image_size
    assert PRESETS["imagenet64"].classifier.num_res_blocks == 4
    assert PRESETS["imagenet128"].unet.num_heads == 4 and PRESETS["imagenet128"].unet.num_head_channels == -1
    assert PRESETS["imagenet256-uncond"].unet.num_classes is None
    assert PRESETS["imagenet512"].extra["use_fp16"] is False
    assert PRESETS["imagenet64"].diffusion.noise_schedule == "cosine"
    assert PRESETS["lsun-bedroom"].timestep_respacing == "1000"
    assert get_preset("IMAGENET256_uncond") is PRESETS["imagenet256-uncond"]
    assert set(CLASSIFIER_FLAGS) == {"64x64_classifier", "128x128_classifier", "256x256_classifier",
                                     "512x512_classifier"}
