"""Safe YAML reading that remembers where every value came from (for `file:line` in errors).

Only the safe loader is used: a `!!python/...` tag is a construction error, never executed.
Duplicate keys, which PyYAML would silently collapse to the last one, are an error here, and so are
keys that are not strings (`1:`, `yes:`, `? [a, b]`), which no spec field can be.
"""

from __future__ import annotations

import yaml

from .errors import SpecError

# libyaml's safe loader when PyYAML was built with it (several times faster); same safety rules.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line_map(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str | None,
              seen_nodes: set[int] | None = None) -> None:
    lines[path] = node.start_mark.line + 1
    # An alias is the anchored node again: walk each node once, or nested aliases ("billion laughs")
    # would make this walk exponential in the size of the file.
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`, YAML's merge key
                _line_map(value_node, path, {}, source, seen_nodes)
                continue
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:str"):
                # `1:`, `yes:`, `~:` are an int, a bool, a null to YAML; `? [a, b]` a list (unhashable).
                shown = (repr(key_node.value) if isinstance(key_node, yaml.ScalarNode)
                         else "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping")
                raise SpecError(f"keys must be strings, got {shown}", path, source, key_node.start_mark.line + 1)
            key = key_node.value
            if key in seen:
                raise SpecError(
                    f"duplicate key {key!r} (first on line {seen[key]})", path + (key,), source,
                    key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
            lines[path + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, path + (key,), lines, source, seen_nodes)
            # The key's own line is the better pointer for a value that is itself a mapping.
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, path + (i,), lines, source, seen_nodes)


def load_yaml(text: str, source: str | None = None) -> tuple[object, dict[tuple, int]]:
    """Parse one YAML document safely. Returns the data and a map from field path to line number."""
    loader = _SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                raise SpecError("the file is empty; a spec is a YAML mapping", (), source, 1)
            lines: dict[tuple, int] = {}
            _line_map(node, (), lines, source)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
            problem = f"{problem} (YAML tags are refused: archkit reads YAML safely)"
        raise SpecError(f"YAML error: {problem}", (), source, line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}".splitlines()[0], (), source) from None
    return data, lines


def line_for(path: tuple, lines: dict[tuple, int]) -> int | None:
    """The line of the deepest prefix of `path` present in the document."""
    path = _as_written(path, lines)
    for end in range(len(path), -1, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def _as_written(path: tuple, lines: dict[tuple, int]) -> tuple:
    """`path` as the document spells it: a branch written as a bare list of ops is `{ops: [...]}`
    to the models, so its `ops` step is not in the document."""
    out: list = []
    for i, key in enumerate(path):
        here = tuple(out)
        if (key == "ops" and here + ("ops",) not in lines and i + 1 < len(path)
                and here + (path[i + 1],) in lines):
            continue
        out.append(key)
    return tuple(out)


def dump_yaml(data: object) -> str:
    """Block-style YAML with keys in the order given (specs read like Table 1 rows)."""
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                     default_flow_style=None, width=120)
