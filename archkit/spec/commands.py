"""`archkit specs`, `archkit specs show` and `archkit schema` (registered in archkit/cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..commandline import user_errors, write_json


def specs(ctx: typer.Context) -> None:
    """List the built-in specs, one per line, each with a short description."""
    if ctx.invoked_subcommand is not None:
        return
    from . import builtin_names, load_spec

    width = max(len(n) for n in builtin_names())
    for name in builtin_names():
        typer.echo(f"{name:<{width}}  {load_spec(name).description or ''}")


@user_errors
def specs_show(name: Annotated[str, typer.Argument(help="A built-in spec name, e.g. googlenet.")]) -> None:
    """Print the YAML of a built-in spec (a starting point for your own)."""
    from . import builtin_text

    sys.stdout.write(builtin_text(name))


@user_errors
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """The JSON Schema of the spec format, for editors (e.g. YAML language server)."""
    from .models import Spec

    data = Spec.model_json_schema(by_alias=True)
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    data["title"] = "archkit spec"
    write_json(data, output)
