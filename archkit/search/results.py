"""What a study's trials amount to: a trial's score, and the trials that can be ranked by it.

One definition, read by the run summary, the confirmation stage and the export: a trial counts
when it finished, fits the budget and has a score. Its score is the config's proxy (`proxy:`):
validation top-1 after the short recipe by default, or another proxy's value (`proxy_score`),
higher always better.
"""

from __future__ import annotations

SCORE_ATTR = "proxy_score"


def score(trial) -> float | None:
    """The trial's proxy score (higher is better); None when it has none (not trained, failed)."""
    a = trial.user_attrs
    if a.get(SCORE_ATTR) is not None:
        return float(a[SCORE_ATTR])
    if a.get("val_top1") is not None:  # studies from before `proxy:` (their proxy was val top-1)
        return float(a["val_top1"])
    return None


def ranked(study) -> list:
    """Finished, within-budget trials with a spec and a score, best first (ties: earlier first)."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("feasible") and "spec" in t.user_attrs and score(t) is not None]
    return sorted(trials, key=lambda t: (-score(t), t.number))
