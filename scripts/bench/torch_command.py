#!/usr/bin/env python3
"""The PyTorch peer of `vembed embed` as a whole command, for `npm run bench`:
what a user of transformers writes to embed a list of images with a saved
model (start-up and imports, model load, decoding and preprocessing with the
model's own image processor, inference in batches, writing the .npy).

    OMP_NUM_THREADS=2 PYTHON scripts/bench/torch_command.py --model DIR --list FILE --out FILE.npy [--batch 32]

The caller times the whole process. Writes float32 [N, D]: transformers'
pooler_output (the final layer-normed CLS token), what `vembed embed` writes
for a model without a projection head.
"""
import argparse

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--list", required=True, help="one image path a line")
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    paths = [line.strip() for line in open(a.list, encoding="utf-8") if line.strip()]
    processor = AutoImageProcessor.from_pretrained(a.model)
    model = AutoModel.from_pretrained(a.model).eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(paths), a.batch):
            images = [Image.open(p).convert("RGB") for p in paths[start : start + a.batch]]
            pixels = processor(images=images, return_tensors="pt")["pixel_values"]
            rows.append(model(pixel_values=pixels).pooler_output.float().numpy())
    np.save(a.out, np.concatenate(rows, axis=0).astype(np.float32))


if __name__ == "__main__":
    main()
