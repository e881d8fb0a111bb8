"""The official defaults of guided-diffusion's flags (guided_diffusion/script_util.py), the flags of its scripts that
describe no network, and the value sets adm.flags accepts."""
from __future__ import annotations

from typing import Dict

NUM_CLASSES = 1000

DIFFUSION_DEFAULTS: Dict[str, object] = dict(
    learn_sigma=False,
    diffusion_steps=1000,
    noise_schedule="linear",
    timestep_respacing="",
    use_kl=False,
    predict_xstart=False,
    rescale_timesteps=False,
    rescale_learned_sigmas=False,
)

MODEL_DEFAULTS: Dict[str, object] = dict(
    image_size=64,
    num_channels=128,
    num_res_blocks=2,
    num_heads=4,
    num_heads_upsample=-1,
    num_head_channels=-1,
    attention_resolutions="16,8",
    channel_mult="",
    dropout=0.0,
    class_cond=False,
    use_checkpoint=False,
    use_scale_shift_norm=True,
    resblock_updown=False,
    use_fp16=False,
    use_new_attention_order=False,
    **DIFFUSION_DEFAULTS,
)

# sr_model_and_diffusion_defaults: the model defaults minus the flags the SR factory does not take,
# plus large_size / small_size.
SR_DROPPED = ("image_size", "channel_mult", "use_new_attention_order")
SR_MODEL_DEFAULTS: Dict[str, object] = {k: v for k, v in MODEL_DEFAULTS.items() if k not in SR_DROPPED}
SR_MODEL_DEFAULTS.update(large_size=256, small_size=64)

CLASSIFIER_DEFAULTS: Dict[str, object] = dict(
    image_size=64,
    classifier_use_fp16=False,
    classifier_width=128,
    classifier_depth=2,
    classifier_attention_resolutions="32,16,8",
    classifier_use_scale_shift_norm=True,
    classifier_resblock_updown=True,
    classifier_pool="attention",
)

# Flags of the official scripts that do not change a network's weights layout. They are accepted so
# that whole pasted command lines work; their values are kept in `.extra` (typed where known).
SAMPLING_FLAGS: Dict[str, object] = dict(
    clip_denoised=True,
    num_samples=10000,
    batch_size=16,
    use_ddim=False,
    model_path="",
    classifier_path="",
    classifier_scale=1.0,
    base_samples="",
)
TRAINING_FLAGS = (
    "data_dir", "val_data_dir", "schedule_sampler", "lr", "weight_decay", "lr_anneal_steps",
    "microbatch", "ema_rate", "log_interval", "save_interval", "resume_checkpoint",
    "fp16_scale_growth", "iterations", "anneal_lr", "noised", "eval_interval",
)

NOISE_SCHEDULES = ("linear", "cosine")
CLASSIFIER_POOLS = ("attention",)  # what adm.unet.EncoderUNetModel implements
# channel_mult for an empty --channel_mult, by image size (create_model and create_classifier share the table)
CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}
SR_CHANNEL_MULT = {512: (1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 64: (1, 2, 3, 4)}
