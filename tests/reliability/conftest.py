"""Fixtures for the fault and concurrency tests: a throwaway PostgreSQL cluster and a tiny search.

The PostgreSQL server is Debian's (`apt-get install postgresql`, which `make test` does when it
can). Where it is missing, the tests that need it fail saying how to get it: never a silent skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

TINY_SPEC = """
name: tiny
input: {channels: 1, size: 8}
classes: 10
defaults: {batch_norm: true, bias: false}
layers:
  - {name: conv1, conv: {out: 8, kernel: 3}}
  - {name: inception3a, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: inception3b, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 8, 5x5_reduce: 2, 5x5: 4, pool_proj: 4}}
  - {name: pool, global_avgpool: {}}
  - {name: linear, linear: {}}
"""

# Each trial trains a few hundred images: seconds, so that many trials and workers fit in a test.
TINY_SEARCH = """
name: {name}
base: tiny.yaml
space:
  stage_width: [0.5, 3.0]
  depth: {{stage3: [1, 3]}}
  divisor: 2
budget: {{ops: 300K}}
data: digits
train: {{steps: {steps}, batch_size: 32, precision: fp32}}
sampler: random
pruner: none
final: {final}
trials: {trials}
seed: {seed}
"""


@pytest.fixture
def search_dir(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_search(folder: Path, name: str, trials: int, steps: int = 4, seed: int = 0, final: str = "null") -> Path:
    """A tiny search config; `final` is its confirmation section (none unless given)."""
    path = folder / f"{name}.yaml"
    path.write_text(TINY_SEARCH.format(name=name, trials=trials, steps=steps, seed=seed, final=final),
                    encoding="utf-8")
    return path


def archkit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "archkit", *args]


def child_env() -> dict[str, str]:
    # One thread per process: the workers share two cores, and tests must not oversubscribe them.
    return dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")


def _initdb() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1])
    which = shutil.which("initdb")
    if which:
        return Path(which)
    pytest.fail("PostgreSQL is not installed: the concurrency tests need a real server. "
                "Install it with `apt-get install postgresql` (make test does so when run as root).")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL cluster on 127.0.0.1 for this test session, stopped and removed afterwards."""
    initdb = _initdb()
    bindir = initdb.parent
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="archkit-pg-"))
    data = base / "data"
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the postgres user.
        as_postgres = ["runuser", "-u", "postgres", "--"]
        base.chmod(0o755)
        subprocess.run(["chown", "postgres", str(base)], check=True)
    port = _free_port()
    run = lambda *cmd: subprocess.run([*as_postgres, *cmd], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(data.parent / "server.log"), "-o",
        f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        for _ in range(50):
            ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                   capture_output=True)
            if ready.returncode == 0:
                break
            time.sleep(0.2)
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "archkit")
        yield f"postgresql://postgres@127.0.0.1:{port}/archkit"
    finally:
        subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
