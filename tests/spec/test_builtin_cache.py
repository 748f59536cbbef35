"""The validated form of a built-in spec, kept between runs: the same spec as validating its YAML,
named by everything validation depends on, and never in the way when it is missing or broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archkit
from archkit.spec import loader, validated


@pytest.fixture(autouse=True)
def _xdg_decides(monkeypatch):
    """These tests place the cache by XDG_CACHE_HOME: the test run's ARCHKIT_CACHE_DIR (which
    would win) is lifted for them."""
    monkeypatch.delenv("ARCHKIT_CACHE_DIR", raising=False)



@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    loader._load_builtin.cache_clear()
    yield tmp_path
    loader._load_builtin.cache_clear()


def fresh(name: str) -> archkit.Spec:
    return archkit.spec_from_yaml(archkit.spec.builtin_text(name), name)


@pytest.mark.parametrize("name", archkit.builtin_names())
def test_the_kept_form_is_the_validated_spec(cache_home, name):
    first = archkit.load_spec(name)  # validated, then kept
    [kept] = (cache_home / "archkit" / "builtin-specs" / name).glob("*.pickle")
    loader._load_builtin.cache_clear()
    again = archkit.load_spec(name)  # read back
    assert again is not first
    assert again == first == fresh(name)
    assert archkit.profile(again).to_dict() == archkit.profile(fresh(name)).to_dict()
    assert kept.exists()


def test_a_new_process_reads_the_kept_form(cache_home):
    archkit.load_spec("googlenet")
    code = ("import archkit, sys; s = archkit.load_spec('googlenet'); "
            "print(archkit.profile(s).total.ops, 'yaml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "XDG_CACHE_HOME": str(cache_home)}).stdout.split()
    assert out == ["1582671872", "False"]  # the YAML was not even parsed


def test_the_name_changes_with_the_yaml_and_with_the_spec_sources(cache_home, tmp_path, monkeypatch):
    text = archkit.spec.builtin_text("googlenet")
    path = validated.cache_path("googlenet", text)
    assert path == validated.cache_path("googlenet", text)
    assert validated.cache_path("googlenet", text.replace("1000", "999")) != path
    # The same sources elsewhere name the same file; one byte changed in one of them, another.
    copy = tmp_path / "spec"
    shutil.copytree(Path(validated.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__", "builtin"))
    monkeypatch.setattr(validated, "__file__", str(copy / "validated.py"))
    assert validated.cache_path("googlenet", text) == path
    models = copy / "models.py"
    models.write_text(models.read_text() + "\n# changed\n")
    assert validated.cache_path("googlenet", text) != path


def test_older_forms_are_removed(cache_home):
    folder = cache_home / "archkit" / "builtin-specs" / "googlenet"
    folder.mkdir(parents=True)
    (folder / "0123.pickle").write_bytes(b"old")
    other = cache_home / "archkit" / "builtin-specs" / "googlenet-32"
    other.mkdir()
    (other / "4567.pickle").write_bytes(b"kept")
    archkit.load_spec("googlenet")
    assert [p.name for p in folder.iterdir()] == [validated.cache_path(
        "googlenet", archkit.spec.builtin_text("googlenet")).name]
    assert (other / "4567.pickle").exists()


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x04\x95garbage"])
def test_a_broken_file_is_validated_over(cache_home, content):
    path = validated.cache_path("googlenet", archkit.spec.builtin_text("googlenet"))
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert archkit.load_spec("googlenet") == fresh("googlenet")
    loader._load_builtin.cache_clear()
    assert validated.read(path) == fresh("googlenet")  # and rewritten


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    loader._load_builtin.cache_clear()
    try:
        assert archkit.load_spec("googlenet") == fresh("googlenet")
    finally:
        loader._load_builtin.cache_clear()


def test_no_home_folder_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG rules say (then ~/.cache)
    monkeypatch.setenv("HOME", "")
    monkeypatch.chdir(tmp_path)
    text = archkit.spec.builtin_text("googlenet")
    if not os.path.isabs(os.path.expanduser("~")):
        assert validated.cache_path("googlenet", text) is None
    loader._load_builtin.cache_clear()
    try:
        assert archkit.load_spec("googlenet") == fresh("googlenet")
    finally:
        loader._load_builtin.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_archkit_cache_dir_wins_over_xdg(monkeypatch, tmp_path):
    from archkit.util.cache import cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "archkit"
    monkeypatch.setenv("ARCHKIT_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    assert cache_dir(tmp_path / "given") == tmp_path / "given"
