"""The reports: a profile, two specs compared, a search study. Each is one self-contained HTML file.

`*_html` functions return the page; `*_report` functions write it (atomically, parents created)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..profile.paper import CompareRow
from ..profile.profiler import Profile
from ..spec.models import Spec
from ..util.files import atomic_write_text
from ..util.numbers import fmt_bytes, fmt_ms, fmt_si
from . import data as D
from .data.records import StudyData, Totals

if TYPE_CHECKING:
    from ..latency import LayerLatencies, LayerTraffic
    from ..profile.training import TrainProfile


def _spec(spec: Spec | str) -> Spec:
    if isinstance(spec, Spec):
        return spec
    from ..spec import load_spec

    return load_spec(str(spec))


def _totals(total: Totals) -> str:
    return (f"{total['params']:,} params ({fmt_si(total['params'])}), {total['ops']:,} multiply-adds "
            f"({fmt_si(total['ops'])}), {total['activations']:,} activations")


# --- profile ---------------------------------------------------------------------------------


def profile_report_html(profile: Profile, compare_rows: list[CompareRow] | None = None,
                        measured: LayerLatencies | None = None, traffic: list[LayerTraffic] | None = None,
                        train: TrainProfile | None = None, train_answer: str = "") -> str:
    """The profile report of `archkit profile SPEC --format html`: Table 1 regenerated (with the
    published numbers beside the computed ones and disagreeing rows marked, given `compare_rows`
    from `archkit.profile.compare_paper`), the modules' branches as a tree, params and ops per
    layer, ops by stage/layer/branch (and sub-branch, as deep as splits nest), activations per
    layer, and the aux heads.

    With `measured` (`archkit.latency.measure_layers`) and `traffic` (`archkit.latency.spec_traffic`
    of the same spec, batch and precision; `archkit profile --measure`): where and how it was
    measured and the whole forward pass's latency at the top, the table's columns of memory
    traffic, ops/byte and latency (with its IQR), and the ops-vs-latency view (a scatter, one point
    per layer, and each layer's share of the latency beside its share of the ops)."""
    from . import figures as F
    from . import page as P

    d = D.profile_data(profile, compare_rows, measured, traffic)
    lat = d["latency"]
    parts = [P.note(f"Inference path: {_totals(d['total'])}. K = 1024 params, M = 10^6 multiply-adds "
                    "(one fused multiply-add counts as one op).")]
    if train is not None:
        parts.append(P.note(_train_headline(train)))
    if lat is not None:
        parts.append(P.note(lat["headline"]))
    table_title = "Table 1, regenerated"
    if d["paper"] is not None:
        table_title += f" — beside {d['paper']['source']}"
        parts.append(P.section("Computed vs published", P.note_list(d["paper"]["summary"]), section_id="paper"))
    table = P.table_html(d["headers"], d["table"], total=d["total_cells"], table_id="table1", text_columns=4)
    if lat is None:
        parts.append(P.section(table_title, table, section_id="table"))
    else:
        w = lat["where"]
        per = "one image" if w["batch"] == 1 else f"a batch of {w['batch']} images"
        parts.append(P.section(
            table_title + ", with memory traffic and measured latency", P.note(
                f"bytes, ops/byte and latency are for {per} at {w['precision']}: bytes = weights + input + output "
                f"(and a module's concatenation; computed, not measured), ops/byte = multiply-adds per byte; "
                f"latency = the median of {lat['total']['repeats']} repeats of the layer timed alone on "
                f"{w['device_name']}, with the interquartile range. The total row's latency is the whole forward "
                f"pass timed on its own; the layers timed alone add up to {fmt_ms(lat['total']['layers_ms'])} ms "
                "(the model's own forward loop; caches)."), table, section_id="table"))
        parts.append(P.section(
            "Ops vs latency", P.note(
                f"Measured on {w['device_name']} ({w['device']}). Multiply-adds are not latency: a layer above the "
                "dashed line takes longer than its ops would at the layers' mean rate, because it moves many bytes "
                "per multiply-add (low ops/byte: memory-bound) or has none to do (pools, dropout: x = 0). "
                "Hover a point for its numbers; the buttons switch both axes to log (which leaves out x = 0)."),
            P.figure_html(F.ops_latency(d), "fig-ops-latency"),
            P.figure_html(F.latency_share(d), "fig-latency-share"),
            P.facts_html(lat["facts"]), section_id="latency"))
    if d["branch_table"]:
        parts.append(P.section(
            "Branches of the modules", P.note(
                "Each module, then its parts: branches (and a residual module's projection or shortcut), each "
                "followed by the sub-branches of its splits, indented one step per level and named by their "
                "dotted path. A branch's params and ops include its sub-branches'."),
            P.table_html(d["branch_headers"], d["branch_table"], table_id="branch-table", text_columns=2),
            section_id="branches"))
    parts.append(P.section("Params and ops per layer", P.figure_html(F.layer_bars(d), "fig-layers")))
    parts.append(P.section("Where the ops are", P.figure_html(F.ops_sunburst(d), "fig-sunburst")))
    parts.append(P.section("Activations per layer", P.figure_html(F.activations_bars(d), "fig-activations")))
    if d["aux"]:
        heads = []
        for head in d["aux"]:
            heads.append(P.note(f"{head['name']}: after {head['after']}, loss weight {head['weight']}; "
                                f"{_totals(head['total'])}."))
            heads.append(P.table_html(D.HEADERS, head["table"], text_columns=4))
        parts.append(P.section("Aux heads (training only, not in the totals above)", *heads, section_id="aux"))
    if train is not None:
        parts.append(_train_section(train, train_answer))
    subtitle = f"{profile.convention} convention, input {d['input']} (height x width x channels)"
    if lat is not None:
        subtitle += f"; latency measured on {lat['where']['device_name']} ({lat['where']['device']})"
    return P.document(f"{profile.spec} — archkit profile", subtitle, parts)


def _train_headline(cost: TrainProfile) -> str:
    """Training beside the inference path's params and ops: one step's predicted peak memory, what it
    saves for backward, and its multiply-adds."""
    return (f"Training, one step at batch {cost.batch:,}, {cost.precision}: peak memory {fmt_bytes(cost.peak_bytes)} "
            f"predicted ({fmt_bytes(cost.saved_bytes)} saved for backward, exact; weights, gradients and optimizer "
            f"state {fmt_bytes(cost.param_state_bytes)}), {cost.train_ops:,} multiply-adds ({fmt_si(cost.train_ops)}).")


def _train_section(cost: TrainProfile, answer: str) -> str:
    """`archkit profile --train --format html`: the training cost table (saved bytes and training
    multiply-adds per layer) with its notes and the one-line answer, and the saved bytes per layer."""
    from ..profile import render
    from . import figures as F
    from . import page as P

    rows = [{"cells": cells} for cells in render.train_rows(cost)]
    saved = ([(r.name, r.saved_bytes) for r in cost.rows]
             + [(f"{head}.{r.name}", r.saved_bytes) for head, head_rows in cost.aux for r in head_rows]
             + [("loss", cost.loss.saved_bytes)])
    return P.section("Training cost of one step", *(P.note(n) for n in [answer, *render.train_notes(cost)]),
                     P.table_html(render.TRAIN_HEADERS, rows, total=render.train_total_cells(cost),
                                  table_id="train-table"),
                     P.figure_html(F.saved_bytes_bars(cost.spec, saved, cost.batch, cost.precision), "fig-train-saved"),
                     section_id="train")


def profile_report(spec: Spec | str, path: str | Path, convention: str = "paper",
                   paper: bool | None = None, *, measure: bool = False, device: str = "cpu", batch: int = 1,
                   precision: str = "fp32") -> Path:
    """Write the profile report of a spec (a Spec, a built-in name or a YAML file) to `path`.

    paper: put Table 1's published numbers beside the computed ones (needs the googlenet layers
    and 224x224 inputs; ValueError otherwise); None does so for the built-in `googlenet` only.
    measure: also time each layer and the whole forward pass on `device` (`batch` images at
    `precision`; `archkit.latency.measure_layers`, LatencyError for a bad option) and add the
    memory traffic, the latency columns and the ops-vs-latency view."""
    from .. import profile as profile_spec
    from ..profile import compare_paper

    s = _spec(spec)
    result = profile_spec(s, convention)
    if paper is None:
        paper = s.name == "googlenet" and convention == "paper"
    rows = compare_paper(result) if paper else None
    measured = traffic = None
    if measure:
        from ..latency import measure_layers, spec_traffic
        from ..spec import resolved

        measured = measure_layers(s, device=device, batch=batch, precision=precision)
        traffic = spec_traffic(resolved(s), precision, batch)
    return _write(path, profile_report_html(result, rows, measured, traffic))


# --- two specs -------------------------------------------------------------------------------


def compare_report_html(spec_a: Spec | str, spec_b: Spec | str) -> str:
    """Two specs side by side: per-layer output shapes, params, ops and their deltas (B - A), and
    the figures of both overlaid."""
    from .. import profile as profile_spec
    from . import figures as F
    from . import page as P

    a, b = _spec(spec_a), _spec(spec_b)
    d = D.compare_data(profile_spec(a), profile_spec(b))
    ta, tb, t = d["a"]["total"], d["b"]["total"], d["total"]
    lines = [f"A = {d['a']['label']} (input {d['a']['input']}): {_totals(ta)}.",
             f"B = {d['b']['label']} (input {d['b']['input']}): {_totals(tb)}.",
             f"B - A: {t['params_delta']:+,} params, {t['ops_delta']:+,} multiply-adds "
             f"({D.delta_pct(ta['ops'], tb['ops'])} ops), {t['activations_delta']:+,} activations; "
             f"{d['changed']} of {len(d['layers'])} rows differ."]
    if d["only_a"]:
        lines.append(f"Only in A: {', '.join(d['only_a'])}.")
    if d["only_b"]:
        lines.append(f"Only in B: {', '.join(d['only_b'])}.")
    parts = [P.note_list(lines),
             P.section("Layer by layer", P.table_html(d["headers"], d["table"], total=d["total_cells"],
                                                      table_id="compare", text_columns=3), section_id="table"),
             P.section("Params and ops per layer", P.figure_html(F.compare_bars(d), "fig-compare")),
             P.section("Change per layer", P.figure_html(F.compare_deltas(d), "fig-deltas")),
             P.section("Ops along the network", P.figure_html(F.cumulative_ops(d), "fig-cumulative")),
             P.section("Activations per layer", P.figure_html(F.compare_activations(d), "fig-activations"))]
    return P.document(f"{a.name} vs {b.name} — archkit compare",
                      "paper convention (weights only); K = 1024 params, M = 10^6 multiply-adds", parts)


def compare_report(spec_a: Spec | str, spec_b: Spec | str, path: str | Path) -> Path:
    """Write the comparison of two specs (Spec objects, built-in names or YAML files) to `path`."""
    return _write(path, compare_report_html(spec_a, spec_b))


# --- a study ---------------------------------------------------------------------------------


@dataclass
class StudyReport:
    """What `study_report` wrote, and what the reader should know (printed by the CLI)."""

    path: Path | None
    message: str = ""  # set when there was nothing to plot (no finished trials)
    notes: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict, repr=False)  # study_data's StudyData


def study_report_html(study, location: str | None = None) -> tuple[str, StudyData]:
    """The report page of a loaded Optuna study (only read, never written) and its plain data."""
    from . import figures as F
    from . import page as P

    d = D.study_data(study, location)
    parts = []
    if d["message"]:
        parts.append(P.note(d["message"], "message"))
    parts += [P.note(n) for n in d["notes"]]
    confirmed = d["confirmation"]
    lead = ""
    if confirmed is not None:
        # The verdict leads the page; the search's own plots follow as how it was found.
        lead = P.note(confirmed["headline"], f"verdict {confirmed['conclusion'].replace(' ', '-')}")
        parts.append(P.section(
            "Confirmation: test top-1 by seed", P.note_list(confirmed["notes"]),
            P.figure_html(F.confirmation(d), "fig-confirm"),
            P.table_html(confirmed["headers"], confirmed["table"], table_id="confirmed", text_columns=2),
            section_id="confirmation"))
    elif d["confirm_hint"]:
        parts.append(P.note(d["confirm_hint"]))
    if not d["message"]:
        best = d["best"]
        if best is not None:
            val = (f"val top-1 {100 * best['val_top1']:.2f}% (validation split, the search's short recipe)"
                   if best["val_top1"] is not None else "")
            # The score the study ranked by first, when it is another proxy's than val top-1.
            found = val if d["score_label"] == "val top-1" else (
                f"{d['score_label']} {best['score']:.4g} (what the study ranked by)" + (f", {val}" if val else ""))
            parts.append(P.note(
                f"Best in the search within the budget: trial {best['number']}"
                f"{' (the uniform-scaling reference)' if best['reference'] else ''}, {found}, "
                f"{best['ops'] / 1e6:,.1f}M ops, {best['params'] / 1e6:,.3f}M params; widths {best['widths']}."))
        latency = []
        if "latency_ms" in d["fronts"]:
            where = {k: v for k, v in (d["latency"] or {}).items() if v is not None}  # unknown: "?"
            latency = [P.note(f"Latency: predicted before training by archkit's latency model on "
                              f"{where.get('device_name', '?')} ({where.get('device', '?')}, batch "
                              f"{where.get('batch', '?')}, {where.get('precision', '?')}, "
                              f"{where.get('threads', '?')} threads); each trained trial was also timed whole "
                              f"on it (hover a point)."),
                       P.figure_html(F.pareto(d, "latency_ms"), "fig-pareto-latency")]
        memory = []
        if "train_memory" in d["fronts"]:
            memory = [P.note(f"Training memory: the predicted peak of one training step ({_train_memory_where(d)}), "
                             "before training, by archkit's exact count of what autograd saves plus weights, "
                             "gradients, momentum and an estimated workspace; a trial on CUDA also records the "
                             "allocator's measured peak (hover a point)."),
                      P.figure_html(F.pareto(d, "train_memory"), "fig-pareto-train-memory")]
        parts.append(P.section(
            "Accuracy vs cost", *latency, *memory, P.figure_html(F.pareto(d, "ops"), "fig-pareto-ops"),
            P.figure_html(F.pareto(d, "params"), "fig-pareto-params"), section_id="pareto"))
        sn = d["supernet"]
        if sn is not None:
            steps = f"{sn['step']:,} steps, " if sn["step"] is not None else ""
            trained = f"{steps}{sn['seconds']:,.0f} s of training"
            parts.append(P.section(
                "Supernet: training curves", P.note(
                    f"Every candidate above was scored on one weight-sharing supernet ({sn['directory']}; "
                    f"{trained}), as it stood when the search started: its slice, batch norm recalibrated, "
                    "val top-1. Its largest network, smallest and sampled sub-networks by epoch:"),
                P.figure_html(F.supernet_curves(d), "fig-supernet") if sn["epochs"]
                else P.note("the supernet's checkpoint held no evaluated epoch: no curve to draw"),
                section_id="supernet"))
        parts.append(P.section("Optimization history", P.figure_html(F.history(d), "fig-history")))
        imp = d["importances"]
        parts.append(P.section("Hyperparameter importances",
                               P.figure_html(F.importances(d), "fig-importances") if imp["values"]
                               else P.note(imp["note"]), section_id="importances"))
        parallel = (P.figure_html(F.parallel(d), "fig-parallel") if d["parallel"]["numbers"]
                    else P.note("no searched candidate has been trained within the budget yet: nothing to draw"))
        parts.append(P.section("Parallel coordinates", parallel, section_id="parallel"))
        if best is not None and d["best_layers"] is not None:
            parts.append(P.section("Best candidate vs the base spec",
                                   P.figure_html(F.best_vs_base(d), "fig-best"), section_id="best"))
    parts.append(P.section(f"Trials ({len(d['trials'])}; click a header to sort)", P.table_html(
        d["headers"], d["table"], sortable=True, table_id="trials", text_columns=0,
        wrap_columns=tuple(i for i, h in enumerate(d["headers"]) if h in D.WRAP_HEADERS)), section_id="trials"))
    parts.append(P.section("Run", P.facts_html(d["facts"]), section_id="facts"))
    if d["config"]:
        import yaml

        parts.append(P.section("Search config", f"<pre>{P.esc(yaml.safe_dump(d['config'], sort_keys=False))}</pre>",
                               section_id="config"))
    splits = ("search accuracies are validation top-1 after the search's short recipe"
              + ("; the confirmation's are test top-1 (and val) under the final recipe" if confirmed else ""))
    return P.document(f"study {study.study_name} — archkit search report",
                      f"{splits}; ops are multiply-adds of the inference path", parts, lead), d


def _train_memory_where(d: StudyData) -> str:
    """What the study's predicted training memory is for, from its facts ('batch 64, fp32 on cpu')."""
    return dict(d["facts"]).get("training memory predicted for", "at each trial's batch and precision")


def load_study(study_name: str, storage: str | None = None):
    """(study, location): an existing study, only to be read. Raises `StorageError` when the
    storage or the study does not exist; never creates either."""
    from ..search.export import load_study as load
    from ..search.storage import StorageError, default_location, is_journal

    location = storage or default_location(study_name)
    # Opening a journal file creates it: a report must not leave an empty storage behind.
    if is_journal(location) and not Path(location).expanduser().is_file():
        raise StorageError(f"no study storage at {location}")
    return load(study_name, location)


def study_report(study_name: str, path: str | Path, storage: str | None = None) -> StudyReport:
    """Write the report of a search study (by name, from `storage` or the default file under
    studies/) to `path`. A study without finished trials still gets a page that says so; the
    returned `message` says it too. Raises `StorageError` for a missing study or storage."""
    study, location = load_study(study_name, storage)
    text, d = study_report_html(study, location)
    return StudyReport(_write(path, text), d["message"], d["notes"], d)


def _write(path: str | Path, text: str) -> Path:
    path = Path(path)
    atomic_write_text(path, text)
    return path
