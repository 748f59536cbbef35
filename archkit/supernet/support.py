"""What one supernet can express, checked on the config before anything is planned or trained.

Shared honestly: widths (the global, per-stage and growth multipliers, branch shares, reduce ratios
and budget filling all end as a conv's filter count: it keeps the first k of the slot's) and depth
(a stage runs its first d modules, each module name keeping its own weights). Not shared, own
weights instead: a factorized 5x5 (two 3x3 convs) and a plain 5x5 are different ops at the same
place, so each form has its own slot (plan.py keys slots by kernel) and only the 1x1 reduce in front
of them is shared. Refused, naming the key: what the supernet cannot slice or cannot bound.
"""

from __future__ import annotations

from ..search.config import LoadedConfig
from ..search.stages import stages_of
from ..spec.yamlio import line_for, load_yaml
from .errors import SupernetError

# The limits a supernet is sized by: costs the profiler counts exactly from the widths, so the widest
# network within them bounds every candidate's filters. A latency limit only narrows a search within
# them (its candidates are among those of the count limit beside it); train_memory is the trials'.
SIZING_KEYS = ("ops", "params", "activations")


def sizing_limits(limits: dict[str, float]) -> dict[str, float]:
    """The part of a budget's limits that sizes a supernet (`SIZING_KEYS`)."""
    return {k: v for k, v in limits.items() if k in SIZING_KEYS}


def _error(loaded: LoadedConfig, path: tuple, message: str) -> SupernetError:
    source, line = (str(loaded.path), None) if loaded.path else (loaded.study_name, None)
    if loaded.path and loaded.path.is_file():
        try:
            _, lines = load_yaml(loaded.path.read_text(encoding="utf-8"), source)
            line = line_for(path, lines)
        except Exception:  # the config was read once already; a line number is a nicety
            line = None
    return SupernetError(message, path, source, line)


def check_expressible(loaded: LoadedConfig) -> None:
    """Raise `SupernetError` (one line: file, line, key, why) if the config's space and budget
    cannot be one supernet."""
    cfg, base = loaded.config, loaded.base
    limits = cfg.budget.limits()
    if "latency_ms" in limits and not sizing_limits(limits):
        raise _error(loaded, ("budget", "latency_ms"), "a latency limit alone cannot size a supernet (a latency "
                     "budget pays for depth: a shallow candidate meets it with many times the multiply-adds of a "
                     "deep one); add an ops (or params) limit beside latency_ms: the supernet holds every "
                     "candidate within it, and a search keeps the candidates that meet both")
    if base.aux:
        raise _error(loaded, ("base",), f"{base.name} has aux heads; the supernet trains and slices the main path "
                     "only (use a base without aux heads)")
    for stage in stages_of(base).values():
        for i in stage.indices:
            layer = base.layers[i]
            if layer.module is not None:
                raise _error(loaded, ("base",), f"{base.name}'s {layer.name} is a general `module:` row; the "
                             "supernet's largest and smallest networks are made of Table 1's `inception:` rows "
                             "only")
    for layer in base.layers:
        conv = layer.conv
        if conv is not None and (conv.groups != 1 or conv.separable):
            raise _error(loaded, ("base",), f"{base.name}'s {layer.name} is a grouped or separable conv, whose "
                         "filters cannot be sliced apart from its input channels")
    if not limits and cfg.space.width is None and cfg.space.stage_width is None \
            and cfg.space.stage_width_growth is None and not cfg.space.depth:
        raise _error(loaded, ("space",), "varies neither width nor depth: there is nothing to share")
