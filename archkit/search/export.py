"""Exporting a study's candidates as YAML specs (the best one, or the Pareto front)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ArchkitError
from ..spec.loader import spec_from_yaml
from ..spec.yamlio import dump_yaml
from ..util.files import atomic_write_text
from . import record as R
from .budget import OBJECTIVE_COST
from .results import DEFAULT_PROXY, confirmed_best, fronts, ranked, score, score_label
from .storage import StorageError, default_location, describe, open_storage


class ExportError(ArchkitError):
    """Nothing to export, or no such study; the message says which."""


def load_study(study_name: str, storage: str | None = None):
    """An existing study by name, from `storage` or the default files under studies/."""
    import optuna

    location = storage or default_location(study_name)
    try:
        return optuna.load_study(study_name=study_name, storage=open_storage(location, create=False)), location
    except KeyError:
        raise StorageError(f"no study named {study_name!r} in {describe(location)}") from None


def export(study_name: str, out_dir: str | Path, storage: str | None = None, pareto: bool = False,
           cost: str = "ops", trial: int | None = None) -> list[Path]:
    """Write the best feasible candidate (or the accuracy-vs-`cost` Pareto front) as YAML specs.

    The best is the confirmation stage's best when the study has a verdict, else the search's best
    (`results.best`: the highest score of the study's proxy, val top-1 by default); the front is
    `results.fronts`'s, on the same score. `trial` exports that trial's candidate instead, whatever it is
    (the reference, a pruned or an over-budget one).
    Each file is the trial's spec, validated again on the way out, with a header saying where it
    came from; `archkit profile` of the file gives exactly the trial's ops/params/activations."""
    study, location = load_study(study_name, storage)
    cost = OBJECTIVE_COST.get(cost, cost)  # "latency": the trial attr of the predicted latency
    if trial is not None:
        return _write(study_name, location, [_any_trial(study, trial)], out_dir,
                      where=study.user_attrs.get("latency"))
    trials = ranked(study)
    if not trials:
        raise ExportError(f"study {study_name!r} has no finished, trained, within-budget trials to export")
    verdict = study.user_attrs.get(R.VERDICT)
    confirmed = None if pareto else confirmed_best(study, trials)
    if pareto:
        if cost == R.LATENCY_MS and not any(cost in t.user_attrs for t in trials):
            raise ExportError(f"study {study_name!r} predicted no latency (its config has no latency budget or "
                              f"objective): choose --cost ops or params")
        chosen = fronts(trials, (cost,))[cost]
    elif confirmed is not None:
        chosen = [confirmed]  # the confirmation stage's best, retrained with several seeds
    else:
        chosen = trials[:1]
    return _write(study_name, location, chosen, out_dir, confirmed, verdict, study.user_attrs.get("latency"))


def _any_trial(study, number: int):
    """Trial `number` of the study, whatever its state, if it has a candidate (the reference too)."""
    found = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if found is None:
        last = len(study.get_trials(deepcopy=False)) - 1
        raise ExportError(f"study {study.study_name!r} has no trial {number} (trials 0..{last})")
    if R.SPEC not in found.user_attrs:
        raise ExportError(f"trial {number} of study {study.study_name!r} has no candidate spec "
                          f"({found.state.name.lower()} before its candidate was made)")
    return found


def _write(study_name: str, location: str, chosen: list, out_dir, confirmed=None, verdict=None,
           where: dict | None = None) -> list[Path]:
    out = Path(out_dir)
    written = []
    for t in chosen:
        r = R.read_trial(t)
        spec = spec_from_yaml(r.spec, f"{study_name} trial {t.number}")  # safe load + full validation
        found = _found(r, score(t))
        notes = (" (the uniform-scaling reference)" if r.reference else "") + (
            "" if r.feasible in (True, None) else " (over the budget)")
        header = (f"# archkit search {study_name}, trial {t.number}{notes} ({describe(location)})\n"
                  f"# {found} (search); ops {r.ops:,}; params {r.params:,}; activations {r.activations:,}"
                  + (f"; latency {r.latency_ms:.4g} ms predicted" if r.latency_ms is not None else "")
                  + (f", {r.measured_latency_ms:.4g} ms measured" if r.measured_latency_ms is not None else "")
                  + (f" (on {where.get('device_name')}, {where.get('device')}, batch {where.get('batch')}, "
                     f"{where.get('precision')}, {where.get('threads')} threads)"
                     if where and r.latency_ms is not None else "") + "\n")
        if t is confirmed:
            from .confirm import headline

            header += f"# {headline(verdict)}\n"
        path = out / f"{spec.name}.yaml"
        atomic_write_text(path, header + dump_yaml(spec.to_dict()))
        written.append(path)
    return written


def _found(r: R.StoredTrial, value: float | None) -> str:
    """What the search found: 'val top-1 0.9120', or the proxy's score first when the study ranked by
    another ('train_loss score -1.23 (val top-1 0.8000)'); 'not trained' without either."""
    val = f"val top-1 {r.val_top1:.4f}" if r.val_top1 is not None else ""
    if r.proxy in (None, DEFAULT_PROXY) or r.proxy_score is None:
        return val or (f"score {value:.4g}" if value is not None else "not trained")
    return f"{score_label(r.proxy)} {r.proxy_score:.4g}" + (f" ({val})" if val else "")
