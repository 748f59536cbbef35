"""The data of one profile report: Table 1 rows, the paper beside them, the figures' inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...profile.paper import CompareRow, paper_numbers
from ...profile.profiler import FILTER_COLUMNS, Profile
from ...profile.render import HEADERS, compare_summary
from ...util.numbers import fmt_k, fmt_m, fmt_ms, fmt_si
from .layers import (
    BRANCH_HEADERS,
    branch_rows,
    layer_record,
    nested,
    size_text,
    stage_names,
    sunburst,
    table1_cells,
    totals_record,
)
from .records import (
    AuxHeadRecord,
    LatencyData,
    LatencyLayer,
    LatencyTotal,
    LayerPaper,
    LayerRecord,
    MeasuredWhere,
    PaperSummary,
    ProfileData,
    TableRow,
)

if TYPE_CHECKING:  # the latency package is only read here (and imports no torch either way)
    from ...latency import LayerLatencies, LayerTraffic

PAPER_HEADERS = ("paper params", "paper ops", "vs paper")
STATUS_MARK = {"match": "ok", "near": "~ (within 2%)", "disagrees": "DIFFERS"}
# The measured columns (`archkit profile --measure`), after Table 1's (and the paper's).
COST_HEADERS = ("bytes", "ops/byte", "latency ms", "latency IQR ms")


def profile_data(profile: Profile, compare_rows: list[CompareRow] | None = None,
                 measured: LayerLatencies | None = None, traffic: list[LayerTraffic] | None = None) -> ProfileData:
    """A profile as plain data: its layers (with stages and branches), the Table 1-style table
    (formatted cells; with `compare_rows` from `compare_paper`, the published numbers beside the
    computed ones and each row's status), the aux heads, totals, the ops tree and the table of the
    modules' branches (nested as deep as their splits nest).

    With `measured` (`archkit.latency.measure_layers`) and `traffic` (`archkit.latency.spec_traffic`
    of the same spec, batch and precision), `latency` holds `latency_data` and the table gets
    COST_HEADERS' columns (bytes, ops/byte, latency and its IQR per layer; the total row: the bytes
    summed and the whole forward pass, timed on its own); without them `latency` is None and the
    table is Table 1's alone."""
    if (measured is None) != (traffic is None):
        raise ValueError("profile_data: give both `measured` and `traffic` (or neither)")
    stages = stage_names(profile.rows)
    layers = [layer_record(row, stage) for row, stage in zip(profile.rows, stages, strict=True)]
    by_name = {r.name: r for r in compare_rows or []}
    headers = list(HEADERS) + (list(PAPER_HEADERS) if compare_rows is not None else [])
    table: list[TableRow] = []
    for layer in layers:
        cells = table1_cells(layer)
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
                layer["paper"] = LayerPaper(params=paper.paper_params, ops=paper.paper_ops,
                                            params_status=paper.params_status, ops_status=paper.ops_status,
                                            status=worst, note=paper.note)
        table.append(TableRow(cells=cells, status=status))
    total_cells = ["total", "", "", "", "", *[""] * len(FILTER_COLUMNS), fmt_k(profile.total.params),
                   fmt_m(profile.total.ops)] + (["", "", ""] if compare_rows is not None else [])
    latency = None
    if measured is not None:
        latency = latency_data(layers, measured, traffic)
        headers += list(COST_HEADERS)
        for layer, row in zip(layers, table, strict=True):
            row["cells"] += latency["cells"][layer["name"]]
        total_cells += latency["total_cells"]
    aux = []
    for head in profile.aux:
        head_layers = [layer_record(row, head.name) for row in head.rows]
        aux.append(AuxHeadRecord(name=head.name, after=head.after, weight=head.weight, layers=head_layers,
                                 table=[TableRow(cells=table1_cells(lay), status="") for lay in head_layers],
                                 total=totals_record(head.total)))
    paper = None
    if compare_rows is not None:
        numbers = paper_numbers()
        paper = PaperSummary(
            source=numbers.source, budget_ops=numbers.budget_ops,
            flagged=[r.name for r in compare_rows if r.flagged],
            disagrees=[r.name for r in compare_rows if "disagrees" in (r.params_status, r.ops_status)],
            summary=compare_summary(compare_rows, profile))
    return ProfileData(
        spec=profile.spec,
        convention=profile.convention,
        input=size_text(profile.input),
        layers=layers,
        headers=headers,
        table=table,
        total_cells=total_cells,
        total=totals_record(profile.total),
        aux=aux,
        aux_total=totals_record(profile.aux_total),
        sunburst=sunburst(layers),
        nested=nested(layers),
        branch_headers=list(BRANCH_HEADERS),
        branch_table=branch_rows(layers) + [row for head in aux for row in branch_rows(head["layers"],
                                                                                        f"{head['name']}.")],
        paper=paper,
        latency=latency,
    )


def latency_data(layers: list[LayerRecord], measured: LayerLatencies, traffic: list[LayerTraffic]) -> LatencyData:
    """What `archkit profile --measure` adds to the report, as plain data: where it was measured
    (`where`, `facts`, `headline`), per layer (spec order; the `layers` of `profile_data`) the
    multiply-adds of the batch, memory traffic, intensity (multiply-adds per byte), the measured
    latency (median, quartiles, IQR; ms per batch), its share of the layers' summed latency beside
    its share of the ops, and `expected_ms`: the time its ops would take at the layers' mean rate
    (`rate`: the multiply-adds of the layers that have any per ms of their summed latency), with
    `slowdown` = latency / expected_ms (None for a layer without multiply-adds). `total`: the
    whole forward pass timed on its own (what the JSON's `total.latency_ms` holds) and the layers'
    summed latency beside it. `cells` (by layer name) and `total_cells`: the table's
    COST_HEADERS columns."""
    costs = {t.name: t for t in traffic}
    missing = [x["name"] for x in layers if x["name"] not in costs or x["name"] not in measured.layers]
    if missing:
        raise ValueError(f"latency_data: no traffic or timing for {', '.join(missing)}")
    batch = measured.batch
    timed = [(x, costs[x["name"]], measured.layers[x["name"]]) for x in layers]
    ops_total = sum(x["ops"] * batch for x, _, _ in timed)
    layers_ms = sum(timing.median_ms for _, _, timing in timed)
    weighted_ms = sum(timing.median_ms for x, _, timing in timed if x["ops"] * batch)
    rate = ops_total / weighted_ms if ops_total and weighted_ms > 0 else None  # multiply-adds per ms
    rows: list[LatencyLayer] = []
    for x, t, timing in timed:
        ops = x["ops"] * batch
        expected_ms = ops / rate if rate and ops else None
        rows.append(LatencyLayer(
            name=x["name"], type=x["type"], stage=x["stage"], ops=ops, bytes=t.bytes, intensity=t.intensity,
            latency_ms=timing.median_ms, latency_iqr_ms=timing.iqr_ms, q1_ms=timing.q1_ms, q3_ms=timing.q3_ms,
            ops_share=ops / ops_total if ops_total else 0.0,
            latency_share=timing.median_ms / layers_ms if layers_ms > 0 else 0.0,
            expected_ms=expected_ms,
            slowdown=timing.median_ms / expected_ms if expected_ms else None,
            bytes_text=fmt_si(t.bytes) + "B",
            latency_text=(f"{fmt_ms(timing.median_ms)} ms (IQR {fmt_ms(timing.iqr_ms)} ms: quartiles "
                          f"{fmt_ms(timing.q1_ms)} .. {fmt_ms(timing.q3_ms)} ms)")))
    total = measured.total
    where = MeasuredWhere(device=measured.device, device_name=measured.device_name, batch=batch,
                          precision=measured.precision, threads=measured.threads, torch=str(measured.torch))
    images = f"batch of {batch} image{'s' if batch != 1 else ''}"
    headline = (f"Latency measured on {measured.device_name} ({measured.device}, {images}, {measured.precision}, "
                f"{measured.threads} thread{'s' if measured.threads != 1 else ''}, torch {measured.torch}): "
                f"whole forward pass {fmt_ms(total.median_ms)} ms (IQR {fmt_ms(total.iqr_ms)} ms), the median "
                f"of {total.repeats} repeats.")
    facts = [("device", f"{measured.device_name} ({measured.device})"), ("batch", str(batch)),
             ("precision", measured.precision), ("threads", str(measured.threads)), ("torch", str(measured.torch)),
             ("repeats", f"{total.repeats} per layer and for the whole model (median; spread: the IQR)"),
             ("whole forward pass", f"{fmt_ms(total.median_ms)} ms (IQR {fmt_ms(total.iqr_ms)} ms, quartiles "
                                    f"{fmt_ms(total.q1_ms)} .. {fmt_ms(total.q3_ms)} ms)"),
             ("layers timed alone, summed", f"{fmt_ms(layers_ms)} ms"),
             ("multiply-adds, bytes", f"{fmt_si(ops_total)} multiply-adds, {fmt_si(sum(r['bytes'] for r in rows))}B "
                                      f"moved (weights + inputs + outputs at {measured.precision}), per batch")]
    if rate is not None:
        facts.append(("the layers' mean rate", f"{rate * 1e3 / 1e9:,.2f} G multiply-adds/s (the layers with "
                                                "multiply-adds: their ops over their summed latency)"))
    cells = {r["name"]: [r["bytes_text"], f"{r['intensity']:.1f}" if r["intensity"] is not None else "",
                         fmt_ms(r["latency_ms"]), fmt_ms(r["latency_iqr_ms"])] for r in rows}
    return LatencyData(
        where=where,
        headline=headline,
        facts=facts,
        layers=rows,
        total=LatencyTotal(ops=ops_total, bytes=sum(r["bytes"] for r in rows), latency_ms=total.median_ms,
                           latency_iqr_ms=total.iqr_ms, q1_ms=total.q1_ms, q3_ms=total.q3_ms,
                           repeats=total.repeats, layers_ms=layers_ms),
        rate=rate,
        cells=cells,
        total_cells=[fmt_si(sum(r["bytes"] for r in rows)) + "B", "", fmt_ms(total.median_ms),
                     fmt_ms(total.iqr_ms)],
    )


