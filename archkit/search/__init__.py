"""Width/depth search under compute budgets with Optuna.

Sampled parameters -> a spec (pure function) -> analytic profile (budget check, budget filling)
-> training (only within the budget) -> results in Optuna storage.
"""

from .budget import Measured, fill_budget, measure
from .config import LoadedConfig, SearchConfig, load_search_config
from .export import export
from .numbers import format_count, parse_count
from .space import candidate, stages_of

__all__ = [
    "LoadedConfig",
    "Measured",
    "SearchConfig",
    "candidate",
    "export",
    "fill_budget",
    "format_count",
    "load_search_config",
    "measure",
    "parse_count",
    "search",
    "stages_of",
]


def search(config, *, storage: str | None = None, study: str | None = None, overrides: dict | None = None,
           progress: bool = False, train=None):
    """Run (or resume) the search of a config file in this process; returns a `RunSummary`."""
    from .runner import resolve_location, run_worker

    loaded = load_search_config(config, overrides)
    name = study or loaded.study_name
    return run_worker(loaded, resolve_location(storage, name, 1), name, progress=progress, train=train)
