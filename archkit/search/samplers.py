"""Samplers and pruners of a study: what `sampler: auto` chooses, each sampler built with the
study's constraints, and every sampler blind to the reference trial (`sampling.ReferenceBlind`)."""

from __future__ import annotations

from .config import LoadedConfig
from .trial import constraints_of

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
