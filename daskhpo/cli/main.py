"""The ``daskhpo`` command: the group, its error handling, and its optional commands.

Every error daskhpo raises for its users (a :class:`~daskhpo.errors.DaskhpoError`) is printed
as its message on stderr, with exit status 2; ``daskhpo --debug ...`` shows the traceback
instead. Anything else is a bug, and shows its traceback.

Commands live in modules of their own (:mod:`daskhpo.cli.run`, :mod:`daskhpo.cli.status`)
that import only click until they run, and optional commands from other packages are not
imported to list them, so ``daskhpo --help`` is quick.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import sys
import warnings
from pathlib import Path
from typing import Any, ClassVar

import click

from daskhpo import __version__
from daskhpo.cli.output import EXIT_BAD_INPUT
from daskhpo.cli.run import demo, resume, run
from daskhpo.cli.status import report, status
from daskhpo.errors import DaskhpoError


def _source_of(module_name: str) -> Path | None:
    """The file of ``module_name``, found without importing it or its parent packages."""
    path: list[str] | None = sys.path
    origin: Path | None = None
    for part in module_name.split("."):
        try:
            spec = importlib.machinery.PathFinder.find_spec(part, path)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        origin = Path(spec.origin) if spec.origin else None
        path = list(spec.submodule_search_locations or [])
    return origin


def _short_help(source: Path, attribute: str, name: str, limit: int) -> str:
    """The first line of ``attribute``'s docstring in ``source``, read without importing."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        tree = None
    for node in tree.body if tree is not None else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attribute:
            doc = ast.get_docstring(node)
            if doc:
                return click.utils.make_default_short_help(doc, limit)
    return f"(see `daskhpo {name} --help`)"


class _Commands(click.Group):
    """The top-level group. Commands in :attr:`lazy` are imported only when run, and are
    absent when their module does not exist in this installation."""

    lazy: ClassVar[dict[str, str]] = {
        "simulate": "simulate.cli:simulate",
        "plan": "simulate.plan_cli:plan",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(name for name in self.lazy if self._lazy_source(name) is not None)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = self._load(cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with the optional commands' help read from their source."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        rows = []
        for name in names:
            command = super().get_command(ctx, name)
            if command is not None:
                rows.append((name, command.get_short_help_str(limit)))
            else:
                source = self._lazy_source(name)
                attribute = self.lazy[name].partition(":")[2]
                short = _short_help(source, attribute, name, limit) if source else ""
                rows.append((name, short))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DaskhpoError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)

    def _lazy_source(self, name: str) -> Path | None:
        return _source_of(self.lazy[name].partition(":")[0])

    def _load(self, name: str) -> click.Command | None:
        module_name, _, attribute = self.lazy[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                return None  # not part of this installation
            return _broken(name, exc)
        except Exception as exc:  # a bug in that module must not take the other commands down
            return _broken(name, exc)
        command = getattr(module, attribute, None)
        return command if isinstance(command, click.Command) else None


def _broken(name: str, exc: Exception) -> click.Command:
    @click.command(name, help=f"(unavailable: {type(exc).__name__})", add_help_option=False)
    def broken() -> None:
        raise click.ClickException(
            f"the {name!r} command failed to load: {type(exc).__name__}: {exc}"
        )

    return broken


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="daskhpo")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of short errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Asynchronous hyperparameter search on Dask.

    Start with `daskhpo demo`, then write an experiment file (see
    daskhpo/examples/quadratic.yaml) and `daskhpo run` it.
    """
    ctx.obj = {"debug": debug}
    # daskhpo's clusters have no dashboard; Dask still names the port it did not get.
    warnings.filterwarnings("ignore", "Port 8787 is already in use", UserWarning)


for _command in (run, demo, status, report, resume):
    main.add_command(_command)
# More commands: add them to the loop above; optional ones that live in other packages go in
# _Commands.lazy.


if __name__ == "__main__":  # python -m daskhpo.cli.main (python -m daskhpo.cli is the same)
    main()
