"""One trial: sampled parameters -> spec -> analytic budget check -> (dedupe) -> training -> attrs.

Nothing touches a tensor before the candidate is known to fit the budget: over-budget candidates
are recorded with their constraint values (so constraint-aware samplers learn the feasible region)
and never trained.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..spec.loader import spec_from_data
from ..spec.models import Spec
from ..spec.resolve import resolved
from ..spec.yamlio import dump_yaml
from . import record as R
from .budget import OBJECTIVE_COST, Measured, constraint_values, feasible, fill_budget, measure
from .config import LoadedConfig
from .latency_cost import LatencyCost
from .proxies import PROXIES, proxy_batch
from .results import DEFAULT_PROXY, score
from .space import candidate, suggest, widths_of
from .train_cost import TrainCost, train_cost, trainer_recipe, trial_recipe

# The user attrs a trial carries are declared in `record`; the report and export read them there.


class SurplusTrial(Exception):
    """This trial would exceed the study's asked number of trials (another worker got there first)."""


def arch_key(spec: Spec) -> str:
    """A hash of what makes two candidates the same network (everything but name and prose)."""
    data = spec.to_dict()
    for key in ("name", "source", "description"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def constraints_of(trial) -> list[float]:
    """Optuna's `constraints_func`: the values stored by the trial (all 0 = feasible if none)."""
    return list(trial.user_attrs.get(R.CONSTRAINTS, [0.0]))


@dataclass
class TrialContext:
    """What every trial of a run shares."""

    loaded: LoadedConfig
    train: Callable  # archkit.train-like: (spec, **recipe, on_epoch=...) -> result
    on_event: Callable[[str, dict], None] | None = None  # progress view hook
    max_trials: int | None = None
    data_error: str | None = None  # set when a trial met bad data: the run stops (not the candidate's fault)
    latency: LatencyCost | None = None  # predicts (and measures) latency: a latency budget or objective
    shared_score: Callable | None = None  # the supernet proxy's scorer: spec -> val top-1 on the supernet
    # The batch and predicted peak training memory of each candidate (default: `train_cost(config)`,
    # with `auto` resolved on this machine).
    train_cost: TrainCost | None = None

    def __post_init__(self) -> None:
        if self.train_cost is None:
            self.train_cost = train_cost(self.loaded.config)


def _values(ctx: TrialContext, accuracy: float, measured: Measured):
    objectives = ctx.loaded.config.objectives
    if len(objectives) == 1:
        return accuracy
    return accuracy, float(measured.get(OBJECTIVE_COST[objectives[1]]))


def _check_surplus(trial, max_trials: int | None) -> None:
    """Exactly `max_trials` finished trials across all workers: a trial whose number comes after
    the first `max_trials` live (running or finished) trials is surplus and is not run."""
    if max_trials is None:
        return
    from optuna.trial import TrialState

    live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    ahead = [t for t in trial.study.get_trials(deepcopy=False, states=live) if t.number < trial.number]
    if len(ahead) >= max_trials:
        trial.set_user_attr(R.ERROR, "surplus: the study already has its trials (not run)")
        raise SurplusTrial(f"trial {trial.number} is surplus")


def _duplicate_of(trial, key: str):
    from optuna.trial import TrialState

    for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if other.number != trial.number and other.user_attrs.get(R.ARCH) == key and score(other) is not None \
                and other.user_attrs.get(R.PROXY, DEFAULT_PROXY) == trial.user_attrs.get(R.PROXY, DEFAULT_PROXY):
            return other
    return None


def _device_name(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _cuda_peak_start(device: str):
    """torch.cuda with its peak statistics reset on `device`, when the trial trains on CUDA; else None."""
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None  # the trainer says so
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda


def run_trial(trial, ctx: TrialContext):
    """The Optuna objective. Returns accuracy (or (accuracy, cost) for two objectives)."""
    started = time.perf_counter()
    _check_surplus(trial, ctx.max_trials)
    loaded, cfg = ctx.loaded, ctx.loaded.config
    limits = cfg.budget.limits()
    reference = bool(trial.user_attrs.get(R.REFERENCE))
    space = cfg.space
    if cfg.fill_budget and limits and space.width is not None:
        # Budget filling sets the global width itself; sampling it too would only make duplicates.
        space = space.model_copy(update={"width": None})
    params = {} if reference else suggest(trial, space, loaded.base)
    name = f"{loaded.study_name[:80]}-trial{trial.number}"  # a spec name has at most 100 characters
    train = ctx.train_cost
    if reference or (cfg.fill_budget and limits):
        # The reference is the base scaled uniformly to the budget; budget filling does the same
        # for a sampled candidate, so no trial is wasted below the budget. (Training memory is
        # predicted at every step of the filling only when it is a limit.)
        filled = fill_budget(loaded.base, params, limits, cfg.space.divisor, name, latency=ctx.latency,
                             train=train if R.TRAIN_MEMORY in limits else None)
        spec, measured, scale = filled.spec, filled.measured, filled.scale
    else:
        spec = candidate(loaded.base, params, cfg.space.divisor, 1.0, name)
        measured, scale = measure(spec, ctx.latency, train=train), 1.0
    if train is not None and measured.train_memory is None:
        batch, peak = train.measure(resolved(spec))
        measured = replace(measured, train_memory=peak, batch_size=batch)
    # Full validation of the final candidate, as if a user had written it.
    spec = spec_from_data(spec.to_dict(), source=name)
    ok = feasible(measured, limits)
    key = arch_key(spec)
    widths = widths_of(spec)
    attrs = {
        R.SPEC: dump_yaml(spec.to_dict()),
        R.OPS: measured.ops,
        R.PARAMS: measured.params,
        R.ACTIVATIONS: measured.activations,
        R.WIDTH_SCALE: scale,
        R.WIDTHS: widths,  # structured: {"stem": [...], "stages": [[...], ...]}
        R.ARCH: key,
        R.FEASIBLE: ok,
        R.CONSTRAINTS: constraint_values(measured, limits) if limits else [0.0],
    }
    if measured.latency_ms is not None:
        attrs[R.LATENCY_MS] = measured.latency_ms  # predicted, every op of the network in the table
    if measured.train_memory is not None:
        attrs[R.TRAIN_MEMORY] = measured.train_memory  # predicted peak of one training step
        attrs[R.BATCH_SIZE] = measured.batch_size
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    if limits and hasattr(trial, "set_constraint"):  # Optuna >= 5; older ones call constraints_of
        for k, value in zip(limits, attrs[R.CONSTRAINTS], strict=True):
            trial.set_constraint(k, value)
    if ctx.on_event:
        ctx.on_event("start", {"number": trial.number, "widths": R.widths_text(widths), "ops": measured.ops,
                               "params": measured.params, "latency_ms": measured.latency_ms,
                               "train_memory": measured.train_memory, "batch_size": measured.batch_size, "feasible": ok,
                               "reference": reference})
    if not ok:
        # Over budget: never trained. Recorded as complete with accuracy 0 and its constraint values.
        trial.set_user_attr(R.TRAINED, False)
        trial.set_user_attr(R.OVERHEAD_SECONDS, time.perf_counter() - started)
        return _values(ctx, 0.0, measured)
    proxy = PROXIES[cfg.proxy]
    trial.set_user_attr(R.PROXY, proxy.name)
    dup = _duplicate_of(trial, key)
    if dup is not None:
        for k in R.TRAINED_KEYS:
            if k in dup.user_attrs:
                trial.set_user_attr(k, dup.user_attrs[k])
        trial.set_user_attr(R.DUPLICATE_OF, dup.number)
        trial.set_user_attr(R.OVERHEAD_SECONDS, time.perf_counter() - started)
        return _values(ctx, score(dup), measured)
    seed = cfg.seed + trial.number
    if not proxy.trains:
        # A zero-cost proxy: the untrained network (built with the trial's seed) is scored, nothing trained.
        images = proxy_batch(spec, cfg.data, seed=seed) if proxy.images else None
        value = ctx.shared_score(spec) if proxy.shared else proxy.score(spec, seed=seed, images=images)
        trial.set_user_attr(R.SCORE, value)
        trial.set_user_attr(R.TRAINED, False)
        trial.set_user_attr(R.OVERHEAD_SECONDS, time.perf_counter() - started)
        return _values(ctx, value, measured)

    # Pruning compares validation accuracies per epoch: it is for the val_top1 proxy only.
    single = not cfg.multi_objective and proxy.name == DEFAULT_PROXY

    def on_epoch(epoch: int, metrics: dict) -> None:
        acc = float(metrics["val_top1"])
        trial.set_user_attr(R.VAL_TOP1, acc)
        # Kept per epoch, so a pruned trial carries them too.
        if "seconds" in metrics:
            trial.set_user_attr(R.TRAIN_SECONDS, float(metrics["seconds"]))
        if metrics.get("images_per_s"):
            trial.set_user_attr(R.IMAGES_PER_S, float(metrics["images_per_s"]))
        if ctx.on_event:
            ctx.on_event("epoch", {"number": trial.number, "epoch": epoch, **metrics})
        if single:
            import optuna

            trial.report(acc, epoch)
            if trial.should_prune():
                trial.set_user_attr(R.PRUNED_AT_EPOCH, epoch)
                raise optuna.TrialPruned(f"pruned after epoch {epoch} at val top-1 {acc:.3f}")

    overhead = time.perf_counter() - started
    device = _device_name(cfg.train.device)
    trial.set_user_attr(R.DEVICE, device)
    trial.set_user_attr(R.OVERHEAD_SECONDS, overhead)
    recipe = trainer_recipe(trial_recipe(cfg.train), measured.batch_size)
    cuda = _cuda_peak_start(device)
    train_started = time.perf_counter()
    result = ctx.train(spec, data=cfg.data, seed=seed, on_epoch=on_epoch, **recipe)
    # The whole train() call (data, model, loop, evaluation): the rest of the trial is overhead.
    trial.set_user_attr(R.TRAIN_CALL_SECONDS, time.perf_counter() - train_started)
    if cuda is not None:
        trial.set_user_attr(R.MEASURED_TRAIN_MEMORY, int(cuda.max_memory_allocated(device)))
    trial.set_user_attr(R.TRAINED, True)
    trial.set_user_attr(R.VAL_TOP1, float(result.val_top1))
    trial.set_user_attr(R.VAL_TOP5, float(result.val_top5))
    trial.set_user_attr(R.TRAIN_SECONDS, float(result.seconds))
    trial.set_user_attr(R.IMAGES_PER_S, float(result.train_images_per_s))
    trial.set_user_attr(R.DEVICE, str(result.device))
    trial.set_user_attr(R.PRECISION, str(result.precision))
    trial.set_user_attr(R.OVERHEAD_SECONDS, overhead)
    if ctx.latency is not None:
        # The prediction's check: the network timed whole on the same device and settings.
        timing = ctx.latency.measure(spec)
        trial.set_user_attr(R.MEASURED_LATENCY_MS, timing.min_ms)  # the fastest block, as the table's entries
        trial.set_user_attr(R.MEASURED_LATENCY_MEDIAN_MS, timing.median_ms)
        trial.set_user_attr(R.MEASURED_LATENCY_IQR_MS, timing.iqr_ms)
    value = proxy.score(spec, seed=seed, result=result)
    if value is None:
        raise ValueError(f"proxy {proxy.name}: the run gave no value (train_loss needs whole epochs)")
    trial.set_user_attr(R.SCORE, value)
    return _values(ctx, value, measured)
