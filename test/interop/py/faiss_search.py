"""FAISS's search over a vembed index folder.

usage: faiss_search.py INDEX_DIR QUERY.npy K
Loads INDEX_DIR/embeddings.npy into IndexFlatIP (the vectors are already unit
length; checked) and searches with the L2-normalised query. Prints the
neighbours' row numbers and scores as JSON.
"""
import json
import sys

import faiss
import numpy as np

vectors = np.load(f"{sys.argv[1]}/embeddings.npy").astype(np.float32)
norms = np.linalg.norm(vectors, axis=1)
assert np.abs(norms - 1).max() < 1e-5, f"embeddings.npy rows are not unit length (norms {norms.min()}..{norms.max()})"
query = np.load(sys.argv[2]).astype(np.float32)
query /= np.linalg.norm(query, axis=1, keepdims=True)
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(vectors)
scores, rows = index.search(query, int(sys.argv[3]))
print(json.dumps({"rows": rows.tolist(), "scores": scores.tolist(), "ntotal": int(index.ntotal)}))
