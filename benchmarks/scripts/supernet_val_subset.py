"""Would scoring candidates on a subset of the val split make a supernet search cheaper without
changing its ranking? (benchmarks/README.md, "`archkit bench proxy` with the supernet").

Usage: python benchmarks/scripts/supernet_val_subset.py CONFIG N OUT.json
CONFIG: a search config with `proxy: supernet` whose supernet is trained. N random budget-filled
candidates of its space (bench proxy's sampler) are sliced, their batch norms recalibrated as the
proxy does, and each one's per-image correctness recorded on the full val split; then stratified
subsets (n/10 images per class, 50 draws per size) are scored from those records: Kendall's tau of
the subset's top-1 against the full val's, the top-10 overlap, and tau between two disjoint subsets
of the same size (the split-half reliability of the score itself).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from archkit.bench.proxy_bench import sample_candidates
from archkit.search.loader import load_search_config
from archkit.supernet.proxy import open_scorer

SIZES = (500, 1000, 2000, 3000)
DRAWS = 50


def record(config: str, n: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    loaded = load_search_config(Path(config))
    scorer = open_scorer(loaded)
    candidates, _ = sample_candidates(loaded, n)
    labels = torch.cat([y for _, y in scorer.batches.val()]).numpy()
    rows, seconds = [], []
    for c in candidates:
        started = time.perf_counter()
        model = scorer.scorer.calibrated(c["spec"])
        with torch.no_grad():
            rows.append(torch.cat([model(x).argmax(1) == y for x, y in scorer.batches.val()]).numpy())
        seconds.append(time.perf_counter() - started)
    return labels, np.array(rows, dtype=float), seconds


def analyse(labels: np.ndarray, correct: np.ndarray, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    full = correct.mean(1)

    def stratified(n: int) -> np.ndarray:
        return np.concatenate([rng.choice(np.flatnonzero(labels == c), n // 10, replace=False)
                               for c in np.unique(labels)])

    top10, top5 = set(np.argsort(-full)[:10]), set(np.argsort(-full)[:5])
    out = []
    for n in SIZES:
        taus, overlap, best, halves = [], [], [], []
        for _ in range(DRAWS):
            sub = correct[:, stratified(n)].mean(1)
            taus.append(kendalltau(sub, full).statistic)
            overlap.append(len(top10 & set(np.argsort(-sub)[:10])))
            best.append(int(np.argmax(sub)) in top5)
            both = stratified(min(2 * n, len(labels)))
            rng.shuffle(both)
            halves.append(kendalltau(correct[:, both[:n]].mean(1), correct[:, both[n:2 * n]].mean(1)).statistic)
        out.append({"images": n, "tau_vs_full_mean": float(np.mean(taus)), "tau_vs_full_min": float(np.min(taus)),
                    "top10_overlap_mean": float(np.mean(overlap)), "best_in_full_top5": float(np.mean(best)),
                    "split_half_tau_mean": float(np.mean(halves))})
    return out


if __name__ == "__main__":
    config, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    labels, correct, seconds = record(config, n)
    full = correct.mean(1)
    result = {"config": config, "candidates": len(full), "val_images": len(labels),
              "full_val_top1": {"min": float(full.min()), "median": float(np.median(full)), "max": float(full.max())},
              "seconds_per_candidate_median": float(np.median(seconds)), "subsets": analyse(labels, correct)}
    Path(path).write_text(json.dumps(result, indent=1))
    print(json.dumps(result["subsets"], indent=1))
