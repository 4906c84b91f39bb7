#!/usr/bin/env python3
"""
Reference numbers for the training core (src/engine/train), computed with
PyTorch as an implementation independent of ours.

Writes JSON fixtures into test/fixtures/train/:
  losses.json        InfoNCE (labels with duplicates, no labels, a very low
                     temperature) and triplet (labels, no labels): loss and
                     its gradient with respect to both embedding batches.
  adamw.json         torch.optim.AdamW over several steps, with and without
                     weight-decay exclusion, with a parameter that gets no
                     gradient on one step.
  clip.json          torch.nn.utils.clip_grad_norm_ (clipping and not).
  schedules.json     Hugging Face's warmup schedules (the formulas of
                     transformers.optimization), driven by LambdaLR so that
                     the value recorded is the lr a real optimizer step uses.
  tiny_encoder.json  A 2-layer MLP encoder's parameter gradients for a
                     batch of pixel pairs, through both losses.

Run from the repository root:
  OMP_NUM_THREADS=1 "$(bash scripts/python/setup.sh | tail -1)" scripts/reference/train_reference.py
(the committed files were made with Debian's PyTorch 1.13; torch 2.13 of the
reference environment gives the same values within float64 rounding, and the
AdamW trajectory within 5e-8)

Inputs are drawn in float32 so that the TypeScript side sees exactly the
same numbers; losses are then evaluated in float64 (the "true" value of
those float32 inputs), the optimizer and clipping in float32 as torch runs
them in training.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'train')


def as_list(t):
    return t.detach().cpu().numpy().astype(np.float64).reshape(-1).tolist()


def write(name, payload):
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, name)
    with open(path + '.tmp', 'w') as f:
        json.dump(payload, f, indent=1)
        f.write('\n')
    os.replace(path + '.tmp', path)
    print('wrote', os.path.relpath(path))


# --------------------------------------------------------------------- losses

def infonce_reference(q, p, labels, temperature):
    """Supervised-contrastive InfoNCE, q -> p only, written as loops over the
    positives (a different formulation from the masked one in TypeScript)."""
    logits = F.normalize(q, dim=1) @ F.normalize(p, dim=1).T / temperature
    if labels is None:
        # Plain InfoNCE is exactly cross-entropy against the diagonal.
        return F.cross_entropy(logits, torch.arange(q.shape[0]))
    log_prob = torch.log_softmax(logits, dim=1)
    rows = []
    for i in range(q.shape[0]):
        positives = [j for j in range(q.shape[0]) if labels[j] == labels[i]]
        rows.append(-torch.stack([log_prob[i, j] for j in positives]).mean())
    return torch.stack(rows).mean()


def triplet_reference(q, p, labels, margin):
    """Hardest in-batch negative on cosine distance, through torch's own
    triplet_margin_with_distance_loss. Rows without any negative are left out."""
    def distance(a, b):
        return 1.0 - F.cosine_similarity(a, b, dim=-1)

    n = q.shape[0]
    with torch.no_grad():
        d = 1.0 - F.normalize(q, dim=1) @ F.normalize(p, dim=1).T
    anchors, negatives, rows = [], [], []
    for i in range(n):
        candidates = [j for j in range(n) if (j != i if labels is None else labels[j] != labels[i])]
        if not candidates:
            continue
        hardest = min(candidates, key=lambda j: d[i, j].item())
        rows.append(i)
        negatives.append(hardest)
    idx = torch.tensor(rows)
    return F.triplet_margin_with_distance_loss(
        q[idx], p[idx], p[torch.tensor(negatives)], distance_function=distance, margin=margin, reduction='mean')


def loss_case(name, fn, q32, p32, **kw):
    q = q32.double().clone().requires_grad_(True)
    p = p32.double().clone().requires_grad_(True)
    loss = fn(q, p, **kw)
    loss.backward()
    case = {'name': name, 'loss': loss.item(), 'grad_q': as_list(q.grad), 'grad_p': as_list(p.grad)}
    case.update({k: v for k, v in kw.items()})
    return case


def losses():
    g = torch.Generator().manual_seed(1234)
    n, dim = 8, 16
    q = torch.randn(n, dim, generator=g, dtype=torch.float32)
    # Positives correlated with their queries, so that some triplet hinges
    # are active and some are not.
    p = (q + 0.9 * torch.randn(n, dim, generator=g, dtype=torch.float32)).float()
    labels = [3, 1, 3, 2, 1, 5, 3, 7]
    # Pull p[2] towards q[0] (same label): without labels p[2] is then row 0's
    # hardest negative, with labels it is not a negative at all.
    p[2] = 0.4 * p[2] + 0.6 * q[0]
    cases = [
        loss_case('infonce_labels', infonce_reference, q, p, labels=labels, temperature=0.05),
        loss_case('infonce_no_labels', infonce_reference, q, p, labels=None, temperature=0.05),
        loss_case('infonce_labels_t0.001', infonce_reference, q, p, labels=labels, temperature=0.001),
        loss_case('triplet_labels', triplet_reference, q, p, labels=labels, margin=0.2),
        loss_case('triplet_no_labels', triplet_reference, q, p, labels=None, margin=0.2),
    ]
    # The fixture must exercise both sides of the hinge.
    with torch.no_grad():
        d = 1.0 - F.normalize(q.double(), dim=1) @ F.normalize(p.double(), dim=1).T
        active = 0
        for i in range(n):
            neg = min(d[i, j].item() for j in range(n) if labels[j] != labels[i])
            active += (d[i, i].item() - neg + 0.2) > 0
        assert 0 < active < n, f'triplet fixture should mix active and inactive rows, got {active}/{n}'
    write('losses.json', {
        'shape': [n, dim], 'q': as_list(q), 'p': as_list(p), 'cases': cases,
    })


# ---------------------------------------------------------------------- AdamW

PARAM_SHAPES = {
    'fc1.weight': [4, 3],
    'fc1.bias': [4],
    'norm.weight': [4],
    'embeddings.cls_token': [1, 1, 4],
    'encoder.layer.0.layer_scale1.lambda1': [4],
    'proj.weight': [2, 4],
}
DECAYED = ['fc1.weight', 'proj.weight']


def adamw():
    g = torch.Generator().manual_seed(99)
    init = {k: torch.randn(*s, generator=g, dtype=torch.float32) for k, s in PARAM_SHAPES.items()}
    lrs = [1e-3, 2e-2, 3e-2, 2.5e-2, 1e-2, 5e-3]
    grads = [{k: torch.randn(*s, generator=g, dtype=torch.float32) for k, s in PARAM_SHAPES.items()} for _ in lrs]
    # On step index 2 `proj.weight` gets no gradient: torch skips it entirely
    # (no decay, no moment update, its step count stays behind).
    skip = {2: 'proj.weight'}
    weight_decay = 0.1
    scenarios = []
    for name, exclude in [('with_exclusion', True), ('without_exclusion', False)]:
        params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
        if exclude:
            groups = [
                {'params': [params[k] for k in PARAM_SHAPES if k in DECAYED], 'weight_decay': weight_decay},
                {'params': [params[k] for k in PARAM_SHAPES if k not in DECAYED], 'weight_decay': 0.0},
            ]
        else:
            groups = [{'params': list(params.values()), 'weight_decay': weight_decay}]
        opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(0.9, 0.999), eps=1e-8)
        after = []
        for step, lr in enumerate(lrs):
            for group in opt.param_groups:
                group['lr'] = lr
            for k, prm in params.items():
                prm.grad = None if skip.get(step) == k else grads[step][k].clone()
            opt.step()
            after.append({k: as_list(v) for k, v in params.items()})
        state = {}
        for k, prm in params.items():
            st = opt.state[prm]
            state[k] = {'step': int(st['step'].item()), 'exp_avg': as_list(st['exp_avg']), 'exp_avg_sq': as_list(st['exp_avg_sq'])}
        scenarios.append({'name': name, 'params_after_step': after, 'final_state': state})
    write('adamw.json', {
        'shapes': PARAM_SHAPES,
        'decayed_with_exclusion': DECAYED,
        'weight_decay': weight_decay, 'betas': [0.9, 0.999], 'eps': 1e-8,
        'lrs': lrs,
        'skip': {str(k): v for k, v in skip.items()},
        'init': {k: as_list(v) for k, v in init.items()},
        'grads': [{k: as_list(v) for k, v in step.items()} for step in grads],
        'scenarios': scenarios,
    })


# ------------------------------------------------------------------- clipping

def clip():
    g = torch.Generator().manual_seed(7)
    shapes = {'a.weight': [3, 5], 'a.bias': [5], 'b.weight': [2, 2, 3]}
    grads = {k: (torch.randn(*s, generator=g, dtype=torch.float32) * 0.7) for k, s in shapes.items()}
    cases = []
    for max_norm in [1.0, 50.0]:
        params = {k: torch.nn.Parameter(torch.zeros(*s)) for k, s in shapes.items()}
        for k, prm in params.items():
            prm.grad = grads[k].clone()
        total = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm=max_norm, norm_type=2.0)
        cases.append({'max_norm': max_norm, 'total_norm': total.item(),
                      'clipped': {k: as_list(prm.grad) for k, prm in params.items()}})
    write('clip.json', {'shapes': shapes, 'grads': {k: as_list(v) for k, v in grads.items()}, 'cases': cases})


# ------------------------------------------------------------------ schedules

def hf_warmup_steps(total, warmup_ratio, warmup_steps):
    # transformers.TrainingArguments.get_warmup_steps
    return warmup_steps if warmup_steps > 0 else math.ceil(total * warmup_ratio)


def hf_lambda(kind, warmup, total):
    # The lr_lambda functions of transformers.optimization (num_cycles 0.5 for cosine).
    def warm(step):
        return float(step) / float(max(1, warmup))

    if kind == 'constant':
        return lambda step: 1.0
    if kind == 'constant_with_warmup':
        return lambda step: warm(step) if step < warmup else 1.0
    if kind == 'linear':
        return lambda step: warm(step) if step < warmup else max(0.0, float(total - step) / float(max(1, total - warmup)))
    if kind == 'cosine':
        def f(step):
            if step < warmup:
                return warm(step)
            progress = float(step - warmup) / float(max(1, total - warmup))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))
        return f
    raise ValueError(kind)


def schedules():
    cases = []
    settings = [
        {'total_steps': 100, 'warmup_ratio': 0.1, 'warmup_steps': 0},
        {'total_steps': 100, 'warmup_ratio': 0.1, 'warmup_steps': 7},
        {'total_steps': 30, 'warmup_ratio': 0.05, 'warmup_steps': 0},
        {'total_steps': 25, 'warmup_ratio': 0.0, 'warmup_steps': 0},
    ]
    for kind in ['cosine', 'linear', 'constant', 'constant_with_warmup']:
        for s in settings:
            warmup = hf_warmup_steps(s['total_steps'], s['warmup_ratio'], s['warmup_steps'])
            # HF's `constant` ignores warmup entirely.
            param = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([param], lr=3e-4)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, hf_lambda(kind, warmup, s['total_steps']))
            lrs = []
            for _ in range(s['total_steps'] + 1):
                lrs.append(opt.param_groups[0]['lr'])  # the lr the next optimizer step uses
                opt.step()
                sched.step()
            cases.append(dict(s, scheduler_type=kind, learning_rate=3e-4, expected_warmup=warmup, lr_at_step=lrs))
    write('schedules.json', {'cases': cases})


# ---------------------------------------------------------------- tiny encoder

def tiny_encoder():
    """fc1 -> tanh -> fc2 -> layer norm over flattened NHWC pixels (weights [out, in])."""
    g = torch.Generator().manual_seed(2024)
    h = w = 4
    hidden, dim, n = 10, 6, 6
    eps = 1e-6
    weights = {
        'fc1.weight': torch.randn(hidden, h * w * 3, generator=g) * 0.3,
        'fc1.bias': torch.randn(hidden, generator=g) * 0.1,
        'fc2.weight': torch.randn(dim, hidden, generator=g) * 0.5,
        'fc2.bias': torch.randn(dim, generator=g) * 0.1,
        'norm.weight': 1.0 + 0.1 * torch.randn(dim, generator=g),
        'norm.bias': 0.1 * torch.randn(dim, generator=g),
    }
    weights = {k: v.float() for k, v in weights.items()}
    queries = torch.randn(n, h, w, 3, generator=g, dtype=torch.float32)
    positives = (queries + 0.5 * torch.randn(n, h, w, 3, generator=g, dtype=torch.float32)).float()
    labels = [0, 1, 0, 2, 1, 3]

    def embed(prm, x):
        z = torch.tanh(x.reshape(x.shape[0], -1) @ prm['fc1.weight'].T + prm['fc1.bias'])
        z = z @ prm['fc2.weight'].T + prm['fc2.bias']
        return F.layer_norm(z, (dim,), prm['norm.weight'], prm['norm.bias'], eps)

    cases = []
    for loss_type in ['infonce', 'triplet']:
        prm = {k: v.double().clone().requires_grad_(True) for k, v in weights.items()}
        q = embed(prm, queries.double())
        p = embed(prm, positives.double())
        if loss_type == 'infonce':
            loss = infonce_reference(q, p, labels, 0.05)
        else:
            loss = triplet_reference(q, p, labels, 0.2)
        loss.backward()
        cases.append({'loss_type': loss_type, 'loss': loss.item(), 'grads': {k: as_list(v.grad) for k, v in prm.items()}})
    write('tiny_encoder.json', {
        'height': h, 'width': w, 'hidden': hidden, 'dim': dim, 'layer_norm_eps': eps,
        'temperature': 0.05, 'triplet_margin': 0.2, 'labels': labels,
        'weights': {k: as_list(v) for k, v in weights.items()},
        'queries': as_list(queries), 'positives': as_list(positives),
        'cases': cases,
    })


if __name__ == '__main__':
    torch.set_num_threads(1)
    losses()
    adamw()
    clip()
    schedules()
    tiny_encoder()
