"""Do two supernets trained alike (same config, other seeds) rank candidates alike? And does the mean
of several rank them better than one? (benchmarks/README.md, "`archkit bench proxy` with the supernet").

Usage: python benchmarks/scripts/supernet_agreement.py CANDIDATES.json OUT.json CONFIG:DIR [CONFIG:DIR ...]
CANDIDATES.json: an `archkit bench proxy` result (its candidates' specs and ground truth, the mean
val top-1 after the final recipe). Each CONFIG:DIR is a search config with `proxy: supernet` and a
supernet trained from it (`archkit supernet train CONFIG -o DIR`; the config's `seed:` seeds the
training). Every candidate is scored on every supernet as the proxy scores it (slice, batch norm
recalibrated on 8 training batches, val top-1); printed: each supernet's Kendall tau against the
ground truth, every pair's tau with each other, and the tau of the mean of n supernets' standardized
scores for every n (over all combinations).
"""
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from archkit.search.loader import load_search_config
from archkit.spec.loader import spec_from_yaml
from archkit.supernet.proxy import SupernetScorer


def main(candidates_path: str, out: str, pairs: list[str]) -> dict:
    d = json.loads(Path(candidates_path).read_text())
    truth = np.array([c["ground_truth"] for c in d["candidates"]])
    scores = {}
    for pair in pairs:
        config, directory = pair.split(":", 1)
        scorer = SupernetScorer(load_search_config(Path(config)), Path(directory))
        scores[directory] = [scorer(spec_from_yaml(c["spec"])) for c in d["candidates"]]
    z = {k: (np.array(v) - np.mean(v)) / np.std(v) for k, v in scores.items()}
    tau = lambda a, b: float(kendalltau(a, b).statistic)  # noqa: E731
    result = {"candidates": candidates_path, "scores": scores, "truth": truth.tolist(),
              "vs_truth": {k: tau(v, truth) for k, v in z.items()},
              "pairs": [{"a": a, "b": b, "tau": tau(z[a], z[b])} for a, b in itertools.combinations(z, 2)],
              "mean_of_n": []}
    for n in range(1, len(z) + 1):
        taus = [tau(sum(z[k] for k in combo), truth) for combo in itertools.combinations(z, n)]
        result["mean_of_n"].append({"n": n, "tau_mean": float(np.mean(taus)), "tau_min": float(np.min(taus)),
                                    "tau_max": float(np.max(taus)), "combinations": len(taus)})
    Path(out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    r = main(sys.argv[1], sys.argv[2], sys.argv[3:])
    print(json.dumps({k: r[k] for k in ("vs_truth", "pairs", "mean_of_n")}, indent=1))
