"""Shared pieces of every ``comfyctl`` command: global options, the state object, output helpers.

Every command module builds on this file:

* ``@command(...)`` / ``@group(...)`` (or ``cls=ComfyCommand`` / ``cls=ComfyGroup``) give a command the
  global options ``--url --token --json --quiet --debug --timeout``, accepted on the top-level group
  *and* on every subcommand (``comfyctl --json status`` == ``comfyctl status --json``).
* ``state()`` returns the :class:`State` of this invocation; ``state().client`` builds a
  :class:`comfyctl.Client` from the options on first use (constructors do no I/O).
* ``emit(data, human)`` writes the result to stdout: one JSON document under ``--json``, else the
  human rendering. ``info()`` writes progress and hints to stderr (silent under ``--quiet``).

Errors are *raised* (a :class:`comfyctl.ComfyError` subclass); the one boundary in
``comfyctl.cli.main`` turns them into one line and the error's exit code. Never prompt: agents run
us without a terminal.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from comfyctl.results import jsonable

if TYPE_CHECKING:
    from comfyctl.client import Client
    from comfyctl.settings import Settings

__all__ = [
    "ComfyCommand",
    "ComfyGroup",
    "State",
    "command",
    "emit",
    "group",
    "info",
    "jsonable",
    "state",
    "stderr_is_tty",
]

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """The resolved global options of one invocation, and the lazily built client.

    ``url``/``token``/``timeout`` stay ``None`` unless given, so :class:`comfyctl.Client` applies
    its own resolution order (argument > environment > config file > default).
    """

    def __init__(self) -> None:
        self.url: str | None = None
        self.token: str | None = None
        self.json: bool = False
        self.quiet: bool = False
        self.debug: bool = False
        self.timeout: float | None = None
        #: set by ``run --events``: an error then ends the NDJSON stream as a ``{"type": "error"}`` line
        self.events: bool = False
        #: None: the client's own retry policy; ``status`` sets 0 (a probe answers at once)
        self.retries: int | None = None
        #: (stage, prompt id) once a command chose or was given a prompt id: "submit", "wait" or
        #: "download". The error boundary names the prompt and the command that picks it up again.
        self.stage: tuple[str, str] | None = None
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The :class:`comfyctl.Client` for ``--url``/``--token``/``--timeout``, built on first use."""
        if self._client is None:
            from comfyctl.client import Client

            # The client picks its own transport (no CA bundle is loaded for http:// URLs).
            self._client = Client(settings=self.settings())
        return self._client

    def settings(self) -> Settings:
        """The server settings of this invocation: the options, else environment, config file, default."""
        from comfyctl.settings import Settings

        settings = Settings.resolve(self.url, token=self.token, timeout=self.timeout)
        if self.retries is not None:
            settings = dataclasses.replace(settings, retries=self.retries)
        return settings

    def close(self) -> None:
        """Close the client if one was built."""
        if self._client is not None:
            client, self._client = self._client, None
            client.close()


def state() -> State:
    """The :class:`State` of the running invocation (created if a command runs outside ``main``)."""
    ctx = click.get_current_context()
    return ctx.find_root().ensure_object(State)


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Record a global option, but only when the user gave it on this level.

    The group and the subcommand both declare the option; a subcommand's default must not undo
    ``comfyctl --json status``.
    """
    assert param.name is not None
    st = ctx.find_root().ensure_object(State)
    if ctx.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE:
        setattr(st, param.name, value)
        if param.name == "debug" and value:
            _enable_debug_logging()


def _enable_debug_logging() -> None:
    """``--debug``: library logs (requests, retries, reconnects) to stderr."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
    logger = logging.getLogger("comfyctl")
    if not any(getattr(h, "_comfyctl_cli", False) for h in logger.handlers):
        handler._comfyctl_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _global_options() -> list[click.Option]:
    """Fresh Option objects (Click options must not be shared between commands)."""
    common: dict[str, Any] = {"expose_value": False, "callback": _store}
    return [
        click.Option(
            ["--url"],
            metavar="URL",
            help="ComfyUI server URL [env COMFYUI_URL; default http://127.0.0.1:8188].",
            **common,
        ),
        click.Option(["--token"], metavar="TOKEN", help="Bearer token [env COMFYUI_TOKEN].", **common),
        click.Option(["--json", "json"], is_flag=True, help="Print one JSON document on stdout.", **common),
        click.Option(["--quiet", "-q", "quiet"], is_flag=True, help="No progress/hints on stderr.", **common),
        click.Option(["--debug", "debug"], is_flag=True, help="Tracebacks and logs on stderr.", **common),
        click.Option(
            ["--timeout"],
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Give up after this long: each request, and waiting for a job.",
            **common,
        ),
    ]


class ComfyCommand(click.Command):
    """A command that also accepts the global options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


class ComfyGroup(click.Group):
    """A group that accepts the global options; its subcommands and subgroups do too."""

    command_class = ComfyCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


ComfyGroup.group_class = ComfyGroup


def command(name: str | None = None, **kwargs: Any) -> Callable[[F], ComfyCommand]:
    """``@click.command`` with the global options (use this for every top-level command)."""
    kwargs.setdefault("cls", ComfyCommand)
    return click.command(name, **kwargs)


def group(name: str | None = None, **kwargs: Any) -> Callable[[F], ComfyGroup]:
    """``@click.group`` with the global options; ``@grp.command()`` children get them too."""
    kwargs.setdefault("cls", ComfyGroup)
    return click.group(name, **kwargs)


OUT_HELP = "Folder for the outputs (created if needed)."


def out_option(help: str = OUT_HELP, default: Path | None = Path("outputs")) -> Callable[[F], F]:
    """The ``--out/-o`` folder option of the commands that save outputs."""
    return click.option(
        "--out",
        "-o",
        type=click.Path(file_okay=False, path_type=Path),
        default=default,
        show_default=default is not None,
        help=help,
    )


def dumps(data: Any) -> str:
    """The one JSON encoding used on stdout."""
    return json.dumps(jsonable(data), indent=2, ensure_ascii=False)


def emit(data: Any, human: Callable[[], None] | str | None = None) -> None:
    """Write a command's result to stdout: ``data`` as one JSON document under ``--json``.

    Args:
        data: the machine-readable result (documented per command in docs/cli.md).
        human: a callable that prints the human view, or a string to print; when None the JSON
            is printed in human mode too.
    """
    if state().json or human is None:
        click.echo(dumps(data))
    elif callable(human):
        human()
    else:
        click.echo(human)


def info(message: str) -> None:
    """A progress line or hint on stderr; silent under ``--quiet``."""
    if not state().quiet:
        click.echo(message, err=True)


def stderr_is_tty() -> bool:
    """Whether stderr is a terminal (live progress is drawn only then)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
