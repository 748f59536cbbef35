"""A live rich view of a study's trials: number, widths, ops, params, accuracy, best so far."""

from __future__ import annotations

import time

from . import record as R
from .numbers import format_count
from .results import DEFAULT_PROXY, proxy_of, ranked_trials, score, score_label

MAX_ROWS = 14


def _acc(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""


def limit_text(key: str, value: float) -> str:
    """One budget limit as people read it: 'ops <= 2M', 'latency <= 4.5 ms'."""
    if key == "latency_ms":
        return f"latency <= {value:g} ms"
    if key == R.TRAIN_MEMORY:
        from ..profile.memory import fmt_bytes

        return f"train memory <= {fmt_bytes(int(value))}"
    return f"{key} <= {format_count(value)}"


def trials_table(study, title: str, current: dict | None = None, limits: dict | None = None):
    """A rich Table of the latest trials (read from storage, so it shows every worker's)."""
    from rich.table import Table

    from ..profile.memory import fmt_bytes

    trials = study.get_trials(deepcopy=False)
    ranked = ranked_trials(trials)
    best = ranked[0] if ranked else None
    proxy = proxy_of(study)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no trials yet"
    caption = f"{summary}; best feasible: " + (
        f"#{best.number} {score_label(proxy)} {_score(score(best), proxy)}" if best else "none yet")
    if limits:
        caption += "; budget " + ", ".join(limit_text(k, v) for k, v in limits.items())
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    # "top-1" is the val top-1 after the trial's training; a study ranked by another proxy shows
    # that proxy's score beside it. Widths and notes may wrap, numbers may not; the widths column
    # keeps a minimum width so that a narrow console wraps it instead of squeezing it to nothing.
    # Latency (predicted ms) when the study predicts it: a latency budget or objective.
    latency = any(R.LATENCY_MS in t.user_attrs for t in trials)
    # Predicted training memory (and the batch) under a train_memory budget.
    memory = bool(limits) and R.TRAIN_MEMORY in limits
    other = proxy != DEFAULT_PROXY
    columns = (("#", "right"), ("state", "left"), ("widths (stem | per stage)", "left"), ("ops", "right"),
               ("params", "right"), *((("ms", "right"),) if latency else ()),
               *((("train mem", "right"), ("batch", "right")) if memory else ()), ("top-1", "right"),
               *(((proxy, "right"),) if other else ()), ("s", "right"), ("note", "left"))
    for col, justify in columns:
        wraps = col in ("widths (stem | per stage)", "note")
        table.add_column(col, justify=justify, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis",
                         min_width=14 if col.startswith("widths") else None)
    for t in trials[-MAX_ROWS:]:
        r = R.read_trial(t)
        state = t.state.name.lower()
        note = []
        if r.reference:
            note.append("reference: uniform scaling")
        if r.feasible is False:
            note.append("over budget, not trained")
        if r.duplicate_of is not None:
            note.append(f"same as #{r.duplicate_of}")
        if r.error is not None:
            note.append(str(r.error)[:60])
        if current and current.get("number") == t.number and state == "running":
            state = f"epoch {current.get('epoch', 0) + 1}" if "epoch" in current else "running"
        style = "bold green" if best and t.number == best.number else None
        ms = (f"{r.latency_ms:.3g}" if r.latency_ms is not None else "",) if latency else ()
        mem = (fmt_bytes(r.train_memory) if r.train_memory is not None else "",
               str(r.batch_size) if r.batch_size is not None else "") if memory else ()
        value = (_score(r.proxy_score, proxy),) if other else ()
        table.add_row(str(t.number), state, R.widths_text(r.widths), format_count(r.ops) if r.ops is not None else "",
                      format_count(r.params) if r.params is not None else "", *ms, *mem, _acc(r.val_top1), *value,
                      f"{r.train_seconds:.0f}" if r.train_seconds is not None else "", "; ".join(note), style=style)
    return table


def _score(value, proxy: str) -> str:
    """A score as the table shows it: val top-1 to 3 decimals, another proxy's to 4 significant digits."""
    if not isinstance(value, (int, float)):
        return ""
    return _acc(value) if proxy == DEFAULT_PROXY else f"{value:.4g}"


class LiveView:
    """Context manager showing `trials_table`, refreshed on events and at most every `period` s."""

    def __init__(self, study, title: str, limits: dict | None, enabled: bool = True, period: float = 1.0):
        self.study, self.title, self.limits, self.enabled, self.period = study, title, limits, enabled, period
        self.current: dict = {}
        self._live = None
        self._console = None  # set when the output is not a terminal
        self._last = 0.0

    def __enter__(self) -> LiveView:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            console = Console(stderr=True)
            if not console.is_terminal:
                # A log file gets the final table once, printed whole at the end, not a live region.
                self._console = Console(stderr=True, width=max(console.width, 120))
                return self
            self._live = Live(self._render(), console=console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def _render(self):
        return trials_table(self.study, self.title, self.current, self.limits)

    def event(self, kind: str, data: dict) -> None:
        self.current = data if kind != "end" else {}
        self.refresh(force=kind in ("start", "end"))

    def refresh(self, force: bool = False) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self.period:
            self._last = now
            self._live.update(self._render())

    def __exit__(self, *exc) -> None:
        if self._console is not None:
            self._console.print(self._render())
        if self._live is not None:
            self.refresh(force=True)
            self._live.__exit__(*exc)
