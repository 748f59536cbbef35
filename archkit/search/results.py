"""What a study's trials amount to: a trial's score, the trials ranked by it, the best, the fronts.

One definition, read by the run summary, the live progress view, the confirmation stage, the
export, the study report and the benchmarks. A trial counts when it finished, fits the budget, has
a spec and a score. Its score is the config's proxy (`proxy:`): validation top-1 after the short
recipe by default, or another proxy's value (`proxy_score`), higher always better.

Three "best"s, each chosen once:
- the search's best, `best(study)`: the first of `ranked`, by score. The run summary, the progress
  view, the report ("best in the search") and `archkit export --best` before a confirmation.
- the confirmation's candidates: the best distinct networks of `ranked`, by score (`confirm.plan`);
  with `final.rerank` K, the best of its K best after one training each (`confirm.rerank`).
- the confirmed best: among those candidates, the highest mean validation top-1 after the final
  recipe (`confirm.verdict`). The proxy only stood in for that retraining, so once it has been
  done it is what selects (on validation; test is only reported). `archkit export --best` writes it
  when the study has a verdict (`confirmed_best`), and the report leads with it.
"""

from __future__ import annotations

from . import record as R

DEFAULT_PROXY = "val_top1"  # `SearchConfig.proxy`'s default, and what studies from before `proxy:` ranked by


def score(trial) -> float | None:
    """The trial's proxy score (higher is better); None when it has none (not trained, failed).
    A pruned trial under the default proxy has its val top-1 when it was stopped."""
    a = trial.user_attrs
    if a.get(R.SCORE) is not None:
        return float(a[R.SCORE])
    if a.get(R.VAL_TOP1) is not None:  # studies from before `proxy:` (their proxy was val top-1)
        return float(a[R.VAL_TOP1])
    return None


def counts(trial) -> bool:
    """Whether the trial can be ranked: complete, within the budget, with a spec and a score."""
    a = trial.user_attrs
    return trial.state.name == "COMPLETE" and bool(a.get(R.FEASIBLE)) and R.SPEC in a and score(trial) is not None


def ranked_trials(trials: list) -> list:
    """The trials that `count`, best first (ties: earlier first)."""
    return sorted((t for t in trials if counts(t)), key=lambda t: (-score(t), t.number))


def ranked(study) -> list:
    """The study's trials that count, best first (ties: earlier first)."""
    from optuna.trial import TrialState

    return ranked_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def best(study):
    """The search's best trial (the first of `ranked`), or None before one counts."""
    trials = ranked(study)
    return trials[0] if trials else None


def confirmed_best(study, trials: list | None = None):
    """The confirmation stage's best trial (its verdict's), among `trials` (default: `ranked`);
    None without a verdict or when it is not among them."""
    verdict = study.user_attrs.get(R.VERDICT)
    if not verdict:
        return None
    number = verdict["best"]["trial"]
    return next((t for t in (ranked(study) if trials is None else trials) if t.number == number), None)


def proxy_of(study) -> str:
    """The proxy the study ranks by: its config's, else the one its trials were scored by, else
    val top-1 (a study from before `proxy:`)."""
    proxy = (study.user_attrs.get("config") or {}).get("proxy")
    if proxy:
        return str(proxy)
    found = next((t.user_attrs[R.PROXY] for t in study.get_trials(deepcopy=False) if t.user_attrs.get(R.PROXY)),
                 None)
    return str(found) if found else DEFAULT_PROXY


def score_label(proxy: str) -> str:
    """What a score is called in words: 'val top-1', or '<proxy> score' for another proxy."""
    return "val top-1" if proxy == DEFAULT_PROXY else f"{proxy} score"


def pareto_front(trials: list, cost: str) -> list:
    """Trials not dominated in (higher score, lower cost), by increasing cost; ties kept once
    (lowest number). Every trial must have a score and the `cost` attr."""
    front = []
    for t in trials:
        s, c = score(t), t.user_attrs[cost]
        dominated = any(
            (score(o) >= s and o.user_attrs[cost] <= c)
            and (score(o) > s or o.user_attrs[cost] < c or o.number < t.number)
            for o in trials if o is not t
        )
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: t.user_attrs[cost])


def fronts(trials: list, costs: tuple[str, ...]) -> dict[str, list]:
    """The Pareto front of the trials that `count` against each cost (those that have it):
    what `archkit export --pareto --cost` writes and the report draws."""
    pool = [t for t in trials if counts(t)]
    return {cost: pareto_front([t for t in pool if cost in t.user_attrs], cost) for cost in costs}


__all__ = ["DEFAULT_PROXY", "best", "confirmed_best", "counts", "fronts", "pareto_front", "proxy_of", "ranked",
           "ranked_trials", "score", "score_label"]
