"""The confirmation stage: is the search's answer really better than uniform width scaling?

A search selects on a proxy score (validation accuracy after a short recipe by default), so its best
trial is partly luck: of the seed, of the split, of a proxy that ranks convergence speed. Here the
top candidates by that score (`results.ranked`) and the uniform-scaling reference are each retrained
from scratch with several seeds under the final recipe and scored on the validation split and on a
test split the search never saw. The confirmed best is the candidate with the highest mean
validation top-1 after that retraining (selected on validation, never on test); the verdict compares
it with the reference on test, with a 95% interval.

With `final.rerank` K (for a proxy that trains nothing: `supernet`, zero-cost), the K best distinct
candidates by the proxy are first trained once each with the trials' recipe, as the default proxy
would have trained them, and the `top` best of them by that val top-1 are the ones retrained.

Every retraining is stored in the study as soon as it finishes (user attr
`confirm:<recipe>:<trial>:<seed>`), so an interrupted stage (Ctrl-C, kill -9) resumes where it
stopped, and `archkit confirm` can extend it with more candidates or seeds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..errors import ArchkitError
from ..spec.loader import spec_from_yaml
from ..spec.resolve import resolved
from ..util.stats import welch_interval
from . import record as R
from .config import FinalRecipe, SearchConfig, final_recipe
from .results import ranked
from .train_cost import AUTO, recipe_cost, trainer_recipe, trial_recipe

RUN_PREFIX = "confirm:"
RERANK_PREFIX = "rerank:"
VERDICT_ATTR = R.VERDICT
# Final seeds are apart from the search's trial seeds (config seed + trial number).
FINAL_SEED_BASE = 100_000
INTERVAL = "Welch's t (unequal variances), 95%"


class ConfirmError(ArchkitError):
    """Nothing to confirm (no study, no trained trial); the message says which."""


@dataclass(frozen=True)
class Plan:
    """What the stage retrains: `candidates` (trial numbers, the reference first), `seeds` each."""

    reference: int
    candidates: tuple[int, ...]  # searched trials, best score first (`results.ranked`)
    seeds: tuple[int, ...]
    recipe: dict
    key: str  # identifies the recipe: runs under another recipe are not mixed in
    # With `final.rerank`: the shortlist (best distinct candidates by the proxy) each trained once
    # with the trials' recipe before `candidates` (the best `final.top` of them) are chosen.
    shortlist: tuple[int, ...] = ()


def recipe_key(data: str, recipe: dict) -> str:
    text = json.dumps({"data": data, **recipe}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _over_budget(trial, config: SearchConfig) -> str:
    """The limits a trial exceeds, e.g. '4.12 ms predicted > 4 ms'."""
    from ..profile.memory import fmt_bytes
    from .numbers import format_count

    parts = []
    for key, limit in config.budget.limits().items():
        value = trial.user_attrs.get(key)
        if value is None or value <= limit:
            continue
        if key == "latency_ms":
            parts.append(f"{value:.2f} ms predicted > {limit:g} ms")
        elif key == R.TRAIN_MEMORY:
            parts.append(f"{fmt_bytes(value)} training memory predicted > {fmt_bytes(limit)}")
        else:
            parts.append(f"{format_count(value)} {key} > {format_count(limit)}")
    return ", ".join(parts) or "over the budget"


def plan(study, config: SearchConfig, final: FinalRecipe) -> Plan:
    """The reference and the `final.top` best distinct searched candidates (by the search's score:
    val top-1 unless the config chose another proxy; a duplicate architecture counts once), each to
    be retrained `final.seeds` times. With `final.rerank` K, the K best distinct are the shortlist
    (`Plan.shortlist`) and `candidates` its first `final.top` until `rerank` has trained them."""
    trials = ranked(study)
    refs = [t for t in trials if t.user_attrs.get(R.REFERENCE)]
    if not refs:
        over = [t for t in study.get_trials(deepcopy=False)
                if t.user_attrs.get(R.REFERENCE) and t.user_attrs.get(R.FEASIBLE) is False]
        if over:
            raise ConfirmError(f"study {study.study_name!r}: uniform scaling cannot meet the budget — its reference "
                               f"(trial {over[0].number}, the base at its smallest widths) is over it "
                               f"({_over_budget(over[0], config)}), so no network of the base's shape is there "
                               f"to compare with; a larger budget gives it room")
    if not trials:
        raise ConfirmError(f"study {study.study_name!r} has no finished, trained trial within the budget to confirm "
                           f"(run archkit search first)")
    if not refs:
        raise ConfirmError(f"study {study.study_name!r} has no trained uniform-scaling reference to compare with "
                           f"(run or resume the search first)")
    reference = min(refs, key=lambda t: t.number)
    seen = {reference.user_attrs.get(R.ARCH)}
    candidates = []
    for t in trials:
        arch = t.user_attrs.get(R.ARCH)
        if t.user_attrs.get(R.REFERENCE) or arch in seen:
            continue
        seen.add(arch)
        candidates.append(t.number)
        if len(candidates) == (final.rerank or final.top):
            break
    if not candidates:
        raise ConfirmError(f"study {study.study_name!r} has no trained searched candidate besides the reference")
    recipe = final_recipe(config.train, final)
    seeds = tuple(FINAL_SEED_BASE + config.seed * 1000 + i for i in range(final.seeds))
    shortlist = tuple(candidates) if final.rerank else ()
    return Plan(reference.number, tuple(candidates[:final.top]), seeds, recipe, recipe_key(config.data, recipe),
                shortlist)


def rerank_attr(key: str, trial: int) -> str:
    return f"{RERANK_PREFIX}{key}:{trial}"


def rerank(study, config: SearchConfig, p: Plan, train: Callable,
           on_run: Callable[[str, dict], None] | None = None) -> dict[int, dict]:
    """Train each of the plan's shortlist once with the trials' recipe and the seed its trial would
    have trained with (config seed + trial number: what a study of the default proxy would have
    measured), val top-1 only; each result is stored in the study as it finishes (user attr
    `rerank:<recipe>:<trial>`), so an interrupted stage resumes. Returns trial -> result."""
    recipe = trial_recipe(config.train)  # what a trial of the default proxy trains with
    key = recipe_key(config.data, recipe)
    done = {t: study.user_attrs[rerank_attr(key, t)] for t in p.shortlist if rerank_attr(key, t) in study.user_attrs}
    specs = {t.number: t.user_attrs[R.SPEC] for t in study.get_trials(deepcopy=False) if t.number in p.shortlist}
    cost = recipe_cost(recipe, config.budget.train_memory) if recipe.get("batch_size") == AUTO else None
    todo = [t for t in p.shortlist if t not in done]
    for i, trial in enumerate(todo, start=1):
        info = {"trial": trial, "seed": config.seed + trial, "reference": False, "index": i, "total": len(todo),
                "rerank": True}
        if on_run:
            on_run("start", info)
        spec = spec_from_yaml(specs[trial], f"{study.study_name} trial {trial}")
        kwargs = trainer_recipe(recipe, cost.measure(resolved(spec))[0] if cost is not None else None)
        started = time.perf_counter()
        result = train(spec, data=config.data, seed=config.seed + trial, on_epoch=_no_epoch_report,
                       eval_every=ONLY_AT_THE_END, **kwargs)
        run = {"trial": trial, "seed": config.seed + trial, "val_top1": float(result.val_top1),
               "seconds": time.perf_counter() - started}
        study.set_user_attr(rerank_attr(key, trial), run)
        done[trial] = run
        if on_run:
            on_run("end", {**info, **run})
    return done


def reranked(p: Plan, runs: dict[int, dict], top: int) -> Plan:
    """The plan with its candidates the `top` best of the shortlist by the rerank's val top-1 (ties:
    the proxy's order)."""
    order = sorted(p.shortlist, key=lambda t: (-runs[t]["val_top1"], p.shortlist.index(t)))
    return replace(p, candidates=tuple(order[:top]))


def run_attr(key: str, trial: int, seed: int) -> str:
    return f"{RUN_PREFIX}{key}:{trial}:{seed}"


def runs_of(study, key: str) -> dict[tuple[int, int], dict]:
    """Finished retrainings under recipe `key`: (trial, seed) -> their result."""
    prefix = f"{RUN_PREFIX}{key}:"
    out = {}
    for name, value in study.user_attrs.items():
        if name.startswith(prefix):
            trial, seed = name[len(prefix):].split(":")
            out[(int(trial), int(seed))] = value
    return out


def confirm(study, config: SearchConfig, final: FinalRecipe, train: Callable,
            on_run: Callable[[str, dict], None] | None = None) -> dict:
    """Run (or resume, or extend) the confirmation stage and store the verdict; returns it.

    `train` is `archkit.train`-like and is called with `score_test=True`. `on_run(event, info)`
    is told "start" and "end" of each retraining (for progress lines)."""
    p = plan(study, config, final)
    shortlisted = None
    if p.shortlist:
        shortlisted = rerank(study, config, p, train, on_run)
        p = reranked(p, shortlisted, final.top)
    study.set_user_attr("final_recipe", {"data": config.data, **p.recipe, "key": p.key})
    done = runs_of(study, p.key)
    specs = {t.number: t.user_attrs[R.SPEC] for t in study.get_trials(deepcopy=False)
             if t.number in (p.reference, *p.candidates)}
    todo = [(trial, seed) for trial in (p.reference, *p.candidates) for seed in p.seeds if (trial, seed) not in done]
    # `batch_size: auto`: each candidate at its own batch, by the search's rule (the same as its trial's).
    cost = recipe_cost(p.recipe, config.budget.train_memory) if p.recipe.get("batch_size") == AUTO else None
    for i, (trial, seed) in enumerate(todo, start=1):
        info = {"trial": trial, "seed": seed, "reference": trial == p.reference, "index": i, "total": len(todo)}
        if on_run:
            on_run("start", info)
        spec = spec_from_yaml(specs[trial], f"{study.study_name} trial {trial}")
        recipe = trainer_recipe(p.recipe, cost.measure(resolved(spec))[0] if cost is not None else None)
        started = time.perf_counter()
        result = train(spec, data=config.data, seed=seed, score_test=True, on_epoch=_no_epoch_report,
                       eval_every=ONLY_AT_THE_END, **recipe)
        run = {"trial": trial, "seed": seed, "val_top1": float(result.val_top1), "val_top5": float(result.val_top5),
               "test_top1": float(result.test_top1), "test_top5": float(result.test_top5),
               "seconds": time.perf_counter() - started, "split_sizes": getattr(result, "split_sizes", None)}
        # stored at once: an interruption loses only the run in progress
        study.set_user_attr(run_attr(p.key, trial, seed), run)
        done[(trial, seed)] = run
        if on_run:
            on_run("end", {**info, **run})
    result = verdict(p, done)
    if shortlisted is not None:
        result["rerank"] = [shortlisted[t] for t in p.shortlist]  # in the proxy's order
    study.set_user_attr(VERDICT_ATTR, result)
    return result


# The retrainings here are judged by their last epoch: the val split is scored then only (`archkit.train`'s
# eval_every=0), which changes no weights and saves ~30% of every other epoch on Fashion-MNIST's 6,000 images.
ONLY_AT_THE_END = 0


def _no_epoch_report(epoch: int, metrics: dict) -> None:
    """Confirmation runs are not pruned and report nothing per epoch."""


def verdict(p: Plan, runs: dict[tuple[int, int], dict]) -> dict:
    """The confirmed best (highest mean val top-1 after the final recipe among the searched candidates,
    not their proxy score: the retraining is what the proxy stood in for; see `results`) against the
    reference, on test top-1: delta of the means and Welch's 95% interval."""

    def scores(trial: int) -> dict:
        rs = [runs[(trial, seed)] for seed in p.seeds]
        return {"trial": trial, "val_top1": [r["val_top1"] for r in rs], "test_top1": [r["test_top1"] for r in rs]}

    candidates = [scores(t) for t in p.candidates]
    best = max(candidates, key=lambda c: (mean(c["val_top1"]), -c["trial"]))
    reference = scores(p.reference)
    delta, lo, hi = welch_interval(best["test_top1"], reference["test_top1"])
    if lo is None:
        conclusion = "not distinguishable"  # one seed each: no interval
    elif lo > 0:
        conclusion = "better"
    elif hi < 0:
        conclusion = "worse"
    else:
        conclusion = "not distinguishable"
    return {"reference": reference, "best": best, "candidates": candidates, "delta": delta,
            "ci95": [lo, hi], "interval": INTERVAL, "seeds": len(p.seeds), "conclusion": conclusion,
            "recipe": p.recipe, "recipe_key": p.key,
            "runs": [runs[(t, s)] for t in (p.reference, *p.candidates) for s in p.seeds]}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def headline(result: dict) -> str:
    """The verdict in one line, e.g. 'confirmed: trial 7 beats uniform scaling by +4.1 points of
    test top-1 (95% CI +2.0..+6.2; 3 seeds each)'."""
    best, ref = result["best"]["trial"], result["reference"]["trial"]
    delta = 100 * result["delta"]
    lo, hi = result["ci95"]
    seeds = f"{result['seeds']} seed{'s' if result['seeds'] != 1 else ''} each"
    interval = f"95% CI {100 * lo:+.1f}..{100 * hi:+.1f}; {seeds}" if lo is not None else f"{seeds}: no interval"
    means = (f"test top-1 {100 * mean(result['best']['test_top1']):.1f}% vs "
             f"{100 * mean(result['reference']['test_top1']):.1f}% (reference, trial {ref})")
    if result["conclusion"] == "better":
        return (f"confirmed: trial {best} beats uniform scaling by {delta:+.1f} points of test top-1 ({interval}); "
                f"{means}")
    if result["conclusion"] == "worse":
        return (f"confirmed: uniform scaling beats the search's best (trial {best}) by {-delta:.1f} points of test "
                f"top-1 ({interval}); {means}")
    return (f"not distinguishable: trial {best} vs uniform scaling, {delta:+.1f} points of test top-1 ({interval}); "
            f"{means}")


def load_config(study) -> SearchConfig:
    """The search config a study was created with (stored in it), without reading any file."""
    data = study.user_attrs.get("config")
    if not data:
        raise ConfirmError(f"study {study.study_name!r} was not created by archkit search (no config stored)")
    data = {k: v for k, v in data.items() if k in SearchConfig.model_fields}
    return SearchConfig.model_validate(data)


__all__ = ["ConfirmError", "FINAL_SEED_BASE", "Plan", "VERDICT_ATTR", "confirm", "headline", "load_config", "plan",
           "rerank", "reranked", "runs_of", "verdict", "welch_interval"]
