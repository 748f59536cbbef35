"""The confirmation stage in a study report: per-seed accuracies, intervals, the verdict."""

from __future__ import annotations

from ...util.numbers import num
from ...util.stats import t_interval
from .layers import pct
from .published import published_for
from .records import ConfirmationData, ConfirmedRow, TableRow, TrialRecord

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


def confirmation(verdict: dict, trials: list[TrialRecord] | None = None,
                 search_recipe: dict | None = None, data: str | None = None) -> ConfirmationData:
    """The confirmation stage's verdict (a study's `verdict` attr, see archkit.search.confirm) as
    plain data: its headline, and one row per confirmed trial, the reference first, then the best
    (the verdict's), then the other candidates in the verdict's order. Each row has its seeds' val
    and test top-1 and the mean test top-1 with its 95% t interval over the seeds (none with one
    seed); with `trials` (study_data's), the trial's costs and its val top-1 in the search."""
    from ...search.confirm import headline

    by_number = {t["number"]: t for t in trials or []}
    runs = verdict.get("runs") or []
    best = verdict["best"]["trial"]
    candidates = verdict["candidates"]
    order = ([("reference", verdict["reference"])]
             + [("best", c) for c in candidates if c["trial"] == best]
             + [("candidate", c) for c in candidates if c["trial"] != best])
    if not any(role == "best" for role, _ in order):  # an older verdict: the best alone
        order.insert(1, ("best", verdict["best"]))
    rows: list[ConfirmedRow] = []
    table: list[TableRow] = []
    for role, entry in order:
        number = entry["trial"]
        val, test = [float(x) for x in entry["val_top1"]], [float(x) for x in entry["test_top1"]]
        seeds = [r["seed"] for r in runs if r["trial"] == number]
        if len(seeds) != len(test):
            seeds = [None] * len(test)  # the runs are not stored with it: seeds unknown
        mean, lo, hi = t_interval(test)
        trial = by_number.get(number)
        label = (f"reference (trial {number})" if role == "reference"
                 else f"trial {number} (best)" if role == "best" else f"trial {number}")
        row = ConfirmedRow(trial=number, role=role, label=label, seeds=seeds, val_top1=val, test_top1=test,
                           val_mean=sum(val) / len(val), test_mean=mean, test_ci95=[lo, hi],
                           search_val_top1=trial["val_top1"] if trial else None,
                           ops=trial["ops"] if trial else None, params=trial["params"] if trial else None,
                           widths=trial["widths"] if trial else "")
        rows.append(row)
        table.append(TableRow(cells=[str(number), ROLE_WORDS[role], str(len(test)), pct(row["search_val_top1"]),
                                     pct(row["val_mean"]), pct(mean),
                                     f"{100 * lo:.2f} .. {100 * hi:.2f}" if lo is not None else "one seed: none",
                                     ", ".join(f"{100 * x:.1f}" for x in test), num(row["ops"], 1e6, 1)],
                              status="reference" if role == "reference" else ""))
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
    shortlist = verdict.get("rerank") or []
    if shortlist:  # final.rerank: the proxy's best, each trained once before the confirmation chose among them
        scored = ", ".join(f"trial {r['trial']} {100 * r['val_top1']:.1f}%" for r in shortlist)
        notes.insert(1, f"Shortlist (final.rerank): the proxy's {len(shortlist)} best distinct candidates were each "
                        f"trained once with the search's recipe first (val top-1, in the proxy's order: {scored}); "
                        f"the best {'of them' if k == 1 else f'{k} of them'} went on to the confirmation.")
    published = published_for(data)
    if published:
        best_row = next(r for r in rows if r["role"] == "best")
        below = [p for p in published if p["test_top1"] <= best_row["test_mean"]]
        notes.append(f"Dotted lines: published test top-1 on this data set ({published[0]['source']}), trained "
                     f"with their own, longer recipes on all the training images; the confirmed best's mean "
                     f"{100 * best_row['test_mean']:.1f}% is "
                     + (f"above {len(below)} of the {len(published)}, the highest being {below[-1]['label']} "
                        f"({100 * below[-1]['test_top1']:.1f}%)." if below
                        else f"below all {len(published)} (the lowest: {published[0]['label']}, "
                             f"{100 * published[0]['test_top1']:.1f}%)."))
    return ConfirmationData(headline=headline(verdict), conclusion=verdict["conclusion"], delta=delta, ci95=[lo, hi],
                            interval=verdict.get("interval", ""), seeds=n, best=best,
                            reference=verdict["reference"]["trial"], rows=rows, headers=list(CONFIRM_HEADERS),
                            table=table, notes=notes, recipe=verdict.get("recipe"), split_sizes=sizes,
                            published=published)


def confirm_hint(study, location: str | None) -> str:
    """The line a study without a verdict shows: how to run its confirmation stage."""
    from ...search.storage import default_location

    stored = sum(1 for name in study.user_attrs if name.startswith("confirm:"))
    where = f" --storage {location}" if location and location != default_location(study.study_name) else ""
    return (f"not confirmed yet: run archkit confirm {study.study_name}{where}"
            + (f" (it resumes: {stored} retraining{'s' if stored != 1 else ''} already stored)" if stored else "")
            + "; until then, every accuracy here is a validation accuracy after the search's short recipe.")
