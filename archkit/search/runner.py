"""Running a study's trials in this process: the loop (exact trial counts across workers, a
timeout, stopping when too many trials fail or the data cannot be read) around `trial.run_trial`.
The study's setup is `studies`; worker processes are started by `workers`; samplers and pruners
are `samplers`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..training.errors import DataError
from . import record as R
from .config import LoadedConfig
from .proxies import PROXIES
from .storage import default_location, describe, is_journal, retry_candidate
from .studies import (
    SearchError,
    best_trial,
    counts,
    enqueue_priors,
    enqueue_reference,
    fail_stale,
    finished,
    latency_cost,
    open_study,
    recover_interrupted,
)
from .train_cost import train_cost
from .trial import SurplusTrial, TrialContext, run_trial

# A run stops when this share of its trials failed (after at least MIN_FAILURES failures):
# something is wrong with the data, the device or the recipe, and more trials would fail too.
MAX_FAILURE_RATE = 0.5
MIN_FAILURES = 3


class DataStop(SearchError):
    """A trial met data that cannot be read: every other trial would too. The study stops; the
    candidate is trained again when the command is rerun after the data is fixed."""


@dataclass
class RunSummary:
    study: str
    storage: str
    finished: int
    asked: int
    states: dict[str, int] = field(default_factory=dict)
    best: dict | None = None
    stopped: str = ""
    verdict: dict | None = None  # the confirmation stage's, when it ran


def _default_train(spec, **kwargs):
    from .. import train

    return train(spec, progress=False, **kwargs)


def run_worker(loaded: LoadedConfig, location: str, study_name: str, *, train=None, progress: bool = True,
               worker: int | None = None, seed: int | None = None) -> RunSummary:
    """Run trials in this process until the study has `config.trials` finished trials (or timeout)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are kept in trial attrs
    cfg = loaded.config
    latency = latency_cost(loaded)
    if seed is None:
        # Each run (and each worker) samples with its own deterministic seed: a resumed run that
        # reused the first run's seed would propose the first run's candidates again.
        study = open_study(loaded, location, study_name, latency=latency)
        seed = cfg.seed + (worker or 0) * 7919 + len(study.get_trials(deepcopy=False)) * 104729
    study = open_study(loaded, location, study_name, seed=seed, latency=latency)
    # The batch and precision trials train at (`auto` resolved on this machine): their memory is predicted there.
    training = train_cost(cfg)
    if study.user_attrs.get("train_cost") is None:
        study.set_user_attr("train_cost", training.attr())
    if worker is None:
        recover_interrupted(study, location)
        enqueue_reference(study)
        enqueue_priors(study, loaded)
    deadline = time.monotonic() + cfg.timeout if cfg.timeout else None
    attempts = failures = 0
    stopped = ""
    from .progress import LiveView

    title = f"archkit search {study_name} ({describe(location)})" + (
        f"; latency on {latency.describe()}" if latency is not None else "")
    shared = None
    if PROXIES[cfg.proxy].shared:
        # The supernet package builds on the search's space; it is imported for its proxy only.
        from ..supernet.proxy import open_scorer

        shared = open_scorer(loaded)
        study.set_user_attr(R.SUPERNET, shared.attr())  # the report's training curves (the latest run's)
    with LiveView(study, title, cfg.budget.limits(), enabled=progress) as view:
        ctx = TrialContext(loaded, train or _default_train, on_event=view.event, max_trials=cfg.trials,
                           latency=latency, shared_score=shared, train_cost=training)
        while True:
            c = counts(study)
            if finished(c) >= cfg.trials:
                stopped = f"the study has {finished(c)} finished trials (asked: {cfg.trials})"
                break
            if deadline is not None and time.monotonic() >= deadline:
                stopped = f"timeout ({cfg.timeout:g} s)"
                break
            if finished(c) + c.get("RUNNING", 0) >= cfg.trials:
                # Other workers are on the last trials; wait in case one fails and leaves a slot.
                if not is_journal(location):
                    fail_stale(study)
                time.sleep(2.0)
                view.refresh()
                continue
            attempts += 1
            before = {t.number for t in study.get_trials(deepcopy=False) if t.state.name != "WAITING"}
            study.optimize(lambda trial: _guarded(trial, ctx), n_trials=1, catch=(Exception,))
            if ctx.data_error:
                raise DataStop(f"stopped: the data cannot be read: {ctx.data_error} (check it with archkit data "
                               f"check; the candidate is trained again on resume)")
            mine = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
            view.event("end", {})
            for t in mine:
                if t.state.name == "FAIL" and "surplus" not in str(t.user_attrs.get(R.ERROR, "")):
                    failures += 1
            if failures >= MIN_FAILURES and failures / attempts > MAX_FAILURE_RATE:
                errors = [str(t.user_attrs.get(R.ERROR, "?")) for t in study.get_trials(deepcopy=False)
                          if t.state.name == "FAIL"][-3:]
                raise SearchError(f"stopped: {failures} of {attempts} trials failed in this run "
                                  f"(last errors: {' | '.join(errors)})")
    c = counts(study)
    return RunSummary(study_name, location, finished(c), cfg.trials, c, best_trial(study), stopped)


def _guarded(trial, ctx: TrialContext):
    """run_trial, with the reason of a failure kept in the trial's attrs (Optuna keeps only the state)."""
    import optuna

    try:
        return run_trial(trial, ctx)
    except optuna.TrialPruned:
        raise
    except KeyboardInterrupt:
        trial.set_user_attr(R.ERROR, "interrupted (Ctrl-C); rerun the same command to resume")
        retry_candidate(trial.study, trial)  # the resumed run trains this candidate again
        raise
    except SurplusTrial:
        raise
    except DataError as exc:
        trial.set_user_attr(R.ERROR, f"data: {exc}".splitlines()[0][:300])
        retry_candidate(trial.study, trial)  # not the candidate's failure: trained again on resume
        ctx.data_error = str(exc).splitlines()[0]
        raise
    except Exception as exc:
        trial.set_user_attr(R.ERROR, f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        raise


def resolve_location(storage: str | None, study_name: str, workers: int) -> str:
    return storage if storage else default_location(study_name, workers)


__all__ = ["DataStop", "RunSummary", "run_worker", "resolve_location"]
