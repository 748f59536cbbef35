"""N workers on one study finish exactly the asked number of trials: no overshoot, no duplicate
trial numbers, no lost results — on a journal file and on a real PostgreSQL server."""

from __future__ import annotations

import subprocess

import optuna
import pytest

from archkit.search.storage import open_storage

from ..conftest import whole_images
from .conftest import archkit_cmd, child_env, write_search


def _check_exact(study_name: str, location: str, asked: int) -> None:
    study = optuna.load_study(study_name=study_name, storage=open_storage(location, create=False))
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), "duplicate trial numbers"
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == asked, [(t.number, t.state.name, t.user_attrs.get("error")) for t in trials]
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    for t in finished:  # no lost results: every finished trial carries its measurements
        a = t.user_attrs
        assert {"spec", "ops", "params", "activations", "feasible"} <= set(a)
        if a["feasible"]:
            assert a["trained"] and whole_images(a["val_top1"], 359) and t.values[0] == pytest.approx(a["val_top1"])
    # A worker that came late may have asked for a trial after the others took the last slots;
    # such a trial is never run, and says so.
    for t in trials:
        if t.state.name == "FAIL":
            assert "surplus" in t.user_attrs.get("error", ""), t.user_attrs


@pytest.mark.parametrize("workers,trials", [(2, 5), (3, 7)])
def test_workers_on_a_journal_file_finish_exactly_the_asked_trials(search_dir, workers, trials):
    config = write_search(search_dir, "jw", trials=trials)
    done = subprocess.run(archkit_cmd("search", str(config), "--workers", str(workers), "--no-progress"),
                          capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"{trials} of {trials} trials finished" in done.stdout
    _check_exact("jw", "studies/jw.journal", trials)
    for i in range(workers):  # every worker really ran (its log exists and it took part)
        assert (search_dir / "studies" / f"jw.worker{i}.log").exists()


def test_workers_on_postgresql_finish_exactly_the_asked_trials(search_dir, postgres_url):
    config = write_search(search_dir, "pgw", trials=6, seed=3)
    done = subprocess.run(archkit_cmd("search", str(config), "--workers", "2", "--no-progress", "--storage",
                                      postgres_url, "--study", "pgw"),
                          capture_output=True, text=True, env=child_env(), timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    _check_exact("pgw", postgres_url, 6)
    # The same command again asks for nothing more: the study is complete and resumes as such.
    again = subprocess.run(archkit_cmd("search", str(config), "--no-progress", "--storage", postgres_url,
                                       "--study", "pgw"), capture_output=True, text=True, env=child_env(), timeout=300)
    assert again.returncode == 0, again.stderr
    _check_exact("pgw", postgres_url, 6)


def test_two_machines_worth_of_commands_share_one_postgresql_study(search_dir, postgres_url):
    """The many-machines recipe: the same command started twice against one server."""
    config = write_search(search_dir, "pg2", trials=5, seed=5)
    cmd = archkit_cmd("search", str(config), "--no-progress", "--storage", postgres_url, "--study", "pg2")
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err + out
    _check_exact("pg2", postgres_url, 5)
