"""The `archkit` command: the registration of each package's typer commands (profile/commands.py,
spec/commands.py, search/commands.py, training/commands.py, report/commands.py, bench/commands.py,
supernet/commands.py) under one root, and the one place errors become a line on stderr.

Errors in what the user gave (a bad spec, a missing file, a wrong option value: an `ArchkitError`,
caught by `commandline.user_errors` around every command; the parser's own refusals, in `main`)
print one line to stderr and exit with status 2; failed checks (`--verify`) exit with 1. Never a
traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from .commandline import user_errors

# The command tree is built per run with only the command the command line names (see `main`):
# building every command's parameters from its signature, and importing the modules the search,
# training and report commands live in, is most of a short command's start-up otherwise. `app` (the
# whole tree, for tests and tools) is built on first use.
APP_HELP = "archkit: profile, build and search Inception-family CNNs written as YAML specs."


def _version_line(verbose: bool) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = f"archkit {version('archkit')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        text = "archkit (not installed)"
    if not verbose:
        return text
    import platform

    import optuna
    import torch

    from .util.machine import cpu_name

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else []
    return "\n".join([text, f"python {platform.python_version()}", f"torch {torch.__version__}",
                      f"optuna {optuna.__version__}", f"cpu: {cpu_name()} ({os.cpu_count()} cores)",
                      f"gpu: {', '.join(gpus) if gpus else 'none (CUDA not available)'}"])


def root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="With --version: also torch, optuna and the "
                                                                  "CPU/GPU archkit sees.")] = False,
) -> None:
    """archkit: profile, build and search Inception-family CNNs written as YAML specs."""
    if version:
        typer.echo(_version_line(verbose))
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


# --- the command tree ---------------------------------------------------------------------------
# One function per top-level name, in the order `archkit --help` lists them; each adds its command
# (or group) and imports only what that needs.


def _add_profile(app: typer.Typer) -> None:
    from .profile.commands import profile

    app.command("profile")(profile)


def _add_schema(app: typer.Typer) -> None:
    from .spec.commands import schema

    app.command("schema")(schema)


def _add_search(app: typer.Typer) -> None:
    from .search.commands import search

    app.command("search")(user_errors(search))


def _add_confirm(app: typer.Typer) -> None:
    from .search.commands import confirm

    app.command("confirm")(user_errors(confirm))


def _add_export(app: typer.Typer) -> None:
    from .search.commands import export

    app.command("export")(user_errors(export))


def _add_train(app: typer.Typer) -> None:
    from .training.commands import train

    app.command("train")(user_errors(train))


def _add_compare(app: typer.Typer) -> None:
    from .report.commands import compare

    app.command("compare")(user_errors(compare))


def _add_report(app: typer.Typer) -> None:
    from .report.commands import report

    app.command("report")(user_errors(report))


def _add_specs(app: typer.Typer) -> None:
    from .spec.commands import specs, specs_show

    specs_app = typer.Typer(help="List the built-in specs, or print one.", invoke_without_command=True)
    specs_app.callback()(specs)
    specs_app.command("show")(specs_show)
    app.add_typer(specs_app, name="specs")


def _add_data(app: typer.Typer) -> None:
    from .training.commands import data_check

    data_app = typer.Typer(help="Data sets: check that every file can be read.", no_args_is_help=True)
    data_app.command("check")(user_errors(data_check))
    app.add_typer(data_app, name="data")


def _add_supernet(app: typer.Typer) -> None:
    from .supernet.commands import train as supernet_train

    supernet_app = typer.Typer(help="A weight-sharing supernet over a search config's space: train once, score "
                                    "many candidates.", no_args_is_help=True)
    supernet_app.command("train")(user_errors(supernet_train))
    app.add_typer(supernet_app, name="supernet")


def _add_bench(app: typer.Typer) -> None:
    from .bench.commands import bench_latency, bench_memory, bench_profile, bench_proxy, bench_search
    from .training.commands import bench_train

    bench_app = typer.Typer(help="Benchmarks (speed and agreement, measured in one run).", no_args_is_help=True)
    bench_app.command("profile")(bench_profile)
    bench_app.command("search")(bench_search)
    bench_app.command("proxy")(bench_proxy)
    bench_app.command("latency")(bench_latency)
    bench_app.command("memory")(bench_memory)
    bench_app.command("train")(user_errors(bench_train))
    app.add_typer(bench_app, name="bench")


COMMANDS = {"profile": _add_profile, "schema": _add_schema, "search": _add_search, "confirm": _add_confirm,
            "export": _add_export, "train": _add_train, "compare": _add_compare, "report": _add_report,
            "specs": _add_specs, "data": _add_data, "supernet": _add_supernet, "bench": _add_bench}


def build_app(only: str | None = None) -> typer.Typer:
    """The `archkit` command tree: every command, or with `only` (a top-level name) just that one
    under the same root (its help, parsing and errors are the same as in the whole tree)."""
    app = typer.Typer(help=APP_HELP, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.callback(invoke_without_command=True)(root)
    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(app)
    return app


def command_name(args: list[str]) -> str | None:
    """The top-level command a command line names when it is one of ours, else None (no command,
    an unknown one: the whole tree answers, with its help or its error). The root's options are all
    flags, so the first word that is not an option is the command."""
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


_whole_app: typer.Typer | None = None


def __getattr__(name: str):
    # `archkit.cli.app`: the whole tree, built when first asked for (tests drive it with CliRunner).
    global _whole_app
    if name == "app":
        if _whole_app is None:
            _whole_app = build_app()
        return _whole_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def usage_error_line(exc: typer.TyperException) -> str:
    """One line for an option or argument the command line parser refused (unknown option, bad value)."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "archkit"
    message = " ".join(exc.format_message().split())
    return f"error: {where}: {message} (see '{where} --help')"


def main() -> None:
    """The console script: exit 0 on success, 2 with one line on stderr for bad input."""
    # pydantic scans every installed package's entry points for plugins on first use; archkit uses
    # none, and the scan is a sizeable part of a short command's run time.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        # Not standalone: the parser's usage errors come back to us, instead of a multi-line box.
        code = build_app(command_name(sys.argv[1:]))(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:
        # A bare `archkit` (or group) has had its help printed already; anything else gets one line.
        if type(exc).__name__ != "NoArgsIsHelpError":
            typer.echo(usage_error_line(exc), err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
