"""pytorch-metric-learning's view of a retrieval benchmark's arrays.

usage: sop_metrics.py EMBEDDINGS.npy LABELS.npy K...
Every image queries all the others (ref_includes_query: itself excluded);
queries whose label has no other image are left out, as PML does. Prints
PML's precision_at_1 and mean_average_precision_at_r, and Recall@K for each
K computed here with numpy (a query hits when any of its K nearest others
shares its label), as JSON.
"""
import json
import sys

import numpy as np
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

emb = np.load(sys.argv[1]).astype(np.float32)
labels = np.load(sys.argv[2]).astype(np.int64)
ks = [int(k) for k in sys.argv[3:]]
# Cosine similarity: PML's default k-NN (FAISS, L2) ranks unit vectors as cosine does.
emb /= np.linalg.norm(emb, axis=1, keepdims=True)
calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count")
e, l = torch.from_numpy(emb), torch.from_numpy(labels)
acc = calc.get_accuracy(e, l, e, l, ref_includes_query=True)

sim = emb @ emb.T
np.fill_diagonal(sim, -np.inf)
order = np.argsort(-sim, axis=1, kind="stable")
counted = np.array([(labels == labels[i]).sum() > 1 for i in range(len(labels))])
recall = {}
for k in ks:
    hits = [(labels[order[i, :k]] == labels[i]).any() for i in range(len(labels)) if counted[i]]
    recall[f"recall@{k}"] = float(np.mean(hits))
print(json.dumps({"precision_at_1": float(acc["precision_at_1"]), "map_at_r": float(acc["mean_average_precision_at_r"]), "queries": int(counted.sum()), **recall}))
