"""Plans of the studies' spaces at a small budget (tiny widths: fast), made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..search.conftest import quick_table  # noqa: F401 (the latency table fixture, for test_latency.py)

STUDIES = Path(__file__).resolve().parents[2] / "studies"
SMALL_BUDGET = "1M"  # multiply-adds: the same spaces, narrow networks (the narrowest need ~0.5M)


def load(name: str, budget: str = SMALL_BUDGET):
    from archkit.search.loader import load_search_config

    return load_search_config(STUDIES / name, overrides={"budget.ops": budget})


@pytest.fixture(scope="session", params=["demo.yaml", "small-space.yaml"])
def planned(request):
    """(loaded config, plan) of a study's space at the small budget; the pool's corners only."""
    from archkit.supernet import plan_for

    loaded = load(request.param)
    return loaded, plan_for(loaded, classes=loaded.base.classes, samples=0)
