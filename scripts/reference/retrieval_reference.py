"""Fixtures for test/engine/retrieval: .npy files written by NumPy itself, and
reference retrieval metrics computed with NumPy, independently of the
TypeScript code.

Run from the repository root:
    OMP_NUM_THREADS=1 "$(bash scripts/python/setup.sh | tail -1)" scripts/reference/retrieval_reference.py
(the reference environment, numpy 2.4, writes the same bytes as the committed files)

Writes test/fixtures/retrieval/*.npy and random_reference.json.
"""
import json
import os

import numpy as np

OUT = os.path.join("test", "fixtures", "retrieval")
RECALL_KS = [1, 2, 5, 10, 100]  # 100 > gallery size (96): clipped, recall 1
NEIGHBOURS = 5


def save_npy_fixtures():
    np.save(os.path.join(OUT, "numpy_float32.npy"), (np.arange(12, dtype=np.float32).reshape(3, 4) / 8 - 0.5))
    np.save(os.path.join(OUT, "numpy_int64.npy"), np.array([11319, 11319, 11320, -5, 2**40], dtype=np.int64))
    np.save(os.path.join(OUT, "numpy_int32.npy"), np.array([[1, -2], [3, 2147483647]], dtype=np.int32))
    np.save(os.path.join(OUT, "numpy_uint8.npy"), np.array([0, 1, 255], dtype=np.uint8))
    np.save(os.path.join(OUT, "numpy_float64_3d.npy"), np.linspace(-1, 1, 24).reshape(2, 3, 4))
    np.save(os.path.join(OUT, "numpy_scalar.npy"), np.float32(3.5))
    np.save(os.path.join(OUT, "numpy_big_endian.npy"), np.array([1.5, -2.25, 1e-3], dtype=">f4"))
    np.save(os.path.join(OUT, "numpy_fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    np.save(os.path.join(OUT, "numpy_empty.npy"), np.zeros((0, 384), dtype=np.float32))


def reference_metrics(emb, labels):
    x = emb.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    n = len(labels)
    first_correct, ap, neighbours, min_gap = [], [], [], np.inf
    for q in range(n):
        others = np.array([g for g in range(n) if g != q])
        s = sims[q, others]
        # Best first; equal similarity: lower index first.
        order = others[np.lexsort((others, -s))]
        ordered = sims[q, order]
        neighbours.append(order[:NEIGHBOURS].tolist())
        rel = labels[order] == labels[q]
        # Gaps that decide a result: around the neighbour list's end, and wherever relevance changes.
        gaps = ordered[:-1] - ordered[1:]
        decisive = (rel[:-1] != rel[1:]) | (np.arange(n - 2) < NEIGHBOURS)
        min_gap = min(min_gap, np.min(gaps[decisive]))
        r = int(rel.sum())
        if r == 0:
            first_correct.append(-1)
            ap.append(None)
            continue
        first_correct.append(int(np.argmax(rel)) + 1)
        hits = np.cumsum(rel[:r])
        precision = hits / np.arange(1, r + 1)
        ap.append(float(np.sum(precision * rel[:r]) / r))
    fc = np.array(first_correct)
    valid = fc > 0
    recall = {f"recall@{k}": float(np.mean(fc[valid] <= min(k, n - 1))) for k in RECALL_KS}
    map_r = float(np.mean([a for a in ap if a is not None]))
    return {
        "recall_ks": RECALL_KS,
        "metrics": {**recall, "map@r": map_r},
        "num_images": n,
        "num_valid_queries": int(valid.sum()),
        "first_correct_rank": first_correct,
        "ap_at_r": ap,
        "neighbours": neighbours,
        "min_similarity_gap": float(min_gap),
    }


def random_case():
    # The first seed from 20240601 whose float32 similarities decide every result as float64 ones do.
    seed = 20240601
    while True:
        emb, labels, ref = draw_case(seed)
        if ref["min_similarity_gap"] > 1e-5:
            break
        seed += 1
    ref["seed"] = seed
    np.save(os.path.join(OUT, "random_embeddings.npy"), emb)
    np.save(os.path.join(OUT, "random_labels.npy"), labels)
    with open(os.path.join(OUT, "random_reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def draw_case(seed):
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < 97:
        sizes.append(int(rng.integers(1, 7)))
    sizes[-1] -= sum(sizes) - 97
    labels = np.concatenate([np.full(s, 500 + 3 * c, dtype=np.int64) for c, s in enumerate(sizes) if s > 0])
    rng.shuffle(labels)
    emb = (rng.standard_normal((97, 16)) * rng.uniform(0.5, 3.0, size=(97, 1))).astype(np.float32)
    return emb, labels, reference_metrics(emb, labels)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    save_npy_fixtures()
    random_case()
    print("wrote fixtures to", OUT)
