"""A sampler that models the search space only: the uniform-scaling reference trial is hidden from it.

The reference trial samples no parameters (it is the base spec scaled to the budget, not a point of
the space). Samplers that model the parameters jointly take the intersection of the completed
trials' parameters as their search space (Optuna's GPSampler, NSGA-II, TPE with `multivariate`
but without `group`), and one trial with no parameters makes that intersection empty: they would
sample every parameter independently (GP and NSGA-II at random) for the whole study. Seen through
`ReferenceBlind`, the study has no reference trial, so they model what the space varies.

GPSampler also models only complete trials: a pruned trial would teach it nothing, and it would
propose the same pruned candidate again and again. For it, a pruned trial is shown as complete with
the last value it reported (its accuracy when it was stopped: below what it would have reached, as
the pruner judged). TPE ranks pruned trials itself and sees them as they are.
"""

from __future__ import annotations

import copy
from typing import Any

from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from . import record as R


def _sampled(trial) -> bool:
    return R.REFERENCE not in trial.user_attrs


def _as_complete(trial):
    """A pruned trial as a complete one whose value is the last one it reported (None: none reported)."""
    if not trial.intermediate_values:
        return None
    shown = copy.copy(trial)
    shown.state = TrialState.COMPLETE
    shown.values = [trial.intermediate_values[max(trial.intermediate_values)]]
    return shown


class _StudyView:
    """The study with its reference trials left out of `get_trials`, `_get_trials` and `trials`
    (and, with `pruned_as_complete`, its pruned trials shown as complete); everything else is the
    study's own."""

    def __init__(self, study, pruned_as_complete: bool = False):
        self._study = study
        self._pruned_as_complete = pruned_as_complete

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False):
        convert = self._pruned_as_complete and (
            states is None or (TrialState.COMPLETE in states and TrialState.PRUNED not in states))
        if convert and states is not None:
            states = (*states, TrialState.PRUNED)
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        shown = []
        for t in trials:
            if convert and t.state == TrialState.PRUNED:
                t = _as_complete(t)
            if t is not None and _sampled(t):
                shown.append(t)
        return shown

    def get_trials(self, deepcopy: bool = True, states=None):
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self):
        return self.get_trials()


class ReferenceBlind(BaseSampler):
    """`inner`, seeing the study without its reference trials (and sampling nothing for them), and
    with `pruned_as_complete`, its pruned trials as complete ones (for a sampler that models only
    complete trials)."""

    def __init__(self, inner: BaseSampler, pruned_as_complete: bool = False):
        self.inner = inner
        self.pruned_as_complete = pruned_as_complete

    def __str__(self) -> str:
        return f"{type(self.inner).__name__} (reference trials hidden)"

    def infer_relative_search_space(self, study, trial):
        if not _sampled(trial):
            return {}  # the reference suggests nothing: no model to fit for it
        return self.inner.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        return self.inner.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(self._view(study), trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.inner.after_trial(self._view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()

    def _view(self, study) -> _StudyView:
        return _StudyView(study, self.pruned_as_complete)


__all__ = ["ReferenceBlind"]
