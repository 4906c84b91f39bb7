#!/usr/bin/env python3
"""PyTorch peer of `npm run bench`: the same measurements on a DINOv2-small-shaped
model with random weights, so the TF.js numbers have a reference on the same
machine.

    OMP_NUM_THREADS=2 PYTHON scripts/bench/torch_peer.py --mode embed|lora|full [--model hf|handwritten] [options]

PYTHON: the environment of scripts/python/setup.sh (torch 2.13, transformers
5.18, peft 0.21), which `npm run bench` finds itself.

Models:
  hf           (default) what a user runs: transformers' own Dinov2Model
               (its default attention implementation), LoRA through peft's
               LoraConfig / get_peft_model.
  handwritten  an independent model written here from the architecture (the
               peer before transformers was available), LoRA hand-written too.

Modes (one per process, so each peak RSS is that mode's own):
  embed  inference throughput: batches of --batch images, no autograd.
  lora   one training step of --train-batch pairs with the gradient cache
         (--chunk images per forward pass), LoRA r=16 alpha=32 dropout 0.05
         on query/key/value/attention-output (q_proj, k_proj, v_proj, o_proj
         in transformers 5), AdamW, clipping at 1.0.
  full   the same step with every weight trained.
  demo   the demo's training step (examples/demo_i2i.yaml): every weight of
         the demo's model (--model-path, default models/vembed-tiny) loaded
         with transformers' Dinov2Model.from_pretrained, at its own image size,
         --steps steps of --train-batch pairs (run `npm run bench` with
         `--only demo`: 32 pairs, chunk 16, 10 steps after 2 untimed ones).
         With --no-cache, without the gradient cache: both sides in one
         forward pass with autograd (PyTorch's fastest form of the step when
         the batch fits in memory, as vembed's one-run step does).

Prints one JSON line on stdout: {"mode", "images_per_s", "seconds", ...,
"peak_rss_bytes"}. Exits with status 3 and a message when torch is missing.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the benchmark reports this and goes on without the peer
    print(f"torch is not importable with {sys.executable} ({e}); skipping the PyTorch peer", file=sys.stderr)
    sys.exit(3)


# ---------------------------------------------------------------- model


class LoraLinear(nn.Module):
    """y = base(x) + scale * B(A(dropout(x))), A [r, in], B [out, r], B starts at zero."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.empty(r, base.in_features).uniform_(-1 / math.sqrt(base.in_features), 1 / math.sqrt(base.in_features)))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(self.dropout(x), self.a), self.b)


class Block(nn.Module):
    """Pre-norm transformer layer with LayerScale, as DINOv2's: x + ls1*attn(norm1(x)), then + ls2*mlp(norm2(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.dense = nn.Linear(dim, dim)
        self.ls1 = nn.Parameter(torch.ones(dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)
        self.ls2 = nn.Parameter(torch.ones(dim))

    def attention(self, x):
        n, t, d = x.shape
        dh = d // self.heads

        def split(y):
            return y.view(n, t, self.heads, dh).transpose(1, 2)  # [n, h, t, dh]

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(dh), dim=-1)
        return self.dense((probs @ v).transpose(1, 2).reshape(n, t, d))

    def forward(self, x):
        x = x + self.ls1 * self.attention(self.norm1(x))
        return x + self.ls2 * self.fc2(F.gelu(self.fc1(self.norm2(x))))  # exact (erf) GELU


class Dinov2Like(nn.Module):
    """Patch embedding (14x14 conv), CLS token, position embeddings trained at 518 px and resized bicubically, layers, final norm; CLS pooled."""

    def __init__(self, dim=384, depth=12, heads=6, mlp_ratio=4, patch=14, trained_size=518):
        super().__init__()
        self.patch = patch
        self.projection = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        grid = trained_size // patch
        self.pos = nn.Parameter(torch.randn(1, 1 + grid * grid, dim) * 0.02)
        self.layers = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embeddings(self, gh, gw):
        cls, grid = self.pos[:, :1], self.pos[:, 1:]
        side = int(math.sqrt(grid.shape[1]))
        d = grid.shape[2]
        grid = grid.reshape(1, side, side, d).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)], dim=1)

    def forward(self, pixels):
        n, _, h, w = pixels.shape
        x = self.projection(pixels).flatten(2).transpose(1, 2)  # [n, gh*gw, D]
        x = torch.cat([self.cls.expand(n, -1, -1), x], dim=1) + self.position_embeddings(h // self.patch, w // self.patch)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)[:, 0]


def add_lora(model: Dinov2Like, r=16, alpha=32.0, dropout=0.05):
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.layers:
        for name in ("query", "key", "value", "dense"):
            setattr(layer, name, LoraLinear(getattr(layer, name), r, alpha, dropout))


class HfDinov2(nn.Module):
    """transformers' Dinov2Model with DINOv2-small's config (518-px position embeddings, resized by the model), returning the pooled CLS token."""

    def __init__(self):
        super().__init__()
        try:
            from transformers import Dinov2Config, Dinov2Model
        except ImportError as e:
            print(f"transformers is not importable with {sys.executable} ({e}); use the environment of scripts/python/setup.sh", file=sys.stderr)
            sys.exit(3)
        config = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536, patch_size=14, image_size=518, layerscale_value=1.0)
        self.model = Dinov2Model(config)

    def forward(self, pixels):
        return self.model(pixel_values=pixels).pooler_output


class PretrainedDinov2(nn.Module):
    """transformers' Dinov2Model loaded from a folder (config.json + model.safetensors), returning the pooled CLS token."""

    def __init__(self, folder: str):
        super().__init__()
        from transformers import Dinov2Config, Dinov2Model

        with open(os.path.join(folder, "config.json")) as f:
            fields = json.load(f)
        # transformers 5 checks field types strictly; vembed-tiny's config.json writes layerscale_value as 1.
        for key in ("layerscale_value", "layer_norm_eps", "drop_path_rate"):
            if isinstance(fields.get(key), int):
                fields[key] = float(fields[key])
        self.model = Dinov2Model.from_pretrained(folder, config=Dinov2Config(**fields))
        self.image_size = self.model.config.image_size

    def forward(self, pixels):
        return self.model(pixel_values=pixels).pooler_output


def add_peft_lora(model: HfDinov2, r=16, alpha=32.0, dropout=0.05):
    """LoRA as a user adds it: peft on transformers 5's attention projections (peft freezes the rest)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        print(f"peft is not importable with {sys.executable} ({e}); use the environment of scripts/python/setup.sh", file=sys.stderr)
        sys.exit(3)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model.model = get_peft_model(model.model, config)


# ---------------------------------------------------------------- training step


def info_nce(q, p, labels, temperature):
    """Label-aware InfoNCE on L2-normalised embeddings: every pair with the same label is a positive."""
    logits = F.normalize(q, dim=1) @ F.normalize(p, dim=1).t() / temperature
    mask = (labels[:, None] == labels[None, :]).float()
    log_prob = torch.log_softmax(logits, dim=1)
    return (-(log_prob * mask).sum(1) / mask.sum(1)).mean()


def cached_step(model, optimizer, queries, positives, labels, chunk, temperature=0.05, max_norm=1.0):
    """Gradient cache: embed without a graph, gradient of the loss w.r.t. embeddings, then re-embed chunk by chunk and back-propagate."""
    sides = (queries, positives)
    seeds = []
    with torch.no_grad():
        embedded = []
        for side in sides:
            parts = []
            for start in range(0, side.shape[0], chunk):
                seed = torch.seed()  # the second pass must draw the same dropout masks
                seeds.append(seed)
                parts.append(model(side[start : start + chunk]))
            embedded.append(torch.cat(parts))
    q, p = (e.requires_grad_() for e in embedded)
    loss = info_nce(q, p, labels, temperature)
    loss.backward()
    grads = (q.grad, p.grad)
    optimizer.zero_grad(set_to_none=True)
    at = 0
    for side, grad in zip(sides, grads):
        for start in range(0, side.shape[0], chunk):
            torch.manual_seed(seeds[at])
            at += 1
            out = model(side[start : start + chunk])
            (out * grad[start : start + chunk]).sum().backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
    optimizer.step()
    return loss.item()


def plain_step(model, optimizer, queries, positives, labels, temperature=0.05, max_norm=1.0):
    """No gradient cache: both sides in one forward pass with autograd, the loss, one backward pass."""
    optimizer.zero_grad(set_to_none=True)
    q, p = model(torch.cat([queries, positives])).chunk(2)
    loss = info_nce(q, p, labels, temperature)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
    optimizer.step()
    return loss.item()


# ---------------------------------------------------------------- main


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["embed", "lora", "full", "demo"], required=True)
    ap.add_argument("--model-path", default="models/vembed-tiny", help="the demo's model folder (demo)")
    ap.add_argument("--model", choices=["hf", "handwritten"], default="hf")
    ap.add_argument("--size", type=int, default=None, help="input size (default 224; demo: the model's image_size)")
    ap.add_argument("--batch", type=int, default=32, help="images per inference batch (embed)")
    ap.add_argument("--batches", type=int, default=3, help="timed inference batches after one warm-up batch (embed)")
    ap.add_argument("--train-batch", type=int, default=128, help="pairs per training step")
    ap.add_argument("--chunk", type=int, default=8, help="images per forward pass in the gradient cache")
    ap.add_argument("--no-cache", action="store_true", help="no gradient cache: the whole batch in one forward pass")
    ap.add_argument("--steps", type=int, default=1, help="timed training steps")
    ap.add_argument("--warmup-batch", type=int, default=None, help="pairs of the untimed warm-up step (default 2 x --chunk; 0: none)")
    args = ap.parse_args()

    torch.manual_seed(0)
    if args.mode == "demo":
        model = PretrainedDinov2(args.model_path)
        args.size = args.size or model.image_size
    else:
        model = HfDinov2() if args.model == "hf" else Dinov2Like()
        args.size = args.size or 224
    shape = (3, args.size, args.size)
    out = {"mode": args.mode, "model": args.model, "torch": torch.__version__, "threads": torch.get_num_threads(), "size": args.size}
    if args.model == "hf":
        import transformers

        out["transformers"] = transformers.__version__
        out["attn_implementation"] = model.model.config._attn_implementation

    if args.mode == "embed":
        model.eval()
        pixels = torch.randn(args.batch, *shape)
        with torch.inference_mode():
            model(pixels)  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.batches):
                model(pixels)
            seconds = time.perf_counter() - t0
        images = args.batch * args.batches
        out.update(batch=args.batch, images=images, seconds=seconds, images_per_s=images / seconds)
    else:
        if args.mode == "lora":
            if args.model == "hf":
                add_peft_lora(model)
                import peft

                out["peft"] = peft.__version__
            else:
                add_lora(model)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        # The demo trains at 5e-4 (examples/demo_i2i.yaml); the rate does not change the step's cost.
        optimizer = torch.optim.AdamW(params, lr=5e-4 if args.mode == "demo" else 5e-5, weight_decay=0.01)

        warmup = 2 * args.chunk if args.warmup_batch is None else args.warmup_batch
        # Pixels drawn once, before the timing, as vembed's measurement does (ours.ts, pooledChunks): the
        # step's cost, not the random number generator's.
        pool = max(warmup, args.train_batch)
        pool_queries = torch.randn(pool, *shape)
        pool_positives = pool_queries + 0.1 * torch.randn(pool, *shape)

        def step(pairs):
            labels = torch.arange(pairs)
            if args.no_cache:
                return plain_step(model, optimizer, pool_queries[:pairs], pool_positives[:pairs], labels)
            return cached_step(model, optimizer, pool_queries[:pairs], pool_positives[:pairs], labels, args.chunk)

        if warmup > 0:
            step(warmup)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step(args.train_batch)
        seconds = time.perf_counter() - t0
        images = 2 * args.train_batch * args.steps
        out.update(
            train_batch=args.train_batch,
            chunk=None if args.no_cache else args.chunk,
            steps=args.steps,
            images=images,
            seconds=seconds,
            images_per_s=images / seconds,
            loss=loss,
            trainable=sum(p.numel() for p in params),
        )
    out["peak_rss_bytes"] = peak_rss_bytes()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
