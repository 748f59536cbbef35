"""Nested branches in the profile report: splits inside a module's branch (sub-branches, as deep as
they nest) and residual modules' projection and shortcut reach the report's data, its sunburst (a
level per split) and its table of branches (one indented row per part, by dotted path).

The numbers are checked against `archkit.profile` (the whole tree) and, for the tiny spec below, by
hand arithmetic (paper convention: weights only; ops = weights x output positions)."""

from __future__ import annotations

import re

import pytest
import yaml

import archkit
from archkit.profile import compare_paper
from archkit.report import data as D
from archkit.report import profile_report, profile_report_html
from archkit.spec import spec_from_data

# Every form: splits nested two deep (b3's split holds `deep`, which splits again), a grouped conv,
# a residual module with a projection, one with a shortcut, a separable conv. 17x17x3 input; the
# stem (3x3/2, valid) gives 8x8x16.
TINY = """
name: t1
input: {channels: 3, size: 17}
classes: 10
defaults: {batch_norm: true, bias: false, batch_norm_eps: 0.001}
layers:
  - {name: stem, conv: {out: 16, kernel: 3, stride: 2, padding: valid}}
  - name: e
    module:
      branches:
        - name: b1
          ops: [{conv: {out: 8}}]
        - name: b3
          ops:
            - {conv: {out: 12}}
            - split:
                - [{conv: {out: 6, kernel: [1, 3]}}]
                - name: deep
                  ops:
                    - {conv: {out: 6, kernel: [3, 1]}}
                    - split: [[{conv: {out: 2}}], [{conv: {out: 4, groups: 2}}]]
        - name: pool
          ops: [{avgpool: {kernel: 3, padding: 1, count_include_pad: false}}, {conv: {out: 4}}]
  - name: res
    module:
      branches:
        - [{conv: {out: 8}}]
        - [{conv: {out: 8}}, {conv: {out: 8, kernel: 3}}]
      residual: {projection: {out: 24, bias: true, batch_norm: false, activation: none}, scale: 0.17}
  - name: x
    module:
      branches:
        - [{relu: {}}, {conv: {out: 40, kernel: 3, separable: true, activation: none}}, {relu: {}},
           {conv: {out: 40, kernel: 3, separable: true, multiplier: 2, activation: none}},
           {maxpool: {kernel: 3, stride: 2, padding: 1}}]
      residual: {shortcut: {out: 40, stride: 2, activation: none}, activation: none}
  - {name: sep, conv: {out: 24, kernel: 3, separable: true}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""

# Names that repeat among siblings: a branch with two splits (each numbers its unnamed sub-branches
# from 0) and a branch named like the residual module's projection.
CLASHING = """
name: clash
input: {channels: 3, size: 8}
classes: 4
layers:
  - name: m
    module:
      branches:
        - name: twice
          ops:
            - split: [[{conv: {out: 4}}], [{conv: {out: 4, kernel: 3}}]]
            - {conv: {out: 8}}
            - split: [[{conv: {out: 2}}], [{conv: {out: 6, kernel: 3}}]]
        - name: projection
          ops: [{conv: {out: 8}}]
      residual: {projection: {out: 3}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
"""

HW = 8 * 8  # output positions of every part of the tiny spec's module `e` and of `res`


def _spec(text: str) -> archkit.Spec:
    return spec_from_data(yaml.safe_load(text), "test")


@pytest.fixture(scope="module")
def tiny() -> archkit.Spec:
    return _spec(TINY)


@pytest.fixture(scope="module")
def tiny_data(tiny) -> dict:
    return D.profile_data(archkit.profile(tiny))


def _walk(parts: list[dict]):
    for p in parts:
        yield p
        yield from _walk(p["branches"])


def _part(data: dict, path: str) -> dict:
    layer = next(x for x in data["layers"] if x["name"] == path.split(".")[0])
    return next(p for p in _walk(layer["branches"]) if p["path"] == path)


def _as_profile_json(part: dict) -> dict:
    """A report record in the shape of `BranchRow.to_dict()` (the profile's JSON)."""
    return {"name": part["name"], "output": part["output_shape"], "depth": part["depth"], "params": part["params"],
            "ops": part["ops"], "activations": part["activations"], "role": part["role"],
            **({"at": part["at"]} if part["at"] is not None else {}),
            "branches": [_as_profile_json(b) for b in part["branches"]]}


# --- the data: the whole tree, equal to the profile's ---------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "inception-v3", "inception-v4", "inception-resnet-v2", "xception",
                                  "googlenet"])
def test_report_data_holds_the_profile_tree(name, tiny):
    spec = tiny if name == "tiny" else archkit.load_spec(name)
    profile = archkit.profile(spec)
    d = D.profile_data(profile)
    for layer, row in zip(d["layers"], profile.rows, strict=True):
        assert [_as_profile_json(b) for b in layer["branches"]] == row.to_dict()["branches"], layer["name"]
        for b in _walk(layer["branches"]):
            assert b["output"] == "{1}x{2}x{0}".format(*b["output_shape"])
            # dotted paths, each under its parent's
            for child in b["branches"]:
                assert child["path"] == f"{b['path']}.{child['name']}"
        assert all(b["path"] == f"{layer['name']}.{b['name']}" for b in layer["branches"])


def test_report_data_of_inception_v3_nests_the_splits():
    profile = archkit.profile(archkit.load_spec("inception-v3"))
    d = D.profile_data(profile)
    assert d["nested"] is True
    mixed = next(x for x in d["layers"] if x["name"] == "Mixed_7b")
    by_name = {b["name"]: b for b in mixed["branches"]}
    assert [b["name"] for b in by_name["branch3x3"]["branches"]] == ["a", "b"]
    assert [b["path"] for b in by_name["branch3x3dbl"]["branches"]] == ["Mixed_7b.branch3x3dbl.a",
                                                                        "Mixed_7b.branch3x3dbl.b"]
    # by hand: Mixed_7b's input is 8x8x1280; branch3x3 is a 1x1 to 384, then 1x3 and 3x1 (384 to 384)
    a = by_name["branch3x3"]["branches"][0]
    assert (a["params"], a["ops"], a["output"], a["at"]) == (384 * 3 * 384, 384 * 3 * 384 * HW, "8x8x384", 1)
    assert by_name["branch3x3"]["ops"] == (1280 * 384 + 2 * 384 * 3 * 384) * HW
    assert by_name["branch3x3"]["output"] == "8x8x768"
    assert by_name["branch3x3dbl"]["branches"][1]["at"] == 2  # after a 1x1 and a 3x3


def test_tiny_spec_by_hand(tiny_data):
    # e.b3: a 1x1 conv 16 -> 12, then a split of a 1x3 conv 12 -> 6 and `deep` (a 3x1 conv 12 -> 6,
    # then a split of a 1x1 6 -> 2 and a grouped 1x1 6 -> 4 in 2 groups: 3 inputs per output)
    one_by_three = _part(tiny_data, "e.b3.branch0")
    assert (one_by_three["params"], one_by_three["ops"]) == (216, 13_824)
    assert 12 * 1 * 3 * 6 == 216 and 216 * 64 == 13_824
    assert (one_by_three["output"], one_by_three["depth"], one_by_three["activations"]) == ("8x8x6", 1, 384)
    assert (one_by_three["role"], one_by_three["at"]) == ("branch", 1)
    grouped = _part(tiny_data, "e.b3.deep.branch1")
    assert (grouped["params"], grouped["ops"], grouped["output"]) == (3 * 4, 3 * 4 * HW, "8x8x4")
    deep = _part(tiny_data, "e.b3.deep")
    assert (deep["params"], deep["ops"]) == (216 + 12 + 12, (216 + 12 + 12) * HW)
    assert (deep["depth"], deep["output"]) == (2, "8x8x6")  # concatenated: 2 + 4 channels
    b3 = _part(tiny_data, "e.b3")
    assert (b3["params"], b3["ops"]) == (16 * 12 + 216 + 240, (16 * 12 + 216 + 240) * HW)
    assert (b3["depth"], b3["output"], b3["at"]) == (3, "8x8x12", None)
    # residual parts: the projection maps the concatenated 8 + 8 channels to 24 (its bias is not
    # counted in the paper convention); x's shortcut maps its 8x8x24 input to 4x4x40 (1x1, stride 2)
    projection = _part(tiny_data, "res.projection")
    assert (projection["role"], projection["label"]) == ("projection", "projection")
    assert (projection["params"], projection["ops"], projection["output"]) == (16 * 24, 16 * 24 * HW, "8x8x24")
    shortcut = _part(tiny_data, "x.shortcut")
    assert (shortcut["role"], shortcut["label"]) == ("shortcut", "shortcut")
    assert (shortcut["params"], shortcut["ops"], shortcut["output"]) == (24 * 40, 24 * 40 * 16, "4x4x40")


# --- the sunburst -----------------------------------------------------------------------------


def check_tree(tree: dict, layers: list[dict], total_ops: int) -> dict[str, list[str]]:
    """That the sunburst's parallel lists form one consistent tree whose values add up; returns
    each node's children."""
    ids, parents, values = tree["ids"], tree["parents"], tree["values"]
    assert len(ids) == len(parents) == len(values) == len(tree["labels"])
    assert len(set(ids)) == len(ids)
    known = set(ids)
    children: dict[str, list[str]] = {}
    for node, parent, value in zip(ids, parents, values, strict=True):
        assert isinstance(value, int) and value > 0, node
        if parent:
            assert parent in known, node
            assert node.rsplit("/", 1)[0] == parent, node  # an id is its parent's plus one segment
            children.setdefault(parent, []).append(node)
        else:
            assert "/" not in node
    value = dict(zip(ids, values, strict=True))
    for parent, kids in children.items():
        assert sum(value[k] for k in kids) == value[parent], parent  # branchvalues="total"
    leaves = [n for n in ids if n not in children]
    assert sum(value[n] for n in leaves) == total_ops
    roots = [n for n, p in zip(ids, parents, strict=True) if not p]
    assert sum(value[n] for n in roots) == total_ops
    # every layer with ops is a node with its ops
    for layer in layers:
        if layer["ops"]:
            assert value[f"{layer['stage']}/{layer['name']}"] == layer["ops"]
    return children


@pytest.mark.parametrize("name", ["tiny", "inception-v3", "inception-v4", "inception-resnet-v2", "xception",
                                  "googlenet"])
def test_sunburst_is_a_consistent_tree(name, tiny):
    spec = tiny if name == "tiny" else archkit.load_spec(name)
    d = D.profile_data(archkit.profile(spec))
    children = check_tree(d["sunburst"], d["layers"], d["total"]["ops"])
    # as deep as the splits nest: stage, layer, then one ring per level of parts
    def levels(parts):
        return max((1 + levels(p["branches"]) for p in parts if p["ops"]), default=0)

    deepest = max(levels(x["branches"]) for x in d["layers"])
    assert max(i.count("/") for i in d["sunburst"]["ids"]) == 1 + deepest
    # every part with ops is a slice, with its ops
    value = dict(zip(d["sunburst"]["ids"], d["sunburst"]["values"], strict=True))
    for layer in d["layers"]:
        def check(parts, parent):
            for p in parts:
                if p["ops"]:
                    node = f"{parent}/{p['name']}"
                    assert value[node] == p["ops"], node
                    check(p["branches"], node)

        check(layer["branches"], f"{layer['stage']}/{layer['name']}")
    assert children  # not a flat list


def test_sunburst_of_the_tiny_spec(tiny_data):
    tree = tiny_data["sunburst"]
    node = {i: (label, parent, v) for i, label, parent, v in zip(tree["ids"], tree["labels"], tree["parents"],
                                                                tree["values"], strict=True)}
    e = next(f"{x['stage']}/e" for x in tiny_data["layers"] if x["name"] == "e")
    b3, deep = f"{e}/b3", f"{e}/b3/deep"
    # b3's 1x1 conv before its split is its own leaf; so is deep's 3x1 conv
    assert node[f"{b3}/(own)"] == ("b3 (own)", b3, 16 * 12 * HW)
    assert node[f"{b3}/branch0"] == ("branch0", b3, 13_824)
    assert node[deep] == ("deep", b3, 240 * HW)
    assert node[f"{deep}/(own)"] == ("deep (own)", deep, 12 * 1 * 6 * 3 * HW)
    assert node[f"{deep}/branch0"] == ("branch0", deep, 6 * 2 * HW)
    assert node[f"{deep}/branch1"] == ("branch1", deep, 3 * 4 * HW)
    assert [i for i, p in zip(tree["ids"], tree["parents"], strict=True) if p == deep] == [
        f"{deep}/(own)", f"{deep}/branch0", f"{deep}/branch1"]
    # the pool branch's ops are its 1x1 conv's (the pool has none); b1 has no split: no own leaf
    assert node[f"{e}/pool"] == ("pool", e, 16 * 4 * HW)  # on the module input, 8x8x16
    assert f"{e}/b1/(own)" not in node and f"{e}/(own)" not in node
    # residual parts are slices of their module, labelled by role
    res = next(i for i in tree["ids"] if i.endswith("/res"))
    assert node[f"{res}/projection"] == ("projection", res, 16 * 24 * HW)
    x = next(i for i in tree["ids"] if i.endswith("/x"))
    assert node[f"{x}/shortcut"] == ("shortcut", x, 24 * 40 * 16)
    assert [i for i, p in zip(tree["ids"], tree["parents"], strict=True) if p == x] == [f"{x}/branch0",
                                                                                         f"{x}/shortcut"]
    # layers without branches are leaves
    assert not any(p.endswith("/sep") for p in tree["parents"])
    assert tiny_data["nested"] is True


def test_sunburst_keeps_names_apart_that_repeat():
    d = D.profile_data(archkit.profile(_spec(CLASHING)))
    tree = d["sunburst"]
    check_tree(tree, d["layers"], d["total"]["ops"])
    m = next(i for i in tree["ids"] if i.endswith("/m"))
    kids = [i.removeprefix(f"{m}/") for i, p in zip(tree["ids"], tree["parents"], strict=True) if p == m]
    assert kids == ["twice", "projection@branch", "projection@projection"]
    twice = [i.removeprefix(f"{m}/twice/") for i, p in zip(tree["ids"], tree["parents"], strict=True)
             if p == f"{m}/twice"]
    # the 1x1 conv between the two splits is twice's own; each split's sub-branches by its index
    assert twice == ["(own)", "branch0@0", "branch1@0", "branch0@2", "branch1@2"]
    label = dict(zip(tree["ids"], tree["labels"], strict=True))
    assert label[f"{m}/projection@branch"] == "projection" == label[f"{m}/projection@projection"]
    value = dict(zip(tree["ids"], tree["values"], strict=True))
    # 8x8 input of 3 channels: splits of 4 + 4 channels, a 1x1 8 -> 8, splits of 2 + 6 channels
    assert value[f"{m}/twice/(own)"] == 8 * 8 * HW
    assert value[f"{m}/twice/branch1@2"] == 8 * 9 * 6 * HW


def test_googlenet_sunburst_is_one_level_of_branches(googlenet):
    p = archkit.profile(googlenet)
    d = D.profile_data(p, compare_paper(p))
    tree = d["sunburst"]
    assert d["nested"] is False
    assert max(i.count("/") for i in tree["ids"]) == 2
    assert not any("(own)" in i or "@" in i for i in tree["ids"])
    three_a = [(i, label) for i, label, parent in zip(tree["ids"], tree["labels"], tree["parents"], strict=True)
               if parent == "stage3/inception3a"]
    assert three_a == [("stage3/inception3a/branch_1x1", "1x1"), ("stage3/inception3a/branch_3x3", "3x3"),
                       ("stage3/inception3a/branch_5x5", "5x5"), ("stage3/inception3a/branch_pool", "pool")]


def test_sunburst_figure_draws_the_tree(tiny_data, googlenet):
    from archkit.report import figures as F

    trace = F.ops_sunburst(tiny_data).data[0]
    tree = tiny_data["sunburst"]
    assert list(trace.ids) == tree["ids"] and list(trace.parents) == tree["parents"]
    assert list(trace.labels) == tree["labels"]
    assert list(trace.values) == pytest.approx([v / 1e6 for v in tree["values"]])
    assert trace.branchvalues == "total"
    assert "branch and sub-branch" in F.ops_sunburst(tiny_data).layout.title.text
    plain = D.profile_data(archkit.profile(googlenet))
    assert F.ops_sunburst(plain).layout.title.text == (
        f"googlenet: ops by stage, layer and branch (M multiply-adds; total {plain['total']['ops'] / 1e6:,.1f}M)")


# --- the table of branches --------------------------------------------------------------------


def test_branch_table_rows_are_the_tree(tiny_data):
    rows = [(r["level"], r["cells"][0], r["cells"][1]) for r in tiny_data["branch_table"]]
    assert rows == [
        (0, "e", "module"), (1, "e.b1", "branch"), (1, "e.b3", "branch"), (2, "e.b3.branch0", "branch"),
        (2, "e.b3.deep", "branch"), (3, "e.b3.deep.branch0", "branch"), (3, "e.b3.deep.branch1", "branch"),
        (1, "e.pool", "branch"),
        (0, "res", "residual module"), (1, "res.branch0", "branch"), (1, "res.branch1", "branch"),
        (1, "res.projection", "projection"),
        (0, "x", "residual module"), (1, "x.branch0", "branch"), (1, "x.shortcut", "shortcut"),
    ]
    assert tiny_data["branch_headers"] == list(D.BRANCH_HEADERS)
    cells = {r["cells"][0]: r["cells"] for r in tiny_data["branch_table"]}
    # output, depth, params (the count below 1K), ops (K below 0.1M), activations
    assert cells["e.b3.branch0"][2:] == ["8x8x6", "1", "216", "13.8K", "384"]
    assert cells["e.b3"][2:] == ["8x8x12", "3", "648", "41.5K", "768"]
    assert cells["e"][2:] == ["8x8x24", "3", "840", "53.8K", "1,536"]
    assert [r["status"] for r in tiny_data["branch_table"] if r["level"] == 0] == ["module"] * 3


def test_branch_table_matches_the_text_table(tiny):
    from archkit.profile.render import _table_rows

    p = archkit.profile(tiny)
    d = D.profile_data(p)
    text = [(c[0].strip(), c[1], c[3], c[4], c[-2], c[-1]) for c in _table_rows(p.rows, branches=True)
            if "." in c[0]]
    html = [(r["cells"][0], r["cells"][1], *r["cells"][2:6]) for r in d["branch_table"] if r["level"]]
    assert html == text


def test_branch_table_of_googlenet(googlenet):
    d = D.profile_data(archkit.profile(googlenet))
    table = d["branch_table"]
    modules = [r["cells"][0] for r in table if r["level"] == 0]
    assert modules == [x["name"] for x in d["layers"] if x["type"] == "inception"] and len(modules) == 9
    assert len(table) == 9 * 5 and {r["level"] for r in table} == {0, 1}
    assert [r["cells"][0] for r in table[:5]] == ["inception3a", "inception3a.branch_1x1", "inception3a.branch_3x3",
                                                  "inception3a.branch_5x5", "inception3a.branch_pool"]


def _branch_table_html(text: str) -> list[tuple[str, str]]:
    """(first cell's style, text) of each body row of the page's branches table."""
    table = re.search(r'<table id="branch-table">.*?</table>', text, re.DOTALL)
    assert table, "no branches table"
    return re.findall(r'<tr[^>]*><td class="text"(?: style="([^"]*)")?>([^<]*)</td>', table.group(0))


def test_report_page_shows_the_nested_rows(tiny, tmp_path):
    text = profile_report(tiny, tmp_path / "t1.html").read_text(encoding="utf-8")
    assert 'id="branches"' in text and 'id="fig-sunburst"' in text
    rows = _branch_table_html(text)
    indent = {name: style for style, name in rows}
    assert [name for _, name in rows] == [r["cells"][0] for r in D.profile_data(archkit.profile(tiny))["branch_table"]]
    assert indent["e"] == "" and indent["e.b3"] == "padding-left: 1.9em"
    assert indent["e.b3.branch0"] == indent["e.b3.deep"] == "padding-left: 3.4em"
    assert indent["e.b3.deep.branch1"] == "padding-left: 4.9em"
    assert indent["res.projection"] == indent["x.shortcut"] == "padding-left: 1.9em"
    assert text.count('<tr class="module">') == 3
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)  # the section and its table


def test_googlenet_page_keeps_table1_and_adds_the_branches(googlenet):
    p = archkit.profile(googlenet)
    text = profile_report_html(p, compare_paper(p))
    table1 = re.search(r'<table id="table1">.*?</table>', text, re.DOTALL).group(0)
    assert "branch_1x1" not in table1 and "padding-left" not in table1  # Table 1 as before
    assert text.count('<tr class="disagrees">') == 3
    rows = _branch_table_html(text)
    assert len(rows) == 45 and rows[1] == ("padding-left: 1.9em", "inception3a.branch_1x1")


def test_no_branches_no_table():
    # a spec whose layers are all plain: no branches section (its sunburst stops at the layers)
    spec = _spec("""
name: plain
input: {channels: 3, size: 8}
classes: 4
layers:
  - {name: c, conv: {out: 4, kernel: 3}}
  - {name: gap, global_avgpool: {}}
  - {name: fc, linear: {}}
""")
    d = D.profile_data(archkit.profile(spec))
    assert d["branch_table"] == [] and d["nested"] is False
    assert 'id="branches"' not in profile_report_html(archkit.profile(spec))
    assert max(i.count("/") for i in d["sunburst"]["ids"]) == 1


# --- in a browser -----------------------------------------------------------------------------


@pytest.mark.browser
def test_nested_sunburst_draws_every_slice(browser_context, tiny, tmp_path):
    from .conftest import open_report

    loaded = open_report(browser_context, profile_report(tiny, tmp_path / "t1.html"))
    try:
        page = loaded.page
        assert loaded.console_errors == [] and loaded.blocked == []
        tree = D.profile_data(archkit.profile(tiny))["sunburst"]
        drawn = page.evaluate("id => JSON.parse(JSON.stringify(document.getElementById(id).data))", "fig-sunburst")[0]
        assert drawn["ids"] == tree["ids"] and drawn["parents"] == tree["parents"]
        # Plotly draws nothing when a parent's value is less than its children's sum ("total")
        assert page.evaluate("document.querySelectorAll('#fig-sunburst .slice').length") == len(tree["ids"])
        assert page.locator("#branch-table tbody tr").count() == 15
    finally:
        loaded.page.close()
