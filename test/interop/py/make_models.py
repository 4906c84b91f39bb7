"""Tiny DINOv2 models saved by transformers itself, with transformers' own image
processor config, and a few test images of different sizes.

usage: make_models.py OUT_DIR
Writes OUT_DIR/<name>/ (config.json, model.safetensors, preprocessor_config.json)
for each variant and OUT_DIR/images/*.png; prints a JSON summary.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from transformers import BitImageProcessor, Dinov2Config, Dinov2Model, Dinov2WithRegistersConfig, Dinov2WithRegistersModel

out = sys.argv[1]
common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=14, layerscale_value=0.5)

# name: (model class, config, crop size of the processor). A crop other than the
# config's image_size makes both sides interpolate the position embeddings.
variants = {
    "plain": (Dinov2Model, Dinov2Config(image_size=28, **common), 28),
    "plain-resized": (Dinov2Model, Dinov2Config(image_size=28, **common), 56),
    "swiglu": (Dinov2Model, Dinov2Config(image_size=28, use_swiglu_ffn=True, **common), 42),
    "registers": (Dinov2WithRegistersModel, Dinov2WithRegistersConfig(image_size=28, num_register_tokens=4, **common), 28),
    "registers-resized": (Dinov2WithRegistersModel, Dinov2WithRegistersConfig(image_size=42, num_register_tokens=4, **common), 28),
}
summary = {}
for i, (name, (cls, config, crop)) in enumerate(variants.items()):
    torch.manual_seed(100 + i)
    model = cls(config).eval()
    # Random layer norms and biases too, so that no parameter is left at a trivial value.
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("bias") or "norm" in pname or "lambda1" in pname:
                p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(os.path.join(out, name))
    BitImageProcessor(
        do_resize=True, size={"shortest_edge": crop + crop // 7}, resample=3,
        do_center_crop=True, crop_size={"height": crop, "width": crop},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_convert_rgb=True,
    ).save_pretrained(os.path.join(out, name))
    summary[name] = {"class": cls.__name__, "image_size": config.image_size, "crop": crop}

rng = np.random.default_rng(5)
os.makedirs(os.path.join(out, "images"), exist_ok=True)
images = []
for k, (w, h) in enumerate([(40, 30), (64, 64), (50, 71), (33, 90), (28, 28), (120, 80)]):
    # Smooth gradients plus noise: resampling differences show up, but not as chaos.
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h) + 60 * k % 128], -1)
    arr = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    p = os.path.join(out, "images", f"img{k}.png")
    Image.fromarray(arr).save(p)
    images.append(p)
summary["images"] = images
print(json.dumps(summary))
