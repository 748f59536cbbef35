"""The one error type a user sees for a bad spec or config: where it is, and what is wrong."""

from __future__ import annotations

from ..errors import ArchkitError


def format_path(path: tuple) -> str:
    """('layers', 5, 'inception', '3x3') -> 'layers[5].inception.3x3'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class SpecError(ArchkitError):
    """A spec (or search config) that cannot be used. `str()` is one line: `file:line path: message`.

    `path` is the field path inside the document (a tuple of keys and list indices); `source` the
    file name or built-in name; `line` the 1-based YAML line of the deepest part of the path found.
    """

    def __init__(self, message: str, path: tuple = (), source: str | None = None, line: int | None = None):
        self.message = message
        self.path = tuple(path)
        self.source = source
        self.line = line
        super().__init__(str(self))

    def located(self, source: str | None, line: int | None) -> SpecError:
        return SpecError(self.message, self.path, source, line)

    def __str__(self) -> str:
        where = ""
        if self.source:
            where = self.source + (f":{self.line}" if self.line else "")
        field = format_path(self.path)
        head = " ".join(part for part in (where, field) if part)
        return f"{head}: {self.message}" if head else self.message
