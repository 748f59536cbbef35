"""Running a study: samplers and pruners, resume, the reference trial, workers, exact trial counts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..spec.yamlio import dump_yaml
from ..training.errors import DataError
from .config import LoadedConfig
from .storage import default_location, describe, is_journal, open_storage, retry_candidate
from .trial import REFERENCE_ATTR, SurplusTrial, TrialContext, constraints_of, run_trial

# A run stops when this share of its trials failed (after at least MIN_FAILURES failures):
# something is wrong with the data, the device or the recipe, and more trials would fail too.
MAX_FAILURE_RATE = 0.5
MIN_FAILURES = 3


class SearchError(RuntimeError):
    """A search that cannot go on; the message says why and how to resume."""


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


# `sampler: auto` (Optuna's guidance: TPE wants 100+ trials and starts with 10 random ones, NSGA-II's
# first generation is random, GPSampler suits 10-100 trials; NAS-Bench-101: samplers separate from
# random search only after ~25 evaluations).
GP_MAX_TRIALS = 50  # up to this many trials: a Gaussian process
NSGA2_MIN_TRIALS = 100  # two objectives and at least this many trials: NSGA-II; else multivariate TPE


def choose_sampler(loaded: LoadedConfig) -> tuple[str, str]:
    """The sampler a config gets (`sampler: auto` resolved) and why, in a few words."""
    cfg = loaded.config
    if cfg.sampler != "auto":
        return cfg.sampler, "as configured"
    n, what = cfg.trials, ("one objective" if not cfg.multi_objective else f"{len(cfg.objectives)} objectives")
    if n <= GP_MAX_TRIALS and (not cfg.multi_objective or _gp_multi_objective()):
        return "gp", f"auto: {what}, {n} trials (GP up to {GP_MAX_TRIALS})"
    if cfg.multi_objective and n >= NSGA2_MIN_TRIALS:
        return "nsga2", f"auto: {what}, {n} trials (NSGA-II from {NSGA2_MIN_TRIALS})"
    if cfg.multi_objective:
        return "tpe", f"auto: {what}, {n} trials (multivariate TPE up to {NSGA2_MIN_TRIALS - 1})"
    return "tpe", f"auto: {what}, {n} trials (multivariate TPE above {GP_MAX_TRIALS})"


def startup_trials(name: str, trials: int) -> int:
    """Trials a model-based sampler draws at random before it models: few, since the reference is
    hidden from it and the priors count (GP: a quarter of the study; TPE: a tenth; 3 to 10)."""
    return max(3, min(10, trials // (4 if name == "gp" else 10)))


def make_sampler(loaded: LoadedConfig, seed: int):
    """The study's sampler (see `choose_sampler`), blind to the reference trial: see `sampling`.

    Budget constraints: the trials set them (`Trial.set_constraint`, Optuna >= 5), which TPE, GP and
    NSGA-II read from every finished trial; a `constraints_func` (deprecated in Optuna 5) is passed
    only to an Optuna without `set_constraint`. Random and QMC sampling ignore constraints."""
    import warnings

    import optuna

    from .sampling import ReferenceBlind

    cfg = loaded.config
    name, _ = choose_sampler(loaded)
    constraints = {"constraints_func": constraints_of} if cfg.budget.limits() and not _has_set_constraint() else {}
    with warnings.catch_warnings():
        # TPE's multivariate/group and QMC are "experimental" in Optuna: chosen knowingly, not news to users.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "gp":
            # Parameters of modules that exist only at some depths are outside the GP's (intersection)
            # space and sampled at random: expected, so not warned about.
            sampler = optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=startup_trials(name, cfg.trials),
                **_accepted(optuna.samplers.GPSampler, warn_independent_sampling=False, **constraints))
        elif name == "tpe":
            # group=True: the parameters of modules that exist only at some depths are modelled in
            # groups of trials that have them, instead of at random.
            sampler = optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=startup_trials(name, cfg.trials), multivariate=True, group=True,
                **constraints)
        elif name == "nsga2":
            sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(50, cfg.trials // 3)),
                                                    **constraints)
        elif name == "qmc":
            sampler = optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
    # GPSampler models complete trials only: it sees a pruned trial as complete (sampling.py).
    return ReferenceBlind(sampler, pruned_as_complete=name == "gp")


def _accepted(cls, **kwargs) -> dict:
    """The keyword arguments `cls` takes (GPSampler's grew over Optuna 4.x)."""
    import inspect

    params = inspect.signature(cls).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def _gp_multi_objective() -> bool:
    """Optuna 5's GPSampler models several objectives (and constraints); Optuna 4.0's did not."""
    import optuna

    return int(optuna.__version__.split(".")[0]) >= 5


def _has_set_constraint() -> bool:
    from optuna.trial import Trial

    return hasattr(Trial, "set_constraint")


def make_pruner(loaded: LoadedConfig):
    import optuna

    cfg = loaded.config
    if cfg.multi_objective or cfg.pruner == "none":
        return optuna.pruners.NopPruner()
    if cfg.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=cfg.train.epochs)
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def open_study(loaded: LoadedConfig, location: str, study_name: str, seed: int | None = None):
    """Create the study or load it by name; refuses a study whose objectives differ from the config."""
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
    return study


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
    if any(REFERENCE_ATTR in t.user_attrs for t in study.get_trials(deepcopy=False, states=states)):
        return False
    study.enqueue_trial({}, user_attrs={REFERENCE_ATTR: "uniform width scaling of the base to the budget"})
    return True


PRIOR_ATTR = "prior"
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
    if any(REFERENCE_ATTR not in t.user_attrs for t in study.get_trials(deepcopy=False)):
        return []
    chosen = priors(cfg.space, loaded.base)[:prior_count(cfg.trials)]
    for description, params in chosen:
        study.enqueue_trial(params, user_attrs={PRIOR_ATTR: description})
    return [description for description, _ in chosen]


def recover_interrupted(study, location: str) -> list[int]:
    """Trials left RUNNING by a killed process. RDB storages find them by heartbeat; a journal file
    has none, so at the start of a command (when no other worker of this machine runs) its RUNNING
    trials are failed here and their candidates enqueued again."""
    from optuna.trial import TrialState

    if not is_journal(location):
        _fail_stale(study)
        return []
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted: its worker stopped mid-trial")
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        retry_candidate(study, t)
        recovered.append(t.number)
    return recovered


def _fail_stale(study) -> None:
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" since Optuna 2.9
        optuna.storages.fail_stale_trials(study)


def best_trial(study) -> dict | None:
    """The best feasible trial by the study's proxy score (see `results`), as plain data."""
    from .results import ranked, score

    trials = ranked(study)
    if not trials:
        return None
    t, a = trials[0], trials[0].user_attrs
    return {"number": t.number, "score": score(t), "proxy": a.get("proxy", "val_top1"), "val_top1": a.get("val_top1"),
            "ops": a.get("ops"), "params": a.get("params"), "widths": a.get("widths"),
            "reference": bool(a.get(REFERENCE_ATTR))}


def _default_train(spec, **kwargs):
    from .. import train

    return train(spec, progress=False, **kwargs)


def run_worker(loaded: LoadedConfig, location: str, study_name: str, *, train=None, progress: bool = True,
               worker: int | None = None, seed: int | None = None) -> RunSummary:
    """Run trials in this process until the study has `config.trials` finished trials (or timeout)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are kept in trial attrs
    cfg = loaded.config
    if seed is None:
        # Each run (and each worker) samples with its own deterministic seed: a resumed run that
        # reused the first run's seed would propose the first run's candidates again.
        study = open_study(loaded, location, study_name)
        seed = cfg.seed + (worker or 0) * 7919 + len(study.get_trials(deepcopy=False)) * 104729
    study = open_study(loaded, location, study_name, seed=seed)
    if worker is None:
        recover_interrupted(study, location)
        enqueue_reference(study)
        enqueue_priors(study, loaded)
    deadline = time.monotonic() + cfg.timeout if cfg.timeout else None
    attempts = failures = 0
    stopped = ""
    from .progress import LiveView

    title = f"archkit search {study_name} ({describe(location)})"
    with LiveView(study, title, cfg.budget.limits(), enabled=progress) as view:
        ctx = TrialContext(loaded, train or _default_train, on_event=view.event, max_trials=cfg.trials)
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
                    _fail_stale(study)
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
                if t.state.name == "FAIL" and "surplus" not in str(t.user_attrs.get("error", "")):
                    failures += 1
            if failures >= MIN_FAILURES and failures / attempts > MAX_FAILURE_RATE:
                errors = [str(t.user_attrs.get("error", "?")) for t in study.get_trials(deepcopy=False)
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
        trial.set_user_attr("error", "interrupted (Ctrl-C); rerun the same command to resume")
        retry_candidate(trial.study, trial)  # the resumed run trains this candidate again
        raise
    except SurplusTrial:
        raise
    except DataError as exc:
        trial.set_user_attr("error", f"data: {exc}".splitlines()[0][:300])
        retry_candidate(trial.study, trial)  # not the candidate's failure: trained again on resume
        ctx.data_error = str(exc).splitlines()[0]
        raise
    except Exception as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        raise


def worker_env(index: int, workers: int) -> dict[str, str]:
    """One GPU per worker where there are GPUs; on CPU, the cores split between workers."""
    env = dict(os.environ)
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no torch/CUDA is the CPU case
        gpus = 0
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env["OMP_NUM_THREADS"] = str(threads)  # torch takes its intra-op thread count from it
    return env


def run_workers(loaded: LoadedConfig, location: str, study_name: str, workers: int, child_args: list[str],
                progress: bool = True, log_dir: Path | None = None) -> RunSummary:
    """Start `workers` processes of this command on one study and show their trials live."""
    cfg = loaded.config
    study = open_study(loaded, location, study_name)
    recover_interrupted(study, location)
    enqueue_reference(study)
    enqueue_priors(study, loaded)
    if log_dir is None:
        log_dir = Path(location).parent if is_journal(location) else Path("studies")
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    logs = []
    for i in range(workers):
        log = open(log_dir / f"{study_name}.worker{i}.log", "ab")
        logs.append(log)
        cmd = [sys.executable, "-m", "archkit", "search", *child_args, "--storage", location, "--study",
               study_name, "--worker", str(i)]
        procs.append(subprocess.Popen(cmd, env=worker_env(i, workers), stdout=log, stderr=subprocess.STDOUT))
    from .progress import LiveView

    title = f"archkit search {study_name}: {workers} workers ({describe(location)})"
    try:
        with LiveView(study, title, cfg.budget.limits(), enabled=progress, period=2.0) as view:
            while any(p.poll() is None for p in procs):
                time.sleep(1.0)
                view.refresh()
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(2)  # SIGINT: each worker marks its running trial failed, then exits
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    finally:
        for log in logs:
            log.close()
    codes = [p.returncode for p in procs]
    c = counts(study)
    summary = RunSummary(study_name, location, finished(c), cfg.trials, c, best_trial(study))
    if any(codes):
        bad = [f"worker {i} exited with {code} (log: {log_dir / f'{study_name}.worker{i}.log'})"
               for i, code in enumerate(codes) if code]
        summary.stopped = "; ".join(bad)
    return summary


def resolve_location(storage: str | None, study_name: str, workers: int) -> str:
    return storage if storage else default_location(study_name, workers)


__all__ = ["RunSummary", "SearchError", "SurplusTrial", "best_trial", "choose_sampler", "counts", "enqueue_priors",
           "enqueue_reference", "make_sampler", "open_study",
           "recover_interrupted", "resolve_location", "run_worker", "run_workers"]
