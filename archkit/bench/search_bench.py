"""`archkit bench search`: does the search beat the trivial baseline, and is it cheap? digits, CPU.

At each budget and for each study seed, two studies of the same space get the same compute (the
same number of trials, each trained with the same short recipe): one with the default sampler,
one with plain random sampling (no warm-start priors). Each study's best candidate (by validation accuracy) and the
uniform-scaling reference are then confirmed: retrained from scratch with several seeds under the
final recipe and scored on the test split, which the search never saw. Per budget:

- the default sampler's win rate over uniform scaling: the share of study seeds whose confirmation
  says "better" (Welch's 95% interval above zero), and how often it says "worse";
- its win rate over random sampling: the share of study seeds whose confirmed best has the higher
  mean test top-1 (ties count half);
- the mean gain over uniform scaling with a 95% t interval across study seeds;
- the short proxy's rank fidelity: Kendall's tau-b (scipy) between the search's validation
  accuracy and the final recipe's mean validation accuracy, pooled over confirmed candidates;
- the per-trial overhead: what a trial spends outside `archkit.train`.

With a trained supernet (`supernet=DIR`, issue 24), both studies score their candidates on it
(`proxy: supernet`: hundreds of trials at seconds each, nothing trained) and the head to head of
the samplers is also taken on the search's own score (the supernet's val top-1 of each study's best);
with `per_trial=N`, a third study of today's kind (the default sampler, N candidates each trained
with the config's recipe) runs beside them at the same seed, so that the confirmed answers and the
compute (each study's seconds, the supernet's one-off training) are compared on one machine; with
`rerank=K` the supernet studies train their K best once each before the confirmation takes the best
(`final.rerank`: screening by the supernet, choosing by a short training). One
supernet serves every budget at or below the one it was sized for: `budgets` of five sizes give the
accuracy-vs-cost front from one training; latency budgets ("4ms") keep the supernet's multiply-add
limit beside them (`study_budget`).

With `work=DIR` the studies' journals stay in DIR instead of a temporary folder, and the same call
again resumes an interrupted benchmark: finished trials and confirmation runs are kept (a run of
40-100 minutes per study seed on a CPU need not start over after a stop). A study's search seconds
then count its earlier trials' own durations plus this call's wall time.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from ..search import record as R
from ..search.results import score
from ..util.stats import kendall_tau, t_interval

DEFAULT_CONFIG = Path("studies/demo.yaml")  # whose base, space, data and trial recipe are benchmarked
# What the benchmark takes from the config; name, seed, trials, budget, sampler and final are its own.
TAKEN = ("base", "space", "data", "train", "fill_budget", "latency")
BUDGETS = ("2M", "20M")  # the demo's tight budget and a looser one (multiply-adds)


def budget_of(text: str) -> dict:
    """A budget as the benchmark names it: '2M' -> {"ops": 2000000} (multiply-adds), '4ms' ->
    {"latency_ms": 4.0} (predicted latency on the config's `latency:` device). ValueError if neither."""
    from ..search.numbers import parse_count

    if text.lower().endswith("ms"):
        try:
            ms = float(text[:-2])
        except ValueError:
            raise ValueError(f"expected a latency like 4ms, got {text!r}") from None
        if not 0 < ms < float("inf"):
            raise ValueError(f"a latency budget must be a positive number of ms, got {text!r}")
        return {"latency_ms": ms}
    return {"ops": parse_count(text)}


def study_budget(text: str, supernet_limits: dict | None = None) -> dict:
    """The budget every study of a row runs under: `budget_of(text)`; on a supernet, a latency
    budget keeps the multiply-add (or params) limit the supernet was sized by beside it, for the
    study trained per candidate too (all three then search the same candidates: those the supernet
    holds that meet the latency)."""
    budget = budget_of(text)
    if supernet_limits and "latency_ms" in budget:
        from ..supernet.support import sizing_limits

        budget = {**sizing_limits(supernet_limits), **budget}
    return budget
SAMPLERS = ("default", "random")
PER_TRIAL = "per_trial"  # the study trained per candidate beside a supernet's two (`per_trial=N`)
STUDIES = (*SAMPLERS, PER_TRIAL)  # every study a row may hold, in the order they run and print


def bench_config(path: Path) -> dict:
    """The parts of a search config the benchmark uses (a relative base path made absolute)."""
    from ..spec.yamlio import load_yaml

    data, _ = load_yaml(path.read_text(encoding="utf-8"), str(path))
    taken = {k: data[k] for k in TAKEN if k in data}
    base = str(taken.get("base", ""))
    if base.endswith((".yaml", ".yml")) and not Path(base).is_absolute():
        taken["base"] = str((path.parent / base).resolve())
    # equal training per trial, so the comparison is of the samplers alone
    return {**taken, "pruner": "none"}


def _config(base: dict, name: str, sampler: str, seed: int, trials: int, budget: dict, recipe: dict,
            final: dict, supernet: Path | None = None) -> dict:
    config = dict(base, name=name, seed=seed, trials=trials, train=recipe, budget=budget, final=final)
    if supernet is not None and sampler != PER_TRIAL:
        config.update(proxy="supernet", supernet=str(Path(supernet).resolve()))
    if sampler == "random":
        # plain random sampling: no structured priors either (the default keeps archkit's warm start)
        config.update(sampler=sampler, warm_start=False)
    return config


def _run_study(folder: Path, config: dict, train):
    """Run (or resume, where `folder` holds its journal) one study; returns the loaded config, the
    study, its search seconds (earlier runs' finished trials' own durations plus this run's wall)
    and whether it resumed."""
    from ..search.export import load_study
    from ..search.loader import load_search_config
    from ..search.runner import run_worker

    path = folder / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    loaded = load_search_config(path)
    location = str(folder / f"{config['name']}.journal")
    earlier = 0.0
    if Path(location).exists():
        before, _ = load_study(config["name"], location)
        earlier = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in before.trials
                      if t.datetime_complete is not None and t.datetime_start is not None)
    started = time.perf_counter()
    run_worker(loaded, location, config["name"], progress=False, train=train)
    seconds = earlier + time.perf_counter() - started
    study, _ = load_study(config["name"], location)
    return loaded, study, seconds, earlier > 0


# The settings a work folder was started with: resuming with others would mix two benchmarks.
WORK_FILE = "bench.json"
# The confirmation retrainings a work folder's benchmark has made (SameRunsOnce's store).
RETRAININGS = "retrainings.jsonl"


class WorkError(ValueError):
    """A work folder that holds another benchmark's studies."""


@contextlib.contextmanager
def _work_folder(work: Path | None, settings: dict):
    """`work` (created, checked against the settings it was started with), or a temporary folder."""
    if work is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield Path(tmp)
        return
    work.mkdir(parents=True, exist_ok=True)
    marker = work / WORK_FILE
    settings = json.loads(json.dumps(settings, default=str))  # as it reads back
    if marker.exists():
        try:
            before = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkError(f"--work {work}: {marker.name} cannot be read ({exc}); give a new folder") from None
        differs = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if differs:
            raise WorkError(f"--work {work} holds a benchmark run with other settings ({', '.join(differs)}); "
                            f"give a new folder, or the same options as before")
    else:
        marker.write_text(json.dumps(settings, indent=1, sort_keys=True), encoding="utf-8")
    yield work


class SameRunsOnce:
    """`archkit.train` that trains a network once per (architecture, data, seed, recipe): a
    confirmation that retrains a network another study of the same seed already retrained with the
    same seeds (the reference, the same network in every study of a seed: the base scaled to the
    budget; a best two studies both found) reuses its result, which a second training would
    reproduce (same seed, same data order and initialization). The trials' trainings
    (no test score) are never shared: each study pays for its own search. With `store` (a JSON-lines
    file in the benchmark's work folder) the results outlive the process: a resumed benchmark does
    not retrain the reference its stopped run already retrained for the seed's first study."""

    # what a confirmation reads of a result (archkit.search.confirm), all a stored one keeps
    KEPT = ("val_top1", "val_top5", "test_top1", "test_top5", "split_sizes")

    def __init__(self, train, store: Path | None = None):
        self.train = train
        self.results: dict[str, object] = {}
        self.reused = 0
        self.store = store
        if store is not None and store.is_file():
            from types import SimpleNamespace

            for line in store.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self.results[record["key"]] = SimpleNamespace(**record["result"])

    def __call__(self, spec, **kwargs):
        import json

        if not kwargs.get("score_test"):
            return self.train(spec, **kwargs)
        network = {k: v for k, v in spec.to_dict().items() if k not in ("name", "description", "source")}
        key = json.dumps([network, {k: v for k, v in kwargs.items() if k != "on_epoch"}], sort_keys=True,
                         default=str)
        if key in self.results:
            self.reused += 1
            return self.results[key]
        result = self.results[key] = self.train(spec, **kwargs)
        if self.store is not None:
            kept = {k: getattr(result, k, None) for k in self.KEPT}
            with self.store.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"key": key, "result": kept}) + "\n")
        return result


def supernet_facts(directory: Path) -> dict:
    """What the benchmark records of the supernet it searches on: its folder, the budget it was sized
    for, its training's steps, epochs and seconds (all sessions), and the machine-independent size of
    its plan."""
    from ..supernet import checkpoint as ckpt

    payload = ckpt.load(directory)
    if payload is None:
        raise ValueError(f"no supernet in {directory} (train it first: archkit supernet train CONFIG -o {directory})")
    history = payload.get("history") or [{}]
    return {"directory": str(directory), "limits": payload.get("limits"), "step": payload.get("step"),
            "epochs": history[-1].get("epoch"), "seconds": float(payload.get("seconds", 0.0)),
            "down_to": payload.get("down_to_text"),
            "largest_val_top1": history[-1].get("val_top1"),
            "smallest_val_top1": history[-1].get("val_top1_smallest")}


def _overheads(study) -> list[dict]:
    out = []
    for t in study.trials:
        a = t.user_attrs
        if t.state.name == "COMPLETE" and R.TRAIN_CALL_SECONDS in a and t.datetime_complete:
            total = (t.datetime_complete - t.datetime_start).total_seconds()
            out.append({"total": total, "overhead": total - a[R.TRAIN_CALL_SECONDS]})
    return out


def run(budgets: tuple[str, ...] = BUDGETS, seeds: int = 10, trials: int = 12, final_seeds: int = 3,
        final_epochs: int | None = None, recipe: dict | None = None, train=None, progress=None,
        config: Path = DEFAULT_CONFIG, first_seed: int = 0, supernet: Path | None = None,
        per_trial: int | None = None, rerank: int | None = None, work: Path | None = None) -> dict:
    """Run the benchmark on `config`'s base, space, data and recipe, for study seeds `first_seed`,
    `first_seed + 1`, ... (`seeds` of them; parts run apart are joined by `merge`). `recipe` replaces
    the per-trial recipe (tests use a few steps) and `final_epochs` the final one (default: 3x the
    trial's); `train` replaces `archkit.train`. With `supernet` (a trained supernet's folder for this
    config's space) the two studies score on it, `per_trial` adds a study of that many trained
    candidates beside them, and `rerank` K trains the supernet studies' K best once each with the
    trials' recipe before the confirmation takes the best of them (`final.rerank`; its trainings
    count as search compute: `rerank_seconds`, in `search_seconds`). `work`: keep the studies there
    and resume them (see the module's docstring)."""
    import optuna

    from ..search.confirm import ConfirmError, confirm
    from ..search.runner import _default_train

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    train = SameRunsOnce(train or _default_train, store=Path(work) / RETRAININGS if work is not None else None)
    base = bench_config(Path(config))
    facts = supernet_facts(Path(supernet)) if supernet is not None else None
    kinds = (*SAMPLERS, PER_TRIAL) if supernet is not None and per_trial else SAMPLERS
    recipe = dict(recipe or base.get("train") or {})
    final = {"top": 1, "seeds": final_seeds}
    if final_epochs is not None:
        final["epochs"] = final_epochs
    started = time.perf_counter()
    rows, overheads, chosen_sampler = [], [], None
    settings = {"config": str(config), "base": base, "recipe": recipe, "final": final, "trials": trials,
                "supernet": str(supernet) if supernet is not None else None, "per_trial": per_trial,
                "rerank": rerank}
    with _work_folder(Path(work) if work is not None else None, settings) as folder:
        for budget in budgets:
            for seed in range(first_seed, first_seed + seeds):
                verdicts, studies, unconfirmed, seconds, resumed = {}, {}, {}, {}, []
                for sampler in kinds:
                    name = f"b{budget}-{sampler}-{seed}"
                    count = per_trial if sampler == PER_TRIAL else trials
                    shortlist = rerank if supernet is not None and sampler != PER_TRIAL else None
                    study_config = _config(base, name, sampler, seed, count,
                                           study_budget(budget, facts and facts["limits"]), recipe,
                                           {**final, "rerank": shortlist} if shortlist else final, supernet)
                    loaded, study, seconds[sampler], again = _run_study(folder, study_config, train)
                    if again:
                        resumed.append(sampler)
                    studies[sampler] = study
                    overheads += _overheads(study)
                    if sampler == "default":
                        chosen_sampler = study.user_attrs.get("sampler", loaded.config.sampler)
                    try:
                        verdicts[sampler] = confirm(study, loaded.config, loaded.config.final, train)
                    except ConfirmError as exc:
                        # e.g. uniform scaling cannot meet the budget: this seed has no comparison,
                        # which is recorded and said, not averaged in, and the benchmark goes on.
                        unconfirmed[sampler] = str(exc)
                    if progress:
                        v = verdicts.get(sampler)
                        result = (f"{v['conclusion']} ({100 * v['delta']:+.1f} points)" if v
                                  else f"not confirmed: {unconfirmed[sampler]}")
                        progress(f"{budget} seed {seed} {sampler}: {result}, {time.perf_counter() - started:.0f} s")
                # `resumed`: the studies that continued a stopped run's trials (`work`)
                extra = {"resumed": resumed} if resumed else {}
                if unconfirmed:
                    rows.append({"budget": budget, "seed": seed, "unconfirmed": unconfirmed, **extra})
                else:
                    rows.append({"budget": budget, "seed": seed,
                                 **{s: _row(studies[s], verdicts[s], seconds[s]) for s in kinds}, **extra})
    results = _results(
        rows, budgets=list(budgets), trials=trials, final_seeds=final_seeds, recipe=recipe,
        default_sampler=chosen_sampler, overheads=overheads, bench_seconds=time.perf_counter() - started,
        config={"path": str(config), **base, "train": recipe, "final": final})
    results["confirmations_reused"] = train.reused
    results["machine"] = _machine()
    if facts is not None:
        results["supernet"] = facts
        results["per_trial_trials"] = per_trial
        results["rerank"] = rerank
    return results


def _machine() -> dict:
    """The CPU and torch threads this part ran with (its seconds mean nothing without them)."""
    import torch

    from .machine import cpu_name

    return {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def _results(rows: list[dict], *, budgets: list[str], trials: int, final_seeds: int, recipe: dict,
             default_sampler: str | None, overheads: list[dict], bench_seconds: float, config: dict) -> dict:
    share = sum(o["overhead"] for o in overheads) / sum(o["total"] for o in overheads) if overheads else float("nan")
    return {
        "date": time.strftime("%Y-%m-%d"),
        "budgets": budgets,
        "seeds": sorted({r["seed"] for r in rows}),
        "trials_per_study": trials,
        "final_seeds": final_seeds,
        "recipe": recipe,
        "final_recipe": next((r["default"]["recipe"] for r in rows if "default" in r), None),
        "default_sampler": default_sampler,
        "rows": rows,
        "summary": {b: summarize([r for r in rows if r["budget"] == b]) for b in budgets},
        "overhead_share": share,
        "overhead_seconds_median": statistics.median(o["overhead"] for o in overheads) if overheads else None,
        "trial_seconds_median": statistics.median(o["total"] for o in overheads) if overheads else None,
        "trial_times": overheads,  # seconds per trial: all of it, and what it spent outside archkit.train
        "bench_seconds": bench_seconds,
        "config": config,
    }


# What must agree between parts of one benchmark for `merge` to join them.
SAME_IN_PARTS = ("trials_per_study", "final_seeds", "recipe", "final_recipe", "config", "per_trial_trials",
                 "rerank")
# ... and of the supernet they searched on: the same one (its folder, budget and training steps).
SAME_SUPERNET = ("directory", "limits", "step")


class MergeError(ValueError):
    """Parts that are not one benchmark: different settings, or a study seed run twice."""


def merge(parts: list[dict], names: list[str] | None = None) -> dict:
    """Join benchmark results run apart (other study seeds or budgets of the same settings, e.g. on
    several machines, `run(first_seed=...)`) into one, its summary computed over all rows. `names`
    (e.g. the files) name the parts in errors."""
    if not parts:
        raise MergeError("nothing to merge")
    names = names or [f"part {i}" for i in range(1, len(parts) + 1)]
    first = parts[0]
    for name, part in zip(names[1:], parts[1:], strict=True):
        for key in SAME_IN_PARTS:
            if part.get(key) != first.get(key):
                raise MergeError(f"{name} differs from {names[0]} in {key!r}: not the same benchmark")
        nets = [{k: (x.get("supernet") or {}).get(k) for k in SAME_SUPERNET} for x in (first, part)]
        if nets[0] != nets[1]:
            raise MergeError(f"{name} differs from {names[0]} in its supernet ({nets[1]} vs {nets[0]}): not the same "
                             f"benchmark")
    rows, seen = [], set()
    for name, part in zip(names, parts, strict=True):
        for r in part["rows"]:
            if (r["budget"], r["seed"]) in seen:
                raise MergeError(f"{name}: budget {r['budget']} seed {r['seed']} is in an earlier part too")
            seen.add((r["budget"], r["seed"]))
            rows.append(r)
    budgets = list(dict.fromkeys(b for p in parts for b in p["budgets"]))
    rows.sort(key=lambda r: (budgets.index(r["budget"]), r["seed"]))
    merged = _results(rows, budgets=budgets, trials=first["trials_per_study"], final_seeds=first["final_seeds"],
                      recipe=first["recipe"], default_sampler=first.get("default_sampler"),
                      overheads=[o for p in parts for o in p.get("trial_times", [])],
                      bench_seconds=sum(p["bench_seconds"] for p in parts), config=first["config"])
    merged["date"] = max(p["date"] for p in parts)
    merged["parts"] = len(parts)
    merged["confirmations_reused"] = sum(p.get("confirmations_reused", 0) for p in parts)
    # where each part ran (parts of one benchmark may run on other machines: say so, do not hide it)
    merged["machines"] = [json.loads(m) for m in sorted({json.dumps(p["machine"], sort_keys=True)
                                                         for p in parts if p.get("machine")})]
    for key in ("supernet", "per_trial_trials", "rerank"):
        if key in first:
            merged[key] = first[key]
    return merged


def _row(study, verdict: dict, seconds: float | None = None) -> dict:
    """One study's result: its best (search and confirmed), the reference's, the proxy pairs, and
    the search's wall seconds (every trial, the supernet's loading; not the confirmation).
    `search_val` is the trial's score in the search (`results.score`): val top-1 after the short
    recipe, or the supernet's val top-1 for a study on the supernet."""
    best, ref = verdict["best"], verdict["reference"]
    pairs = [{"trial": c["trial"], "search_val": score(study.trials[c["trial"]]),
              "final_val": statistics.mean(c["val_top1"])} for c in (ref, *verdict["candidates"])]
    found = study.trials[best["trial"]]
    reranked = verdict.get("rerank") or []
    rerank_seconds = sum(r["seconds"] for r in reranked)
    return {"best_trial": best["trial"], "widths": R.widths_text(R.read_widths(found.user_attrs.get(R.WIDTHS))),
            "search_val": score(found),
            "best_test": statistics.mean(best["test_top1"]), "reference_test": statistics.mean(ref["test_top1"]),
            "delta": verdict["delta"], "ci95": verdict["ci95"], "conclusion": verdict["conclusion"],
            "recipe": verdict["recipe"], "proxy_pairs": pairs,
            "trials": len(study.trials),
            "search_seconds": None if seconds is None else seconds + rerank_seconds,
            "rerank": len(reranked), "rerank_seconds": rerank_seconds,
            # candidates scored or trained (a sampler that proposes a network again gets its score for free)
            "distinct": sum(1 for t in study.trials if R.DUPLICATE_OF not in t.user_attrs),
            # the confirmed best itself, to train longer or profile (`archkit train best.yaml`)
            "spec": found.user_attrs.get(R.SPEC)}


def summarize(rows: list[dict]) -> dict:
    """Win rates, the mean gain with its interval, and the proxy's tau over one budget's rows.
    Seeds that could not be confirmed (`unconfirmed`: no feasible reference, nothing trained) are
    counted apart and left out of the rates and means."""
    if not rows:
        return {}
    skipped = [r for r in rows if "unconfirmed" in r]
    rows = [r for r in rows if "unconfirmed" not in r]
    out = {"studies": len(rows), "unconfirmed": len(skipped)}
    if not rows:
        return out
    n = len(rows)
    kinds = [k for k in STUDIES if all(k in r for r in rows)]
    for s in kinds:
        deltas = [r[s]["delta"] for r in rows]
        mean, lo, hi = t_interval(deltas)
        out[s] = {"better": sum(r[s]["conclusion"] == "better" for r in rows) / n,
                  "worse": sum(r[s]["conclusion"] == "worse" for r in rows) / n,
                  "gain": mean, "gain_ci95": [lo, hi]}
    wins = sum(1.0 if r["default"]["best_test"] > r["random"]["best_test"] else
               0.5 if r["default"]["best_test"] == r["random"]["best_test"] else 0.0 for r in rows)
    out["default_over_random"] = wins / n
    # on the search's own score (the supernet's, when the studies score on one): the samplers alone
    out["default_over_random_search"] = _wins(rows, "default", "random", "search_val")
    if PER_TRIAL in kinds:
        out["default_over_per_trial"] = _wins(rows, "default", PER_TRIAL, "best_test")
        out["search_seconds"] = {k: sum(r[k].get("search_seconds") or 0.0 for r in rows) / n for k in kinds}
    pairs = [p for r in rows for s in SAMPLERS for p in r[s]["proxy_pairs"]]
    # the reference appears in both studies of a seed with the same numbers: count it once
    unique = {(r["seed"], p["trial"], round(p["search_val"], 9), round(p["final_val"], 9))
              for r in rows for s in SAMPLERS for p in r[s]["proxy_pairs"]}
    out["proxy_tau"] = kendall_tau([u[2] for u in unique], [u[3] for u in unique]) if len(unique) > 1 else None
    out["proxy_pairs"] = len(unique) if pairs else 0
    return out


def _wins(rows: list[dict], a: str, b: str, key: str) -> float:
    """The share of rows where study `a`'s `key` is above study `b`'s (ties count half)."""
    return sum(1.0 if r[a][key] > r[b][key] else 0.5 if r[a][key] == r[b][key] else 0.0 for r in rows) / len(rows)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:+.1f}"


def print_results(r: dict) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    # Wide enough for every column when written to a log or a pipe (rich assumes 80 columns then).
    console = Console(width=None if sys.stdout.isatty() else 180)
    net = r.get("supernet")
    scored = f" on the supernet {net['directory']}" if net else ""
    table = Table(title=f"archkit bench search — {r['config']['data']}, {r['config']['base']} space of "
                        f"{r['config']['path']}, "
                        f"{r['trials_per_study']} trials per study{scored}, best confirmed with {r['final_seeds']} "
                        f"seeds on test, {r['date']}", title_justify="left")
    for col in ("budget", "seed", "sampler", "best trial", "search val", "best test", "uniform test",
                "gain (points)", "95% CI", "verdict", "search s"):
        table.add_column(col, justify="left" if col in ("sampler", "verdict", "budget") else "right")
    for row in r["rows"]:
        if "unconfirmed" in row:
            reason = "; ".join(f"{s}: {why}" for s, why in row["unconfirmed"].items())
            table.add_row(row["budget"], str(row["seed"]), "both", "", "", "", "", "", "", f"not confirmed ({reason})")
            continue
        for s in (k for k in STUDIES if k in row):
            x = row[s]
            lo, hi = x["ci95"]
            name = {"default": f"default ({r['default_sampler']})",
                    PER_TRIAL: f"per-trial, {r.get('per_trial_trials')} trained"}.get(s, s)
            seconds = x.get("search_seconds")
            table.add_row(row["budget"], str(row["seed"]), name,
                          str(x["best_trial"]), f"{x['search_val']:.4f}", f"{x['best_test']:.4f}",
                          f"{x['reference_test']:.4f}", _pct(x["delta"]),
                          f"{_pct(lo)}..{_pct(hi)}" if lo is not None else "—", x["conclusion"],
                          "" if seconds is None else f"{seconds:.0f}")
    console.print(table)
    summary = Table(title="per budget", title_justify="left")
    for col in ("budget", "studies", "default beats uniform", "default worse", "random beats uniform",
                "default beats random", "(on search score)", "mean gain (points, 95% CI)", "proxy tau (pairs)"):
        summary.add_column(col, justify="left" if col == "budget" else "right")
    for budget, s in r["summary"].items():
        if s.get("unconfirmed"):
            console.print(f"{budget}: {s['unconfirmed']} study seed(s) could not be confirmed (see the rows), "
                          f"left out of the summary")
        if not s or "default" not in s:
            continue
        d = s["default"]
        lo, hi = d["gain_ci95"]
        gain = f"{_pct(d['gain'])} ({_pct(lo)}..{_pct(hi)})" if lo is not None else _pct(d["gain"])
        tau = "—" if s["proxy_tau"] is None else f"{s['proxy_tau']:.2f} ({s['proxy_pairs']})"
        summary.add_row(budget, str(s["studies"]), f"{d['better']:.0%}", f"{d['worse']:.0%}",
                        f"{s['random']['better']:.0%}", f"{s['default_over_random']:.0%}",
                        f"{s.get('default_over_random_search', float('nan')):.0%}", gain, tau)
    if summary.row_count:
        console.print(summary)
    for budget, s in r["summary"].items():
        if PER_TRIAL in s:
            p = s[PER_TRIAL]
            secs = s["search_seconds"]
            console.print(f"{budget}: per-trial search beats uniform in {p['better']:.0%}, mean gain "
                          f"{_pct(p['gain'])}; "
                          f"the supernet search's confirmed best beats the per-trial one's in "
                          f"{s['default_over_per_trial']:.0%}; search seconds per study: supernet default "
                          f"{secs['default']:.0f}, random {secs['random']:.0f}, per-trial {secs[PER_TRIAL]:.0f}")
    if net:
        console.print(f"supernet: sized for {net['limits']}, {net['step']} steps ({net['epochs']} epochs) in "
                      f"{net['seconds']:.0f} s, once for every budget and seed above")
        if r.get("rerank"):
            console.print(f"rerank: each supernet study's {r['rerank']} best trained once with the trials' recipe, "
                          f"the best of them confirmed (their training is in the search seconds)")
    if r.get("confirmations_reused"):
        console.print(f"{r['confirmations_reused']} confirmation runs reused (the same network, seed and recipe "
                      f"already retrained in another study of the seed)")
    if r.get("overhead_seconds_median") is not None:
        console.print(f"per-trial overhead (all but archkit.train): {r['overhead_share']:.2%} of trial time "
                      f"(median {r['overhead_seconds_median']:.2f} s of {r['trial_seconds_median']:.1f} s); "
                      f"target < 2%")
    console.print(f"bench took {r['bench_seconds']:.0f} s")
