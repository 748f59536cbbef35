"""Running a study: setup, resume, the reference trial and the priors, the loop, workers, exact trial
counts (samplers and pruners: samplers.py)."""

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
from .latency_cost import THREADS_ENV, LatencyCost
from .samplers import choose_sampler, make_pruner, make_sampler
from .storage import default_location, describe, is_journal, open_storage, retry_candidate
from .trial import REFERENCE_ATTR, SurplusTrial, TrialContext, run_trial

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
        # Optuna has no public call that sets a user attr on a trial this process did not ask for;
        # the reason must be on the trial before it finishes (a finished trial's attrs are frozen).
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted: its worker stopped mid-trial")
        study.tell(t.number, state=TrialState.FAIL)
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
            "latency_ms": a.get("latency_ms"), "measured_latency_ms": a.get("measured_latency_ms"),
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
    latency = latency_cost(loaded)
    if seed is None:
        # Each run (and each worker) samples with its own deterministic seed: a resumed run that
        # reused the first run's seed would propose the first run's candidates again.
        study = open_study(loaded, location, study_name, latency=latency)
        seed = cfg.seed + (worker or 0) * 7919 + len(study.get_trials(deepcopy=False)) * 104729
    study = open_study(loaded, location, study_name, seed=seed, latency=latency)
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
    with LiveView(study, title, cfg.budget.limits(), enabled=progress) as view:
        ctx = TrialContext(loaded, train or _default_train, on_event=view.event, max_trials=cfg.trials,
                           latency=latency)
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
    if THREADS_ENV not in env:
        from .latency_cost import default_threads

        # Latency is predicted with this command's thread count in every worker (one budget, one meaning).
        env[THREADS_ENV] = str(default_threads())
    return env


def run_workers(loaded: LoadedConfig, location: str, study_name: str, workers: int, child_args: list[str],
                progress: bool = True, log_dir: Path | None = None) -> RunSummary:
    """Start `workers` processes of this command on one study and show their trials live."""
    cfg = loaded.config
    study = open_study(loaded, location, study_name, latency=latency_cost(loaded))
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

    latency = latency_cost(loaded)
    title = f"archkit search {study_name}: {workers} workers ({describe(location)})" + (
        f"; latency on {latency.describe()}" if latency is not None else "")
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
           "enqueue_reference", "latency_cost", "make_sampler", "open_study",
           "recover_interrupted", "resolve_location", "run_worker", "run_workers"]
