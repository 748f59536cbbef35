"""Fixtures for the report tests: real Optuna studies made by the search runner with a fake
trainer (no torch, seconds), and one Chromium per session driven by Playwright."""

from __future__ import annotations

import os
import random
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = ("the report browser tests drive Debian's Chromium; install it with `apt-get install chromium` "
                "(as root; `make test` does so on CI), or point ARCHKIT_CHROMIUM at a Chromium executable")

# A small search: widths sampled without budget filling, so some candidates land over the 30M-op
# budget (never trained), some are pruned by the median pruner, and the reference is trial 0.
CONFIG = """
name: {name}
base: googlenet-32
space: {{width: [0.15, 0.32], depth: {{stage4: [1, 5]}}}}
budget: {{ops: 30M}}
fill_budget: {fill}
sampler: random
data: digits
train: {{epochs: 2}}
trials: {trials}
"""


@dataclass(frozen=True)
class StudyFile:
    name: str
    storage: str  # what `--storage` takes: a journal file path or a URL
    path: Path  # the file


def fake_train(spec, data=None, seed=0, on_epoch=None, epochs=2, **recipe):
    """Accuracy that grows with the candidate's ops, plus seeded noise; reports every epoch so
    that the pruner can act."""
    from archkit.search.budget import measure

    rng = random.Random(seed)
    acc = min(0.97, 0.55 + 0.35 * measure(spec).ops / 30e6 + rng.uniform(-0.05, 0.05))
    for epoch in range(epochs):
        on_epoch(epoch, {"val_top1": acc * (epoch + 1) / epochs})
    return SimpleNamespace(val_top1=acc, val_top5=min(1.0, acc + 0.05), seconds=1.25, train_images_per_s=900.0,
                           device="cpu", precision="fp32")


def failing_train(spec, **kwargs):
    raise RuntimeError("CUDA out of memory (a fake failure)")


def make_study(folder: Path, name: str, trials: int, train, fill: bool = False) -> StudyFile:
    from archkit.search.loader import load_search_config
    from archkit.search.runner import run_worker
    from archkit.search.studies import SearchError

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{name}.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(name=name, trials=trials, fill=str(fill).lower())), encoding="utf-8")
    # A journal file, not SQLite: the same trials in a tenth of the time (SQLite syncs the disk on
    # each of a run's ~500 commits). The empty study below is an SQLite one.
    journal = folder / f"{name}.journal"
    try:
        run_worker(load_search_config(config), str(journal), name, train=train, progress=False)
    except SearchError:  # the failing trainer stops the run; its failed trials stay stored
        pass
    return StudyFile(name, str(journal), journal)


@pytest.fixture(scope="session")
def study_file(tmp_path_factory) -> StudyFile:
    """A finished study of 16 trials: trained, pruned and over-budget candidates and the reference."""
    return make_study(tmp_path_factory.mktemp("studies"), "demo", 16, fake_train)


# The confirmation stage's results, written by hand (val top-1, test top-1 per seed): the
# reference, then the search's two trained candidates in its order (best val top-1 first). The
# second is the best by mean val top-1 after the long recipe (not the search's first), and beats the
# reference on test by 4.2 points.
CONFIRMED = {
    "reference": ([0.905, 0.912, 0.898], [0.902, 0.915, 0.909]),
    "first": ([0.931, 0.925, 0.936], [0.928, 0.919, 0.934]),
    "second": ([0.948, 0.952, 0.944], [0.951, 0.944, 0.956]),
}


@pytest.fixture(scope="session")
def confirmed_study_file(tmp_path_factory, study_file) -> StudyFile:
    """The demo study after its confirmation stage: a copy of its storage in which the stage's
    runs (the numbers of CONFIRMED, 3 seeds each, 40 epochs) and the verdict are stored the way
    archkit.search.confirm stores them (its plan and verdict functions, with these results)."""
    import optuna

    from archkit.search.config import FinalRecipe
    from archkit.search.confirm import VERDICT_ATTR, load_config, plan, run_attr, verdict
    from archkit.search.storage import open_storage

    path = tmp_path_factory.mktemp("confirmed") / study_file.path.name
    shutil.copyfile(study_file.path, path)
    study = optuna.load_study(study_name=study_file.name, storage=open_storage(str(path)))
    p = plan(study, load_config(study), FinalRecipe(top=2, seeds=3, epochs=40))
    runs = {}
    for trial, (val, test) in zip((p.reference, *p.candidates), CONFIRMED.values(), strict=True):
        for seed, v, t in zip(p.seeds, val, test, strict=True):
            run = {"trial": trial, "seed": seed, "val_top1": v, "val_top5": min(1.0, v + 0.04), "test_top1": t,
                   "test_top5": min(1.0, t + 0.04), "seconds": 61.5,
                   "split_sizes": {"train": 1257, "val": 180, "test": 360}}
            study.set_user_attr(run_attr(p.key, trial, seed), run)
            runs[(trial, seed)] = run
    study.set_user_attr(VERDICT_ATTR, verdict(p, runs))
    return StudyFile(study_file.name, str(path), path)


@pytest.fixture(scope="session")
def confirmed_study(confirmed_study_file):
    return load(confirmed_study_file)


@pytest.fixture(scope="session")
def failed_study_file(tmp_path_factory) -> StudyFile:
    """A study whose every trial failed (budget filling makes every candidate trainable, and the
    run stops after three failures)."""
    return make_study(tmp_path_factory.mktemp("failed"), "broken", 4, failing_train, fill=True)


@pytest.fixture(scope="session")
def empty_study_file(tmp_path_factory) -> StudyFile:
    """A study that exists in its storage but has no trials."""
    import optuna

    db = tmp_path_factory.mktemp("empty") / "empty.db"
    storage = f"sqlite:///{db}"
    optuna.create_study(study_name="empty", storage=storage, direction="maximize")
    return StudyFile("empty", storage, db)


def load(study: StudyFile):
    from archkit.search.export import load_study

    return load_study(study.name, study.storage)[0]


@pytest.fixture(scope="session")
def study(study_file):
    return load(study_file)


# --- the browser -------------------------------------------------------------------------------


def chromium_path() -> str:
    """The Chromium to drive: $ARCHKIT_CHROMIUM, else Debian's. Missing is a failure, never a skip:
    a report that nobody rendered is not tested."""
    wanted = os.environ.get("ARCHKIT_CHROMIUM")
    candidates = [wanted] if wanted else ["/usr/bin/chromium", shutil.which("chromium") or ""]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    pytest.fail(f"no Chromium at {' or '.join(c for c in candidates if c)}: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="package")
def browser_context(tmp_path_factory):
    """One headless Chromium for the report tests (a fresh profile, no network services), closed when
    they are done: Playwright's driver exits when its stdin pipe closes, and a process forked later
    in the session (a DataLoader worker) would hold a copy of that pipe and keep it from closing."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the report browser tests need Playwright: pip install 'archkit[test]' "
                    "(or pip install playwright); its browser download is not needed", pytrace=False)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=executable, args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1366, "height": 800}, service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class LoadedPage:
    """A report opened in the browser, with what happened while it loaded."""

    page: object
    path: Path
    console_errors: list
    requests: list  # every URL the page asked for
    blocked: list  # those that were not file:// (aborted)


def open_report(context, path: Path) -> LoadedPage:
    """Open a report from its file:// URL with every non-file request aborted and recorded."""
    page = context.new_page()
    loaded = LoadedPage(page, path, [], [], [])
    page.on("console", lambda m: loaded.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: loaded.console_errors.append(f"uncaught: {e}"))

    def route(r):
        url = r.request.url
        loaded.requests.append(url)
        if url.startswith("file://"):
            r.continue_()
        else:
            loaded.blocked.append(url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri(), wait_until="load")
    # Plotly draws each figure from an inline script as the page parses; wait until every plot div
    # has its SVG (or time out and let the test say which did not).
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "[...document.querySelectorAll('.plotly-graph-div')].every(d => d.querySelector('.main-svg'))",
            timeout=20_000)
    except PlaywrightTimeout:
        pass  # the tests check each figure and say which one has no SVG
    return loaded


# --- the reports -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def report_files(tmp_path_factory, study_file, failed_study_file, confirmed_study_file) -> dict[str, Path]:
    """Each kind of report, written once per session: profile (googlenet, with the paper's
    numbers), compare (googlenet vs googlenet-32), study (not confirmed), the same study confirmed,
    and a study with only failed trials."""
    from archkit.report import compare_report, profile_report, study_report

    folder = tmp_path_factory.mktemp("reports")
    return {
        "profile": profile_report("googlenet", folder / "googlenet.html"),
        "compare": compare_report("googlenet", "googlenet-32", folder / "compare.html"),
        "study": study_report(study_file.name, folder / "study.html", storage=study_file.storage).path,
        "confirmed": study_report(confirmed_study_file.name, folder / "confirmed.html",
                                  storage=confirmed_study_file.storage).path,
        "failed": study_report(failed_study_file.name, folder / "failed.html", storage=failed_study_file.storage).path,
    }
