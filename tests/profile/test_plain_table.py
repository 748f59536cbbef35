"""The profile table drawn without rich (piped output, `-o FILE`) is character for character what rich
draws 200 columns wide; where it would not be (too wide, markup, wide characters), rich draws it."""

from __future__ import annotations

import io
import itertools
import random
import sys

import pytest

import archkit
from archkit.profile import compare_paper, render
from archkit.profile.render import Grid, Note


@pytest.fixture(autouse=True)
def _xdg_decides(monkeypatch):
    """These tests place the cache by XDG_CACHE_HOME: the test run's ARCHKIT_CACHE_DIR (which
    would win) is lifted for them."""
    monkeypatch.delenv("ARCHKIT_CACHE_DIR", raising=False)


HEADERS = ("a", "bb", "", "d")
ROWS = [(["x", "1", "", "22"], None, False), (["  y.z", "", "", ""], "dim", True), (["tot", "3", "", "4"], "bold", True)]


def rich_text(blocks, width=200) -> str:
    return render.to_text(render.rich_renderables(blocks), width)


@pytest.mark.parametrize("name", archkit.builtin_names())
def test_every_builtin_profile_is_drawn_plain_and_as_rich_draws_it(name):
    spec = archkit.load_spec(name)
    for convention, branches, aux in itertools.product(("paper", "full"), (False, True), (False, True)):
        blocks = render.profile_blocks(archkit.profile(spec, convention), branches, aux)
        text = render.plain_text(blocks)
        assert text is not None, (convention, branches, aux)
        assert text == rich_text(blocks), (convention, branches, aux)


def test_the_comparison_with_the_paper_is_drawn_as_rich_draws_it(googlenet):
    profile = archkit.profile(googlenet)
    blocks = render.compare_blocks(compare_paper(profile), profile)
    text = render.plain_text(blocks)
    assert text is not None
    assert text == rich_text(blocks)
    assert max(len(line) for line in text.splitlines()) == 200  # notes longer than the page are wrapped
    cells = [cells for block in blocks if isinstance(block, Grid) for cells, _, _ in block.rows]
    assert len(cells) == len(compare_paper(profile))


def test_plain_table_has_the_rich_tables_cells(googlenet):
    """The same cells, row by row (what a reader of the table sees), read back from the text."""
    profile = archkit.profile(googlenet)
    blocks = render.profile_blocks(profile)
    lines = render.plain_text(blocks).splitlines()
    body = [[c.strip() for c in line.strip("│").split("│")] for line in lines if line.startswith("│")]
    grids = [b for b in blocks if isinstance(b, Grid)]
    assert body == [cells for g in grids for cells, _, _ in g.rows]
    header = [[c.strip() for c in line.strip("┃").split("┃")] for line in lines if line.startswith("┃")]
    assert header == [list(render.HEADERS)] * 2
    rows = [r for r in body if r[0] not in ("total",) and "." not in r[0] and not r[0].endswith("total")]
    assert [r[0] for r in rows] == [row.name for row in profile.rows]


@pytest.mark.parametrize("title", ["", "t", "a title much longer than the table itself, wrapping over lines",
                                   "   spaced   words   here  ", "Δ delta"])
@pytest.mark.parametrize("width", [200, 30, 20])
def test_titles_and_notes_wrap_as_rich_wraps_them(title, width):
    blocks = [Grid(title, HEADERS, 1, ROWS), Note("a note " * 9), Note("an unwrapped note " * 5, wrap=False)]
    text = render.plain_text(blocks, width)
    assert text is not None
    assert text == rich_text(blocks, width)


def test_random_texts_wrap_as_rich_wraps_them():
    rng = random.Random(7)
    words = ["a", "bb", "ccc", "dddd", "", "(x)", "12.5K", "Δ", "e" * 12]
    drawn = 0
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        width = rng.choice([20, 25, 40, 200])
        blocks = [Grid(text, HEADERS, 2, ROWS), Note(text), Note(text, wrap=False)]
        plain = render.plain_text(blocks, width)
        if plain is not None:
            drawn += 1
            assert plain == rich_text(blocks, width), (text, width)
    assert drawn > 150


@pytest.mark.parametrize("blocks", [
    [Grid("t", HEADERS, 1, [(["[bold]x", "1", "", "2"], None, False)])],  # markup rich would interpret
    [Grid("t", HEADERS, 1, [([":smile:", "1", "", "2"], None, False)])],  # an emoji code
    [Grid("wide 漢字", HEADERS, 1, ROWS)],  # characters two columns wide
    [Grid("t", HEADERS, 1, [(["é", "1", "", "2"], None, False)])],
    [Grid("t", HEADERS, 1, [(["x" * 190, "1", "", "2"], None, False)])],  # wider than the page: rich shrinks it
    [Grid("a" * 30 + " " + "b" * 30, ("x",), 1, [(["y"], None, False)])],  # a title word wider than the table
    [Note("y" * 250)],
    [Note("tab\there")],
])
def test_what_rich_would_change_is_left_to_rich(blocks):
    assert render.plain_text(blocks) is None
    assert render.blocks_text(blocks) == rich_text(blocks)


def test_plain_stdout_follows_richs_terminal_rules(monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert render.plain_stdout()
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich would colour the pipe
    assert not render.plain_stdout()
    monkeypatch.setenv("FORCE_COLOR", "")
    assert render.plain_stdout()
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not render.plain_stdout()
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert render.plain_stdout()
    monkeypatch.delenv("TTY_COMPATIBLE")
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))  # rich: ASCII boxes
    assert not render.plain_stdout()


def test_a_terminal_still_gets_rich(monkeypatch, tmp_path):
    """With stdout a terminal, the table is rich's (its styles, the terminal's width)."""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")  # (main sets it; restored after the test)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    assert not render.plain_stdout()
    from archkit.cli import main

    monkeypatch.setattr(sys, "argv", ["archkit", "profile", "googlenet"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0
    assert "\x1b[" in out.getvalue()  # styled
