"""Peer for exact vector top-10: numpy brute force (matrix @ query, argpartition, sort of the 10)
over the same 100,000 x 384 float32 matrix and queries parley-bench-embed wrote.

    numpy_search.py DIR      (DIR holds matrix.f32, queries.f32, swift-top10.json)
"""
import json
import os
import sys
import time

import numpy as np

d = 384
out = sys.argv[1]
matrix = np.fromfile(os.path.join(out, "matrix.f32"), dtype=np.float32).reshape(-1, d)
queries = np.fromfile(os.path.join(out, "queries.f32"), dtype=np.float32).reshape(-1, d)
swift = json.load(open(os.path.join(out, "swift-top10.json")))


def top10(q):
    scores = matrix @ q
    idx = np.argpartition(-scores, 10)[:10]
    return idx[np.lexsort((idx, -scores[idx]))]


for q in queries[:5]:
    top10(q)
times, same = [], 0
for i, q in enumerate(queries):
    start = time.perf_counter()
    idx = top10(q)
    times.append((time.perf_counter() - start) * 1000)
    same += len(set(idx.tolist()) & set(swift[i]))
times.sort()
pick = lambda p: times[min(len(times) - 1, round((len(times) - 1) * p))]
print(json.dumps({"bench": "vector-top10", "impl": f"numpy {np.__version__} brute force", "rows": len(matrix), "dimensions": d,
                  "queries": len(queries), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "mean_ms": sum(times) / len(times),
                  "agreement_with_parley": same / (10 * len(queries))}, sort_keys=True))
