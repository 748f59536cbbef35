"""A candidate with its inherited weights (BigNAS): its slice of the trained supernet, batch norm
recalibrated, written next to its exported YAML as a weights file that `archkit.build(spec,
weights=...)` and `archkit train SPEC --init-from` read.

The supernet is the one the study's config names (`supernet:`, default where `archkit supernet
train` writes for it), or the folder given; it must be the supernet of the study's config (base,
space, data) and cover its budget, as for `proxy: supernet`.
"""

from __future__ import annotations

from pathlib import Path

from ..builder.weights import save_weights
from ..search.config import LoadedConfig
from ..search.confirm import ConfirmError, load_config
from ..search.export import ExportError, load_study
from ..spec.loader import spec_from_yaml
from ..spec.yamlio import dump_yaml
from ..util.files import atomic_write_text


def loaded_of(study) -> LoadedConfig:
    """The study's search config and base spec, as stored in the study (no file read)."""
    try:
        config = load_config(study)
    except ConfirmError as exc:
        raise ExportError(str(exc)) from None
    base_text = study.user_attrs.get("base_spec")
    if not base_text:
        raise ExportError(f"study {study.study_name!r} stores no base spec: export its weights from a study "
                          f"created by this version of archkit search")
    return LoadedConfig(config, spec_from_yaml(base_text, f"{study.study_name} base"), None)


def export_weights(study_name: str, specs: list[Path], storage: str | None = None,
                   supernet: str | Path | None = None) -> list[Path]:
    """For each exported YAML in `specs`, its inherited weights as `<name>.pt` beside it."""
    from .proxy import SupernetScorer, supernet_directory
    from .support import check_expressible

    study, _ = load_study(study_name, storage)
    loaded = loaded_of(study)
    check_expressible(loaded)
    directory = Path(supernet) if supernet is not None else supernet_directory(loaded)
    scorer = SupernetScorer(loaded, directory)
    written = []
    try:
        last = scorer.history[-1] if scorer.history else {}
        for path in specs:
            text = path.read_text(encoding="utf-8")
            spec = spec_from_yaml(text, str(path))
            if spec.classes != scorer.plan.classes:  # the classifier follows the supernet's data
                spec = spec.with_classes(scorer.plan.classes)
                header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
                atomic_write_text(path, header + f"# classes: {scorer.plan.classes}, the data's (the weights')\n"
                                  + dump_yaml(spec.to_dict()))
            score = scorer.scorer(spec)
            model = scorer.scorer.calibrated(spec)
            source = {"supernet": str(directory), "study": study_name, "supernet_epochs": last.get("epoch"),
                      "supernet_steps": last.get("step"), "calibration_batches": len(scorer.scorer.calibration),
                      "val_top1": score.val_top1, "data": scorer.config.data}
            written.append(save_weights(path.with_suffix(".pt"), spec, model.state_dict(), source))
    finally:
        scorer.close()
    return written
