"""Plain data for the reports: dicts, lists, strings and numbers, no Plotly.

Each function here turns a profile, a pair of profiles or an Optuna study into what the figures and
tables draw, so that what a report shows is tested without a browser or a plotting library. The
drawing (figures.py) and the page (page.py) only lay this data out.

Units follow the text tables (`archkit.profile.render`): params in K = 1024 weights (Table 1's
convention), ops in M = 10^6 multiply-adds; every number is also kept exact.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter

from ..profile.paper import CompareRow, paper_numbers
from ..profile.profiler import FILTER_COLUMNS, Profile, Row
from ..profile.render import HEADERS, compare_summary, fmt_k, fmt_m
from ..util.stats import t_interval

STAGE_KINDS = ("inception", "module")  # the rows a stage is made of (what `stages_of` counts)
_STAGE_NAME = re.compile(r"^(.*?)(\d+)[a-z]$")  # inception4a -> stage4, as the search names stages


def size_text(shape) -> str:
    """Table 1's output size: height x width x channels."""
    c, h, w = shape
    return f"{h}x{w}x{c}"


def stage_names(rows: list[Row]) -> list[str]:
    """The stage of each row: `stem` before the first run of inception modules, `stageN` for each
    run (named like the search's stage parameters, `inception4a` -> `stage4`; the pool before a run
    belongs to it), `head` after the last run."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, row in enumerate(rows):
        inside = row.type in STAGE_KINDS
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(rows)))
    if not runs:
        return ["network"] * len(rows)
    names = []
    for k, (first, _) in enumerate(runs, start=1):
        match = _STAGE_NAME.match(rows[first].name)
        name = f"stage{match.group(2)}" if match else f"stage{k}"
        names.append(name if name not in names else f"stage{k}")
    out = []
    for i in range(len(rows)):
        if i < runs[0][0]:
            out.append("stem")
        elif i >= runs[-1][1]:
            out.append("head")
        else:
            # Inside a run, or between two runs (a grid-reduction pool): the next run's stage.
            out.append(next(names[k] for k, (_, end) in enumerate(runs) if i < end))
    return out


def _branch_label(name: str) -> str:
    return name.removeprefix("branch_") or "branch"


def _layer(row: Row, stage: str) -> dict:
    return {
        "name": row.name,
        "type": row.type,
        "patch": row.patch,
        "output": size_text(row.output),
        "output_shape": list(row.output),
        "depth": row.depth,
        "filters": {k: row.filters[k] for k in FILTER_COLUMNS if k in row.filters},
        "params": row.params,
        "ops": row.ops,
        "activations": row.activations,
        "stage": stage,
        "branches": [{"name": b.name, "label": _branch_label(b.name), "output": size_text(b.output),
                      "params": b.params, "ops": b.ops, "activations": b.activations} for b in row.branches],
    }


def _table1_cells(layer: dict) -> list[str]:
    filters = [str(layer["filters"][k]) if k in layer["filters"] else "" for k in FILTER_COLUMNS]
    return [layer["name"], layer["type"], layer["patch"], layer["output"], str(layer["depth"]), *filters,
            fmt_k(layer["params"]), fmt_m(layer["ops"])]


def _total(total) -> dict:
    return {"params": total.params, "ops": total.ops, "activations": total.activations}


def sunburst(layers: list[dict]) -> dict:
    """Ops as a tree, stage -> layer -> branch, for a sunburst (parallel lists: ids, labels, parents,
    values; a parent's value is the sum of its children's). Rows and branches without ops are left
    out: a pool or a dropout would be a slice of width zero."""
    ids, labels, parents, values = [], [], [], []
    stage_ops: dict[str, int] = {}
    for layer in layers:
        if layer["ops"]:
            stage_ops[layer["stage"]] = stage_ops.get(layer["stage"], 0) + layer["ops"]
    for stage, ops in stage_ops.items():
        ids.append(stage)
        labels.append(stage)
        parents.append("")
        values.append(ops)
    for layer in layers:
        if not layer["ops"]:
            continue
        lid = f"{layer['stage']}/{layer['name']}"
        ids.append(lid)
        labels.append(layer["name"])
        parents.append(layer["stage"])
        values.append(layer["ops"])
        for b in layer["branches"]:
            if b["ops"]:
                ids.append(f"{lid}/{b['name']}")
                labels.append(b["label"])
                parents.append(lid)
                values.append(b["ops"])
    return {"ids": ids, "labels": labels, "parents": parents, "values": values}


# --- one profile -----------------------------------------------------------------------------

PAPER_HEADERS = ("paper params", "paper ops", "vs paper")
STATUS_MARK = {"match": "ok", "near": "~ (within 2%)", "disagrees": "DIFFERS"}


def profile_data(profile: Profile, compare_rows: list[CompareRow] | None = None) -> dict:
    """A profile as plain data: its layers (with stages and branches), the Table 1-style table
    (formatted cells; with `compare_rows` from `compare_paper`, the published numbers beside the
    computed ones and each row's status), the aux heads, totals and the ops tree."""
    stages = stage_names(profile.rows)
    layers = [_layer(row, stage) for row, stage in zip(profile.rows, stages, strict=True)]
    by_name = {r.name: r for r in compare_rows or []}
    headers = list(HEADERS) + (list(PAPER_HEADERS) if compare_rows is not None else [])
    table = []
    for layer in layers:
        cells = _table1_cells(layer)
        status = ""
        if compare_rows is not None:
            paper = by_name.get(layer["name"])
            if paper is None:
                cells += ["", "", ""]
            else:
                worst = max((paper.params_status, paper.ops_status), key=("match", "near", "disagrees").index)
                status = worst
                # The notes are sentences: the report prints them above the table, not in a cell.
                cells += [fmt_k(paper.paper_params), fmt_m(paper.paper_ops), STATUS_MARK[worst]]
                layer["paper"] = {"params": paper.paper_params, "ops": paper.paper_ops,
                                  "params_status": paper.params_status, "ops_status": paper.ops_status,
                                  "status": worst, "note": paper.note}
        table.append({"cells": cells, "status": status})
    total_cells = ["total", "", "", "", "", *[""] * len(FILTER_COLUMNS), fmt_k(profile.total.params),
                   fmt_m(profile.total.ops)] + (["", "", ""] if compare_rows is not None else [])
    aux = []
    for head in profile.aux:
        head_layers = [_layer(row, head.name) for row in head.rows]
        aux.append({"name": head.name, "after": head.after, "weight": head.weight, "layers": head_layers,
                    "table": [{"cells": _table1_cells(lay), "status": ""} for lay in head_layers],
                    "total": _total(head.total)})
    paper = None
    if compare_rows is not None:
        numbers = paper_numbers()
        paper = {"source": numbers.source, "budget_ops": numbers.budget_ops,
                 "flagged": [r.name for r in compare_rows if r.flagged],
                 "disagrees": [r.name for r in compare_rows if "disagrees" in (r.params_status, r.ops_status)],
                 "summary": compare_summary(compare_rows, profile)}
    return {
        "spec": profile.spec,
        "convention": profile.convention,
        "input": size_text(profile.input),
        "layers": layers,
        "headers": headers,
        "table": table,
        "total_cells": total_cells,
        "total": _total(profile.total),
        "aux": aux,
        "aux_total": _total(profile.aux_total),
        "sunburst": sunburst(layers),
        "paper": paper,
    }


# --- two profiles ----------------------------------------------------------------------------

COMPARE_HEADERS = ("layer", "output A", "output B", "params A", "params B", "Δ params", "ops A", "ops B",
                   "Δ ops", "Δ ops %")


def side_labels(name_a: str, name_b: str) -> tuple[str, str]:
    """Legend names for two specs; the same name twice (a spec and its edited copy) gets A and B."""
    return (f"{name_a} (A)", f"{name_b} (B)") if name_a == name_b else (name_a, name_b)


def align(names_a: list[str], names_b: list[str]) -> list[tuple[int | None, int | None]]:
    """Pairs of row indices (a, b) in network order, by layer name: a layer only one spec has (a
    module added by a deeper stage, say) gets None on the other side."""
    pairs: list[tuple[int | None, int | None]] = []
    matcher = difflib.SequenceMatcher(None, names_a, names_b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pairs += list(zip(range(a0, a1), range(b0, b1), strict=True))
        else:
            pairs += [(i, None) for i in range(a0, a1)] + [(None, j) for j in range(b0, b1)]
    return pairs


def delta_pct(a: int, b: int) -> str:
    if a == b:
        return "0%"
    return f"{(b - a) / a:+.0%}" if a else "new"


def _signed_k(n: int) -> str:
    """A params delta in the units of `fmt_k` (the count itself below 1K)."""
    if not n:
        return "0"
    return f"{n:+,}" if abs(n) < 1024 else f"{n / 1024:+,.1f}K"


def _signed_m(n: int) -> str:
    """An ops delta in the units of `fmt_m` (K below 0.1M)."""
    if not n:
        return "0"
    return f"{n / 1e3:+,.1f}K" if abs(n) < 100_000 else f"{n / 1e6:+,.1f}M"


def compare_data(profile_a: Profile, profile_b: Profile) -> dict:
    """Two profiles layer by layer (aligned by layer name): output shapes, params and ops of each,
    their deltas (B - A), totals, and a side-by-side table."""
    la = [_layer(r, s) for r, s in zip(profile_a.rows, stage_names(profile_a.rows), strict=True)]
    lb = [_layer(r, s) for r, s in zip(profile_b.rows, stage_names(profile_b.rows), strict=True)]
    layers, table = [], []
    for i, j in align([x["name"] for x in la], [x["name"] for x in lb]):
        a = la[i] if i is not None else None
        b = lb[j] if j is not None else None
        name = (a or b)["name"]
        entry = {"name": name, "in_a": a is not None, "in_b": b is not None}
        for key in ("params", "ops", "activations"):
            entry[f"{key}_a"] = a[key] if a else 0
            entry[f"{key}_b"] = b[key] if b else 0
            entry[f"{key}_delta"] = entry[f"{key}_b"] - entry[f"{key}_a"]
        entry["output_a"] = a["output"] if a else ""
        entry["output_b"] = b["output"] if b else ""
        layers.append(entry)
        changed = entry["output_a"] != entry["output_b"] or entry["params_delta"] or entry["ops_delta"]
        table.append({
            "cells": [name, entry["output_a"] or "—", entry["output_b"] or "—",
                      fmt_k(entry["params_a"]), fmt_k(entry["params_b"]), _signed_k(entry["params_delta"]),
                      fmt_m(entry["ops_a"]), fmt_m(entry["ops_b"]), _signed_m(entry["ops_delta"]),
                      delta_pct(entry["ops_a"], entry["ops_b"]) if entry["ops_a"] or entry["ops_b"] else ""],
            "status": ("only-a" if b is None else "only-b" if a is None else "changed" if changed else ""),
        })
    ta, tb = _total(profile_a.total), _total(profile_b.total)
    total = {f"{k}_{side}": t[k] for k in ta for side, t in (("a", ta), ("b", tb))}
    total.update({f"{k}_delta": tb[k] - ta[k] for k in ta})
    total_cells = ["total", "", "", fmt_k(ta["params"]), fmt_k(tb["params"]), _signed_k(total["params_delta"]),
                   fmt_m(ta["ops"]), fmt_m(tb["ops"]), _signed_m(total["ops_delta"]),
                   delta_pct(ta["ops"], tb["ops"])]
    label_a, label_b = side_labels(profile_a.spec, profile_b.spec)
    return {
        "a": {"spec": profile_a.spec, "label": label_a, "input": size_text(profile_a.input), "total": ta},
        "b": {"spec": profile_b.spec, "label": label_b, "input": size_text(profile_b.input), "total": tb},
        "layers": layers,
        "headers": list(COMPARE_HEADERS),
        "table": table,
        "total_cells": total_cells,
        "total": total,
        "only_a": [x["name"] for x in layers if not x["in_b"]],
        "only_b": [x["name"] for x in layers if not x["in_a"]],
        "changed": sum(1 for row in table if row["status"]),
    }


# --- a study ---------------------------------------------------------------------------------

FINISHED = ("COMPLETE", "PRUNED")
MAX_PARALLEL = 8  # parameter axes in the parallel-coordinates plot
TRIAL_HEADERS = ("trial", "state", "kind", "within budget", "val top-1 (%)", "val top-5 (%)", "ops (M)",
                 "params (M)", "activations (K)", "width scale", "widths (output channels per module)",
                 "sampled parameters", "train time (s)", "device", "note")


def depths_of(widths: str) -> list[int]:
    """Modules per stage from a trial's widths summary ('stem 16/56 | 64,128 | 144,144 | ...')."""
    return [len(part.split(",")) for part in (p.strip() for p in widths.split("|"))
            if part and not part.startswith("stem")]


TRAINED = ("trained", "reference")  # the categories with a final accuracy (what fronts are made of)


STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
               "WAITING": "waiting"}


def states_text(trials: list[dict]) -> str:
    """'9 complete, 3 pruned, 1 failed': trials by state, in that order."""
    states = Counter(t["state"] for t in trials)
    order = [s for s in STATE_WORDS if s in states] + sorted(s for s in states if s not in STATE_WORDS)
    return ", ".join(f"{states[s]} {STATE_WORDS.get(s, s.lower())}" for s in order)


def _category(state: str, a: dict) -> str:
    """How a trial is drawn: the reference, trained, pruned (partial accuracy), over budget (never
    trained), failed, or its state (running, waiting; complete without an accuracy)."""
    if state == "FAIL":
        return "failed"
    if state == "PRUNED":
        return "pruned"
    if state != "COMPLETE":
        return state.lower()
    if a.get("feasible") is False:
        return "over budget"
    if not (a.get("trained") and a.get("val_top1") is not None and "spec" in a):
        return "complete"
    return "reference" if a.get("reference") else "trained"


def _trial(t, stage_labels: list[str]) -> dict:
    a = t.user_attrs
    state = t.state.name
    widths = a.get("widths") or ""
    depths = depths_of(widths) if widths else []
    acc = a.get("val_top1")
    row = {
        "number": t.number,
        "state": state,
        "category": _category(state, a),
        "reference": bool(a.get("reference")),
        "feasible": a.get("feasible"),
        "trained": bool(a.get("trained")),
        "val_top1": float(acc) if acc is not None else None,
        "val_top5": float(a["val_top5"]) if a.get("val_top5") is not None else None,
        "ops": a.get("ops"),
        "params": a.get("params"),
        "activations": a.get("activations"),
        "width_scale": a.get("width_scale"),
        "widths": widths,
        "depths": depths,
        "depths_text": (", ".join(f"{s} {d}" for s, d in zip(stage_labels, depths, strict=True))
                        if len(stage_labels) == len(depths) else "/".join(map(str, depths))),
        "sampled": dict(t.params),
        "train_seconds": a.get("train_seconds"),
        "device": a.get("device"),
        "precision": a.get("precision"),
        "duplicate_of": a.get("duplicate_of"),
        "pruned_at_epoch": a.get("pruned_at_epoch"),
        "error": a.get("error"),
        "start": t.datetime_start.isoformat(sep=" ", timespec="seconds") if t.datetime_start else None,
        "seconds": t.duration.total_seconds() if t.duration else None,
    }
    row["note"] = _trial_note(row)
    return row


def _trial_note(t: dict) -> str:
    if t["error"]:
        return t["error"]
    if t["state"] == "PRUNED":
        at = t["pruned_at_epoch"]
        return f"pruned after epoch {at}" if at is not None else "pruned"
    if t["duplicate_of"] is not None:
        return f"same network as trial {t['duplicate_of']} (its accuracy, not trained again)"
    if t["category"] == "over budget":
        return "over budget: never trained"
    if t["reference"]:
        return "uniform width scaling of the base to the budget"
    return ""


def _pct(x: float | None) -> str:
    return f"{100 * x:.2f}" if x is not None else ""


def _num(x, scale: float, digits: int) -> str:
    return f"{x / scale:,.{digits}f}" if x is not None else ""


def trial_table(trials: list[dict]) -> list[dict]:
    """The trial table: formatted cells, and for each cell the value it sorts by."""
    rows = []
    for t in trials:
        kind = "reference" if t["reference"] else "duplicate" if t["duplicate_of"] is not None else "searched"
        sampled = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["sampled"].items())
        feasible = {True: "yes", False: "no", None: ""}[t["feasible"]]
        state = STATE_WORDS.get(t["state"], t["state"].lower())
        cells = [str(t["number"]), state, kind, feasible, _pct(t["val_top1"]), _pct(t["val_top5"]),
                 _num(t["ops"], 1e6, 1), _num(t["params"], 1e6, 3), _num(t["activations"], 1e3, 0),
                 f"{t['width_scale']:.3f}" if t["width_scale"] is not None else "", t["widths"], sampled,
                 f"{t['train_seconds']:.1f}" if t["train_seconds"] is not None else "",
                 " ".join(x for x in (t["device"], t["precision"]) if x), t["note"]]
        sort = [t["number"], t["state"], kind, feasible, t["val_top1"], t["val_top5"], t["ops"], t["params"],
                t["activations"], t["width_scale"], t["widths"], sampled, t["train_seconds"], cells[13], t["note"]]
        rows.append({"cells": cells, "sort": ["" if v is None else v for v in sort], "status": t["category"]})
    return rows


def searched(trials: list[dict]) -> tuple[list[dict], list[str]]:
    """The trained, within-budget searched trials (the reference samples nothing; over-budget and
    pruned trials have no final accuracy) and the parameters every one of them sampled (a module
    that only deeper candidates have is not common to all; Optuna's importances use the same)."""
    pool = [t for t in trials if t["category"] == "trained" and t["val_top1"] is not None and t["sampled"]]
    common = set.intersection(*(set(t["sampled"]) for t in pool)) if pool else set()
    return pool, sorted(common)


def importances(trials: list[dict], evaluator=None) -> dict:
    """Hyperparameter importances for validation accuracy (optuna.importance, fANOVA with a fixed
    seed by default) over the `searched` trials and their common parameters. Returns {"values":
    {param: importance, largest first}, "note": why there are none, or ""}."""
    pool, names = searched(trials)
    if len(pool) < 2:
        return {"values": {}, "note": f"hyperparameter importances need at least 2 trained, within-budget trials "
                                      f"with sampled parameters; this study has {len(pool)}"}
    if len(names) < 2:
        return {"values": {}, "note": f"only one parameter was sampled by every trained trial "
                                      f"({', '.join(names) or 'none'}): its importance is 1 by definition"}
    import optuna

    distributions = _distributions(pool, names)
    pool = [dict(t, sampled={k: t["sampled"][k] for k in names}) for t in pool]
    # In memory: the stored study is only read. Optuna logs every study it creates; not this one.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials([optuna.trial.create_trial(params=t["sampled"], distributions=distributions,
                                                value=t["val_top1"]) for t in pool])
    if evaluator is None:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as exc:  # e.g. every trial has the same accuracy
        return {"values": {}, "note": f"importances could not be computed: {exc}"}
    return {"values": {k: float(v) for k, v in values.items()}, "note": ""}


def _distributions(pool: list[dict], names: list[str]) -> dict:
    """Distributions wide enough for the values seen (the study's own are on its frozen trials;
    the observed range is what the importance evaluator fits on anyway)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for name in names:
        values = [t["sampled"][name] for t in pool]
        if all(isinstance(v, bool) or isinstance(v, str) for v in values):
            out[name] = CategoricalDistribution(sorted(set(values), key=str))
        elif all(isinstance(v, int) for v in values):
            out[name] = IntDistribution(min(values), max(values))
        else:
            out[name] = FloatDistribution(float(min(values)), float(max(values)))
    return out


def _best(trials: list[dict]) -> dict | None:
    pool = [t for t in trials if t["category"] in TRAINED]
    return max(pool, key=lambda t: (t["val_top1"], -t["number"])) if pool else None


def _facts(study, frozen: list, trials: list[dict], location: str | None) -> list[tuple[str, str]]:
    from ..search.storage import describe

    trained = [t for t in trials if t["train_seconds"] is not None and t["duplicate_of"] is None]
    devices = Counter(" ".join(x for x in (t["device"], t["precision"]) if x) for t in trained if t["device"])
    starts = [t for t in frozen if t.datetime_start]
    ends = [t.datetime_complete for t in starts if t.datetime_complete]
    a = study.user_attrs
    facts = [("study", study.study_name)]
    if location:
        facts.append(("storage", describe(location)))
    facts += [
        ("base spec", str(a.get("base", "?"))),
        ("objectives", ", ".join(a.get("objectives", [])) or ", ".join(d.name.lower() for d in study.directions)),
        ("budget", ", ".join(f"{k} {_count(v)}" for k, v in (a.get("budget") or {}).items()) or "none"),
        ("trials by state", states_text(trials) or "none"),
        ("trained (not counting duplicates)", str(len(trained))),
        ("total train time", f"{sum(t['train_seconds'] for t in trained):,.1f} s"),
        ("devices", ", ".join(f"{d} ({n} trial{'' if n == 1 else 's'})" for d, n in devices.most_common())
                    or "none"),
    ]
    if starts and ends:
        first = min(t.datetime_start for t in starts)
        facts.append(("first trial started", first.isoformat(sep=" ", timespec="seconds")))
        facts.append(("wall time", f"{(max(ends) - first).total_seconds():,.1f} s"))
    return facts


def _count(n) -> str:
    from ..search.numbers import format_count

    return format_count(n) if isinstance(n, int) else str(n)


def _stage_labels(base) -> list[str]:
    if base is None:
        return []
    from ..search.stages import stages_of

    return list(stages_of(base))


def load_base(study):
    """The study's base spec (a built-in name or a path as the config wrote it), or None with the
    reason why not."""
    from ..spec import SpecError, load_spec, spec_from_yaml

    a = study.user_attrs
    if a.get("base_spec"):  # the base's own YAML, stored by the search: loads from anywhere
        try:
            return spec_from_yaml(a["base_spec"], "the study's base spec"), ""
        except SpecError:
            pass
    tried = []
    for ref in (a.get("base"), (a.get("config") or {}).get("base")):
        if ref and ref not in tried:
            tried.append(ref)
            try:
                return load_spec(ref), ""
            except SpecError:
                continue
    return None, (f"the base spec ({' or '.join(map(repr, tried))}) cannot be loaded from here"
                  if tried else "the study does not name its base spec")


def study_data(study, location: str | None = None) -> dict:
    """A study as plain data: every trial (with its category for drawing), the Pareto fronts of
    accuracy vs ops and vs params, budget limits, the optimization history, importances, the
    parallel-coordinates table, the best candidate's layers vs the base spec, run facts and the
    config; with a verdict, the confirmation stage (`confirmation`), else how to run it
    (`confirm_hint`). `message` is set when there is nothing to plot (no finished trial, or only
    failed ones). The study is only read."""
    from ..search.export import pareto_front

    frozen = study.get_trials(deepcopy=False)
    base, base_note = load_base(study)
    labels = _stage_labels(base)
    trials = [_trial(t, labels) for t in frozen]
    finished = [t for t in trials if t["state"] in FINISHED]
    message = ""
    if not trials:
        message = f"study {study.study_name!r} has no trials yet: nothing to report."
    elif not finished:
        errors = [t["error"] for t in trials if t["error"]]
        message = (f"study {study.study_name!r} has no finished trials ({states_text(trials)})"
                   + (f"; last error: {errors[-1]}" if errors else "") + ": nothing to plot.")
    notes = []
    if finished and not any(t["category"] in TRAINED for t in finished):
        notes.append("no candidate within the budget has been trained yet: the plots show costs only.")
    best = _best(trials)
    best_layers = None
    if best is not None:
        trial = next(t for t in frozen if t.number == best["number"])
        best_layers, note = _best_vs_base(trial, study.study_name, base, base_note)
        if note:
            notes.append(note)
    # The fronts are `archkit export --pareto`'s, computed by the same function.
    pool = [f for f, t in zip(frozen, trials, strict=True) if t["category"] in TRAINED]
    fronts = {cost: [t.number for t in pareto_front(pool, cost)] for cost in ("ops", "params")}
    imp = importances(trials) if finished else {"values": {}, "note": "no finished trials"}
    pool, common = searched(trials)
    # Parallel coordinates stay readable up to a few axes: the most important parameters first.
    ranked = sorted(common, key=lambda p: -imp["values"].get(p, 0.0))
    confirmed, hint = None, ""
    verdict = study.user_attrs.get(VERDICT_ATTR)
    if verdict:
        try:
            confirmed = confirmation(verdict, trials, (study.user_attrs.get("config") or {}).get("train"))
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
            notes.append(f"the study's verdict cannot be read ({type(exc).__name__}: {exc}): "
                         f"the confirmation is not shown; run archkit confirm {study.study_name} again")
    elif best is not None and study.user_attrs.get("config"):
        hint = confirm_hint(study, location)
    return {
        "study": study.study_name,
        "message": message,
        "notes": notes,
        "trials": trials,
        "finished": [t["number"] for t in finished],
        "budget": dict(study.user_attrs.get("budget") or {}),
        "fronts": fronts,
        "reference": next((t["number"] for t in finished if t["reference"]), None),
        "history": history(trials),
        "importances": imp,
        "parallel": {"params": ranked[:MAX_PARALLEL], "of": len(ranked), "numbers": [t["number"] for t in pool]},
        "best": best,
        "best_layers": best_layers,
        "table": trial_table(trials),
        "headers": list(TRIAL_HEADERS),
        "facts": _facts(study, frozen, trials, location),
        "config": study.user_attrs.get("config"),
        "confirmation": confirmed,  # the verdict of the confirmation stage, None before it
        "confirm_hint": hint,  # how to confirm, for a study without a verdict
    }


def history(trials: list[dict]) -> dict:
    """Accuracy per finished trial in order (pruned ones at their last epoch) and the best final
    accuracy so far (trained, within-budget trials only; None before the first)."""
    shown = [t for t in trials if t["val_top1"] is not None and t["state"] in FINISHED]
    best, running = [], None
    for t in shown:
        if t["category"] in TRAINED and (running is None or t["val_top1"] > running):
            running = t["val_top1"]
        best.append(running)
    return {"numbers": [t["number"] for t in shown], "values": [t["val_top1"] for t in shown],
            "categories": [t["category"] for t in shown], "best": best}


def _best_vs_base(trial, study_name: str, base, base_note: str) -> tuple[dict | None, str]:
    """compare_data of the base spec (A) and the best trial's spec (B), or None and why not."""
    from .. import profile as profile_spec
    from ..spec import SpecError, spec_from_yaml

    if base is None:
        return None, f"{base_note}: the best candidate is not compared with it."
    try:
        spec = spec_from_yaml(trial.user_attrs["spec"], f"{study_name} trial {trial.number}")
    except SpecError as exc:
        return None, f"trial {trial.number}'s stored spec does not load: {exc}"
    return compare_data(profile_spec(base), profile_spec(spec)), ""


# --- the confirmation stage ------------------------------------------------------------------

VERDICT_ATTR = "verdict"  # archkit.search.confirm.VERDICT_ATTR (not imported: reading a study needs no search)
CONFIRM_HEADERS = ("trial", "role", "seeds", "search val top-1 (%)", "val top-1, mean (%)", "test top-1, mean (%)",
                   "test top-1, 95% t interval (%)", "test top-1 per seed (%)", "ops (M)")
ROLE_WORDS = {"reference": "uniform-scaling reference", "best": "confirmed best", "candidate": "searched candidate"}


def _length(recipe: dict) -> str:
    for key in ("steps", "epochs"):
        if recipe.get(key) is not None:
            return f"{recipe[key]} {key.removesuffix('s')}{'s' if recipe[key] != 1 else ''}"
    return ""


def _recipe_text(recipe: dict | None, other: dict | None = None) -> str:
    """A recipe's length, then what differs from `other` (another recipe): '40 epochs, lr 0.1'."""
    recipe = {k: v for k, v in (recipe or {}).items() if v is not None}
    other = {k: v for k, v in (other or {}).items() if v is not None}
    rest = [f"{k} {v}" for k, v in recipe.items() if k not in ("epochs", "steps") and other.get(k) != v]
    return ", ".join(x for x in (_length(recipe), *rest) if x)


def confirmation(verdict: dict, trials: list[dict] | None = None, search_recipe: dict | None = None) -> dict:
    """The confirmation stage's verdict (a study's `verdict` attr, see archkit.search.confirm) as
    plain data: its headline, and one row per confirmed trial, the reference first, then the best
    (the verdict's), then the other candidates in the verdict's order. Each row has its seeds' val
    and test top-1 and the mean test top-1 with its 95% t interval over the seeds (none with one
    seed); with `trials` (study_data's), the trial's costs and its val top-1 in the search."""
    from ..search.confirm import headline

    by_number = {t["number"]: t for t in trials or []}
    runs = verdict.get("runs") or []
    best = verdict["best"]["trial"]
    candidates = verdict["candidates"]
    order = ([("reference", verdict["reference"])]
             + [("best", c) for c in candidates if c["trial"] == best]
             + [("candidate", c) for c in candidates if c["trial"] != best])
    if not any(role == "best" for role, _ in order):  # an older verdict: the best alone
        order.insert(1, ("best", verdict["best"]))
    rows, table = [], []
    for role, entry in order:
        number = entry["trial"]
        val, test = [float(x) for x in entry["val_top1"]], [float(x) for x in entry["test_top1"]]
        seeds = [r["seed"] for r in runs if r["trial"] == number]
        if len(seeds) != len(test):
            seeds = [None] * len(test)  # the runs are not stored with it: seeds unknown
        mean, lo, hi = t_interval(test)
        trial = by_number.get(number, {})
        label = (f"reference (trial {number})" if role == "reference"
                 else f"trial {number} (best)" if role == "best" else f"trial {number}")
        row = {"trial": number, "role": role, "label": label, "seeds": seeds, "val_top1": val, "test_top1": test,
               "val_mean": sum(val) / len(val), "test_mean": mean, "test_ci95": [lo, hi],
               "search_val_top1": trial.get("val_top1"), "ops": trial.get("ops"), "params": trial.get("params"),
               "widths": trial.get("widths", "")}
        rows.append(row)
        table.append({"cells": [str(number), ROLE_WORDS[role], str(len(test)), _pct(row["search_val_top1"]),
                                _pct(row["val_mean"]), _pct(mean),
                                f"{100 * lo:.2f} .. {100 * hi:.2f}" if lo is not None else "one seed: none",
                                ", ".join(f"{100 * x:.1f}" for x in test), _num(row["ops"], 1e6, 1)],
                      "status": "reference" if role == "reference" else ""})
    sizes = next((r["split_sizes"] for r in runs if r.get("split_sizes")), None)
    delta, (lo, hi) = verdict["delta"], verdict["ci95"]
    n = verdict["seeds"]
    search = f" ({_length(search_recipe)})" if search_recipe and _length(search_recipe) else ""
    final = f" ({_recipe_text(verdict.get('recipe'), search_recipe)})" if verdict.get("recipe") else ""
    k = len(candidates)
    seen = (f": {sizes['val']:,} validation and {sizes['test']:,} test images"
            if sizes and "val" in sizes and "test" in sizes else "")
    notes = [
        f"Which split: the search's accuracies (the plots and the trial table below) are validation top-1 after "
        f"the search's short recipe{search}. The confirmation retrained the reference and the "
        f"{f'{k} best searched candidates' if k != 1 else 'best searched candidate'} from scratch, {n} "
        f"seed{'s' if n != 1 else ''} each, under the final recipe{final}, and scored each run on the validation "
        f"split and on the test split, which the search never saw{seen}.",
        "In the figure, a filled dot is one seed's test top-1, an open dot its val top-1; the bar is the mean test "
        "top-1 with its 95% t interval over the seeds (mean ± t(0.975, n-1)·s/√n; a single seed has none).",
        f"The verdict compares the confirmed best (highest mean val top-1 among the candidates: trial {best}) with "
        f"the reference on test top-1: {100 * delta:+.1f} points"
        + (f", {verdict.get('interval', '95% interval')}: {100 * lo:+.1f} .. {100 * hi:+.1f}." if lo is not None
           else ", no interval with one seed each."),
    ]
    return {"headline": headline(verdict), "conclusion": verdict["conclusion"], "delta": delta, "ci95": [lo, hi],
            "interval": verdict.get("interval", ""), "seeds": n, "best": best,
            "reference": verdict["reference"]["trial"], "rows": rows, "headers": list(CONFIRM_HEADERS),
            "table": table, "notes": notes, "recipe": verdict.get("recipe"), "split_sizes": sizes}


def confirm_hint(study, location: str | None) -> str:
    """The line a study without a verdict shows: how to run its confirmation stage."""
    from ..search.storage import default_location

    stored = sum(1 for name in study.user_attrs if name.startswith("confirm:"))
    where = f" --storage {location}" if location and location != default_location(study.study_name) else ""
    return (f"not confirmed yet: run archkit confirm {study.study_name}{where}"
            + (f" (it resumes: {stored} retraining{'s' if stored != 1 else ''} already stored)" if stored else "")
            + "; until then, every accuracy here is a validation accuracy after the search's short recipe.")
