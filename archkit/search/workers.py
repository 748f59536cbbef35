"""Worker processes on this machine sharing one study: each runs this command with `--worker N`
(one GPU each where there are GPUs, a share of the cores on a CPU), while this process shows
their trials live and reports how they ended."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .config import LoadedConfig
from .latency_cost import THREADS_ENV
from .runner import RunSummary
from .storage import describe, is_journal
from .studies import (
    best_trial,
    counts,
    enqueue_priors,
    enqueue_reference,
    finished,
    latency_cost,
    open_study,
    recover_interrupted,
)


def worker_env(index: int, workers: int) -> dict[str, str]:
    """One GPU per worker where there are GPUs; on CPU, the cores split between workers."""
    env = dict(os.environ)
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no torch/CUDA is the CPU case
        gpus = 0
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    threads = max(1, (os.cpu_count() or 1) // workers)
    env["OMP_NUM_THREADS"] = str(threads)  # torch takes its intra-op thread count from it
    if THREADS_ENV not in env:
        from .latency_cost import default_threads

        # Latency is predicted with this command's thread count in every worker (one budget, one meaning).
        env[THREADS_ENV] = str(default_threads())
    return env


def run_workers(loaded: LoadedConfig, location: str, study_name: str, workers: int, child_args: list[str],
                progress: bool = True, log_dir: Path | None = None) -> RunSummary:
    """Start `workers` processes of this command on one study and show their trials live."""
    cfg = loaded.config
    study = open_study(loaded, location, study_name, latency=latency_cost(loaded))
    recover_interrupted(study, location)
    enqueue_reference(study)
    enqueue_priors(study, loaded)
    if log_dir is None:
        log_dir = Path(location).parent if is_journal(location) else Path("studies")
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    logs = []
    for i in range(workers):
        log = open(log_dir / f"{study_name}.worker{i}.log", "ab")
        logs.append(log)
        cmd = [sys.executable, "-m", "archkit", "search", *child_args, "--storage", location, "--study",
               study_name, "--worker", str(i)]
        procs.append(subprocess.Popen(cmd, env=worker_env(i, workers), stdout=log, stderr=subprocess.STDOUT))
    from .progress import LiveView

    latency = latency_cost(loaded)
    title = f"archkit search {study_name}: {workers} workers ({describe(location)})" + (
        f"; latency on {latency.describe()}" if latency is not None else "")
    try:
        with LiveView(study, title, cfg.budget.limits(), enabled=progress, period=2.0) as view:
            while any(p.poll() is None for p in procs):
                time.sleep(1.0)
                view.refresh()
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(2)  # SIGINT: each worker marks its running trial failed, then exits
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    finally:
        for log in logs:
            log.close()
    codes = [p.returncode for p in procs]
    c = counts(study)
    summary = RunSummary(study_name, location, finished(c), cfg.trials, c, best_trial(study))
    if any(codes):
        bad = [f"worker {i} exited with {code} (log: {log_dir / f'{study_name}.worker{i}.log'})"
               for i, code in enumerate(codes) if code]
        summary.stopped = "; ".join(bad)
    return summary


__all__ = ["run_workers", "worker_env"]
