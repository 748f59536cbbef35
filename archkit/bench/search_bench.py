"""`archkit bench search`: is the search worth it, and is it cheap? Measured on digits, CPU.

1. Per-trial overhead: everything a trial does outside `archkit.train` (sampling, budget filling,
   validation, profiling, storage writes) as a share of the trial's wall time.
2. Search vs random sampling vs the uniform-scaling reference: best feasible val top-1 at equal
   trial counts, over several seeds (the reference is trial 0 of every study).
3. Ranking fidelity: Kendall's tau between the study's short-training accuracies and a 3x longer
   training of a sample of its candidates.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import yaml

BENCH_CONFIG = {
    "base": "googlenet-32",
    "space": {
        "stage_width": [0.5, 1.5],
        "depth": {"stage3": [1, 3], "stage4": [1, 5], "stage5": [1, 2]},
        "factorize_5x5": True,
        "divisor": 4,
    },
    "budget": {"ops": "20M", "params": "600K"},
    "data": "digits",
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05, "warmup_epochs": 0.5},
    "pruner": "none",  # equal training per trial, so the comparison is of the samplers alone
}


def _kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b (ties counted as neither concordant nor discordant)."""
    n = len(a)
    concordant = discordant = ties_a = ties_b = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denom = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    return (concordant - discordant) / denom if denom else 0.0


def _longer(recipe: dict, factor: int = 3) -> dict:
    """The same recipe trained `factor` times longer (epochs, or steps where the recipe counts steps)."""
    key = "steps" if "steps" in recipe else "epochs"
    return dict(recipe, **{key: recipe.get(key, 1) * factor})


def _study(folder: Path, name: str, sampler: str, seed: int, trials: int, recipe: dict):
    from ..search.config import load_search_config
    from ..search.runner import run_worker

    config = dict(BENCH_CONFIG, name=name, sampler=sampler, seed=seed, trials=trials, train=recipe)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    loaded = load_search_config(path)
    location = str(folder / f"{name}.journal")
    run_worker(loaded, location, name, progress=False)
    from ..search.export import load_study

    study, _ = load_study(name, location)
    return study


def _best(study, include_reference: bool = True) -> float:
    accs = [t.user_attrs["val_top1"] for t in study.trials
            if t.state.name == "COMPLETE" and t.user_attrs.get("feasible") and t.user_attrs.get("trained")
            and (include_reference or not t.user_attrs.get("reference"))]
    return max(accs) if accs else float("nan")


def run(trials: int = 12, seeds: int = 5, tau_sample: int = 10, recipe: dict | None = None) -> dict:
    """Run the benchmark; `recipe` replaces the per-trial training recipe (tests use a few steps)."""
    import optuna

    from .. import spec_from_yaml, train

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    recipe = dict(recipe or BENCH_CONFIG["train"])
    started = time.perf_counter()
    rows = []
    overheads = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        studies = {}
        for seed in range(seeds):
            for sampler in ("tpe", "random"):
                study = _study(folder, f"{sampler}{seed}", sampler, seed, trials, recipe)
                studies[(sampler, seed)] = study
                reference = next(t for t in study.trials if t.user_attrs.get("reference"))
                rows.append({"sampler": sampler, "seed": seed, "best": _best(study),
                             "best_searched": _best(study, include_reference=False),
                             "reference": reference.user_attrs.get("val_top1")})
                for t in study.trials:
                    a = t.user_attrs
                    if t.state.name == "COMPLETE" and "train_call_seconds" in a and t.datetime_complete:
                        total = (t.datetime_complete - t.datetime_start).total_seconds()
                        overheads.append({"total": total, "overhead": total - a["train_call_seconds"]})
        # Ranking fidelity on the first TPE study's trained candidates.
        study = studies[("tpe", 0)]
        trained = [t for t in study.trials if t.state.name == "COMPLETE" and t.user_attrs.get("trained")
                   and "duplicate_of" not in t.user_attrs][:tau_sample]
        longer = _longer(recipe)
        short, long, sample = [], [], []
        for t in trained:
            result = train(spec_from_yaml(t.user_attrs["spec"]), data="digits", seed=t.number, **longer)
            short.append(t.user_attrs["val_top1"])
            long.append(result.val_top1)
            sample.append({"trial": t.number, "reference": bool(t.user_attrs.get("reference")),
                           "widths": t.user_attrs.get("widths", ""), "short": short[-1], "long": long[-1]})
    share = sum(o["overhead"] for o in overheads) / sum(o["total"] for o in overheads) if overheads else float("nan")
    return {
        "date": time.strftime("%Y-%m-%d"),
        "trials_per_study": trials,
        "seeds": seeds,
        "studies": rows,
        "overhead_share": share,
        "overhead_seconds_median": statistics.median(o["overhead"] for o in overheads) if overheads else None,
        "trial_seconds_median": statistics.median(o["total"] for o in overheads) if overheads else None,
        "tau": _kendall_tau(short, long) if len(short) > 1 else float("nan"),
        "tau_sample": sample,
        "recipe": recipe,
        "bench_seconds": time.perf_counter() - started,
    }


def print_results(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"archkit bench search — digits, googlenet-32 under 20M ops / 600K params, "
                        f"{r['trials_per_study']} trials per study, {r['date']}", title_justify="left")
    for col in ("sampler", "seed", "best val top-1 (incl. reference)", "best searched", "uniform reference"):
        table.add_column(col, justify="right" if col != "sampler" else "left")
    for row in r["studies"]:
        table.add_row(row["sampler"], str(row["seed"]), f"{row['best']:.4f}", f"{row['best_searched']:.4f}",
                      f"{row['reference']:.4f}" if row["reference"] is not None else "")
    console.print(table)
    for sampler in ("tpe", "random"):
        best = [row["best_searched"] for row in r["studies"] if row["sampler"] == sampler]
        console.print(f"{sampler}: mean best searched val top-1 {statistics.mean(best):.4f} over {len(best)} seeds")
    refs = [row["reference"] for row in r["studies"] if row["reference"] is not None]
    if refs:
        console.print(f"uniform-scaling reference: mean {statistics.mean(refs):.4f}")
    console.print(f"per-trial overhead (all but archkit.train): {r['overhead_share']:.2%} of trial time "
                  f"(median {r['overhead_seconds_median']:.2f} s of {r['trial_seconds_median']:.1f} s); target < 2%")
    if r["tau_sample"]:
        fidelity = Table(title="ranking fidelity: the same candidates trained 3x longer", title_justify="left")
        for col in ("trial", "widths (stem | per stage)", "short", "3x longer"):
            fidelity.add_column(col, justify="left" if col.startswith("widths") else "right")
        for row in r["tau_sample"]:
            label = f"{row['trial']}" + (" (reference)" if row["reference"] else "")
            fidelity.add_row(label, row["widths"], f"{row['short']:.4f}", f"{row['long']:.4f}")
        console.print(fidelity)
    console.print(f"Kendall's tau-b, {len(r['tau_sample'])} candidates, short vs 3x training: {r['tau']:.2f}")
    console.print(f"bench took {r['bench_seconds']:.0f} s")
