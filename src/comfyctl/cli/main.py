"""Entry point of the ``comfyctl`` command: the group, lazy subcommands, and the one error boundary.

Subcommands are loaded lazily from ``LAZY_COMMANDS`` so ``comfyctl --help`` and a failing
``comfyctl status`` start fast (house style: start fast); the help listing uses the short help
strings stored here and imports no command module.

The error boundary (``CliGroup.main``) is the only place that turns exceptions into output:
every :class:`comfyctl.ComfyError` becomes ``error: <message>`` (+ ``hint: <hint>``) on stderr, or
``{"error": {...}}`` on stdout under ``--json``, and exits with ``exc.exit_code``. Click usage errors
exit 2, Ctrl-C exits 130, anything else exits 1 naming the exception (traceback with ``--debug``).
It lives in the group's ``main`` so Click's test runner goes through it too.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from comfyctl.cli._common import ComfyGroup, State, dumps

#: command name -> ("module:attribute" of a click.Command, short help). Imported only when used.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("comfyctl.cli.server_cmds:status", "Is the server up? Version, devices, VRAM, queue."),
    "run": ("comfyctl.cli.run_cmds:run", "Run a workflow (API or UI JSON) and save its outputs."),
    "watch": ("comfyctl.cli.run_cmds:watch", "Follow a prompt's progress from any process."),
    "wait": ("comfyctl.cli.run_cmds:wait", "Wait for a prompt to finish and save its outputs."),
    "demo": ("comfyctl.cli.run_cmds:demo", "Run a bundled example workflow (sandbox if no server)."),
    "queue": ("comfyctl.cli.queue_cmds:queue", "List the queue in run order; rm / clear items."),
    "history": ("comfyctl.cli.queue_cmds:history", "List finished prompts; show / rm / clear."),
    "cancel": ("comfyctl.cli.queue_cmds:cancel", "Cancel one prompt, pending or running."),
    "interrupt": ("comfyctl.cli.queue_cmds:interrupt", "Interrupt whatever prompt is running."),
    "free": ("comfyctl.cli.server_cmds:free", "Unload models and/or free memory after the current prompt."),
    "upload": ("comfyctl.cli.file_cmds:upload", "Upload an image (or mask); prints the name to use."),
    "download": ("comfyctl.cli.file_cmds:download", "Download every output of a finished prompt."),
    "view": ("comfyctl.cli.file_cmds:view", "Fetch one file from the server's output/input/temp."),
    "nodes": ("comfyctl.cli.server_cmds:nodes", "List node classes; 'nodes show CLASS' for inputs."),
    "models": ("comfyctl.cli.server_cmds:models", "List model folders, or the files in one."),
    "workflow": ("comfyctl.cli.workflow_cmds:workflow", "Convert, validate and inspect workflow files."),
    # owned by other engineers (see docs/architecture.md)
    "sandbox": ("comfyctl.cli.sandbox_cmd:sandbox", "Start the built-in ComfyUI sandbox server."),
    "inventory": ("comfyctl.cli.inventory_cmds:inventory", "What the server has: nodes, models (cached)."),
    "check": ("comfyctl.cli.inventory_cmds:check", "Check a workflow against the inventory."),
    "offline": ("comfyctl.cli.inventory_cmds:offline", "Workflows saved while the server was down."),
    "export": ("comfyctl.cli.inventory_cmds:export", "Save a workflow to a project for later."),
    "doctor": ("comfyctl.cli.inventory_cmds:doctor", "Check server health and print a verdict."),
    "mcp": ("comfyctl.cli.agent_cmds:mcp", "Serve every operation as MCP tools for agents (stdio/HTTP)."),
    "skill": ("comfyctl.cli.agent_cmds:skill", "Print or install the agent skill (SKILL.md)."),
}


class CliGroup(ComfyGroup):
    """The top-level group: lazy subcommands and the error boundary."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attr = LAZY_COMMANDS[cmd_name][0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None  # a command whose module is not installed/written yet
        command: click.Command | None = getattr(module, attr, None)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            # click would print an empty line on stderr before its Abort; the boundary prints one line
            raise click.exceptions.Abort() from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the stored short help, without importing their modules."""
        rows = [(name, LAZY_COMMANDS[name][1]) for name in sorted(LAZY_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        """Run the CLI inside the one error boundary; always ends with ``sys.exit(code)``."""
        argv = list(sys.argv[1:] if args is None else args)
        st: State = extra.pop("obj", None) or State()
        # Options are parsed left to right: a usage error can happen before --json/--debug are seen.
        before_dashdash = argv[: argv.index("--")] if "--" in argv else argv
        st.json = st.json or "--json" in before_dashdash
        st.debug = st.debug or "--debug" in before_dashdash
        code = 0
        try:
            rv = super().main(
                argv, prog_name or "comfyctl", complete_var, standalone_mode=False, obj=st, **extra
            )
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except BaseException as exc:  # the boundary: everything ends here
            code = _report(exc, st)
        finally:
            try:
                st.close()
            except Exception:  # closing must not mask the real outcome
                pass
        sys.exit(code)


def _report(exc: BaseException, st: State) -> int:
    """Print one error for ``exc`` (stderr, or JSON on stdout) and return the exit code."""
    from comfyctl.errors import ComfyError, ExecutionError, ServerError, ValidationError

    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, ComfyError):
        texts = (
            [p.get("text") or p.get("message", "") for p in exc.problems]
            if isinstance(exc, ValidationError)
            else []
        )
        lines = [t for t in texts if t and t not in exc.message]  # one line per problem, none twice
        if isinstance(exc, ServerError) and exc.log_tail:
            # the --json document has the whole tail; a human gets its last lines
            lines += ["server log (last lines):", *exc.log_tail.strip().splitlines()[-_LOG_LINES:]]
        pid = exc.details.get("prompt_id") or (st.stage[1] if st.stage else None)
        if pid and not isinstance(exc, ValidationError):  # a rejected prompt was never queued
            exc.details["prompt_id"] = pid  # before the diagnosis: its advice depends on it
        advice = _advice(exc)
        details = dict(exc.details)
        hint = _cli_words(exc.hint, pid)
        if advice is not None:
            details["advice"] = advice.to_dict()
            # the diagnosis knows the failure (OOM, missing model...): its first step beats a generic hint
            # a 500 whose cause the diagnosis recognised (not its generic "restart") likewise
            specific_500 = isinstance(exc, ServerError) and advice.code != exc.code
            if advice.steps and (not hint or isinstance(exc, ExecutionError) or specific_500):
                hint = advice.steps[0]
        if pid and not isinstance(exc, ValidationError):
            step = _next_step(exc, st.stage[0] if st.stage else "wait", str(pid))
            if step and step not in hint:
                # what went wrong first for a failed node; where the prompt is first otherwise
                first_advice = isinstance(exc, ExecutionError)
                hint = (f"{hint}; {step}" if first_advice else f"{step}; {hint}") if hint else step
        _print_error(st, exc.code, exc.message, hint, details, lines, exc)
        return exc.exit_code
    no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
    if no_args and isinstance(exc, no_args) and exc.ctx is not None and not st.json:
        click.echo(exc.ctx.get_help())  # a bare group: show what it offers (exit 2: nothing was done)
        return 2
    if isinstance(exc, click.UsageError):
        message = exc.format_message()
        cmd = exc.ctx.command_path if exc.ctx else "comfyctl"
        _print_error(st, "usage", message, f"see '{cmd} --help'", {}, [], exc)
        return 2
    if isinstance(exc, click.ClickException):  # e.g. click.FileError
        _print_error(st, "usage", exc.format_message(), "", {}, [], exc)
        return exc.exit_code
    if isinstance(exc, (KeyboardInterrupt, click.exceptions.Abort)):
        if st.stage is None:
            _print_error(st, "aborted", "interrupted by the user", "", {}, [], exc)
        else:
            stage, pid = st.stage
            message, hint = _STOPPED[stage]
            _print_error(
                st,
                "aborted",
                message.format(pid=pid) + ": interrupted by the user",
                hint.format(pid=pid),
                {"prompt_id": pid, "stage": stage},
                [],
                exc,
            )
        return 130
    if isinstance(exc, BrokenPipeError):  # `comfyctl ... | head`: the reader left, nothing to tell
        import os

        try:  # keep the interpreter's final flush from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    name = type(exc).__name__
    _print_error(
        st,
        "unexpected",
        f"unexpected {name}: {exc}" if str(exc) else f"unexpected {name}",
        "this is a bug in comfyctl: rerun with --debug for the traceback and report it",
        {"exception_type": name},
        [],
        exc,
    )
    return 1


_LOG_LINES = 5
#: Ctrl-C at each stage of a prompt: what stopped, and how to pick the prompt up again.
_STOPPED = {
    "submit": (
        "stopped while submitting prompt {pid}",
        "it may be queued on the server: follow it with 'comfyctl wait {pid}', "
        "or remove it with 'comfyctl cancel {pid}'",
    ),
    "wait": (
        "stopped watching prompt {pid}",
        "the prompt continues on the server: 'comfyctl wait {pid}' follows it again, "
        "'comfyctl cancel {pid}' cancels it",
    ),
    "download": (
        "stopped downloading the outputs of prompt {pid}",
        "they stay on the server: 'comfyctl download {pid} --out DIR' fetches them",
    ),
}


def _next_step(exc: BaseException, stage: str, pid: str) -> str | None:
    """The command that picks prompt ``pid`` up after ``exc`` (library hints speak API terms)."""
    from comfyctl.errors import ExecutionError, Interrupted, JobLost, LocalIOError, UnsafePath, WaitTimeout

    if isinstance(exc, WaitTimeout):
        return f"the prompt keeps going: 'comfyctl wait {pid}', or 'comfyctl cancel {pid}'"
    if isinstance(exc, ExecutionError):
        return f"'comfyctl history show {pid} --json' has the server's traceback"
    if isinstance(exc, (Interrupted, JobLost)):
        return None
    if stage == "download" or isinstance(exc, (LocalIOError, UnsafePath)):
        return f"the outputs stay on the server: 'comfyctl download {pid} --out DIR'"
    return f"prompt {pid} may still run on the server: 'comfyctl wait {pid}' follows it once it answers"


def _cli_words(hint: str, pid: object) -> str:
    """A library hint (API terms) said in commands and flags; "" where the prompt's next command
    (:func:`_next_step`) says it all."""
    from comfyctl import errors

    said = {
        errors.ValidationError.default_hint: (
            "fix the inputs listed above, or list valid values with 'comfyctl nodes show CLASS'"
        ),
        errors.RequestTimeout.default_hint: "the server is slow or busy: retry, or raise --timeout",
        errors.AuthError.default_hint: (
            "pass --token (or set COMFYUI_TOKEN), or check the credentials in the URL"
        ),
        errors.NO_API_HINT: "no ComfyUI API at this URL: check --url (host, port, path prefix)",
        errors.EXECUTION_HINT: "fix what the node reports and run again",
        errors.WAIT_TIMEOUT_HINT: "",
    }.get(hint)
    if said is None or (not said and not pid):
        return hint
    return said


def _advice(exc: BaseException) -> Any:
    """The diagnosis module's advice for ``exc`` (None when it has none or is not installed)."""
    try:
        diagnose = importlib.import_module("comfyctl.diagnose")
        return diagnose.advise(exc)
    except Exception:  # advice is a bonus: never let it replace the real error
        return None


def _ndjson(doc: Any) -> str:
    import json

    return json.dumps(doc, ensure_ascii=False)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _print_error(
    st: State,
    code: str,
    message: str,
    hint: str,
    details: dict[str, Any],
    problems: list[str],
    exc: BaseException,
) -> None:
    """Print the error: JSON on stdout under --json, else one ``error:`` line (+ hint) on stderr.

    Under ``run --events`` the NDJSON stream on stdout ends with ``{"type": "error", "error": ...}``,
    as a successful one ends with ``{"type": "result", ...}``.
    """
    if st.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if st.json or st.events:
        from comfyctl.cli._common import jsonable

        payload = {"code": code, "message": message, "hint": hint or None, "details": jsonable(details)}
        doc = {"type": "error", "error": payload} if st.events else {"error": payload}
        try:
            click.echo(_ndjson(doc) if st.events else dumps(doc))
        except (TypeError, ValueError):
            payload["details"] = {}
            click.echo(_ndjson(doc) if st.events else dumps(doc))
        if st.json:
            return
    click.echo(f"error: {_one_line(message)}", err=True)
    for line in problems:
        click.echo(f"  {_one_line(line)}", err=True)
    if hint:
        click.echo(f"hint: {_one_line(hint)}", err=True)


@click.group("comfyctl", cls=CliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comfyctl")
def cli() -> None:
    """Drive a ComfyUI server: status, run workflows, watch, download, manage the queue.

    Global options work before or after the command name. Exit codes: 0 ok, 1 unexpected,
    2 usage or bad input file, 3 unreachable, 4 rejected by validation, 5 execution failed,
    6 interrupted/cancelled, 7 timed out, 8 authentication failed, 9 server error, 10 local file
    not written (disk full, permissions).

    Example: comfyctl run workflow.json --set KSampler.seed=42 --out outputs
    """


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="comfyctl")
