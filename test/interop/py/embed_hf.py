"""Embeddings from transformers' own model and image processor.

usage: embed_hf.py MODEL_DIR OUT.npy IMAGE... [--adapter ADAPTER_DIR] [--processor DIR]
The model is loaded with AutoModel.from_pretrained; with --adapter, the PEFT
adapter is loaded on it with PeftModel.from_pretrained and merged. The pooled
output (the final layer norm's CLS token) is written. Prints a JSON report
about the adapter (how many LoRA B weights are nonzero, how far the adapted
output is from the base model's).
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("out")
ap.add_argument("images", nargs="+")
ap.add_argument("--adapter")
ap.add_argument("--processor")
a = ap.parse_args()

processor = AutoImageProcessor.from_pretrained(a.processor or a.adapter or a.model)
pixels = processor(images=[Image.open(p) for p in a.images], return_tensors="pt")["pixel_values"]
model = AutoModel.from_pretrained(a.model).eval()
report = {"processor": type(processor).__name__, "model": type(model).__name__, "pixel_shape": list(pixels.shape)}
with torch.no_grad():
    base = model(pixel_values=pixels).pooler_output
    if a.adapter:
        from peft import PeftModel

        peft_model = PeftModel.from_pretrained(model, a.adapter).eval()
        lora_b = [(n, p) for n, p in peft_model.named_parameters() if "lora_B" in n]
        report["lora_b_tensors"] = len(lora_b)
        report["lora_b_nonzero"] = sum(int(p.abs().max() > 0) for _, p in lora_b)
        adapted = peft_model(pixel_values=pixels).pooler_output
        merged_model = peft_model.merge_and_unload().eval()
        merged = merged_model(pixel_values=pixels).pooler_output
        report["max_abs_adapted_vs_base"] = float((adapted - base).abs().max())
        report["max_abs_merged_vs_adapted"] = float((merged - adapted).abs().max())
        out = merged
    else:
        out = base
np.save(a.out, out.numpy().astype(np.float32))
print(json.dumps(report))
