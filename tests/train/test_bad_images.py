"""Files that are not readable images, made here in a temporary folder (text saved as .png, a
truncated JPEG, an empty file): one line naming the file, or skipped and counted; `archkit data
check` lists them; a search stops instead of failing trial after trial."""

from __future__ import annotations

import io
import json

import numpy as np
import optuna
import pytest
from PIL import Image
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.training import DataError

PLAIN = """
name: plain
input: {channels: 3, size: 8}
classes: 2
layers:
  - {name: conv1, conv: {out: 4, kernel: 3}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""


def make_folder(root, bad: bool = True) -> dict[str, str]:
    """train/{a,b} with 6 good PNGs each and, with `bad`, three bad files; returns bad path -> kind."""
    rng = np.random.default_rng(0)
    for c in "ab":
        (root / "train" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray((rng.random((10, 10, 3)) * 255).astype("uint8")).save(root / "train" / c / f"{i}.png")
    if not bad:
        return {}
    text = root / "train" / "b" / "broken.png"
    text.write_text("this is text, not a PNG")
    empty = root / "train" / "a" / "empty.jpg"
    empty.write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype("uint8")).save(buf, "JPEG")
    truncated = root / "train" / "a" / "truncated.jpg"
    truncated.write_bytes(buf.getvalue()[:300])
    return {str(text): "not an image format PIL can identify", str(empty): "an empty file (0 bytes)",
            str(truncated): "Truncated"}


@pytest.fixture(scope="module")
def plain():
    return archkit.spec_from_yaml(PLAIN)


def test_data_check_lists_what_cannot_be_read(tmp_path):
    bad = make_folder(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["data", "check", f"imagefolder:{tmp_path}", "-q", "--workers", "2"])
    assert result.exit_code == 1, result.output
    listed = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert set(listed) == set(bad)
    assert all(bad[path] in reason for path, reason in listed.items())
    assert result.stderr.startswith(f"imagefolder:{tmp_path}: 15 files read, 3 cannot be read")
    clean = tmp_path / "clean"
    make_folder(clean, bad=False)
    result = runner.invoke(app, ["data", "check", f"imagefolder:{clean}", "-q"])
    assert result.exit_code == 0 and result.stdout == "" and "12 files read, 0 cannot be read" in result.stderr
    result = runner.invoke(app, ["data", "check", f"imagefolder:{tmp_path / 'nope'}"])
    assert result.exit_code == 2 and result.stderr == f"error: imagefolder:{tmp_path / 'nope'}: no such folder\n"


@pytest.mark.parametrize("workers", [0, 2])
def test_a_bad_file_stops_the_run_with_one_line_naming_it(tmp_path, plain, workers):
    bad = make_folder(tmp_path / "data")
    with pytest.raises(DataError) as info:
        archkit.train(plain, f"imagefolder:{tmp_path / 'data'}", epochs=2, batch_size=4, workers=workers,
                      precision="fp32", checkpoint=tmp_path / "ckpt")
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "Traceback" not in message  # also from a loader worker
    path = message.split(": cannot read the image (", 1)[0]
    assert path in bad and bad[path] in message and "--skip-bad-images" in message
    assert not (tmp_path / "ckpt" / "last.pt").exists()  # stopped in its first epoch: nothing written


def test_no_loader_worker_outlives_a_run(tmp_path, plain):
    # Persistent loader workers are stopped when train() ends, whether it returned or raised (a
    # raised error's traceback keeps the loader alive; a forked worker holds this process's pipes).
    import multiprocessing

    bad = make_folder(tmp_path / "data")
    assert multiprocessing.active_children() == []
    with pytest.raises(DataError):
        archkit.train(plain, f"imagefolder:{tmp_path / 'data'}", epochs=1, batch_size=4, workers=2, precision="fp32")
    assert multiprocessing.active_children() == []
    result = archkit.train(plain, f"imagefolder:{tmp_path / 'data'}", steps=2, batch_size=4, workers=2,
                           precision="fp32", skip_bad_images=True, score_test=True)
    assert result.steps == 2 and result.skipped_images <= len(bad)
    assert multiprocessing.active_children() == []


@pytest.mark.slow  # trains on real data for 10+ s: left out of make test-fast
def test_skip_bad_images_counts_and_lists_them(tmp_path, plain):
    bad = make_folder(tmp_path / "data")
    out = tmp_path / "m.json"
    result = archkit.train(plain, f"imagefolder:{tmp_path / 'data'}", epochs=2, batch_size=4, workers=0,
                           precision="fp32", skip_bad_images=True, metrics_out=out)
    assert result.skipped_images == 3 and set(result.skipped_paths) == set(bad)
    saved = json.loads(out.read_text())
    assert saved["skipped_images"] == 3 and set(saved["skipped_paths"]) == set(bad)
    assert sum(result.split_sizes.values()) == 15  # the files are still in their splits; only skipped


@pytest.mark.slow  # trains on real data for 10+ s: left out of make test-fast
def test_a_search_stops_on_bad_data_instead_of_failing_trial_after_trial(tmp_path, monkeypatch):
    make_folder(tmp_path / "data")
    spec = tmp_path / "tiny.yaml"  # a base with an inception module to search
    spec.write_text(PLAIN.replace("layers:\n", "layers:\n  - {name: stem, conv: {out: 4, kernel: 3}}\n").replace(
        "  - {name: conv1, conv: {out: 4, kernel: 3}}\n",
        "  - {name: inc, inception: {1x1: 4, 3x3_reduce: 4, 3x3: 4, 5x5_reduce: 4, 5x5: 4, pool_proj: 4}}\n"))
    (tmp_path / "s.yaml").write_text(
        f"base: tiny.yaml\nspace: {{stage_width: [0.5, 1.5]}}\nbudget: {{ops: 500K}}\ndata: imagefolder:{tmp_path / 'data'}\n"
        "train: {epochs: 2, batch_size: 4, precision: fp32}\nfinal: null\ntrials: 4\nsampler: random\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["search", "s.yaml", "--no-progress"])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith("error: stopped: the data cannot be read: ") and "Resume with: " in line
    trials = optuna.load_study(study_name="s", storage="sqlite:///studies/s.db").trials
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]  # one trial, and its candidate waits
    assert trials[0].user_attrs["error"].startswith("data: ") and trials[1].user_attrs["retry_of"] == 0
