#!/usr/bin/env python3
"""Independent reference for the TypeScript DINOv2 (src/engine/model).

Builds tiny random DINOv2 models with its own PyTorch implementation, written
from the architecture description (Hugging Face Dinov2Model /
Dinov2WithRegistersModel semantics; transformers itself is not used), saves
each in the Hugging Face layout, and records the outputs for a few inputs:

  test/fixtures/dinov2/inputs.safetensors       NHWC float32 images
  test/fixtures/dinov2/<variant>/config.json
  test/fixtures/dinov2/<variant>/preprocessor_config.json
  test/fixtures/dinov2/<variant>/model.safetensors
  test/fixtures/dinov2/<variant>/expected.safetensors
      <input>.last_hidden_state [n, T, D], <input>.cls [n, D], <input>.mean [n, D]

Variants: `plain` (F32 weights), `swiglu` (SwiGLU FFN, no qkv bias, no mask
token, BF16 weights), `registers` (4 register tokens, antialiased resize,
F16 weights). The reference computes in float64 from the stored (rounded)
weights, so the expected values are exact up to float64.

Plus `plain-lora/`: a PEFT LoRA adapter (adapter_config.json,
adapter_model.safetensors; r=2, alpha=4 on query/key/value/dense) for the
`plain` model, base_model_name_or_path "tiny-random/dinov2-plain" (tests map
it to the plain folder), with outputs computed as W + (alpha/r) * B @ A.

Run: OMP_NUM_THREADS=1 "$(bash scripts/python/setup.sh | tail -1)" scripts/reference/make_dinov2_fixtures.py
(needs torch and numpy only; the safetensors files are written by hand). Made
with Debian's PyTorch 1.13; torch 2.13 of the reference environment writes
the same bytes. The adapter uses transformers 4.x module names (the
`transformers4` adapter layout).
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'dinov2')

# ----------------------------------------------------------------------------- safetensors by hand


def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def encode(a, dtype):
    if dtype == 'F32':
        return np.ascontiguousarray(a, dtype='<f4').tobytes()
    if dtype == 'F16':
        return np.ascontiguousarray(a, dtype='<f2').tobytes()
    if dtype == 'BF16':
        return to_bf16_bits(a).astype('<u2').tobytes()
    raise ValueError(dtype)


def stored_value(a, dtype):
    """What a reader gets back from `encode(a, dtype)`, as float64."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == 'F16':
        a = a.astype(np.float16).astype(np.float32)
    elif dtype == 'BF16':
        a = from_bf16_bits(to_bf16_bits(a))
    return a.astype(np.float64)


def write_safetensors(path, tensors, dtype='F32', metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    blobs = []
    offset = 0
    for name in sorted(tensors):
        data = encode(tensors[name], dtype)
        header[name] = {'dtype': dtype, 'shape': list(np.shape(tensors[name])), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(',', ':')).encode('utf8')
    raw += b' ' * ((8 - len(raw) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


# ----------------------------------------------------------------------------- the model, from the description


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(x, p, name, bias=True):
    y = x @ p[name + '.weight'].T
    return y + p[name + '.bias'] if bias else y


def gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def swiglu_hidden(cfg):
    hidden = int(cfg['hidden_size'] * cfg['mlp_ratio'])
    return (int(hidden * 2 / 3) + 7) // 8 * 8


def position_embeddings(p, cfg, gh, gw, antialias):
    pos = p['embeddings.position_embeddings']  # [1, 1 + N, D]
    n = pos.shape[1] - 1
    if n == gh * gw and gh == gw:
        return pos
    side = int(round(math.sqrt(n)))
    grid = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(gh, gw), mode='bicubic', align_corners=False, antialias=antialias)
    grid = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
    return torch.cat([pos[:, :1], grid], dim=1)


def forward(p, cfg, pixels_nhwc):
    """pixels [n, H, W, 3] float64 -> last_hidden_state [n, T, D]."""
    x = pixels_nhwc.permute(0, 3, 1, 2)  # NCHW for the convolution
    n, _, height, width = x.shape
    ps = cfg['patch_size']
    D = cfg['hidden_size']
    heads = cfg['num_attention_heads']
    dh = D // heads
    eps = cfg['layer_norm_eps']
    registers = cfg['model_type'] == 'dinov2_with_registers'
    gh, gw = height // ps, width // ps

    patches = F.conv2d(x, p['embeddings.patch_embeddings.projection.weight'], p['embeddings.patch_embeddings.projection.bias'], stride=ps)
    patches = patches.flatten(2).transpose(1, 2)  # [n, gh*gw, D]
    tokens = torch.cat([p['embeddings.cls_token'].expand(n, -1, -1), patches], dim=1)
    tokens = tokens + position_embeddings(p, cfg, gh, gw, antialias=registers)
    if registers:
        tokens = torch.cat([tokens[:, :1], p['embeddings.register_tokens'].expand(n, -1, -1), tokens[:, 1:]], dim=1)

    h = tokens
    qkv_bias = cfg['qkv_bias']
    for i in range(cfg['num_hidden_layers']):
        pre = 'encoder.layer.%d.' % i
        a = layer_norm(h, p[pre + 'norm1.weight'], p[pre + 'norm1.bias'], eps)
        T = a.shape[1]

        def split(t):
            return t.reshape(n, T, heads, dh).transpose(1, 2)

        q = split(linear(a, p, pre + 'attention.attention.query', qkv_bias))
        k = split(linear(a, p, pre + 'attention.attention.key', qkv_bias))
        v = split(linear(a, p, pre + 'attention.attention.value', qkv_bias))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        ctx = (attn @ v).transpose(1, 2).reshape(n, T, D)
        out = linear(ctx, p, pre + 'attention.output.dense')
        h = h + out * p[pre + 'layer_scale1.lambda1']

        m = layer_norm(h, p[pre + 'norm2.weight'], p[pre + 'norm2.bias'], eps)
        if cfg['use_swiglu_ffn']:
            both = linear(m, p, pre + 'mlp.weights_in')
            x1, x2 = both.chunk(2, dim=-1)
            m = linear(F.silu(x1) * x2, p, pre + 'mlp.weights_out')
        else:
            m = linear(gelu_exact(linear(m, p, pre + 'mlp.fc1')), p, pre + 'mlp.fc2')
        h = h + m * p[pre + 'layer_scale2.lambda1']
    return layer_norm(h, p['layernorm.weight'], p['layernorm.bias'], eps)


# ----------------------------------------------------------------------------- random models


def random_params(cfg, seed, with_mask_token=True):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale + shift).float().numpy()

    D = cfg['hidden_size']
    ps = cfg['patch_size']
    grid = cfg['image_size'] // ps
    hidden = swiglu_hidden(cfg) if cfg['use_swiglu_ffn'] else int(D * cfg['mlp_ratio'])
    p = {
        'embeddings.cls_token': rnd(1, 1, D, scale=0.5),
        'embeddings.position_embeddings': rnd(1, grid * grid + 1, D, scale=0.5),
        'embeddings.patch_embeddings.projection.weight': rnd(D, 3, ps, ps, scale=1 / math.sqrt(3 * ps * ps)),
        'embeddings.patch_embeddings.projection.bias': rnd(D, scale=0.1),
        'layernorm.weight': rnd(D, scale=0.1, shift=1.0),
        'layernorm.bias': rnd(D, scale=0.1),
    }
    if with_mask_token:
        p['embeddings.mask_token'] = np.zeros((1, D), np.float32)
    if cfg['model_type'] == 'dinov2_with_registers':
        p['embeddings.register_tokens'] = rnd(1, cfg['num_register_tokens'], D, scale=0.5)

    def lin(name, fin, fout, bias=True):
        p[name + '.weight'] = rnd(fout, fin, scale=1 / math.sqrt(fin))
        if bias:
            p[name + '.bias'] = rnd(fout, scale=0.1)

    for i in range(cfg['num_hidden_layers']):
        pre = 'encoder.layer.%d.' % i
        for norm in ('norm1', 'norm2'):
            p[pre + norm + '.weight'] = rnd(D, scale=0.1, shift=1.0)
            p[pre + norm + '.bias'] = rnd(D, scale=0.1)
        for proj in ('query', 'key', 'value'):
            lin(pre + 'attention.attention.' + proj, D, D, cfg['qkv_bias'])
        lin(pre + 'attention.output.dense', D, D)
        p[pre + 'layer_scale1.lambda1'] = rnd(D, scale=0.2, shift=0.5)
        p[pre + 'layer_scale2.lambda1'] = rnd(D, scale=0.2, shift=0.5)
        if cfg['use_swiglu_ffn']:
            lin(pre + 'mlp.weights_in', D, 2 * hidden)
            lin(pre + 'mlp.weights_out', hidden, D)
        else:
            lin(pre + 'mlp.fc1', D, hidden)
            lin(pre + 'mlp.fc2', hidden, D)
    return p


def base_config(model_type, **extra):
    cfg = {
        'architectures': ['Dinov2WithRegistersModel' if model_type == 'dinov2_with_registers' else 'Dinov2Model'],
        'model_type': model_type,
        'hidden_size': 32,
        'num_hidden_layers': 2,
        'num_attention_heads': 4,
        'mlp_ratio': 4,
        'patch_size': 14,
        # A 4x4 position grid: 56 px is "native"; other sizes resize it.
        'image_size': 56,
        'num_channels': 3,
        'hidden_act': 'gelu',
        'hidden_dropout_prob': 0.0,
        'attention_probs_dropout_prob': 0.0,
        'drop_path_rate': 0.0,
        'initializer_range': 0.02,
        'layer_norm_eps': 1e-06,
        'layerscale_value': 1.0,
        'qkv_bias': True,
        'use_swiglu_ffn': False,
        'torch_dtype': 'float32',
        'transformers_version': '4.47.0',
    }
    cfg.update(extra)
    return cfg


PREPROCESSOR = {
    'crop_size': {'height': 56, 'width': 56},
    'do_center_crop': True,
    'do_convert_rgb': True,
    'do_normalize': True,
    'do_rescale': True,
    'do_resize': True,
    'image_mean': [0.485, 0.456, 0.406],
    'image_processor_type': 'BitImageProcessor',
    'image_std': [0.229, 0.224, 0.225],
    'resample': 3,
    'rescale_factor': 0.00392156862745098,
    'size': {'shortest_edge': 64},
}

VARIANTS = [
    # name, config, seed, weight dtype, has mask token
    ('plain', base_config('dinov2'), 1, 'F32', True),
    ('swiglu', base_config('dinov2', use_swiglu_ffn=True, qkv_bias=False), 2, 'BF16', False),
    ('registers', base_config('dinov2_with_registers', num_register_tokens=4), 3, 'F16', True),
]


def make_inputs():
    g = torch.Generator().manual_seed(7)
    return {
        # Native grid (4x4), square: no resize.
        'native': torch.randn(1, 56, 56, 3, generator=g).float().numpy(),
        # 5x5 grid: upsampled position embeddings.
        'larger': torch.randn(1, 70, 70, 3, generator=g).float().numpy(),
        # 2x3 grid, non-square, batch of 2: downsampled, different per axis.
        'nonsquare': torch.randn(2, 28, 42, 3, generator=g).float().numpy(),
    }


def main():
    torch.set_num_threads(1)
    os.makedirs(ROOT, exist_ok=True)
    inputs = make_inputs()
    write_safetensors(os.path.join(ROOT, 'inputs.safetensors'), inputs)
    for name, cfg, seed, dtype, mask in VARIANTS:
        folder = os.path.join(ROOT, name)
        os.makedirs(folder, exist_ok=True)
        params = random_params(cfg, seed, with_mask_token=mask)
        write_safetensors(os.path.join(folder, 'model.safetensors'), params, dtype, {'format': 'pt'})
        with open(os.path.join(folder, 'config.json'), 'w') as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        with open(os.path.join(folder, 'preprocessor_config.json'), 'w') as f:
            json.dump(PREPROCESSOR, f, indent=2, sort_keys=True)
        p = {k: torch.from_numpy(stored_value(v, dtype)) for k, v in params.items()}
        expected = {}
        first_patch = 1 + cfg.get('num_register_tokens', 0)  # CLS and registers are not patches
        with torch.no_grad():
            for input_name, pixels in inputs.items():
                last = forward(p, cfg, torch.from_numpy(pixels.astype(np.float64)))
                expected[input_name + '.last_hidden_state'] = last.numpy()
                expected[input_name + '.cls'] = last[:, 0].numpy()
                expected[input_name + '.mean'] = last[:, first_patch:].mean(1).numpy()
        write_safetensors(os.path.join(folder, 'expected.safetensors'), expected)
        print('%s: %d tensors (%s), outputs %s' % (name, len(params), dtype, {k: list(v.shape) for k, v in expected.items() if k.endswith('state')}))
    make_lora_fixture(inputs)


LORA_CONFIG = {
    'alpha_pattern': {},
    'auto_mapping': {'base_model_class': 'Dinov2Model', 'parent_library': 'transformers.models.dinov2.modeling_dinov2'},
    'base_model_name_or_path': 'tiny-random/dinov2-plain',
    'bias': 'none',
    'fan_in_fan_out': False,
    'inference_mode': True,
    'init_lora_weights': True,
    'layers_pattern': None,
    'layers_to_transform': None,
    'lora_alpha': 4,
    'lora_dropout': 0.1,
    'modules_to_save': None,
    'peft_type': 'LORA',
    'r': 2,
    'rank_pattern': {},
    'revision': None,
    'target_modules': ['dense', 'key', 'query', 'value'],
    'task_type': None,
}


def make_lora_fixture(inputs):
    name, cfg, seed, dtype, mask = VARIANTS[0]
    params = random_params(cfg, seed, with_mask_token=mask)
    p = {k: torch.from_numpy(stored_value(v, dtype)) for k, v in params.items()}
    r = LORA_CONFIG['r']
    scale = LORA_CONFIG['lora_alpha'] / r
    g = torch.Generator().manual_seed(11)
    adapter = {}
    for i in range(cfg['num_hidden_layers']):
        for module in ('attention.attention.query', 'attention.attention.key', 'attention.attention.value', 'attention.output.dense'):
            path = 'encoder.layer.%d.%s' % (i, module)
            out_f, in_f = p[path + '.weight'].shape
            a = (torch.rand(r, in_f, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(in_f)
            b = torch.randn(out_f, r, generator=g, dtype=torch.float64) * 0.2
            # Use exactly what the F32 file will hold.
            a = a.float().double()
            b = b.float().double()
            adapter['base_model.model.%s.lora_A.weight' % path] = a.float().numpy()
            adapter['base_model.model.%s.lora_B.weight' % path] = b.float().numpy()
            p[path + '.weight'] = p[path + '.weight'] + scale * (b @ a)
    folder = os.path.join(ROOT, 'plain-lora')
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, 'adapter_model.safetensors'), adapter, 'F32', {'format': 'pt'})
    with open(os.path.join(folder, 'adapter_config.json'), 'w') as f:
        json.dump(LORA_CONFIG, f, indent=2, sort_keys=True)
    expected = {}
    with torch.no_grad():
        for input_name, pixels in inputs.items():
            last = forward(p, cfg, torch.from_numpy(pixels.astype(np.float64)))
            expected[input_name + '.last_hidden_state'] = last.numpy()
            expected[input_name + '.cls'] = last[:, 0].numpy()
            expected[input_name + '.mean'] = last[:, 1:].mean(1).numpy()
    write_safetensors(os.path.join(folder, 'expected.safetensors'), expected)
    print('plain-lora: %d adapter tensors' % len(adapter))


if __name__ == '__main__':
    main()
