"""Exporting a study's candidates as YAML specs (the best one, or the Pareto front)."""

from __future__ import annotations

from pathlib import Path

from ..spec.loader import spec_from_yaml
from ..spec.yamlio import dump_yaml
from ..util.files import atomic_write_text
from .storage import StorageError, default_location, describe, open_storage


class ExportError(ValueError):
    """Nothing to export, or no such study; the message says which."""


def load_study(study_name: str, storage: str | None = None):
    """An existing study by name, from `storage` or the default files under studies/."""
    import optuna

    location = storage or default_location(study_name)
    try:
        return optuna.load_study(study_name=study_name, storage=open_storage(location, create=False)), location
    except KeyError:
        raise StorageError(f"no study named {study_name!r} in {describe(location)}") from None


def _trained(study) -> list:
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("feasible") and t.user_attrs.get("trained") and "spec" in t.user_attrs
            and t.user_attrs.get("val_top1") is not None]


def pareto_front(trials: list, cost: str) -> list:
    """Trials not dominated in (higher val_top1, lower cost); ties kept once (lowest number)."""
    front = []
    for t in trials:
        acc, c = t.user_attrs["val_top1"], t.user_attrs[cost]
        dominated = any(
            (o.user_attrs["val_top1"] >= acc and o.user_attrs[cost] <= c)
            and (o.user_attrs["val_top1"] > acc or o.user_attrs[cost] < c or o.number < t.number)
            for o in trials if o is not t
        )
        if not dominated:
            front.append(t)
    return sorted(front, key=lambda t: t.user_attrs[cost])


def export(study_name: str, out_dir: str | Path, storage: str | None = None, pareto: bool = False,
           cost: str = "ops") -> list[Path]:
    """Write the best feasible candidate (or the accuracy-vs-`cost` Pareto front) as YAML specs.

    The best is the confirmation stage's best when the study has a verdict, else the trial with the
    highest val top-1 in the search.
    Each file is the trial's spec, validated again on the way out, with a header saying where it
    came from; `archkit profile` of the file gives exactly the trial's ops/params/activations."""
    study, location = load_study(study_name, storage)
    trials = _trained(study)
    if not trials:
        raise ExportError(f"study {study_name!r} has no finished, trained, within-budget trials to export")
    verdict = study.user_attrs.get("verdict")
    confirmed = None if pareto or not verdict else next(
        (t for t in trials if t.number == verdict["best"]["trial"]), None)
    if pareto:
        chosen = pareto_front(trials, cost)
    elif confirmed is not None:
        chosen = [confirmed]  # the confirmation stage's best, retrained with several seeds
    else:
        chosen = [max(trials, key=lambda t: (t.user_attrs["val_top1"], -t.number))]
    out = Path(out_dir)
    written = []
    for t in chosen:
        a = t.user_attrs
        spec = spec_from_yaml(a["spec"], f"{study_name} trial {t.number}")  # safe load + full validation
        header = (f"# archkit search {study_name}, trial {t.number} ({describe(location)})\n"
                  f"# val top-1 {a['val_top1']:.4f} (search); ops {a['ops']:,}; params {a['params']:,}; "
                  f"activations {a['activations']:,}\n")
        if t is confirmed:
            from .confirm import headline

            header += f"# {headline(verdict)}\n"
        path = out / f"{spec.name}.yaml"
        atomic_write_text(path, header + dump_yaml(spec.to_dict()))
        written.append(path)
    return written
