"""The data of a study report: trials, fronts, history, importances, facts, the best vs the base."""

from __future__ import annotations

from collections import Counter

from ...search import record as R
from ...search import results
from ...util.numbers import fmt_bytes, format_count, num
from ...util.stats import mape
from .compare import compare_data
from .confirmation import VERDICT_ATTR, confirm_hint, confirmation
from .layers import pct
from .records import (
    CompareData,
    Fronts,
    History,
    Importances,
    Parallel,
    StudyData,
    StudyLatency,
    TrialRecord,
    TrialTableRow,
)
from .supernet import supernet_curves

FINISHED = ("COMPLETE", "PRUNED")
MAX_PARALLEL = 8  # parameter axes in the parallel-coordinates plot
TRIAL_HEADERS = ("trial", "state", "kind", "within budget", "val top-1 (%)", "val top-5 (%)", "ops (M)",
                 "params (M)", "activations (K)", "width scale", "widths (output channels per module)",
                 "sampled parameters", "train time (s)", "device", "note")
# After activations, in a study that predicts latency (a latency budget or objective).
LATENCY_HEADERS = ("latency (ms, predicted)", "latency (ms, measured)")
# After activations (and latency), in a study whose trials predict their training memory; the
# measured column only when some trial trained on CUDA.
MEMORY_HEADERS = ("train memory (MB, predicted)", "batch")
MEASURED_MEMORY_HEADER = "train memory (MB, measured)"
# After val top-5, in a study ranked by another proxy than val top-1: its score (`score_header`).
SCORE_HEADER = "{label} (ranked by)"
WRAP_HEADERS = ("widths (output channels per module)", "sampled parameters", "note")  # long text: may wrap


def depths_of(widths) -> list[int]:
    """Modules per stage from a trial's stored `widths` attr: structured (`record.Widths`), or the
    text of older studies ('stem 16/56 | 64,128 | 144,144 | ...'), which `record.read_widths` parses."""
    found = R.read_widths(widths)
    return [len(stage) for stage in found["stages"]] if found else []


# The categories of the trials that `results.counts`: ranked by score, what the best and the fronts
# are made of ("scored": by a zero-cost proxy, never trained).
RANKED = ("trained", "reference", "scored")


STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
               "WAITING": "waiting"}


def states_text(trials: list[TrialRecord]) -> str:
    """'9 complete, 3 pruned, 1 failed': trials by state, in that order."""
    states = Counter(t["state"] for t in trials)
    order = [s for s in STATE_WORDS if s in states] + sorted(s for s in states if s not in STATE_WORDS)
    return ", ".join(f"{states[s]} {STATE_WORDS.get(s, s.lower())}" for s in order)


def _category(t, r: R.StoredTrial) -> str:
    """How a trial is drawn: the reference, trained, scored (a zero-cost proxy's, never trained),
    pruned (partial accuracy), over budget (never trained), failed, or its state (running, waiting;
    complete without a score). The first three are the trials `results.counts`."""
    if r.state == "FAIL":
        return "failed"
    if r.state == "PRUNED":
        return "pruned"
    if r.state != "COMPLETE":
        return r.state.lower()
    if r.feasible is False:
        return "over budget"
    if not results.counts(t):
        return "complete"
    return "reference" if r.reference else "trained" if r.trained else "scored"


def _trial(t, stage_labels: list[str]) -> TrialRecord:
    r = R.read_trial(t)
    depths = r.depths
    row = TrialRecord(
        number=t.number,
        state=r.state,
        category=_category(t, r),
        reference=bool(r.reference),
        feasible=r.feasible,
        trained=bool(r.trained),
        val_top1=float(r.val_top1) if r.val_top1 is not None else None,
        val_top5=float(r.val_top5) if r.val_top5 is not None else None,
        score=results.score(t),
        ops=r.ops,
        params=r.params,
        activations=r.activations,
        latency_ms=r.latency_ms,  # predicted before training
        measured_latency_ms=r.measured_latency_ms,  # timed after training (the fastest block)
        measured_latency_iqr_ms=r.measured_latency_iqr_ms,
        train_memory=r.train_memory,  # predicted before training
        measured_train_memory=r.measured_train_memory,  # CUDA's peak over its training
        batch_size=r.batch_size,
        width_scale=r.width_scale,
        widths=R.widths_text(r.widths),
        depths=depths,
        depths_text=(", ".join(f"{s} {d}" for s, d in zip(stage_labels, depths, strict=True))
                     if len(stage_labels) == len(depths) else "/".join(map(str, depths))),
        sampled=r.sampled,
        train_seconds=r.train_seconds,
        device=r.device,
        precision=r.precision,
        duplicate_of=r.duplicate_of,
        pruned_at_epoch=r.pruned_at_epoch,
        error=r.error,
        start=r.start.isoformat(sep=" ", timespec="seconds") if r.start else None,
        seconds=r.seconds,
        note="",  # set below, from the others
    )
    row["note"] = _trial_note(row)
    return row


def _trial_note(t: TrialRecord) -> str:
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


def memory_columns(trials: list[TrialRecord]) -> tuple[bool, bool]:
    """(whether the trial table shows predicted training memory and the batch, whether it shows the
    measured one too): the first when a trial predicted it, the second when a trial measured it."""
    return (any(t["train_memory"] is not None for t in trials),
            any(t["measured_train_memory"] is not None for t in trials))


def trial_headers(latency: bool, proxy: str = results.DEFAULT_PROXY, memory: tuple[bool, bool] = (False, False)
                  ) -> list[str]:
    """The trial table's headers; with `latency`, the predicted and measured latency after activations;
    with `memory` (`memory_columns`), the predicted training memory and batch (and the measured
    memory) after them; in a study ranked by another `proxy` than val top-1, its score after val top-5."""
    top5 = TRIAL_HEADERS.index("val top-5 (%)") + 1
    at = TRIAL_HEADERS.index("activations (K)") + 1
    score = [SCORE_HEADER.format(label=results.score_label(proxy))] if proxy != results.DEFAULT_PROXY else []
    mem = (list(MEMORY_HEADERS[:1]) + [MEASURED_MEMORY_HEADER] * memory[1] + list(MEMORY_HEADERS[1:])
           if memory[0] else [])
    return (list(TRIAL_HEADERS[:top5]) + score + list(TRIAL_HEADERS[top5:at])
            + (list(LATENCY_HEADERS) if latency else []) + mem + list(TRIAL_HEADERS[at:]))


def _ms(value) -> str:
    return f"{value:.3f}" if value is not None else ""


def _mb(value) -> str:
    return f"{value / 1e6:,.1f}" if value is not None else ""


def trial_table(trials: list[TrialRecord], latency: bool = False,
                proxy: str = results.DEFAULT_PROXY, memory: tuple[bool, bool] = (False, False)) -> list[TrialTableRow]:
    """The trial table (columns as `trial_headers(latency, proxy, memory)`): formatted cells, and for
    each cell the value it sorts by."""
    rows: list[TrialTableRow] = []
    for t in trials:
        kind = "reference" if t["reference"] else "duplicate" if t["duplicate_of"] is not None else "searched"
        sampled = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["sampled"].items())
        feasible = {True: "yes", False: "no", None: ""}[t["feasible"]]
        state = STATE_WORDS.get(t["state"], t["state"].lower())
        device = " ".join(x for x in (t["device"], t["precision"]) if x)
        cells = [str(t["number"]), state, kind, feasible, pct(t["val_top1"]), pct(t["val_top5"])]
        sort = [t["number"], t["state"], kind, feasible, t["val_top1"], t["val_top5"]]
        if proxy != results.DEFAULT_PROXY:
            cells.append(f"{t['score']:.4g}" if t["score"] is not None else "")
            sort.append(t["score"])
        cells += [num(t["ops"], 1e6, 1), num(t["params"], 1e6, 3), num(t["activations"], 1e3, 0)]
        sort += [t["ops"], t["params"], t["activations"]]
        if latency:
            cells += [_ms(t["latency_ms"]), _ms(t["measured_latency_ms"])]
            sort += [t["latency_ms"], t["measured_latency_ms"]]
        if memory[0]:
            cells.append(_mb(t["train_memory"]))
            sort.append(t["train_memory"])
            if memory[1]:
                cells.append(_mb(t["measured_train_memory"]))
                sort.append(t["measured_train_memory"])
            cells.append(str(t["batch_size"]) if t["batch_size"] is not None else "")
            sort.append(t["batch_size"])
        cells += [f"{t['width_scale']:.3f}" if t["width_scale"] is not None else "", t["widths"], sampled,
                  f"{t['train_seconds']:.1f}" if t["train_seconds"] is not None else "", device, t["note"]]
        sort += [t["width_scale"], t["widths"], sampled, t["train_seconds"], device, t["note"]]
        rows.append(TrialTableRow(cells=cells, sort=["" if v is None else v for v in sort], status=t["category"]))
    return rows


def searched(trials: list[TrialRecord]) -> tuple[list[TrialRecord], list[str]]:
    """The trained, within-budget searched trials (the reference samples nothing; over-budget and
    pruned trials have no final accuracy) and the parameters every one of them sampled (a module
    that only deeper candidates have is not common to all; Optuna's importances use the same)."""
    pool = [t for t in trials if t["category"] == "trained" and t["val_top1"] is not None and t["sampled"]]
    common = set.intersection(*(set(t["sampled"]) for t in pool)) if pool else set()
    return pool, sorted(common)


def importances(trials: list[TrialRecord], evaluator=None) -> Importances:
    """Hyperparameter importances for validation accuracy (optuna.importance, fANOVA with a fixed
    seed by default) over the `searched` trials and their common parameters: `values` {param:
    importance, largest first}, `note` why there are none, or ""."""
    pool, names = searched(trials)
    if len(pool) < 2:
        return Importances(values={}, note=f"hyperparameter importances need at least 2 trained, within-budget "
                                           f"trials with sampled parameters; this study has {len(pool)}")
    if len(names) < 2:
        return Importances(values={}, note=f"only one parameter was sampled by every trained trial "
                                           f"({', '.join(names) or 'none'}): its importance is 1 by definition")
    import optuna

    distributions = _distributions(pool, names)
    sampled = [{k: t["sampled"][k] for k in names} for t in pool]
    # In memory: the stored study is only read. Optuna logs every study it creates; not this one.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize")
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials([optuna.trial.create_trial(params=params, distributions=distributions, value=t["val_top1"])
                      for t, params in zip(pool, sampled, strict=True)])
    if evaluator is None:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as exc:  # e.g. every trial has the same accuracy
        return Importances(values={}, note=f"importances could not be computed: {exc}")
    return Importances(values={k: float(v) for k, v in values.items()}, note="")


def _distributions(pool: list[TrialRecord], names: list[str]) -> dict:
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


def _facts(study, frozen: list, trials: list[TrialRecord], location: str | None) -> list[tuple[str, str]]:
    from ...search.storage import describe

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
        ("budget", ", ".join(_limit(k, v) for k, v in (a.get("budget") or {}).items()) or "none"),
        ("trials by state", states_text(trials) or "none"),
        ("trained (not counting duplicates)", str(len(trained))),
        ("total train time", f"{sum(t['train_seconds'] for t in trained):,.1f} s"),
        ("devices", ", ".join(f"{d} ({n} trial{'' if n == 1 else 's'})" for d, n in devices.most_common())
                    or "none"),
    ]
    where = a.get("latency")
    if where:
        facts.append(("latency predicted on", f"{where.get('device')} ({where.get('device_name')}), batch "
                                              f"{where.get('batch')}, {where.get('precision')}, "
                                              f"{where.get('threads')} threads"))
        pairs = [(t["latency_ms"], t["measured_latency_ms"]) for t in trials
                 if t["latency_ms"] is not None and t["measured_latency_ms"] is not None and t["duplicate_of"] is None]
        if pairs:
            error = mape([p for p, _ in pairs], [m for _, m in pairs])
            count = f"{len(pairs)} trained trial{'' if len(pairs) == 1 else 's'}"
            facts.append(("latency predicted vs measured", f"mean absolute error {100 * error:.1f}% over {count} "
                                                            "(measured: the fastest block of calls)"))
    train_cost = a.get("train_cost")
    if train_cost and any(t["train_memory"] is not None for t in trials):
        facts.append(("training memory predicted for", _train_cost_text(train_cost)))
        pairs = [(t["train_memory"], t["measured_train_memory"]) for t in trials
                 if t["train_memory"] is not None and t["measured_train_memory"] is not None
                 and t["duplicate_of"] is None]
        if pairs:
            error = mape([p for p, _ in pairs], [m for _, m in pairs])
            count = f"{len(pairs)} trained trial{'' if len(pairs) == 1 else 's'}"
            facts.append(("training memory predicted vs measured",
                          f"mean absolute error {100 * error:.1f}% over {count} (measured: CUDA's peak over the whole "
                          "training run, the data on the device included)"))
    if starts and ends:
        first = min(t.datetime_start for t in starts)
        facts.append(("first trial started", first.isoformat(sep=" ", timespec="seconds")))
        facts.append(("wall time", f"{(max(ends) - first).total_seconds():,.1f} s"))
    return facts


def _count(n) -> str:
    return format_count(n) if isinstance(n, int) else str(n)


def _limit(key: str, value) -> str:
    if key == R.TRAIN_MEMORY:
        return f"train memory {fmt_bytes(int(value))}"
    return f"latency {value:g} ms" if key == "latency_ms" else f"{key} {_count(value)}"


def _train_cost_text(attr: dict) -> str:
    """'batch 64, bf16 on cuda' from a study's `train_cost` attr (`search.train_cost.TrainCost.attr`)."""
    batch = attr.get("batch_size")
    batch = (f"batch: the largest power of two up to {attr.get('max_batch_size')} within the budget"
             if batch == "auto" else f"batch {batch}")
    return f"{batch}, {attr.get('precision')} on {attr.get('device')}"


def _stage_labels(base) -> list[str]:
    if base is None:
        return []
    from ...spec.stages import stages_of

    return list(stages_of(base))


def load_base(study):
    """The study's base spec (a built-in name or a path as the config wrote it), or None with the
    reason why not."""
    from ...spec import SpecError, load_spec, spec_from_yaml

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


def _latency_where(attr: dict) -> StudyLatency:
    """The study's `latency` user attr as a record (a key it lacks: None)."""
    return StudyLatency(device=attr.get("device"), device_name=attr.get("device_name"), batch=attr.get("batch"),
                        precision=attr.get("precision"), threads=attr.get("threads"))


def study_data(study, location: str | None = None) -> StudyData:
    """A study as plain data: every trial (with its category for drawing), the Pareto fronts of
    accuracy vs ops and vs params, budget limits, the optimization history, importances, the
    parallel-coordinates table, the best candidate's layers vs the base spec, run facts and the
    config; with a verdict, the confirmation stage (`confirmation`), else how to run it
    (`confirm_hint`). `message` is set when there is nothing to plot (no finished trial, or only
    failed ones). The best and the fronts are `results`'s, on the score the study ranks by (its
    proxy's): the search's best and `archkit export --pareto`'s fronts. The study is only read."""
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
    if finished and not any(t["category"] in RANKED for t in finished):
        notes.append("no candidate within the budget has been trained yet: the plots show costs only.")
    proxy = results.proxy_of(study)
    ranked_frozen = results.ranked_trials(frozen)
    by_number = {t["number"]: t for t in trials}
    best = by_number[ranked_frozen[0].number] if ranked_frozen else None
    best_layers = None
    if best is not None:
        best_layers, note = _best_vs_base(ranked_frozen[0], study.study_name, base, base_note)
        if note:
            notes.append(note)
    latency = any(t["latency_ms"] is not None for t in trials)
    budget = dict(study.user_attrs.get("budget") or {})
    memory = R.TRAIN_MEMORY in budget  # a front (and figure) of its own under a train_memory budget
    costs = (R.OPS, R.PARAMS) + ((R.LATENCY_MS,) if latency else ()) + ((R.TRAIN_MEMORY,) if memory else ())
    front = {cost: [t.number for t in on] for cost, on in results.fronts(frozen, costs).items()}
    fronts = Fronts(ops=front[R.OPS], params=front[R.PARAMS])
    if latency:
        fronts["latency_ms"] = front[R.LATENCY_MS]
    if memory:
        fronts["train_memory"] = front[R.TRAIN_MEMORY]
    imp = importances(trials) if finished else Importances(values={}, note="no finished trials")
    searched_pool, common = searched(trials)
    # Parallel coordinates stay readable up to a few axes: the most important parameters first.
    ranked = sorted(common, key=lambda p: -imp["values"].get(p, 0.0))
    confirmed, hint = None, ""
    verdict = study.user_attrs.get(VERDICT_ATTR)
    if verdict:
        try:
            config = study.user_attrs.get("config") or {}
            confirmed = confirmation(verdict, trials, config.get("train"), config.get("data"))
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
            notes.append(f"the study's verdict cannot be read ({type(exc).__name__}: {exc}): "
                         f"the confirmation is not shown; run archkit confirm {study.study_name} again")
    elif best is not None and study.user_attrs.get("config"):
        hint = confirm_hint(study, location)
    where = study.user_attrs.get("latency")
    return StudyData(
        study=study.study_name,
        message=message,
        notes=notes,
        trials=trials,
        finished=[t["number"] for t in finished],
        budget=budget,
        fronts=fronts,
        reference=next((t["number"] for t in finished if t["reference"]), None),
        history=history(trials),
        importances=imp,
        parallel=Parallel(params=ranked[:MAX_PARALLEL], of=len(ranked), numbers=[t["number"] for t in searched_pool]),
        proxy=proxy,
        score_label=results.score_label(proxy),
        best=best,
        best_layers=best_layers,
        latency=_latency_where(where) if latency and where else None,  # where latency was predicted
        table=trial_table(trials, latency, proxy, memory_columns(trials)),
        headers=trial_headers(latency, proxy, memory_columns(trials)),
        facts=_facts(study, frozen, trials, location),
        config=study.user_attrs.get("config"),
        confirmation=confirmed,  # the verdict of the confirmation stage, None before it
        confirm_hint=hint,  # how to confirm, for a study without a verdict
        supernet=supernet_curves(study.user_attrs, sum(t["score"] is not None for t in finished)),
    )


def history(trials: list[TrialRecord]) -> History:
    """The score the study ranks by per finished trial in order (pruned ones at their last epoch)
    and the best score so far of the trials that count (`RANKED`: complete, within the budget;
    None before the first): its last value is the search's best's."""
    shown = [t for t in trials if t["score"] is not None and t["state"] in FINISHED]
    best, running = [], None
    for t in shown:
        if t["category"] in RANKED and (running is None or t["score"] > running):
            running = t["score"]
        best.append(running)
    return History(numbers=[t["number"] for t in shown], values=[t["score"] for t in shown],
                   categories=[t["category"] for t in shown], best=best)


def _best_vs_base(trial, study_name: str, base, base_note: str) -> tuple[CompareData | None, str]:
    """compare_data of the base spec (A) and the best trial's spec (B), or None and why not."""
    from ... import profile as profile_spec
    from ...spec import SpecError, spec_from_yaml

    if base is None:
        return None, f"{base_note}: the best candidate is not compared with it."
    try:
        spec = spec_from_yaml(trial.user_attrs[R.SPEC], f"{study_name} trial {trial.number}")
    except SpecError as exc:
        return None, f"trial {trial.number}'s stored spec does not load: {exc}"
    return compare_data(profile_spec(base), profile_spec(spec)), ""


