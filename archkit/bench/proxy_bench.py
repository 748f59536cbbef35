"""`archkit bench proxy`: how faithfully does each proxy rank candidates as the final recipe would?

Candidates are sampled at random from a search config's space (budget filled, as the search fills
it; only feasible, distinct networks kept). The ground truth is each candidate's validation top-1
under the final recipe (the config's recipe trained longer), averaged over seeds. Against it, each
proxy's ranking is scored with Kendall's tau-b (scipy's), a bootstrap 95% percentile interval
(candidates resampled), the same over the top quartile of candidates by ground truth, and the
proxy's cost in seconds per candidate:

- val top-1 after 1, 2 and 4 epochs: separate short runs, each with its own learning-rate schedule
  over its own length, as a search trial of that length would train (a 4-epoch run stopped after
  one epoch is not a 1-epoch trial: its learning rate has barely decayed);
- train_loss: minus the sum of per-epoch training losses of the 2-epoch run (Ru et al. 2020);
- synflow and naswot, zero-cost scores of the untrained network (`archkit.search.proxies`);
- EcoNAS (Zhou et al. 2020): val top-1 after 4 epochs on a quarter of the training data (its own
  run, `train_fraction`), about the cost of the 1-epoch run on all of it;
- params and ops alone, the baselines;
- with `supernets`, each trained weight-sharing supernet of the config (`archkit supernet train`):
  the candidate's slice, batch norm recalibrated on a few training batches, val top-1 (its cost per
  candidate is the slicing, recalibration and evaluation; the supernet's training is a one-off cost,
  recorded apart).

`reuse` takes a previous result of this benchmark on the same config: its candidates, ground truth
and proxy values (with their measured seconds) are taken as they were, so only what is new (a
supernet) is computed and no candidate is trained again.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ArchkitError
from ..util.stats import BOOTSTRAP, bootstrap_tau

PROXY_LENGTHS = (1, 2, 4)  # epochs (steps with --quick) of the short runs behind val_top1@N
TRAIN_LOSS_LENGTH = 2  # the run whose training losses train_loss sums
QUICK = {"candidates": 4, "seeds": 1, "final": 6, "batch_size": 16}
GT_SEED_STRIDE = 1000  # ground-truth seeds: config seed + candidate + 1000 * (s + 1), never a proxy's seed
ECONAS_FRACTION, ECONAS_LENGTH = 0.25, 4  # EcoNAS: more epochs (4) on a fraction (a quarter) of the data
OMITTED: dict[str, str] = {}  # proxies of the issue not measured here, and why (none now)


class BenchError(ArchkitError):
    """A benchmark that cannot run as asked (e.g. too few feasible candidates in the space): one line, exit 2."""


def default_final_epochs(recipe_epochs: int) -> int:
    """The final recipe's length: 3x the search's per-trial epochs, at least 6."""
    return max(6, 3 * recipe_epochs)


# --- statistics: Kendall's tau and its bootstrap interval are archkit.util.stats' ----------------


def top_quartile(truth: list[float]) -> list[int]:
    """Indices of the best quarter (rounded up) of candidates by ground truth."""
    k = math.ceil(len(truth) / 4)
    return sorted(range(len(truth)), key=lambda i: -truth[i])[:k]


# --- candidates ----------------------------------------------------------------------------------


def sample_candidates(loaded, n: int, max_draws: int | None = None) -> tuple[list[dict], dict]:
    """`n` feasible, distinct candidates drawn at random from the config's space, each budget-filled
    as a search trial's would be (see `archkit.search.trial.run_trial`). Returns the candidates
    ({"spec", "measured", "scale", "arch", "params"}) and the draw counts."""
    import optuna

    from ..search.budget import feasible, fill_budget, measure
    from ..search.space import candidate, suggest
    from ..search.trial import arch_key
    from ..spec.loader import spec_from_data

    cfg = loaded.config
    limits = cfg.budget.limits()
    space = cfg.space
    if cfg.fill_budget and limits and space.width is not None:
        space = space.model_copy(update={"width": None})  # budget filling sets the width
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=cfg.seed))
    max_draws = max_draws or 50 * n
    found: list[dict] = []
    seen: set[str] = set()
    counts = {"draws": 0, "infeasible": 0, "duplicates": 0}
    while len(found) < n and counts["draws"] < max_draws:
        trial = study.ask()
        counts["draws"] += 1
        params = suggest(trial, space, loaded.base)
        name = f"{loaded.study_name[:80]}-cand{len(found)}"
        if cfg.fill_budget and limits:
            filled = fill_budget(loaded.base, params, limits, cfg.space.divisor, name)
            spec, measured, scale = filled.spec, filled.measured, filled.scale
        else:
            spec = candidate(loaded.base, params, cfg.space.divisor, 1.0, name)
            measured, scale = measure(spec), 1.0
        spec = spec_from_data(spec.to_dict(), source=name)
        study.tell(trial, 0.0)
        if not feasible(measured, limits):
            counts["infeasible"] += 1
            continue
        key = arch_key(spec)
        if key in seen:
            counts["duplicates"] += 1
            continue
        seen.add(key)
        found.append({"spec": spec, "measured": measured, "scale": scale, "arch": key, "params": params})
    if len(found) < n:
        raise BenchError(f"only {len(found)} feasible, distinct candidates in {counts['draws']} random draws "
                         f"({counts['infeasible']} over budget, {counts['duplicates']} duplicates); "
                         f"ask for fewer --candidates or widen the space or budget")
    return found, counts


# --- training runs, cached -----------------------------------------------------------------------


class RunCache:
    """Finished training runs in a JSON-lines file, keyed by what decides their outcome (network,
    data, recipe, seed), so an interrupted benchmark resumes without retraining. No file: no cache."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self.runs: dict[str, dict] = {}
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self.runs[record["key"]] = record

    @staticmethod
    def key(arch: str, data: str, recipe: dict, seed: int) -> str:
        return json.dumps({"arch": arch, "data": data, "recipe": recipe, "seed": seed}, sort_keys=True)

    def get(self, key: str) -> dict | None:
        return self.runs.get(key)

    def put(self, key: str, record: dict) -> None:
        record = {"key": key, **record}
        self.runs[key] = record
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


def _train_once(train: Callable, cache: RunCache, cand: dict, data: str, recipe: dict, seed: int) -> dict:
    """One training run's numbers (from the cache when it holds the same run): val_top1, the
    per-epoch training losses, wall seconds of the train() call, and `error` if it diverged."""
    from ..search.proxies import train_loss_of
    from ..training import DivergedError

    key = RunCache.key(cand["arch"], data, recipe, seed)
    cached = cache.get(key)
    if cached is not None:
        return {**cached, "cached": True}
    started = time.perf_counter()
    try:
        result = train(cand["spec"], data=data, seed=seed, progress=False, **recipe)
    except DivergedError as exc:
        record = {"val_top1": None, "train_loss": None, "seconds": time.perf_counter() - started,
                  "error": str(exc)}
    else:
        record = {"val_top1": float(result.val_top1), "train_loss": train_loss_of(result),
                  "seconds": time.perf_counter() - started}
    cache.put(key, record)
    return {**record, "cached": False}


def _timed(func: Callable, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - started


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


# --- reusing a previous run, and supernets --------------------------------------------------------

REUSE_CONFIG_KEYS = ("base", "space", "budget", "fill_budget", "data", "seed")


def reused_rows(previous: dict, config: dict, base_recipe: dict, final: int, n_seeds: int, n: int | None,
                quick: bool = False) -> list[dict]:
    """The candidate rows of a previous result of this benchmark, checked to be of the same config
    (base, space, budget, data, seed), final length, seeds and recipe (the keys both name: a newer
    recipe model adds options whose defaults the older run used). The first `n` (all if None)."""
    if previous.get("benchmark") != "proxy" or not isinstance(previous.get("candidates"), list):
        raise BenchError("--reuse: not an `archkit bench proxy` result (no candidates)")
    old = previous["config"]
    for key in REUSE_CONFIG_KEYS:
        if old.get(key) != config.get(key):
            raise BenchError(f"--reuse: the previous run's config.{key} differs "
                             f"({old.get(key)!r} vs {config.get(key)!r})")
    settings = previous["settings"]
    if settings["final_length"] != final or settings["seeds"] != n_seeds or settings["quick"] != quick:
        raise BenchError(f"--reuse: the previous run's ground truth is {settings['seeds']} seed(s) x "
                         f"{settings['final_length']} {settings['unit']}s, this one asks for {n_seeds} x {final} "
                         f"{'step' if quick else 'epoch'}s")
    differing = sorted(k for k in set(settings["recipe"]) & set(base_recipe) if settings["recipe"][k] != base_recipe[k])
    if differing:
        raise BenchError("--reuse: the previous run's recipe differs in " + ", ".join(
            f"{k} ({settings['recipe'][k]!r} vs {base_recipe[k]!r})" for k in differing))
    rows = previous["candidates"]
    if n is not None and n > len(rows):
        raise BenchError(f"--reuse: the previous run has {len(rows)} candidates, {n} asked for")
    return [dict(row) for row in rows[:n]]


def open_supernets(loaded, supernets, epochs: int | None, quick: bool, log) -> list[tuple[dict, object]]:
    """(row, scorer) per supernet entry ({"key", "directory", "calibration"}), training (or
    continuing) each to `epochs` first when given (steps with `quick`)."""
    from pathlib import Path as _Path

    from ..supernet.calibrate import CALIBRATION_BATCHES
    from ..supernet.proxy import SupernetScorer
    from ..supernet.sandwich import train_supernet
    from ..supernet.support import check_expressible

    check_expressible(loaded)
    out = []
    for entry in supernets:
        directory = _Path(entry["directory"])
        trained = None
        if epochs is not None:
            started = time.perf_counter()
            length = {"steps": epochs} if quick else {"epochs": epochs}
            run_ = train_supernet(loaded, directory, **length)
            trained = time.perf_counter() - started
            if log is not None:
                log(f"supernet {directory}: trained to {run_.epochs:g} epochs ({run_.step} steps) in {trained:.0f} s")
        calibration = entry.get("calibration") or CALIBRATION_BATCHES
        scorer, opened = _timed(SupernetScorer, loaded, directory, calibration=calibration)
        last = scorer.history[-1] if scorer.history else {}
        row = {"key": entry["key"], "proxy": "supernet", "directory": str(directory),
               "what": f"val top-1 of the candidate's slice of the supernet in {directory} "
                       f"({last.get('epoch', 0):g} epochs, {last.get('step', 0)} steps of sandwich training), "
                       f"batch norm recalibrated on {calibration} training batches",
               "supernet": {"training_seconds": scorer.seconds, "trained_here_seconds": trained,
                            "epochs": last.get("epoch"), "steps": last.get("step"),
                            "largest_val_top1": last.get("val_top1"),
                            "smallest_val_top1": last.get("val_top1_smallest"),
                            "params": sum(p.numel() for p in scorer.net.parameters()),
                            "slots": len(scorer.plan.slots), "calibration_batches": calibration,
                            "open_seconds": opened, "config": scorer.config.to_dict()}}
        out.append((row, scorer))
    return out


# --- the benchmark -------------------------------------------------------------------------------


def proxy_rows(unit: str, schedule: str, trial_length: int | None = None) -> list[dict]:
    """The proxies measured, in table order: key, registry name (None for the baselines), what.
    `trial_length`: the config's per-trial epochs; that row is what the search scores today."""

    def plural(n: int) -> str:
        return f"{n} {unit}{'s' if n > 1 else ''}"

    rows = [{"key": f"val_top1@{n}", "proxy": "val_top1", "length": n, "search_default": n == trial_length,
             "what": f"val top-1 after {plural(n)} (its own run: {schedule} schedule over {plural(n)})"
                     + ("; the config's trial recipe" if n == trial_length else "")} for n in PROXY_LENGTHS]
    rows.append({"key": "econas", "proxy": "val_top1", "length": ECONAS_LENGTH,
                 "what": f"val top-1 after {plural(ECONAS_LENGTH)} on {ECONAS_FRACTION:.0%} of the training data "
                         f"(EcoNAS, Zhou et al. 2020; its own run: train_fraction {ECONAS_FRACTION})"})
    rows.append({"key": f"train_loss@{TRAIN_LOSS_LENGTH}", "proxy": "train_loss", "length": TRAIN_LOSS_LENGTH,
                 "what": f"minus the summed per-epoch train losses of the {TRAIN_LOSS_LENGTH}-{unit} run "
                         f"(Ru et al. 2020; same run as val_top1@{TRAIN_LOSS_LENGTH})"})
    rows.append({"key": "synflow", "proxy": "synflow", "what": "synflow of the untrained network (Tanaka et al. 2020)"})
    rows.append({"key": "naswot", "proxy": "naswot",
                 "what": "NASWOT log|det K| on a training mini-batch (Mellor et al. 2021)"})
    rows.append({"key": "params", "proxy": None, "what": "weights (Table 1 convention), analytic; baseline"})
    rows.append({"key": "ops", "proxy": None, "what": "multiply-adds, analytic; baseline"})
    return rows


def run(config: str | Path = "studies/demo.yaml", *, candidates: int | None = None, seeds: int | None = None,
        final_epochs: int | None = None, budget_ops: str | None = None, quick: bool = False,
        cache: str | Path | None = None, bootstrap: int = BOOTSTRAP, train: Callable | None = None,
        log: Callable[[str], None] | None = None, supernets: list | None = None,
        supernet_epochs: int | None = None, reuse: str | Path | dict | None = None) -> dict:
    """Run the benchmark on a search config. `quick`: 4 candidates, 1 seed, and every length counted
    in optimizer steps of batch 16 instead of epochs (a smoke test: its numbers mean nothing).
    `train` replaces `archkit.train`; `log` receives one line per candidate. `supernets`: supernet
    folders (or {"key", "directory", "calibration"} entries) to score the candidates on, each
    trained there to `supernet_epochs` first when given. `reuse`: a previous result (file or dict) of
    the same config whose candidates and measurements are taken instead of sampled and trained."""
    import torch

    from ..search.budget import measure
    from ..search.loader import load_search_config
    from ..search.proxies import NASWOT_BATCH, naswot, proxy_batch, synflow
    from ..search.space import describe
    from ..spec.yamlio import dump_yaml
    from .machine import cpu_name

    if train is None:
        from .. import train
    started = time.perf_counter()
    overrides = {"budget.ops": budget_ops} if budget_ops is not None else None
    loaded = load_search_config(config, overrides)
    cfg = loaded.config
    n = candidates if candidates is not None else (QUICK["candidates"] if quick else 30)
    n_seeds = seeds if seeds is not None else (QUICK["seeds"] if quick else 2)
    if n < 2:
        raise BenchError(f"--candidates must be at least 2 (Kendall's tau ranks pairs), got {n}")
    if n_seeds < 1:
        raise BenchError(f"--seeds must be at least 1, got {n_seeds}")
    unit = "step" if quick else "epoch"
    final = final_epochs if final_epochs is not None else (
        QUICK["final"] if quick else default_final_epochs(cfg.train.epochs))
    if final < 1:
        raise BenchError(f"--final-epochs must be at least 1, got {final}")
    base_recipe = cfg.train.model_dump(exclude_none=True)
    base_recipe.pop("steps", None)
    base_recipe.pop("epochs", None)
    if quick:
        base_recipe["batch_size"] = QUICK["batch_size"]

    def recipe(length: int) -> dict:
        return {**base_recipe, ("steps" if quick else "epochs"): length}

    config_record = {"path": str(config), "study": loaded.study_name, "base": cfg.base,
                     "space": cfg.space.model_dump(mode="json", exclude_none=True),
                     "budget": cfg.budget.limits(), "fill_budget": cfg.fill_budget, "data": cfg.data,
                     "train": cfg.train.model_dump(mode="json", exclude_none=True), "seed": cfg.seed}
    previous = None
    if reuse is not None:
        previous = reuse if isinstance(reuse, dict) else _read_result(reuse)
        n_seeds = seeds if seeds is not None else previous["settings"]["seeds"]
        reused = reused_rows(previous, config_record, base_recipe, final, n_seeds, candidates, quick)
        n = len(reused)
    rows = proxy_rows(unit, cfg.train.schedule, None if quick or cfg.train.steps else cfg.train.epochs)
    entries = [e if isinstance(e, dict) else {"directory": e} for e in supernets or []]
    for j, entry in enumerate(entries):
        entry.setdefault("key", "supernet" if len(entries) == 1 else f"supernet:{Path(entry['directory']).name or j}")
    if len({e["key"] for e in entries}) < len(entries):
        raise BenchError("two --supernet folders of the same name; give each its own name")
    opened = open_supernets(loaded, entries, supernet_epochs, quick, log)
    rows += [row for row, _ in opened]
    table: list[dict] = []
    if previous is not None:
        drawn, counts = [], previous.get("sampling", {})
        for row in reused:
            spec = _spec_of(row["spec"])
            row["proxies"], row["seconds"] = dict(row["proxies"]), dict(row["seconds"])
            _score_supernets(opened, spec, row["proxies"], row["seconds"])
            row["reused"] = True
            table.append(row)
            if log is not None:
                log(f"candidate {row['index'] + 1}/{n} ({row['widths']}): final val top-1 "
                    f"{row['ground_truth']:.4f} (reused)" + "".join(
                        f", {r['key']} {row['proxies'][r['key']]:.4f}" for r, _ in opened))
        images, batch_seconds = None, None
    else:
        drawn, counts = sample_candidates(loaded, n)
        images, batch_seconds = _timed(proxy_batch, loaded.base, cfg.data, batch_size=NASWOT_BATCH, seed=cfg.seed)
    cache_ = RunCache(cache)
    for i, cand in enumerate(drawn):
        spec, m = cand["spec"], cand["measured"]
        seed = cfg.seed + i  # as trial number i of a study would train
        values: dict[str, float | None] = {}
        seconds: dict[str, float] = {}
        measured, seconds["params"] = _timed(measure, spec)
        seconds["ops"] = seconds["params"]  # one analytic profile gives both
        values["params"], values["ops"] = float(measured.params), float(measured.ops)
        values["synflow"], seconds["synflow"] = _timed(synflow, spec, seed=seed)
        values["naswot"], seconds["naswot"] = _timed(naswot, spec, images, seed=seed)
        _score_supernets(opened, spec, values, seconds)
        cached, errors = [], []
        for length in PROXY_LENGTHS:
            r = _train_once(train, cache_, cand, cfg.data, recipe(length), seed)
            values[f"val_top1@{length}"] = r["val_top1"]
            seconds[f"val_top1@{length}"] = r["seconds"]
            if length == TRAIN_LOSS_LENGTH:
                values[f"train_loss@{length}"] = r["train_loss"]
                seconds[f"train_loss@{length}"] = r["seconds"]
            cached.append(r["cached"])
            if r.get("error"):
                errors.append(f"{length}-{unit} run: {r['error']}")
        r = _train_once(train, cache_, cand, cfg.data, {**recipe(ECONAS_LENGTH), "train_fraction": ECONAS_FRACTION},
                        seed)
        values["econas"], seconds["econas"] = r["val_top1"], r["seconds"]
        cached.append(r["cached"])
        if r.get("error"):
            errors.append(f"EcoNAS run: {r['error']}")
        finals = [_train_once(train, cache_, cand, cfg.data, recipe(final),
                              cfg.seed + i + GT_SEED_STRIDE * (s + 1)) for s in range(n_seeds)]
        accs = [r["val_top1"] for r in finals]
        truth = statistics.fmean(accs) if all(a is not None for a in accs) else None
        errors += [f"final run, seed {s}: {r['error']}" for s, r in enumerate(finals) if r.get("error")]
        table.append({
            "index": i, "widths": describe(spec), "arch": cand["arch"], "ops": m.ops, "params": m.params,
            "activations": m.activations, "width_scale": cand["scale"], "proxy_seed": seed,
            "ground_truth": truth, "final_top1": accs, "final_seconds": [r["seconds"] for r in finals],
            "final_seeds": [cfg.seed + i + GT_SEED_STRIDE * (s + 1) for s in range(n_seeds)],
            "proxies": {k: _finite(v) for k, v in values.items()}, "seconds": seconds,
            "cached_runs": sum(cached) + sum(r["cached"] for r in finals), "errors": errors,
            "spec": dump_yaml(spec.to_dict()),
        })
        if log is not None:
            shown = "n/a" if truth is None else f"{truth:.4f}"
            trained = (sum(seconds[f"val_top1@{length}"] for length in PROXY_LENGTHS) + seconds["econas"]
                       + sum(table[-1]["final_seconds"]))
            log(f"candidate {i + 1}/{n} ({describe(spec)}): final val top-1 {shown}, {trained:.0f} s of training")

    scored = [row for row in table if row["ground_truth"] is not None]
    truth = [row["ground_truth"] for row in scored]
    top = set(top_quartile(truth))
    results = []
    for k, proxy_row in enumerate(rows):
        key = proxy_row["key"]
        pairs = [(row["proxies"].get(key), row["ground_truth"]) for row in scored]
        both = [(p, t) for p, t in pairs if p is not None]
        tops = [(p, t) for j, (p, t) in enumerate(pairs) if j in top and p is not None]
        overall = bootstrap_tau([p for p, _ in both], [t for _, t in both], bootstrap, seed=k)
        in_top = bootstrap_tau([p for p, _ in tops], [t for _, t in tops], bootstrap, seed=100 + k)
        cost = [row["seconds"][key] for row in table if key in row["seconds"]]
        results.append({**proxy_row, "tau": overall["tau"], "low": overall["low"], "high": overall["high"],
                        "n": overall["n"], "top_tau": in_top["tau"], "top_low": in_top["low"],
                        "top_high": in_top["high"], "top_n": in_top["n"],
                        "seconds_per_candidate": statistics.fmean(cost) if cost else None})
    for _, scorer in opened:
        scorer.close()
    agreement = None
    if n_seeds >= 2:
        pairs = [(row["final_top1"][0], row["final_top1"][1]) for row in scored]
        agreement = bootstrap_tau([a for a, _ in pairs], [b for _, b in pairs], bootstrap, seed=999)
    return {
        "benchmark": "proxy",
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "config": config_record,
        "reused": None if previous is None else {
            "path": None if isinstance(reuse, dict) else str(reuse), "date": previous.get("date"),
            "cpu": previous.get("cpu"), "what": "candidates, ground truth and the other proxies' values and seconds "
                                                "as measured then (on that machine); only the supernets scored here"},
        "settings": {"quick": quick, "unit": unit, "candidates": n, "seeds": n_seeds, "final_length": final,
                     "proxy_lengths": list(PROXY_LENGTHS), "recipe": base_recipe, "bootstrap": bootstrap,
                     "top_quartile": len(top),
                     "naswot_batch": (int(images.shape[0]) if images is not None
                                      else previous["settings"]["naswot_batch"]),
                     "naswot_batch_seconds": batch_seconds},
        "ground_truth": {"what": f"mean val top-1 over {n_seeds} seed(s) after {final} {unit}s of the config's "
                                 f"recipe ({cfg.train.schedule} schedule over the whole run)",
                         "scored": len(scored),
                         "seconds_per_candidate": statistics.fmean(sum(r["final_seconds"]) for r in table)},
        "seed_agreement": agreement,
        "proxies": results,
        "omitted": [{"proxy": k, "why": v} for k, v in OMITTED.items()],
        "sampling": counts,
        "candidates": table,
        "bench_seconds": time.perf_counter() - started,
    }


def _read_result(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchError(f"--reuse {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"--reuse {path}: not JSON ({exc.msg}, line {exc.lineno})") from None


def _spec_of(text: str):
    from ..spec.loader import spec_from_yaml

    return spec_from_yaml(text)


def _score_supernets(opened, spec, values: dict, seconds: dict) -> None:
    """Each supernet's val top-1 of `spec` and its cost (slice, recalibration, evaluation)."""
    for row, scorer in opened:
        values[row["key"]] = scorer(spec)
        seconds[row["key"]] = scorer.last.seconds


def _tau_text(tau, low, high) -> str:
    if tau is None:
        return "n/a"
    if low is None:
        return f"{tau:+.2f}"
    return f"{tau:+.2f} [{low:+.2f}, {high:+.2f}]"


def print_results(r: dict) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    # Wide enough for every column when written to a log or a pipe (rich assumes 80 columns then).
    console = Console(width=None if sys.stdout.isatty() else 180)
    s, c = r["settings"], r["config"]
    budget = ", ".join(f"{k} {v:,}" for k, v in c["budget"].items()) or "no budget"
    table = Table(title=f"archkit bench proxy — {c['base']} on {c['data']} ({budget}), "
                        f"{r['ground_truth']['scored']} candidates; {r['date']}, {r['cpu']}", title_justify="left")
    for col in ("proxy", "n", "Kendall tau-b [95% CI]", f"top quartile (n={s['top_quartile']})", "s / candidate"):
        table.add_column(col, justify="left" if col == "proxy" else "right")
    for row in r["proxies"]:
        cost = row["seconds_per_candidate"]
        table.add_row(row["key"], str(row["n"]), _tau_text(row["tau"], row["low"], row["high"]),
                      _tau_text(row["top_tau"], row["top_low"], row["top_high"]),
                      "n/a" if cost is None else (f"{cost:.1f}" if cost >= 1 else f"{cost:.3f}"))
    console.print(table)
    for row in r["proxies"]:
        console.print(f"  {row['key']}: {row['what']}")
        if row.get("supernet"):
            sn = row["supernet"]
            console.print(f"    one-off: the supernet's training took {sn['training_seconds']:.0f} s "
                          f"({sn['params']:,} parameters, {sn['slots']} slots); opening it {sn['open_seconds']:.1f} s")
    if r.get("reused"):
        reused = r["reused"]
        console.print(f"reused: {reused['path'] or 'a previous run'} ({reused['date']}, {reused['cpu']}): "
                      f"{reused['what']}")
    if r["seed_agreement"] is not None:
        a = r["seed_agreement"]
        console.print(f"final recipe, seed vs seed (the noise ceiling): tau-b "
                      f"{_tau_text(a['tau'], a['low'], a['high'])}")
    console.print(f"ground truth: {r['ground_truth']['what']}, {r['ground_truth']['seconds_per_candidate']:.1f} s "
                  f"per candidate; "
                  f"bootstrap: {s['bootstrap']} resamples of candidates, percentile interval")
    ranked = [row for row in r["proxies"] if row["tau"] is not None]
    if ranked:
        best = max(ranked, key=lambda row: row["tau"])
        console.print(f"highest tau-b: {best['key']} ({best['tau']:+.2f})")
    for item in r["omitted"]:
        console.print(f"left out: {item['why']}")
    if s["quick"]:
        console.print("--quick: lengths are optimizer steps, not epochs; the numbers are a smoke test only")
    console.print(f"bench took {r['bench_seconds']:.0f} s")
