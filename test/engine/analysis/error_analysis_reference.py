# Reference for the error analysis, computed independently of vembed's code from the files a benchmark writes:
# first_correct_rank.npy, neighbours_indices.npy and metadata.jsonl of two benchmark folders.
# Usage: python error_analysis_reference.py BEFORE_DIR AFTER_DIR TOP  -> JSON on stdout.
import json
import math
import sys

import numpy as np

before_dir, after_dir, top = sys.argv[1], sys.argv[2], int(sys.argv[3])


def load(d):
    manifest = json.load(open(f"{d}/neighbours.json"))
    fcr = np.load(f"{d}/first_correct_rank.npy").astype(np.int64)
    idx = np.load(f"{d}/neighbours_indices.npy").astype(np.int64)
    records = [json.loads(line) for line in open(f"{d}/metadata.jsonl") if line.strip()]
    return manifest["rank_cap"], fcr, idx, records


cap_b, fcr_b, idx_b, records = load(before_dir)
cap_a, fcr_a, idx_a, _ = load(after_dir)
cap = min(cap_b, cap_a)
labels = [r["label"] for r in records]


def super_class(r):
    # SOP's <name>_final/ folder names the super class, unless the record gives a name of its own.
    parts = r["path"].replace("\\", "/").split("/")
    folder = parts[-2] if len(parts) > 1 else None
    given = r.get("super_class")
    if folder and folder.endswith("_final") and len(folder) > 6 and (given is None or isinstance(given, (int, float))):
        return folder.removesuffix("_final")
    if given is not None:
        return str(given)
    return folder or "(none)"


supers = np.array([super_class(r) for r in records])
valid = (fcr_b >= 0) & (fcr_a >= 0)
eff_b = np.where((fcr_b == 0) | (fcr_b > cap), cap + 1, fcr_b)
eff_a = np.where((fcr_a == 0) | (fcr_a > cap), cap + 1, fcr_a)

per_class = []
for s in sorted(set(supers[valid].tolist())):
    m = valid & (supers == s)
    per_class.append([s, int(m.sum()), float((fcr_b[m] == 1).mean()), float((fcr_a[m] == 1).mean())])

score = np.log2(eff_b / eff_a)
diff = eff_b - eff_a
q = np.nonzero(valid & (eff_b != eff_a))[0]
improved = sorted([i for i in q if score[i] > 0], key=lambda i: (-score[i], -diff[i], i))[:top]
regressed = sorted([i for i in q if score[i] < 0], key=lambda i: (score[i], diff[i], i))[:top]
shown = lambda r: None if r == 0 or r > cap else int(r)


def pair_counts(idx):
    counts = {}
    first = {}
    for i in np.nonzero(valid)[0]:
        nb = int(idx[i, 0])
        if nb < 0 or labels[nb] == labels[i]:
            continue
        key = tuple(sorted([labels[i], labels[nb]]))
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, (int(i), nb))
    return counts, first


after_counts, first = pair_counts(idx_a)
before_counts, _ = pair_counts(idx_b)
pairs = sorted(after_counts, key=lambda k: (-after_counts[k], -before_counts.get(k, 0), k))[:top]

print(json.dumps({
    "num_queries": int(valid.sum()),
    "recall_at_1": [float((fcr_b[valid] == 1).mean()), float((fcr_a[valid] == 1).mean())],
    "super_classes": per_class,
    "improved": [[int(i), shown(fcr_b[i]), shown(fcr_a[i])] for i in improved],
    "regressed": [[int(i), shown(fcr_b[i]), shown(fcr_a[i])] for i in regressed],
    "pairs": [[k[0], k[1], after_counts[k], before_counts.get(k, 0), list(first[k])] for k in pairs],
}))
