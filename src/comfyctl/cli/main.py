"""Entry point of the ``comfyctl`` command: the group, global options, and the one error boundary.

Subcommands are loaded lazily from ``LAZY_COMMANDS`` so ``comfyctl --help`` and a failing
``comfyctl status`` start fast (house style: start fast).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: command name -> "module:attribute" of a click.Command, imported only when used.
LAZY_COMMANDS: dict[str, str] = {}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, attr = LAZY_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup)
@click.version_option(package_name="comfyctl")
def cli() -> None:
    """Drive a ComfyUI server: status, run workflows, watch, download, manage the queue."""


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="comfyctl")
