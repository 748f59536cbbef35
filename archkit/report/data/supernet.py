"""A `proxy: supernet` study's supernet: its training curves, from the study attr the search sets
when it starts (`archkit.search.record.SUPERNET`), so the report needs no checkpoint."""

from __future__ import annotations

from ...search import record as R
from .records import SupernetCurves

SAMPLED_PREFIX = "val_top1_sampled_"  # the history's keys of the sampled sub-networks (1, 2, ...)


def _fraction(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def supernet_curves(attrs: dict, candidates: int = 0) -> SupernetCurves | None:
    """The supernet's val top-1 by epoch (largest, smallest, each sampled sub-network) from a
    study's user attrs; None when the study has no supernet attr (another proxy, or a study made
    before the attr) or it cannot be read. `candidates`: the study's candidates scored on it."""
    attr = attrs.get(R.SUPERNET)
    if not isinstance(attr, dict) or not isinstance(attr.get("history"), list):
        return None
    history = [e for e in attr["history"] if isinstance(e, dict) and _fraction(e.get("epoch")) is not None]
    keys = sorted({k for e in history for k in e if k.startswith(SAMPLED_PREFIX) and k[len(SAMPLED_PREFIX):].isdigit()},
                  key=lambda k: int(k[len(SAMPLED_PREFIX):]))
    step = attr.get("step")
    return SupernetCurves(
        directory=str(attr.get("directory", "")),
        seconds=_fraction(attr.get("seconds")) or 0.0,
        step=step if isinstance(step, int) and not isinstance(step, bool) else None,
        epochs=[float(e["epoch"]) for e in history],
        largest=[_fraction(e.get("val_top1")) for e in history],
        smallest=[_fraction(e.get("val_top1_smallest")) for e in history],
        sampled=[[_fraction(e.get(k)) for e in history] for k in keys],
        candidates=candidates,
    )
