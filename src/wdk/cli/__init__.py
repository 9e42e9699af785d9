"""The ``wdk`` command line.

Each command group lives in its own ``_<name>.py`` module exposing click commands; this module
only assembles them, importing each lazily so ``wdk --help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

# command name -> "module:attribute" of a click command
_COMMANDS: dict[str, str] = {
    "build": "wdk.cli._build:build",
    "cancel": "wdk.cli._run:cancel",
    "run": "wdk.cli._run:run",
    "worker": "wdk.cli._run:worker",
    "inspect": "wdk.cli._inspect:inspect",
    "db": "wdk.cli._db:db",
    "hooks": "wdk.cli._hooks:hooks",
    "serve": "wdk.cli._serve:serve",
    "retry": "wdk.cli._retry:retry",
    "fork": "wdk.cli._fork:fork",
    "export": "wdk.cli._export:export",
    "replay": "wdk.cli._replay:replay",
    "schedules": "wdk.cli._schedules:schedules",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        if cmd_name == "inspect":
            importlib.import_module("wdk.cli._inspect_runs")
            importlib.import_module("wdk.cli._inspect_workers")
            importlib.import_module("wdk.cli._inspect_hooks")
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="wdk")
def main() -> None:
    """wdk: durable workflows for Python."""
