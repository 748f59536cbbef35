"""What every command shares: the one-line error for a user's mistake, and writing output.

A leaf module (typer and archkit's error base class only): `archkit/cli.py` and the commands of each
package import it, and it imports none of them, so the command line depends on the library and
nothing in the library depends on the command line.
"""

from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path

import typer

from .errors import ArchkitError


class UserError(ArchkitError):
    """An option the user gave that cannot be used (the commands' own checks); one line, exit 2."""


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def unwrapped(doc: str | None) -> str | None:
    """A docstring with each paragraph on one line: typer's help keeps a docstring's line breaks,
    which would break sentences mid-way in `archkit --help`; the terminal wraps them instead."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def user_errors(func):
    """Turn the errors a user can cause into one line on stderr and exit status 2 (and give the
    command its docstring as help, paragraphs unwrapped)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ArchkitError as exc:  # every package's errors for what the user gave
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    wrapper.__doc__ = unwrapped(func.__doc__)
    return wrapper


def write_json(data, output: Path | None) -> None:
    """Write `data` as archkit's JSON (`util.files.json_text`) to the file or to stdout."""
    from .util.files import json_text

    write_output(json_text(data), output)


def write_output(text: str, output: Path | None) -> None:
    """Write to the file (atomically, parents created) or to stdout."""
    if output is None:
        sys.stdout.write(text)
        return
    from .util.files import atomic_write_text

    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}", err=True)
