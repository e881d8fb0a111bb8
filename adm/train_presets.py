"""The architectures adm.train trains (--preset of `npm run train`), in their own module because more than training needs them:
adm.classifier_eval rebuilds a pack's classifier from the preset of its image size, without importing the trainer
(which imports adm.classifier_eval for its accuracy report).
"""
from __future__ import annotations

from typing import Dict

from .config import ClassifierConfig, DiffusionConfig, UNetConfig

# Sized by measurement on the 2-core CPU (bf16 autocast): ~23 img/s for the U-Net at batch 32.
TRAIN_PRESETS: Dict[str, dict] = {
    "imagenette64": dict(
        unet=UNetConfig(image_size=64, model_channels=32, channel_mult=(1, 2, 4, 4), num_res_blocks=1,
                        attention_resolutions=(8,), num_head_channels=32, dropout=0.0, out_channels=6),
        classifier=ClassifierConfig(image_size=64, model_channels=32, channel_mult=(1, 2, 4, 4), num_res_blocks=1,
                                    attention_resolutions=(8,), num_head_channels=32),
        diffusion=DiffusionConfig(noise_schedule="cosine", diffusion_steps=1000, learn_sigma=True),
    ),
    # The next default pack's U-Net, for a GPU (tools/device/train_pack.sh; docs/benchmarks.md, "GPU training
    # recipe"): twice the shipped width (model_channels 64) and attention at 16x16 as well as 8x8; 21.4M parameters,
    # 4.0x the shipped U-Net's convolution and matmul FLOPs per image (14.8 vs 3.7 GFLOP forward). The classifier
    # keeps the shipped architecture.
    "imagenette64-wide": dict(
        unet=UNetConfig(image_size=64, model_channels=64, channel_mult=(1, 2, 4, 4), num_res_blocks=1,
                        attention_resolutions=(4, 8), num_head_channels=64, dropout=0.0, out_channels=6),
        classifier=ClassifierConfig(image_size=64, model_channels=32, channel_mult=(1, 2, 4, 4), num_res_blocks=1,
                                    attention_resolutions=(8,), num_head_channels=32),
        diffusion=DiffusionConfig(noise_schedule="cosine", diffusion_steps=1000, learn_sigma=True),
    ),
    # A few-second configuration for tests. Its gradients are summed per sample in float64 (--micro-batch 1), so
    # its runs agree to the last bit whatever the number of processes (adm.grad_sync).
    "tiny": dict(
        micro_batch=1,
        unet=UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                        attention_resolutions=(2,), num_head_channels=32, dropout=0.0, out_channels=6),
        classifier=ClassifierConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                                    attention_resolutions=(2,), num_head_channels=32),
        diffusion=DiffusionConfig(noise_schedule="cosine", diffusion_steps=1000, learn_sigma=True),
    ),
}
