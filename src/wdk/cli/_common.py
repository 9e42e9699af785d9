"""Shared CLI plumbing: picking the world and the project, running coroutines, JSON output."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from wdk.errors import (
    AmbiguousRunIdError,
    RunStateError,
    WorkflowError,
    WorkflowRunNotFoundError,
)

T = TypeVar("T")

#: Errors that mean the user named a run that is not there (or several), or asked for what the
#: run cannot do as it stands: ``run_async(..., bad_input=RUN_INPUT_ERRORS)`` exits 2 on them.
RUN_INPUT_ERRORS: tuple[type[Exception], ...] = (
    WorkflowRunNotFoundError,
    AmbiguousRunIdError,
    RunStateError,
)

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def world_url_of(value: str) -> str:
    """``value`` as a world URL, checked: a plain path is a SQLite file whose folder must exist.

    The folder ``.wdk`` (the default world's) is the exception: it is made on first use.

    Raises click.BadParameter when a SQLite file's folder is missing: a mistyped path would
    otherwise silently become a new, empty database.
    """
    url = value if _URL_RE.match(value) or value.startswith("sqlite:") else None
    if url is None:  # a plain path: .wdk/wdk.db, /srv/runs.db
        url = "sqlite:///" + Path(value).as_posix()
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///").partition("?")[0])
        # The default's folder (.wdk) is made on first use, whichever way it is named.
        if path.parent not in (Path(""), Path(".wdk")) and not path.parent.is_dir():
            raise click.BadParameter(
                f"{value!r}: folder {path.parent.as_posix()!r} does not exist (create it first, "
                "or fix the path; a SQLite world is a file in an existing folder)",
                param_hint="'--world' / WDK_WORLD",
            )
    return url


def _check_world(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    return world_url_of(value.strip())


world_option = click.option(
    "--world",
    "world_url",
    envvar="WDK_WORLD",
    show_envvar=True,
    default=None,
    callback=_check_world,
    help="Where runs live: a SQLite file path (or sqlite:///path), postgresql://..., "
    "memory://. Default: .wdk/wdk.db (created on first use).",
)
root_option = click.option(
    "--root",
    "roots",
    multiple=True,
    envvar="WDK_PATH",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Source root(s) holding your workflow modules (repeatable; in WDK_PATH, separated "
    "by the OS path separator). Default: the current directory.",
)


_DEPLOYMENT_RE = re.compile(r"[A-Za-z0-9_.:+@/-]{1,128}")


def _check_deployment(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if not _DEPLOYMENT_RE.fullmatch(value):
        raise click.BadParameter(
            f"{value!r}: use 1-128 characters of A-Z a-z 0-9 and _ . : + @ / - (e.g. v42 or a "
            "git sha)"
        )
    return value


def deployment_option_for(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--deployment`` (env ``WDK_DEPLOYMENT_ID``) with ``help_text``; checked, "" is unset."""
    return click.option(
        "--deployment",
        "deployment",
        envvar="WDK_DEPLOYMENT_ID",
        show_envvar=True,
        default=None,
        callback=_check_deployment,
        help=help_text,
    )


deployment_option = deployment_option_for(
    "Pin to this deployment (a version name, e.g. a git sha): runs started here record it "
    "and workers claim only its runs. Unset: unpinned, runs record a hash of their code."
)
log_level_option = click.option(
    "--log-level",
    envvar="WDK_LOG_LEVEL",
    show_envvar=True,
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="INFO: a line per run start and finish; WARNING: only failures and blocked runs.",
)
import_option = click.option(
    "--import",
    "imports",
    multiple=True,
    envvar="WDK_IMPORT",
    show_envvar=True,
    metavar="MODULE",
    help="Import this module at start (repeatable; in WDK_IMPORT, separated by spaces), so "
    "the schedules it defines (wdk.schedule) tick here.",
)
adopt_option = click.option(
    "--adopt",
    is_flag=True,
    default=False,
    help="With --deployment: also take runs of other deployments, moving them to this one.",
)


def use_deployment(deployment: str | None, adopt: bool = False) -> dict[str, Any]:
    """Make ``deployment`` this process's deployment; the Worker keyword arguments for it.

    Sets ``WDK_DEPLOYMENT_ID`` in-process before anything starts, so ``wdk.api.start``
    records it, and returns ``deployment_id=`` / ``adopt=`` for :class:`wdk.runtime.Worker`
    (only the ones that are set).
    """
    if adopt and deployment is None:
        raise click.UsageError(
            "--adopt needs --deployment (or WDK_DEPLOYMENT_ID): an unpinned worker already "
            "takes every deployment's runs"
        )
    kwargs: dict[str, Any] = {}
    if deployment is not None:
        os.environ["WDK_DEPLOYMENT_ID"] = deployment
        kwargs["deployment_id"] = deployment
    if adopt:
        kwargs["adopt"] = True
    return kwargs


def setup_project(roots: tuple[Path, ...]) -> Any:
    """Make the roots importable and the process-wide project."""
    from wdk.runtime import Project, set_default_project

    paths = [str(r.resolve()) for r in roots] or [os.getcwd()]
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    project = Project(paths)
    set_default_project(project)
    return project


def import_modules(project: Any, modules: tuple[str, ...]) -> None:
    """Import ``modules`` (as the worker would load them) so their schedules register.

    An import that fails, or a ``schedule(...)`` that is invalid, stops the command with the
    error (file:line) before anything is written.
    """
    import importlib

    from wdk.errors import WorkflowError

    if not modules:
        return
    project.install_finder()
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name and not name.startswith(f"{exc.name}."):
                raise
            raise click.BadParameter(
                f"no module {name!r} under the source root(s) {', '.join(map(str, project.roots))}"
                " (give a dotted module name, e.g. app.nightly)",
                param_hint="--import",
            ) from None
        except WorkflowError as exc:
            raise click.ClickException(f"--import {name}: {one_line(exc)}") from None
    _check_schedules(project)


def _check_schedules(project: Any) -> None:
    """Every schedule's workflow is in the project: else stop now, not a blocked run a tick."""
    from wdk.errors import WorkflowError
    from wdk.runtime._schedule_spec import registered

    for sched in registered():
        try:
            project.workflow_target(sched.workflow_id)
        except WorkflowError as exc:
            raise click.ClickException(
                f"schedule {sched.schedule_id!r} at {sched.location}: {one_line(exc)}"
            ) from None


def open_cli_world(url: str | None) -> Any:
    """Open the world named on the command line (or the default)."""
    from wdk.api import set_world
    from wdk.worlds import open_world

    world = open_world(url)
    set_world(world)
    return world


def one_line(exc: BaseException) -> str:
    """An error's message on one line (a multi-line message is joined with "; ")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def run_async(fn: Callable[[], Awaitable[T]], *, bad_input: tuple[type[Exception], ...] = ()) -> T:
    """Run ``fn()`` to completion, turning wdk errors into a clean message and exit 1.

    Errors of the ``bad_input`` types (the user named something that is not there, or asked
    for what the run cannot do) print one ``error: ...`` line and exit 2, like a usage error.
    """
    try:
        return anyio.run(fn)
    except bad_input as exc:
        click.echo(f"error: {one_line(exc)}", err=True)
        raise SystemExit(2) from None
    except WorkflowError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


def to_json(value: Any) -> str:
    """JSON for printing: non-JSON values become strings (bytes as text when possible)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, bytes | bytearray):
            try:
                return bytes(obj).decode()
            except UnicodeDecodeError:
                return bytes(obj).hex()
        if isinstance(obj, set | frozenset | tuple):
            return list(obj)
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json")
        if hasattr(obj, "__dataclass_fields__"):
            import dataclasses

            return dataclasses.asdict(obj)
        return str(obj)

    try:
        return json.dumps(value, default=default, ensure_ascii=False)
    except ValueError:
        # An int past Python's 4,300-digit conversion limit, or a value whose str() fails:
        # print the rest, and such values in their {"$serde": ...} form.
        from wdk.serde._json import value_json

        return json.dumps(value_json(value), ensure_ascii=False)


def parse_arg(index: int, text: str) -> Any:
    """A command-line argument as a JSON value; text that is not JSON is taken as a string.

    Taking it as a string says so on stderr (``o-42`` and ``"o-42"`` give the same run, but
    ``01`` or ``{a: 1}`` were likely meant as something else).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        click.echo(
            f"note: argument {index + 1} ({text!r}) is not JSON; taken as the string "
            f"{json.dumps(text)}",
            err=True,
        )
        return text
