"""Plotly figures drawn from the plain data of `archkit.report.data` (nothing is computed here that
a test of the data functions would miss). Every figure has a title and axis labels with units,
and is sized for a laptop screen: the page gives it the width, the figure sets its height."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .data.records import CompareData, LatencyData, LatencyLayer, LayerRecord, ProfileData, StudyData, TrialRecord

HEIGHT = 440
COLORS = {"a": "#4c72b0", "b": "#dd8452", "paper": "#8c8c8c"}
STATUS_COLORS = {"match": "#a0a0a0", "near": "#e6a23c", "disagrees": "#d62728"}
PARAMS_AXIS = "params (K weights, K = 1024)"
OPS_AXIS = "ops (M multiply-adds)"
ACT_AXIS = "activations (K output elements)"
# How each trial category is drawn in the study plots (name, marker symbol, colour, size).
CATEGORY_STYLE = {
    "trained": ("trained candidate", "circle", "#4c72b0", 9),
    "reference": ("uniform-scaling reference", "star", "#d62728", 17),
    "scored": ("scored untrained (zero-cost proxy)", "circle-open", "#4c72b0", 9),
    "pruned": ("pruned (accuracy when stopped)", "diamond-open", "#8172b3", 9),
    "over budget": ("over budget (not trained; drawn at 0)", "x", "#9a9a9a", 9),
    "complete": ("complete, no accuracy (drawn at 0)", "square-open", "#9a9a9a", 9),
}


def _esc(text: str) -> str:
    # Plotly renders a subset of HTML in titles and hover text; names come from user YAML.
    return html.escape(str(text), quote=False)


def _layout(fig: go.Figure, title: str, height: int = HEIGHT, **kwargs) -> go.Figure:
    settings = {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 70, "r": 30, "t": 80, "b": 60},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1},
    }
    fig.update_layout(**(settings | kwargs))
    return fig


def log_toggle(axes: list[str]) -> list[dict]:
    """An updatemenus entry: two buttons that switch the named y axes between linear and log,
    just above the plot's top-left corner (below the title; the legend is on the right)."""
    return [{
        "type": "buttons", "direction": "right", "x": 0.0, "xanchor": "left", "y": 1.0, "yanchor": "bottom",
        "showactive": True, "active": 0, "pad": {"b": 4},
        "buttons": [{"label": scale, "method": "relayout", "args": [{f"{ax}.type": scale for ax in axes}]}
                    for scale in ("linear", "log")],
    }]


def _weighted(layers: list[LayerRecord]) -> list[LayerRecord]:
    """The layers with params or ops (pools, LRN and dropout would be empty bars)."""
    return [x for x in layers if x["params"] or x["ops"]]


# --- profile ---------------------------------------------------------------------------------


def layer_bars(data: ProfileData) -> go.Figure:
    """Params and ops per weighted layer (two panels, one x axis), with a linear/log toggle; for a
    paper comparison, Table 1's published numbers beside them, coloured by agreement."""
    layers = _weighted(data["layers"])
    names = [x["name"] for x in layers]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    hover = [f"{x['name']} ({_esc(x['type'])}, {x['output']})" for x in layers]
    paper = data["paper"] is not None
    for row, key, unit, scale in ((1, "params", "K", 1024), (2, "ops", "M", 1e6)):
        fig.add_bar(x=names, y=[x[key] / scale for x in layers], row=row, col=1, name="computed" if paper else key,
                    legendgroup="computed", showlegend=paper and row == 1, offsetgroup="computed",
                    marker_color=COLORS["a"], hovertext=hover,
                    hovertemplate=f"%{{hovertext}}<br>%{{y:,.1f}}{unit} {key} (computed)<extra></extra>")
    if paper:
        # One trace per agreement status, all in one offset group: each published bar stands
        # beside its computed one, and the legend says what each colour means.
        shown: set[str] = set()
        for row, key, unit, scale in ((1, "params", "K", 1024), (2, "ops", "M", 1e6)):
            for status, label in (("match", "agrees"), ("near", "within 2%"), ("disagrees", "disagrees")):
                group = [x for x in layers if x["paper"] is not None and x["paper"][f"{key}_status"] == status]
                if not group:
                    continue
                fig.add_bar(
                    x=[x["name"] for x in group], y=[x["paper"][key] / scale for x in group], row=row, col=1,
                    name=f"Table 1: {label}", legendgroup=status, showlegend=status not in shown,
                    offsetgroup="paper", marker_color=STATUS_COLORS[status],
                    hovertemplate=f"%{{x}}: Table 1 prints %{{y:,.1f}}{unit} {key} ({label})<extra></extra>",
                )
                shown.add(status)
    fig.update_yaxes(title_text=PARAMS_AXIS, row=1, col=1)
    fig.update_yaxes(title_text=OPS_AXIS, row=2, col=1)
    fig.update_xaxes(title_text="layer", row=2, col=1, categoryorder="array", categoryarray=names)
    title = f"{_esc(data['spec'])}: params and ops per layer"
    if paper:
        title += ", beside Table 1's published numbers"
    return _layout(fig, title, height=560, barmode="group", updatemenus=log_toggle(["yaxis", "yaxis2"]))


def ops_sunburst(data: ProfileData, title: str | None = None) -> go.Figure:
    """Where the multiply-adds are: stage -> layer -> branch -> sub-branch -> ... (as deep as the
    splits nest; see `archkit.report.data.sunburst`)."""
    tree = data["sunburst"]
    fig = go.Figure(go.Sunburst(
        ids=tree["ids"], labels=tree["labels"], parents=tree["parents"], values=[v / 1e6 for v in tree["values"]],
        branchvalues="total",
        hovertemplate="%{id}<br>%{value:,.1f}M ops (%{percentRoot:.1%} of the total)<extra></extra>",
        texttemplate="%{label}<br>%{value:,.0f}M", insidetextorientation="radial",
    ))
    total = data["total"]["ops"] / 1e6
    levels = "stage, layer, branch and sub-branch" if data.get("nested") else "stage, layer and branch"
    return _layout(fig, title or f"{_esc(data['spec'])}: ops by {levels} (M multiply-adds; "
                   f"total {total:,.1f}M)", height=560, margin={"l": 10, "r": 10, "t": 60, "b": 10})


def activations_bars(data: ProfileData) -> go.Figure:
    """Output elements per layer (what a forward pass keeps in memory), linear/log toggle."""
    layers = data["layers"]
    fig = go.Figure(go.Bar(
        x=[x["name"] for x in layers], y=[x["activations"] / 1e3 for x in layers], name="activations",
        marker_color="#55a868", hovertext=[f"{x['name']} ({_esc(x['type'])}), output {x['output']}" for x in layers],
        hovertemplate="%{hovertext}<br>%{y:,.1f}K activations<extra></extra>",
    ))
    fig.update_yaxes(title_text=ACT_AXIS)
    fig.update_xaxes(title_text="layer")
    return _layout(fig, f"{_esc(data['spec'])}: activations per layer (output elements, one image)",
                   updatemenus=log_toggle(["yaxis"]))


def saved_bytes_bars(spec: str, rows: list[tuple[str, int]], batch: int, precision: str) -> go.Figure:
    """Bytes saved for backward per layer by one training step (`archkit profile --train`: the
    main path's layers, then the aux heads' and the loss), in MB, linear/log toggle."""
    fig = go.Figure(go.Bar(
        x=[name for name, _ in rows], y=[n / 1e6 for _, n in rows], name="saved for backward",
        marker_color="#c44e52", hovertemplate="%{x}: %{y:,.2f} MB saved for backward<extra></extra>",
    ))
    fig.update_yaxes(title_text="saved for backward (MB)")
    fig.update_xaxes(title_text="layer", categoryorder="array", categoryarray=[name for name, _ in rows])
    return _layout(fig, f"{_esc(spec)}: memory saved for backward per layer (one training step at batch {batch:,}, "
                        f"{_esc(precision)})", updatemenus=log_toggle(["yaxis"]))


# --- profile: measured latency (`archkit profile --measure`) -----------------------------------

# One colour per layer kind (type), in the order the kinds first appear in the network.
KIND_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c",
                "#ccb974", "#64b5cd")
LATENCY_AXIS = "measured latency (ms per batch, median)"


def _measured_on(lat: LatencyData) -> str:
    w = lat["where"]
    return (f"measured on {_esc(w['device_name'])} ({_esc(w['device'])}), batch {w['batch']}, {_esc(w['precision'])}, "
            f"{w['threads']} thread{'s' if w['threads'] != 1 else ''}")


def _latency_hover(r: LatencyLayer) -> str:
    intensity = f"{r['intensity']:,.1f} multiply-adds/byte" if r["intensity"] is not None else "no bytes moved"
    if r["slowdown"] is not None:
        pace = f"{r['slowdown']:,.1f}x the time its ops take at the layers' mean rate"
    else:
        pace = "no multiply-adds: its time is memory traffic and overhead"
    return "<br>".join([
        f"<b>{_esc(r['name'])}</b> ({_esc(r['type'])}, {_esc(r['stage'])})",
        f"ops {r['ops'] / 1e6:,.3f}M multiply-adds",
        f"bytes {r['bytes_text']}, {intensity}",
        f"latency {r['latency_text']}",
        f"{100 * r['latency_share']:.1f}% of the layers' summed latency, {100 * r['ops_share']:.1f}% of the ops",
        pace,
    ])


def ops_latency(data: ProfileData) -> go.Figure:
    """Ops vs measured latency, one point per layer of the inference path (x: the batch's
    multiply-adds, y: the median latency with the quartiles as error bars), coloured by layer
    kind; the dashed line is the latency each layer's ops would take at the layers' mean rate, so
    a point well above it (low arithmetic intensity, or no multiply-adds at all: x = 0) is a layer
    that memory traffic or overhead makes slower than its ops suggest. Linear/log toggle on both
    axes (log leaves out the layers without multiply-adds)."""
    lat = data["latency"]
    rows = lat["layers"]
    kinds = list(dict.fromkeys(r["type"] for r in rows))
    fig = go.Figure()
    for i, kind in enumerate(kinds):
        group = [r for r in rows if r["type"] == kind]
        color = KIND_PALETTE[i % len(KIND_PALETTE)]
        fig.add_scatter(
            x=[r["ops"] / 1e6 for r in group], y=[r["latency_ms"] for r in group], mode="markers", name=_esc(kind),
            marker={"color": color, "size": 10, "line": {"width": 1, "color": "white"}},
            error_y={"type": "data", "symmetric": False, "array": [r["q3_ms"] - r["latency_ms"] for r in group],
                     "arrayminus": [r["latency_ms"] - r["q1_ms"] for r in group], "color": color, "thickness": 1,
                     "width": 3},
            customdata=[r["name"] for r in group], hovertext=[_latency_hover(r) for r in group],
            hovertemplate="%{hovertext}<extra></extra>")
    rate = lat["rate"]
    positive = [r["ops"] for r in rows if r["ops"]]
    if rate and positive:
        # y = x / rate through the origin; its points at the smallest and largest ops keep it a
        # straight line on log axes too (where the origin is left out).
        xs = sorted({0, min(positive), max(positive)})
        fig.add_scatter(x=[x / 1e6 for x in xs], y=[x / rate for x in xs], mode="lines", hoverinfo="skip",
                        name=f"ops at the layers' mean rate ({rate * 1e3 / 1e9:,.2f} G multiply-adds/s)",
                        line={"dash": "dash", "color": "#444", "width": 1})
    batch = lat["where"]["batch"]
    per = "one image" if batch == 1 else f"a batch of {batch} images"
    fig.update_xaxes(title_text=f"ops (M multiply-adds of {per})", rangemode="tozero")
    fig.update_yaxes(title_text=LATENCY_AXIS, rangemode="tozero")
    return _layout(fig, f"{_esc(data['spec'])}: ops vs latency per layer, {_measured_on(lat)}<br><sup>above the "
                        "dashed line: slower than its ops suggest (memory traffic, overhead); bars: quartiles</sup>",
                   height=520, hovermode="closest", updatemenus=log_toggle(["xaxis", "yaxis"]),
                   margin={"l": 70, "r": 30, "t": 120, "b": 60})


def latency_share(data: ProfileData) -> go.Figure:
    """Each layer's share of the measured latency (of the layers' summed latency) beside its share
    of the multiply-adds: where the time goes vs where the ops are."""
    lat = data["latency"]
    rows = lat["layers"]
    names = [r["name"] for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[100 * r["ops_share"] for r in rows], name="ops (% of the multiply-adds)",
                marker_color=COLORS["a"], hovertemplate="%{x}: %{y:.1f}% of the multiply-adds<extra></extra>")
    fig.add_bar(x=names, y=[100 * r["latency_share"] for r in rows],
                name="measured latency (% of the layers' summed latency)", marker_color=COLORS["b"],
                hovertext=[r["latency_text"] for r in rows],
                hovertemplate="%{x}: %{y:.1f}% of the layers' summed latency<br>%{hovertext}<extra></extra>")
    fig.update_yaxes(title_text="share (%)", rangemode="tozero")
    fig.update_xaxes(title_text="layer", categoryorder="array", categoryarray=names)
    return _layout(fig, f"{_esc(data['spec'])}: share of the latency vs share of the ops per layer, "
                        f"{_measured_on(lat)}", barmode="group")


# --- two profiles ----------------------------------------------------------------------------


def compare_bars(data: CompareData) -> go.Figure:
    """Params and ops per layer of both specs overlaid (grouped bars), linear/log toggle."""
    layers = [x for x in data["layers"] if x["params_a"] or x["params_b"] or x["ops_a"] or x["ops_b"]]
    names = [x["name"] for x in layers]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for side in ("a", "b"):
        label = _esc(data[side]["label"])
        out = [x[f"output_{side}"] or "absent" for x in layers]
        fig.add_bar(x=names, y=[x[f"params_{side}"] / 1024 for x in layers], name=f"{label}: params", row=1, col=1,
                    marker_color=COLORS[side], legendgroup=side, hovertext=out,
                    hovertemplate=f"{label}<br>%{{x}}, output %{{hovertext}}<br>%{{y:,.1f}}K params<extra></extra>")
        fig.add_bar(x=names, y=[x[f"ops_{side}"] / 1e6 for x in layers], name=f"{label}: ops", row=2, col=1,
                    marker_color=COLORS[side], legendgroup=side, marker_pattern_shape="/", hovertext=out,
                    hovertemplate=f"{label}<br>%{{x}}, output %{{hovertext}}<br>%{{y:,.1f}}M ops<extra></extra>")
    fig.update_yaxes(title_text=PARAMS_AXIS, row=1, col=1)
    fig.update_yaxes(title_text=OPS_AXIS, row=2, col=1)
    fig.update_xaxes(title_text="layer", row=2, col=1)
    return _layout(fig, f"params and ops per layer: {_esc(data['a']['label'])} vs {_esc(data['b']['label'])}",
                   height=560, barmode="group", updatemenus=log_toggle(["yaxis", "yaxis2"]))


def compare_deltas(data: CompareData) -> go.Figure:
    """B - A per layer: params and ops."""
    layers = [x for x in data["layers"] if x["params_delta"] or x["ops_delta"]]
    names = [x["name"] for x in layers]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for row, key, scale, unit in ((1, "params", 1024, "K"), (2, "ops", 1e6, "M")):
        deltas = [x[f"{key}_delta"] / scale for x in layers]
        fig.add_bar(x=names, y=deltas, name=f"Δ {key}", row=row, col=1, showlegend=False,
                    marker_color=["#c44e52" if d > 0 else "#55a868" for d in deltas],
                    hovertemplate=f"%{{x}}: %{{y:+,.1f}}{unit} {key}<extra></extra>")
    fig.update_yaxes(title_text="Δ " + PARAMS_AXIS, row=1, col=1)
    fig.update_yaxes(title_text="Δ " + OPS_AXIS, row=2, col=1)
    fig.update_xaxes(title_text="layer", row=2, col=1)
    title = (f"change per layer, {_esc(data['b']['label'])} minus {_esc(data['a']['label'])} "
             "(red: more, green: less)")
    if not layers:
        title += ": no layer differs"
    return _layout(fig, title, height=500)


def compare_activations(data: CompareData) -> go.Figure:
    layers = data["layers"]
    fig = go.Figure()
    for side in ("a", "b"):
        fig.add_bar(x=[x["name"] for x in layers], y=[x[f"activations_{side}"] / 1e3 for x in layers],
                    name=_esc(data[side]["label"]), marker_color=COLORS[side],
                    hovertemplate="%{x}: %{y:,.1f}K activations<extra></extra>")
    fig.update_yaxes(title_text=ACT_AXIS)
    fig.update_xaxes(title_text="layer")
    return _layout(fig, "activations per layer (output elements, one image)", barmode="group",
                   updatemenus=log_toggle(["yaxis"]))


def cumulative_ops(data: CompareData) -> go.Figure:
    """Multiply-adds summed along the network: where the two specs part ways."""
    fig = go.Figure()
    for side in ("a", "b"):
        names, sums, total = [], [], 0
        for x in data["layers"]:
            if x[f"in_{side}"]:
                total += x[f"ops_{side}"]
                names.append(x["name"])
                sums.append(total / 1e6)
        fig.add_scatter(x=names, y=sums, mode="lines+markers", name=_esc(data[side]["label"]),
                        line={"color": COLORS[side]}, hovertemplate="up to %{x}: %{y:,.1f}M ops<extra></extra>")
    fig.update_yaxes(title_text="cumulative " + OPS_AXIS, rangemode="tozero")
    fig.update_xaxes(title_text="layer", categoryorder="array", categoryarray=[x["name"] for x in data["layers"]])
    return _layout(fig, "ops summed along the network (M multiply-adds)")


# --- a study ---------------------------------------------------------------------------------

# A cost axis: its label, the divisor of the stored value, and the unit the budget line is written in.
COST = {"ops": ("ops (M multiply-adds)", 1e6, "M"), "params": ("params (M weights)", 1e6, "M"),
        "latency_ms": ("predicted latency (ms)", 1.0, " ms"),
        "train_memory": ("predicted peak training memory (MB, one step at the trial's batch)", 1e6, " MB")}
# A cost in a figure's title.
COST_WORDS = {"latency_ms": "latency", "train_memory": "training memory"}


def trial_hover(t: TrialRecord, score_label: str = "val top-1") -> str:
    """A candidate in a hover label: trial, kind, widths, depths, costs, accuracy, and the score the
    study ranks by when it is not val top-1 (`score_label`: StudyData.score_label)."""
    name, *_ = CATEGORY_STYLE.get(t["category"], (t["category"],))
    acc = f"val top-1 {100 * t['val_top1']:.2f}%" if t["val_top1"] is not None else "not trained"
    score = (f"{_esc(score_label)} {t['score']:.4g}"
             if score_label != "val top-1" and t.get("score") is not None else "")
    lines = [f"<b>trial {t['number']}</b>: {_esc(name)}", f"widths: {_esc(t['widths'])}",
             f"depths: {_esc(t['depths_text'])}",
             f"ops {t['ops'] / 1e6:,.1f}M, params {t['params'] / 1e6:,.3f}M" if t["ops"] is not None else "",
             _latency_text(t), _memory_text(t), score, acc]
    if t["note"] and t["category"] not in ("reference", "over budget"):
        lines.append(_esc(t["note"]))
    return "<br>".join(x for x in lines if x)


def _latency_text(t: TrialRecord) -> str:
    """'latency 2.88 ms predicted, 3.04 ms measured' (empty for a study that predicts none)."""
    if t.get("latency_ms") is None:
        return ""
    measured = t.get("measured_latency_ms")
    return f"latency {t['latency_ms']:.3g} ms predicted" + (f", {measured:.3g} ms measured" if measured else "")


def _memory_text(t: TrialRecord) -> str:
    """'train memory 174.4 MB predicted at batch 64, 181.0 MB measured' (empty for a trial without it)."""
    if t.get("train_memory") is None:
        return ""
    measured = t.get("measured_train_memory")
    return (f"train memory {t['train_memory'] / 1e6:,.1f} MB predicted at batch {t['batch_size']}"
            + (f", {measured / 1e6:,.1f} MB measured" if measured else ""))


def _percent(data: StudyData) -> bool:
    """Whether the study's score is val top-1 (drawn in %) rather than another proxy's value."""
    return data["score_label"] == "val top-1"


def score_axis(data: StudyData) -> str:
    """The y axis of the score the study ranks by."""
    if _percent(data):
        return "validation top-1 accuracy (%)"
    return f"{data['score_label']} (the study's proxy, higher is better)"


# From this many points on, markers are drawn with WebGL (Scattergl): a supernet study scores
# hundreds of candidates, and SVG markers make such a page slow to pan and hover.
WEBGL_FROM = 200


def _markers(many: bool, **kwargs):
    return go.Scattergl(**kwargs) if many else go.Scatter(**kwargs)


def pareto(data: StudyData, cost: str) -> go.Figure:
    """The score the study ranks by (val top-1 by default) vs cost, one point per finished trial:
    trained candidates, the reference (a star), pruned trials, over-budget ones (x, at the bottom:
    never trained); the Pareto front (`archkit export --pareto`'s) as a step line; the budget as a
    dashed line."""
    label, scale, unit = COST[cost]
    by_number = {t["number"]: t for t in data["trials"]}
    fig = go.Figure()
    finished = [by_number[n] for n in data["finished"]]
    percent = _percent(data)
    scored = [t["score"] for t in finished if t["score"] is not None]
    # Val top-1 in %, trials without a score at 0; another proxy's own values, those at its lowest.
    floor = 0.0 if percent or not scored else min(scored)

    def y(t: TrialRecord) -> float:
        value = t["score"] if t["score"] is not None else floor
        return 100 * value if percent else value

    for category, (name, symbol, color, size) in CATEGORY_STYLE.items():
        group = [t for t in finished if t["category"] == category and t[cost] is not None]
        if not group:
            continue
        if not percent:
            name = name.replace("drawn at 0", "drawn at the lowest score")
        fig.add_trace(_markers(
            len(finished) >= WEBGL_FROM,
            x=[t[cost] / scale for t in group], y=[y(t) for t in group], mode="markers",
            name=name, marker={"symbol": symbol, "color": color, "size": size, "line": {"width": 1}},
            customdata=[t["number"] for t in group],
            hovertext=[trial_hover(t, data["score_label"]) for t in group],
            hovertemplate="%{hovertext}<extra></extra>",
        ))
    front = [by_number[n] for n in data["fronts"][cost]]
    if front:
        fig.add_scatter(x=[t[cost] / scale for t in front], y=[y(t) for t in front],
                        mode="lines", line={"shape": "hv", "color": "#2ca02c", "width": 2}, name="Pareto front",
                        hoverinfo="skip")
    limit = data["budget"].get(cost)
    if limit:
        fig.add_vline(x=limit / scale, line={"dash": "dash", "color": "#d62728"},
                      annotation={"text": f"budget {limit / scale:,.4g}{unit}", "font": {"color": "#d62728"}},
                      annotation_position="top left")
    fig.update_xaxes(title_text=label, rangemode="tozero")
    # Val top-1: fixed, a little below 0, where over-budget trials sit (the axis would cut them in
    # half). Another proxy's scale is its own: Plotly's autorange.
    fig.update_yaxes(title_text=score_axis(data), **({"range": [-4, 103]} if percent else {}))
    what = COST_WORDS.get(cost, cost)
    return _layout(fig, f"{'accuracy' if percent else _esc(data['score_label'])} vs {what}: {len(finished)} "
                        f"finished trials, Pareto front in green", height=480, hovermode="closest")


def history(data: StudyData) -> go.Figure:
    """The score the study ranks by (val top-1 by default) per trial in order, with the best
    within-budget score so far."""
    h = data["history"]
    by_number = {t["number"]: t for t in data["trials"]}
    k = 100 if _percent(data) else 1
    fig = go.Figure()
    for category, (name, symbol, color, size) in CATEGORY_STYLE.items():
        idx = [i for i, c in enumerate(h["categories"]) if c == category]
        if idx:
            fig.add_trace(_markers(
                len(h["numbers"]) >= WEBGL_FROM,
                x=[h["numbers"][i] for i in idx], y=[k * h["values"][i] for i in idx], mode="markers",
                name=name, marker={"symbol": symbol, "color": color, "size": min(size, 12)},
                hovertext=[trial_hover(by_number[h["numbers"][i]], data["score_label"]) for i in idx],
                hovertemplate="%{hovertext}<extra></extra>"))
    fig.add_scatter(x=h["numbers"], y=[k * b if b is not None else None for b in h["best"]], mode="lines",
                    line={"shape": "hv", "color": "#2ca02c"}, name="best so far", hoverinfo="skip")
    fig.update_xaxes(title_text="trial number")
    fig.update_yaxes(title_text=score_axis(data))
    return _layout(fig, "optimization history (over-budget trials are not trained and not shown)",
                   hovermode="closest")


def supernet_curves(data: StudyData) -> go.Figure:
    """A `proxy: supernet` study's supernet as it trained: val top-1 by epoch of its largest network,
    its smallest and each sampled sub-network (the same ones every epoch), each after batch-norm
    recalibration; the study's candidates were scored on its last state."""
    sn = data["supernet"]
    if sn is None:
        raise ValueError(f"study {data['study']!r} has no supernet (its proxy is {data['proxy']!r})")
    fig = go.Figure()
    marker = len(sn["epochs"]) <= 60  # points on short curves, lines alone on long ones
    mode = "lines+markers" if marker else "lines"

    def pct(values: list[float | None]) -> list[float | None]:
        return [100 * v if v is not None else None for v in values]

    series = [("largest", sn["largest"], {"color": "#1f77b4", "width": 2}),
              ("smallest", sn["smallest"], {"color": "#d62728", "width": 2})]
    series += [(f"sampled {k + 1}", values, {"color": "#7f7f7f", "width": 1, "dash": "dot"})
               for k, values in enumerate(sn["sampled"])]
    for name, values, line in series:
        if any(v is not None for v in values):
            fig.add_scatter(x=sn["epochs"], y=pct(values), mode=mode, name=name, line=line,
                            hovertemplate=f"{name}: epoch %{{x:.4g}}, val top-1 %{{y:.2f}}%<extra></extra>")
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(title_text="validation top-1 accuracy (%)", range=[0, 101])
    return _layout(fig, f"the supernet's training: val top-1 of its sub-networks by epoch ({sn['candidates']} "
                        "candidates scored on it)", hovermode="x unified")


MAX_BARS = 15  # importances shown


def importances(data: StudyData) -> go.Figure:
    """The largest importances (up to MAX_BARS), largest at the top."""
    values = data["importances"]["values"]
    names = sorted(values, key=lambda n: -values[n])[:MAX_BARS][::-1]
    fig = go.Figure(go.Bar(x=[values[n] for n in names], y=names, orientation="h", marker_color="#4c72b0",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="importance for validation top-1 (fANOVA, sums to 1)", range=[0, 1])
    fig.update_yaxes(title_text="parameter")
    shown = f" (the {len(names)} largest of {len(values)})" if len(names) < len(values) else ""
    fig.update_yaxes(automargin=True)  # parameter names such as inception4b.share_3x3 are long
    return _layout(fig, f"hyperparameter importances{shown}", height=max(300, 120 + 28 * len(names)))


def parallel(data: StudyData) -> go.Figure:
    """Sampled parameters, costs and accuracy of the trained candidates, one line each."""
    by_number = {t["number"]: t for t in data["trials"]}
    trials = [by_number[n] for n in data["parallel"]["numbers"]]
    dims = []
    for p in data["parallel"]["params"]:
        values = [t["sampled"][p] for t in trials]
        if all(isinstance(v, (int, float)) for v in values):
            dims.append({"label": p, "values": [float(v) for v in values]})
        else:  # categorical: positions, labelled with the choices
            choices = sorted({str(v) for v in values})
            dims.append({"label": p, "values": [choices.index(str(v)) for v in values],
                         "tickvals": list(range(len(choices))), "ticktext": choices})
    dims += [{"label": "ops (M)", "values": [t["ops"] / 1e6 for t in trials]},
             {"label": "params (M)", "values": [t["params"] / 1e6 for t in trials]},
             {"label": "val top-1 (%)", "values": [100 * t["val_top1"] for t in trials]}]
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": [100 * t["val_top1"] for t in trials], "colorscale": "Viridis", "showscale": True,
              "colorbar": {"title": {"text": "top-1 (%)"}}},
    ))
    p = data["parallel"]
    shown = f"; the {len(p['params'])} most important of {p['of']} parameters" if len(p["params"]) < p["of"] else ""
    return _layout(fig, f"parallel coordinates: {len(trials)} trained candidates (colour: val top-1 %){shown}",
                   margin={"l": 70, "r": 90, "t": 110, "b": 40})


def best_vs_base(data: StudyData) -> go.Figure:
    """The best candidate's ops per layer beside the base spec's (linear/log toggle)."""
    cmp = data["best_layers"]
    layers = [x for x in cmp["layers"] if x["ops_a"] or x["ops_b"]]
    fig = go.Figure()
    for side, label in (("a", f"base ({_esc(cmp['a']['spec'])})"), ("b", f"best (trial {data['best']['number']})")):
        fig.add_bar(x=[x["name"] for x in layers], y=[x[f"ops_{side}"] / 1e6 for x in layers], name=label,
                    marker_color=COLORS[side], hovertemplate=f"{label}<br>%{{x}}: %{{y:,.2f}}M ops<extra></extra>")
    fig.update_yaxes(title_text=OPS_AXIS)
    fig.update_xaxes(title_text="layer")
    ta, tb = cmp["a"]["total"]["ops"] / 1e6, cmp["b"]["total"]["ops"] / 1e6
    return _layout(fig, f"best candidate vs base: ops per layer (total {tb:,.1f}M vs {ta:,.1f}M)",
                   barmode="group", updatemenus=log_toggle(["yaxis"]))


# How each confirmed row is drawn: the reference in the reference's red (as its star above).
ROLE_COLORS = {"reference": "#d62728", "best": "#2ca02c", "candidate": "#4c72b0"}


def confirmation(data: StudyData) -> go.Figure:
    """The confirmation stage: one row per confirmed trial (the reference on top, then the best),
    each seed's test top-1 a filled dot and its val top-1 an open one, the mean test top-1 with its
    95% t interval as a bar; the reference's mean as a dashed line to compare against."""
    c = data["confirmation"]
    fig = go.Figure()
    for i, row in enumerate(c["rows"]):
        color, label = ROLE_COLORS[row["role"]], _esc(row["label"])
        seeds = [f"seed {s}" if s is not None else f"run {k + 1}" for k, s in enumerate(row["seeds"])]
        search = (f"<br>in the search: val top-1 {100 * row['search_val_top1']:.2f}% (short recipe)"
                  if row["search_val_top1"] is not None else "")
        cost = f"<br>ops {row['ops'] / 1e6:,.1f}M, params {row['params'] / 1e6:,.3f}M" if row["ops"] is not None else ""
        hover = [f"<b>{label}</b>, {seed}<br>test top-1 {100 * t:.2f}%<br>val top-1 {100 * v:.2f}%{cost}"
                 for seed, t, v in zip(seeds, row["test_top1"], row["val_top1"], strict=True)]
        n = len(row["test_top1"])
        # Seeds spread a little across the row, test just above its line, val just below: equal
        # accuracies stay visible as separate dots.
        spread = [(k - (n - 1) / 2) * min(0.08, 0.24 / max(n - 1, 1)) for k in range(n)]
        common = {"legendgroup": f"row{i}", "hovertext": hover, "hovertemplate": "%{hovertext}<extra></extra>"}
        fig.add_scatter(x=[100 * t for t in row["test_top1"]], y=[i - 0.12 + s for s in spread], mode="markers",
                        name=label, marker={"color": color, "size": 10, "line": {"width": 1, "color": "white"}},
                        customdata=[row["trial"]] * n, **common)
        fig.add_scatter(x=[100 * v for v in row["val_top1"]], y=[i + 0.22 + s for s in spread], mode="markers",
                        name=f"{label}: val top-1", showlegend=False, customdata=[row["trial"]] * n,
                        marker={"color": color, "size": 8, "symbol": "circle-open", "line": {"width": 1.5}}, **common)
        lo, hi = row["test_ci95"]
        interval = (f"95% t interval {100 * lo:.2f} .. {100 * hi:.2f}%" if lo is not None
                    else "one seed: no interval")
        fig.add_scatter(
            x=[100 * row["test_mean"]], y=[i - 0.12], mode="markers", name=f"{label}: mean", showlegend=False,
            legendgroup=f"row{i}", customdata=[row["trial"]],
            marker={"color": color, "size": 18 if row["role"] != "candidate" else 14, "symbol": "line-ns",
                    "line": {"width": 3, "color": color}},
            error_x=({"type": "data", "symmetric": False, "array": [100 * (hi - row["test_mean"])],
                      "arrayminus": [100 * (row["test_mean"] - lo)], "color": color, "thickness": 2, "width": 8}
                     if lo is not None else {"visible": False}),
            hovertext=[f"<b>{label}</b><br>mean test top-1 {100 * row['test_mean']:.2f}% over {n} seed"
                       f"{'s' if n != 1 else ''}<br>{interval}<br>mean val top-1 {100 * row['val_mean']:.2f}%{search}"],
            hovertemplate="%{hovertext}<extra></extra>")
    reference = c["rows"][0]
    fig.add_vline(x=100 * reference["test_mean"], line={"dash": "dash", "color": ROLE_COLORS["reference"], "width": 1},
                  annotation={"text": "reference mean", "font": {"color": ROLE_COLORS["reference"]}},
                  annotation_position="top")
    for k, p in enumerate(c.get("published") or []):
        # Published results on the same test split: dotted grey lines, labels staggered so that
        # neighbours a few tenths apart stay readable (the full label is in the hover and the notes).
        fig.add_vline(x=100 * p["test_top1"], line={"dash": "dot", "color": "#7f7f7f", "width": 1},
                      annotation={"text": f"{_esc(p['label'].split(',')[0].split(' (')[0])} {100 * p['test_top1']:.1f}",
                                  "font": {"color": "#7f7f7f", "size": 9}, "textangle": -90},
                      annotation_position="bottom right" if k % 2 else "top right")
    labels = [f"<b>{_esc(r['label'])}</b>" if r["role"] != "candidate" else _esc(r["label"]) for r in c["rows"]]
    fig.update_yaxes(tickvals=list(range(len(labels))), ticktext=labels, range=[len(labels) - 0.5, -0.5],
                     title_text="", showgrid=False, zeroline=False, automargin=True)
    fig.update_xaxes(title_text="top-1 accuracy (%): filled = test split, open = validation split"
                                + ("; dotted: published test top-1" if c.get("published") else ""))
    n = c["seeds"]
    return _layout(fig, f"confirmation: test top-1 by seed ({n} seed{'s' if n != 1 else ''} each; bar: mean with "
                        f"95% t interval)", height=min(600, max(300, 190 + 80 * len(labels))), hovermode="closest")
