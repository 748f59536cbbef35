"""Faults during a search, injected with real signals into the real CLI: kill -9 of a worker
mid-trial, Ctrl-C. Finished trials are never lost; the interrupted trial is marked failed and its
candidate retried; rerunning the same command resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import optuna
import pytest

from archkit.search.storage import open_storage

from .conftest import archkit_cmd, child_env, write_search


def _study(name: str, location: str):
    return optuna.load_study(study_name=name, storage=open_storage(location, create=False))


def _wait_for_training(name: str, location: str, proc: subprocess.Popen, after: int = 1, timeout: float = 180):
    """Wait until `after` trials are finished and another is running its training."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            trials = _study(name, location).get_trials(deepcopy=False)
        except Exception:  # noqa: BLE001 - the storage may not exist yet
            trials = []
        done = [t for t in trials if t.state.name == "COMPLETE"]
        running = [t for t in trials if t.state.name == "RUNNING" and "device" in t.user_attrs]
        if len(done) >= after and running:
            return running[0].number
        time.sleep(0.2)
    raise AssertionError("the search never started training a trial")


def _kill9_then_resume(search_dir, location: str, extra_env: dict) -> None:
    name = "k9"
    config = write_search(search_dir, name, trials=4, steps=200)
    cmd = archkit_cmd("search", str(config), "--no-progress", "--storage", location)
    env = dict(child_env(), **extra_env)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    victim = _wait_for_training(name, location, proc)
    finished_before = {t.number: t.user_attrs["val_top1"] for t in _study(name, location).trials
                       if t.state.name == "COMPLETE"}
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _study(name, location).trials[victim].state.name == "RUNNING"  # killed: nobody said otherwise
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr + again.stdout
    trials = _study(name, location).trials
    assert trials[victim].state.name == "FAIL"
    # Finished trials were never lost or changed.
    assert {n: trials[n].user_attrs["val_top1"] for n in finished_before} == finished_before
    # The interrupted candidate was retried with the same parameters, and the study is complete.
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == trials[victim].params
    assert len([t for t in trials if t.state.name == "COMPLETE"]) == 4


def test_kill_9_of_a_worker_on_a_journal_resumes(search_dir):
    _kill9_then_resume(search_dir, "studies/k9.journal", {})


def test_kill_9_of_a_worker_on_sqlite_resumes_by_heartbeat(search_dir):
    # Heartbeats every second, declared dead after 3 s of silence (60 s by default).
    _kill9_then_resume(search_dir, "sqlite:///studies/k9.db", {"ARCHKIT_HEARTBEAT_S": "1", "ARCHKIT_GRACE_S": "3"})


def _sigint_by_default() -> None:
    # A shell's background job (`make test &`, nohup) starts with SIGINT ignored, and the child would
    # inherit that; a user's terminal delivers Ctrl-C to a process that handles it, so restore that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_marks_the_trial_failed_and_says_how_to_resume(search_dir):
    name = "cc"
    config = write_search(search_dir, name, trials=3, steps=200)
    cmd = archkit_cmd("search", str(config), "--no-progress")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
                            preexec_fn=_sigint_by_default)
    victim = _wait_for_training(name, "sqlite:///studies/cc.db", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("interrupted: the running trial was marked failed")
    assert lines[-1].endswith(f"Resume with: archkit search {config} --no-progress")
    assert "Traceback" not in err
    trials = _study(name, "sqlite:///studies/cc.db").trials
    assert trials[victim].state.name == "FAIL" and "interrupted" in trials[victim].user_attrs["error"]
    again = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=600)
    assert again.returncode == 0, again.stderr
    trials = _study(name, "sqlite:///studies/cc.db").trials
    assert len([t for t in trials if t.state.name == "COMPLETE"]) == 3
    assert [t.user_attrs.get("retry_of") for t in trials if t.user_attrs.get("retry_of") is not None] == [victim]
    assert not os.path.exists("studies/cc.db-journal")  # SQLite left no half-written transaction


def test_kill_9_during_confirmation_keeps_finished_retrainings(search_dir):
    # A real search with a real (tiny) confirmation stage: reference + 1 candidate, 2 seeds each, 60 steps.
    name = "cf"
    config = write_search(search_dir, name, trials=3, steps=20, final="{top: 1, seeds: 2, steps: 60}")
    location = "sqlite:///studies/cf.db"
    cmd = archkit_cmd("search", str(config), "--no-progress")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    deadline = time.monotonic() + 300
    runs: dict = {}
    while time.monotonic() < deadline and len(runs) < 1:
        assert proc.poll() is None, proc.communicate()
        try:
            runs = {k: v for k, v in _study(name, location).user_attrs.items() if k.startswith("confirm:")}
        except Exception:  # noqa: BLE001 - the storage may not exist yet
            runs = {}
        time.sleep(0.2)
    assert runs, "the confirmation stage never finished a retraining"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kept = {k: v for k, v in _study(name, location).user_attrs.items() if k.startswith("confirm:")}
    assert 1 <= len(kept) < 4 and "verdict" not in _study(name, location).user_attrs
    again = subprocess.run(archkit_cmd("confirm", name), capture_output=True, text=True, env=child_env(), timeout=600)
    assert again.returncode == 0, again.stderr + again.stdout
    assert again.stderr.count(", seed ") == 4 - len(kept)  # only the missing retrainings ran
    attrs = _study(name, location).user_attrs
    final = {k: v for k, v in attrs.items() if k.startswith("confirm:")}
    assert len(final) == 4 and all(final[k] == v for k, v in kept.items())  # nothing finished was redone
    verdict = attrs["verdict"]
    assert verdict["seeds"] == 2 and len(verdict["runs"]) == 4
    for r in verdict["runs"]:  # scored on the test split: a whole number of its images
        n = r["split_sizes"]["test"]
        assert n > 0 and r["test_top1"] * n == pytest.approx(round(r["test_top1"] * n))
    assert again.stdout.splitlines()[-1].startswith(("confirmed: ", "not distinguishable: "))
