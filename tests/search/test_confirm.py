"""The confirmation stage with a fake trainer: what is retrained and how, the verdict against
numbers computed here (scipy's Welch test, the fake trainer's own accuracy functions), resume and
extension, export of the confirmed best, and the CLI's one-line errors."""

from __future__ import annotations

import statistics
import subprocess
import sys

import optuna
import pytest
from scipy import stats

import archkit
from archkit.search.confirm import FINAL_SEED_BASE, confirm
from archkit.search.loader import load_search_config
from archkit.search.runner import run_worker
from archkit.search.storage import open_storage

from .conftest import FakeTrainer, fake_accuracy, fake_test_accuracy, one_error_line

CONFIG = """
name: conf
base: googlenet-32
space:
  stage_width: [0.5, 1.5]
  depth: {stage3: [1, 3], stage4: [1, 5]}
budget: {ops: 30M}
sampler: random
pruner: none
trials: 6
train: {epochs: 2, batch_size: 16, lr: 0.05}
final: {top: 2, seeds: 3, lr: 0.1}
"""

LOCATION = "studies/conf.db"


def study_of(name: str = "conf"):
    return optuna.load_study(study_name=name, storage=open_storage(f"sqlite:///{LOCATION}"))


# --- the stage -------------------------------------------------------------------------------

def search_then_confirm(write_config, trainer, text=CONFIG):
    loaded = load_search_config(write_config(text, "conf.yaml"))
    run_worker(loaded, f"sqlite:///{LOCATION}", "conf", train=trainer, progress=False)
    search_calls = len(trainer.calls)
    study = study_of()
    return loaded, study, search_calls


def test_confirmation_retrains_the_top_and_the_reference_and_judges_on_test(write_config):
    trainer = FakeTrainer()
    loaded, study, search_calls = search_then_confirm(write_config, trainer)
    verdict = confirm(study, loaded.config, loaded.config.final, trainer)

    trials = [t for t in study.get_trials() if t.user_attrs.get("trained")]
    reference = next(t for t in trials if t.user_attrs.get("reference"))
    by_arch = {}
    for t in sorted(trials, key=lambda t: (-t.user_attrs["val_top1"], t.number)):
        if not t.user_attrs.get("reference") and t.user_attrs["arch"] != reference.user_attrs["arch"]:
            by_arch.setdefault(t.user_attrs["arch"], t.number)
    top = list(by_arch.values())[:2]

    calls = trainer.calls[search_calls:]
    seeds = [FINAL_SEED_BASE + i for i in range(3)]
    assert [(archkit_name(c["spec"]), c["seed"]) for c in calls] == [
        (f"conf-trial{n}", s) for n in (reference.number, *top) for s in seeds]
    # the final recipe: train: with final:'s overrides, three times as long, scored on test
    assert all(c["epochs"] == 6 and c["lr"] == 0.1 and c["batch_size"] == 16 and c["score_test"] for c in calls)
    # judged by their last epoch: val scored then only; the trials score it every epoch (the pruner reads it)
    assert all(c["eval_every"] == 0 for c in calls)
    assert not any("eval_every" in c for c in trainer.calls[:search_calls])

    def test_scores(number):
        spec = archkit.spec_from_yaml(study.trials[number].user_attrs["spec"])
        return [fake_test_accuracy(fake_accuracy(spec), s) for s in seeds]

    best = max(top, key=lambda n: (study.trials[n].user_attrs["val_top1"], -n))
    a, b = test_scores(best), test_scores(reference.number)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert verdict["best"]["trial"] == best and verdict["reference"]["trial"] == reference.number
    assert verdict["best"]["test_top1"] == pytest.approx(a) and verdict["reference"]["test_top1"] == pytest.approx(b)
    assert verdict["delta"] == pytest.approx(statistics.mean(a) - statistics.mean(b))
    assert verdict["ci95"] == [pytest.approx(ci.low), pytest.approx(ci.high)]
    expected = "better" if ci.low > 0 else "worse" if ci.high < 0 else "not distinguishable"
    assert verdict["conclusion"] == expected and verdict["seeds"] == 3
    assert len(verdict["runs"]) == 9
    assert study_of().user_attrs["verdict"] == verdict


def archkit_name(spec) -> str:
    return spec.name


def test_an_interrupted_confirmation_keeps_its_runs_and_resumes(write_config, cli):
    trainer = FakeTrainer()
    loaded, study, search_calls = search_then_confirm(write_config, trainer)
    # the 5th retraining is interrupted (Ctrl-C)
    interrupting = FakeTrainer(interrupt_at=5)
    result = cli("confirm", "conf", train=interrupting)
    assert result.exit_code == 130
    assert "interrupted: finished retrainings are kept" in result.stderr
    runs = [k for k in study_of().user_attrs if k.startswith("confirm:")]
    assert len(runs) == 4 and "verdict" not in study_of().user_attrs
    # resumed: only the 5 missing retrainings run
    resumed = FakeTrainer()
    result = cli("confirm", "conf", train=resumed)
    assert result.exit_code == 0, result.output
    assert len(resumed.calls) == 5
    done = {(c["spec"].name, c["seed"]) for c in interrupting.calls[:4]}
    assert not done & {(c["spec"].name, c["seed"]) for c in resumed.calls}
    assert result.stdout.splitlines()[-1].startswith(("confirmed: ", "not distinguishable: "))
    # extended to 4 seeds: one more retraining per candidate, nothing redone
    more = FakeTrainer()
    result = cli("confirm", "conf", "--seeds", "4", train=more)
    assert result.exit_code == 0, result.output
    assert [c["seed"] for c in more.calls] == [FINAL_SEED_BASE + 3] * 3
    assert study_of().user_attrs["verdict"]["seeds"] == 4
    # another recipe (--epochs) is another experiment: its runs are not mixed with the first's
    other = FakeTrainer()
    assert cli("confirm", "conf", "--top", "1", "--seeds", "2", "--epochs", "3", train=other).exit_code == 0
    assert len(other.calls) == 4 and all(c["epochs"] == 3 for c in other.calls)


def test_search_command_leads_with_the_verdict_and_exports_the_confirmed_best(write_config, cli, fake, workdir):
    path = write_config(CONFIG, "conf.yaml")
    result = cli("search", path, "--no-progress", "--final-top", "1", "--final-seeds", "2", "--final-epochs", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("study conf in sqlite:///studies/conf.db: 6 of 6 trials finished")
    verdict = study_of().user_attrs["verdict"]
    best = verdict["best"]["trial"]
    assert lines[1].startswith((f"confirmed: trial {best} beats uniform scaling by ", f"not distinguishable: trial {best}",
                                "confirmed: uniform scaling beats"))
    assert "seeds each" in lines[1]
    assert sum(1 for c in fake.calls if c["score_test"]) == 4 and verdict["seeds"] == 2
    assert all(c["epochs"] == 5 for c in fake.calls if c["score_test"])
    assert result.stderr.count("confirm ") == 4  # a progress line per retraining
    result = cli("export", "conf", "--best", "-o", "specs")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"specs/conf-trial{best}.yaml"]
    assert "# confirmed: " in (workdir / f"specs/conf-trial{best}.yaml").read_text() or \
        "# not distinguishable: " in (workdir / f"specs/conf-trial{best}.yaml").read_text()


def test_no_final_skips_the_stage(write_config, cli, fake):
    result = cli("search", write_config(CONFIG, "conf.yaml"), "--no-progress", "--no-final")
    assert result.exit_code == 0, result.output
    assert not any(c["score_test"] for c in fake.calls)
    assert "verdict" not in study_of().user_attrs


@pytest.mark.parametrize(("args", "message"), [
    (("confirm", "nosuch"), "error: no study storage at studies/nosuch.db"),
])
def test_confirm_errors(cli, fake, args, message):
    assert one_error_line(cli(*args)) == message


def test_bad_final_sections_and_options(write_config, cli, fake):
    bad = CONFIG.replace("final: {top: 2, seeds: 3, lr: 0.1}", "final: {top: 0}")
    assert one_error_line(cli("search", write_config(bad, "bad.yaml"))) == (
        "error: bad.yaml:11 final.top: must be an integer >= 1, got 0")
    bad = CONFIG.replace("final: {top: 2, seeds: 3, lr: 0.1}", "final: {seeds: -2, epochs: 3}")
    assert one_error_line(cli("search", write_config(bad, "bad.yaml"))).startswith("error: bad.yaml:11 final.seeds: ")
    bad = CONFIG.replace("final: {top: 2, seeds: 3, lr: 0.1}", "final: {epochs: 0}")
    assert one_error_line(cli("search", write_config(bad, "bad.yaml"))).startswith("error: bad.yaml:11 final.epochs: ")
    # through the real command (its parser errors are one line; CliRunner shows typer's box)
    done = subprocess.run([sys.executable, "-m", "archkit", "search", str(write_config(CONFIG, "conf.yaml")),
                           "--final-seeds", "0"], capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and "--final-seeds" in done.stderr
    assert fake.calls == []
    # a study without a finished trial: one line, and nothing is lost
    loaded = load_search_config(write_config(CONFIG, "conf.yaml"))
    from archkit.search.studies import open_study

    open_study(loaded, f"sqlite:///{LOCATION}", "conf")
    assert one_error_line(cli("confirm", "conf")) == (
        "error: study 'conf' has no finished, trained trial within the budget to confirm (run archkit search first)")
    assert cli("confirm", "conf", "--seeds", "0").exit_code == 2
    assert cli("confirm", "conf", "--top", "-1").exit_code == 2


def test_a_budget_uniform_scaling_cannot_meet_is_said_in_one_line(write_config, cli, fake):
    # googlenet-32 at the smallest widths budget filling goes to (1/64, divisor 8: 2.95M multiply-adds)
    # is over 2.5M; candidates with fewer modules fit under it (1 + 1 modules in stages 3-4: 1.3M).
    from archkit.search.budget import MIN_SCALE
    from archkit.search.numbers import format_count
    from archkit.search.space import candidate

    smallest = archkit.profile(candidate(archkit.load_spec("googlenet-32"), {}, 8, MIN_SCALE, "g")).total.ops
    assert smallest > 2_500_000
    text = CONFIG.replace("budget: {ops: 30M}", "budget: {ops: 2.5M}\nfill_budget: true").replace(
        "trials: 6", "trials: 8")
    result = cli("search", write_config(text, "conf.yaml"), "--no-progress")
    assert result.exit_code == 0, result.output
    study = study_of()
    reference = study.trials[0]
    assert reference.user_attrs["reference"] and reference.user_attrs["feasible"] is False
    assert reference.user_attrs["ops"] == smallest
    trained = [t for t in study.trials if t.user_attrs.get("trained")]
    assert trained and all(t.user_attrs["ops"] <= 2_500_000 for t in trained)  # the search still found some
    said = [line for line in result.stderr.splitlines() if line.startswith("not confirmed: ")]
    assert said == [f"not confirmed: study 'conf': uniform scaling cannot meet the budget — its reference "
                    f"(trial 0, the base at its smallest widths) is over it ({format_count(smallest)} ops > 2.5M), "
                    f"so no network of the base's shape is there to compare with; a larger budget gives it room"]
    assert "verdict" not in study.user_attrs and not any(c["score_test"] for c in fake.calls)


# --- final.rerank: a shortlist trained once with the trials' recipe --------------------------

RERANK = CONFIG.replace("name: conf\n", "name: conf\nproxy: synflow\n").replace(
    "final: {top: 2, seeds: 3, lr: 0.1}", "final: {top: 1, seeds: 2, rerank: 3}")


def contrary_accuracy(spec) -> float:
    """A fake accuracy that disagrees with synflow (which, as fake_accuracy, favours larger networks)."""
    return round(1.0 - fake_accuracy(spec) / 2, 9)


def test_rerank_trains_the_proxys_shortlist_and_retrains_its_best(write_config):
    trainer = FakeTrainer(accuracy=contrary_accuracy)
    loaded, study, search_calls = search_then_confirm(write_config, trainer, RERANK)
    assert search_calls == 0  # a zero-cost proxy: the search trained nothing
    verdict = confirm(study, loaded.config, loaded.config.final, trainer)

    # The shortlist, computed here: the 3 best distinct searched networks by the proxy's score.
    trials = [t for t in study.get_trials() if t.user_attrs.get("feasible") and t.state.name == "COMPLETE"]
    reference = min((t for t in trials if t.user_attrs.get("reference")), key=lambda t: t.number)
    seen, shortlist = {reference.user_attrs["arch"]}, []
    for t in sorted(trials, key=lambda t: (-t.user_attrs["proxy_score"], t.number)):
        if not t.user_attrs.get("reference") and t.user_attrs["arch"] not in seen:
            seen.add(t.user_attrs["arch"])
            shortlist.append(t.number)
    shortlist = shortlist[:3]
    assert len(shortlist) == 3
    # ... each trained once as a trial of the default proxy would be: the trials' recipe, the trial's seed.
    first = trainer.calls[:3]
    assert [c["spec"].name for c in first] == [f"conf-trial{n}" for n in shortlist]
    assert [c["seed"] for c in first] == [n for n in shortlist]  # config seed 0 + trial number
    assert all(c["epochs"] == 2 and c["lr"] == 0.05 and c["batch_size"] == 16 and not c["score_test"] for c in first)
    assert all(c["eval_every"] == 0 for c in trainer.calls)  # judged by the last epoch: val scored then only
    # The retrained candidate is the shortlist's best by that training's val top-1, not the proxy's best.
    val = {n: contrary_accuracy(archkit.spec_from_yaml(study.trials[n].user_attrs["spec"])) for n in shortlist}
    chosen = max(shortlist, key=lambda n: (val[n], -shortlist.index(n)))
    final = trainer.calls[3:]
    assert sorted({c["spec"].name for c in final}) == sorted({f"conf-trial{reference.number}", f"conf-trial{chosen}"})
    assert all(c["score_test"] and c["epochs"] == 6 for c in final) and len(final) == 4
    assert verdict["best"]["trial"] == chosen
    assert chosen != shortlist[0], (val, shortlist)  # (this study: the rerank overturns the proxy)
    assert [r["trial"] for r in verdict["rerank"]] == shortlist
    assert [r["val_top1"] for r in verdict["rerank"]] == [val[n] for n in shortlist]


def test_an_interrupted_rerank_resumes_and_rerank_below_top_is_refused(write_config, cli):
    trainer = FakeTrainer()
    search_then_confirm(write_config, trainer, RERANK)
    interrupted = FakeTrainer(interrupt_at=2)
    assert cli("confirm", "conf", train=interrupted).exit_code == 130
    assert len([k for k in study_of().user_attrs if k.startswith("rerank:")]) == 1
    resumed = FakeTrainer()
    result = cli("confirm", "conf", train=resumed)
    assert result.exit_code == 0, result.output
    assert [c["score_test"] for c in resumed.calls] == [False, False] + [True] * 4  # 2 left to rerank, then 2 x 2
    assert interrupted.calls[0]["spec"].name not in {c["spec"].name for c in resumed.calls[:2]}
    assert "rerank 1/2: trial" in result.stderr
    # A longer shortlist afterwards: only the new candidate is trained for it.
    longer = FakeTrainer()
    result = cli("confirm", "conf", "--rerank", "4", train=longer)
    assert result.exit_code == 0, result.output
    assert len([c for c in longer.calls if not c["score_test"]]) == 1
    assert len(study_of().user_attrs["verdict"]["rerank"]) == 4
    assert one_error_line(cli("confirm", "conf", "--top", "3", "--rerank", "2")) == (
        "error: --rerank 2 shortlists the candidates --top 3 is taken from: give a rerank of at least the top")
    bad = RERANK.replace("final: {top: 1, seeds: 2, rerank: 3}", "final: {top: 2, rerank: 1}")
    assert one_error_line(cli("search", write_config(bad, "bad.yaml"))).startswith(
        "error: bad.yaml:12 final: rerank (1) shortlists the candidates")
