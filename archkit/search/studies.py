"""A study's setup and state: opened (created or loaded, checked against the config), the
uniform-scaling reference and the warm-start priors enqueued, trials a killed process left running
recovered, counted, and its best trial. The loop that runs trials is `runner`; the launcher of
worker processes is `workers`."""

from __future__ import annotations

from ..errors import ArchkitError
from ..spec.yamlio import dump_yaml
from . import record as R
from .config import LoadedConfig
from .latency_cost import LatencyCost
from .samplers import choose_sampler, make_pruner, make_sampler
from .storage import describe, is_journal, open_storage, retry_candidate


class SearchError(ArchkitError, RuntimeError):
    """A search that cannot go on; the message says why and how to resume."""


def open_study(loaded: LoadedConfig, location: str, study_name: str, seed: int | None = None,
               latency: LatencyCost | None = None):
    """Create the study or load it by name; refuses a study whose objectives differ from the config,
    or whose latencies were predicted on another device or with other settings (`latency`)."""
    import optuna

    cfg = loaded.config
    directions = ["maximize"] + ["minimize"] * (len(cfg.objectives) - 1)
    storage = open_storage(location)
    study = optuna.create_study(
        storage=storage, study_name=study_name, load_if_exists=True, directions=directions,
        sampler=make_sampler(loaded, cfg.seed if seed is None else seed), pruner=make_pruner(loaded),
    )
    if [d.name.lower() for d in study.directions] != directions:
        raise SearchError(f"study {study_name!r} in {describe(location)} was created with other objectives "
                          f"({len(study.directions)}); use another --study name")
    sampler = choose_sampler(loaded)  # of this run: `auto` may choose another when --trials grows
    if (study.user_attrs.get("sampler"), study.user_attrs.get("sampler_reason")) != sampler:
        study.set_user_attr("sampler", sampler[0])
        study.set_user_attr("sampler_reason", sampler[1])
    if not study.user_attrs.get("config"):
        study.set_user_attr("config", cfg.model_dump(mode="json"))
        study.set_user_attr("base", loaded.base.name)
        study.set_user_attr("base_spec", dump_yaml(loaded.base.to_dict()))  # reports need no file
        study.set_user_attr("objectives", list(cfg.objectives))
        study.set_user_attr("budget", cfg.budget.limits())
    if latency is not None:
        where = latency_attr(latency)
        before = study.user_attrs.get("latency")
        if before is None:
            study.set_user_attr("latency", where)
        elif {k: before.get(k) for k in where} != where:
            raise SearchError(f"study {study_name!r} in {describe(location)} predicted latency on "
                              f"{_where(before)}; this run would on {_where(where)}: its latency numbers would not "
                              f"compare; use another --study name")
    return study


def latency_attr(latency: LatencyCost) -> dict:
    """Where and how a study's latencies are predicted and measured (a study user attr)."""
    s = latency.settings
    return {"device": s.device, "device_name": latency.table.key["device_name"], "batch": s.batch,
            "precision": s.precision, "threads": latency.threads}


def _where(attr: dict) -> str:
    return (f"{attr.get('device')} ({attr.get('device_name')}), batch {attr.get('batch')}, {attr.get('precision')}, "
            f"{attr.get('threads')} threads")


def latency_cost(loaded: LoadedConfig) -> LatencyCost | None:
    """The study's latency predictor when its config needs one (a latency budget or objective).
    Opening its table checks the device: LatencyError (one line) for one this machine lacks."""
    if not loaded.config.needs_latency:
        return None
    cost = LatencyCost(loaded.config.latency_settings)
    cost.table  # noqa: B018 - opened now: a missing device is reported before any trial
    return cost


def counts(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def finished(c: dict[str, int]) -> int:
    return c.get("COMPLETE", 0) + c.get("PRUNED", 0)


def enqueue_reference(study) -> bool:
    """Enqueue the uniform-width-scaling reference first, unless the study already has one that is
    finished, running or waiting (an interrupted reference is enqueued again)."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    if any(R.REFERENCE in t.user_attrs for t in study.get_trials(deepcopy=False, states=states)):
        return False
    study.enqueue_trial({}, user_attrs={R.REFERENCE: "uniform width scaling of the base to the budget"})
    return True


MIN_TRIALS_FOR_PRIORS = 6
MAX_PRIORS = 3


def prior_count(trials: int) -> int:
    """How many priors a study of `trials` trials gets: none below 6 trials, then one per 4 trials,
    at most 3, so that with the reference they take at most about a third of the study."""
    return 0 if trials < MIN_TRIALS_FOR_PRIORS else min(MAX_PRIORS, trials // 4)


def enqueue_priors(study, loaded: LoadedConfig) -> list[str]:
    """Enqueue the space's structured priors (`space.priors`) to run right after the reference, each
    marked with the user attr `prior` (its description); returns the descriptions enqueued.

    Only into a new study: one whose only trial is the reference (so never again on resume, nor
    into a study that already sampled), only with `warm_start: true`, and `prior_count` of them."""
    from .space import priors

    cfg = loaded.config
    if not cfg.warm_start:
        return []
    if any(R.REFERENCE not in t.user_attrs for t in study.get_trials(deepcopy=False)):
        return []
    chosen = priors(cfg.space, loaded.base)[:prior_count(cfg.trials)]
    for description, params in chosen:
        study.enqueue_trial(params, user_attrs={R.PRIOR: description})
    return [description for description, _ in chosen]


def recover_interrupted(study, location: str) -> list[int]:
    """Trials left RUNNING by a killed process. RDB storages find them by heartbeat; a journal file
    has none, so at the start of a command (when no other worker of this machine runs) its RUNNING
    trials are failed here and their candidates enqueued again."""
    from optuna.trial import TrialState

    if not is_journal(location):
        fail_stale(study)
        return []
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # Optuna has no public call that sets a user attr on a trial this process did not ask for;
        # the reason must be on the trial before it finishes (a finished trial's attrs are frozen).
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted: its worker stopped mid-trial")
        study.tell(t.number, state=TrialState.FAIL)
        retry_candidate(study, t)
        recovered.append(t.number)
    return recovered


def fail_stale(study) -> None:
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" since Optuna 2.9
        optuna.storages.fail_stale_trials(study)


def best_trial(study) -> dict | None:
    """The search's best trial (`results.best`: by the study's proxy score), as plain data."""
    from .results import DEFAULT_PROXY, best, score

    t = best(study)
    if t is None:
        return None
    r = R.read_trial(t)
    return {"number": t.number, "score": score(t), "proxy": r.proxy or DEFAULT_PROXY, "val_top1": r.val_top1,
            "ops": r.ops, "params": r.params, "widths": R.widths_text(r.widths), "latency_ms": r.latency_ms,
            "measured_latency_ms": r.measured_latency_ms, "train_memory": r.train_memory, "batch_size": r.batch_size,
            "reference": bool(r.reference)}


__all__ = ["MAX_PRIORS", "MIN_TRIALS_FOR_PRIORS", "SearchError", "best_trial", "counts",
           "enqueue_priors", "enqueue_reference", "finished", "latency_attr", "latency_cost", "open_study",
           "prior_count", "recover_interrupted"]
