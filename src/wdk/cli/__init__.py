"""The ``wdk`` command line.

Each command group lives in its own ``_<name>.py`` module exposing click commands; this module
only assembles them, importing each lazily so ``wdk --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

#: commands that run workflow code, so need a fixed hash seed (wdk.sandbox.ensure_hash_seed)
_FIXED_SEED = frozenset({"run", "worker"})


def _fix_seed_first() -> None:
    """Started as ``wdk run ...`` / ``wdk worker ...``: re-exec with the fixed seed right now.

    The process is replaced anyway, so the sooner the cheaper: before click (~30 ms) and the
    command's imports. Other spellings (``wdk --world X run``) re-exec in
    ``_LazyGroup.resolve_command``, before the command's imports.
    """
    argv = sys.argv
    if (
        sys.flags.hash_randomization
        and len(argv) > 1
        and argv[1] in _FIXED_SEED
        and "--help" not in argv
        and os.path.basename(argv[0]).removesuffix(".exe") == "wdk"
    ):
        from wdk.sandbox import ensure_hash_seed

        ensure_hash_seed(argv)


_fix_seed_first()

import click  # noqa: E402 - after the re-exec above, which may replace the process

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

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # Only when invoking (get_command also serves listings and docs): re-exec for a fixed
        # hash seed before the command's module is imported, so the first process costs the
        # interpreter and click, not the worker's imports twice.
        wants_seed = args and args[0] in _FIXED_SEED and "--help" not in args
        if wants_seed and sys.flags.hash_randomization and not ctx.resilient_parsing:
            from wdk.sandbox import ensure_hash_seed

            ensure_hash_seed(sys.argv)
        return super().resolve_command(ctx, args)

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
