"""Width/depth search under compute budgets with Optuna.

Sampled parameters -> a spec (pure function) -> analytic profile (budget check, budget filling)
-> training (only within the budget) -> results in Optuna storage.
"""

from __future__ import annotations

import importlib

# Loaded on first use (PEP 562): `archkit profile` imports the CLI, which names the search
# commands, and should not pay for the search's models.
_WHERE = {
    "Measured": "budget", "fill_budget": "budget", "measure": "budget",
    "LoadedConfig": "config", "SearchConfig": "config", "load_search_config": "config",
    "export": "export", "format_count": "numbers", "parse_count": "numbers",
    "candidate": "space", "stages_of": "stages",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
           progress: bool = False, train=None, confirm: bool = True):
    """Run (or resume) the search of a config file in this process; returns a `RunSummary`.

    When the study has all its trials and the config has a `final:` section (the default), the
    confirmation stage runs too (`confirm=False` skips it) and `summary.verdict` holds its verdict."""
    from .loader import load_search_config
    from .runner import _default_train, resolve_location, run_worker

    loaded = load_search_config(config, overrides)
    name = study or loaded.study_name
    location = resolve_location(storage, name, 1)
    summary = run_worker(loaded, location, name, progress=progress, train=train)
    if confirm and loaded.config.final is not None and summary.finished >= summary.asked:
        import optuna

        from .confirm import confirm as run_confirm
        from .storage import open_storage

        found = optuna.load_study(study_name=name, storage=open_storage(location))
        summary.verdict = run_confirm(found, loaded.config, loaded.config.final, train or _default_train)
    return summary
