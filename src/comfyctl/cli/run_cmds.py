"""``comfyctl run / watch / wait / demo``: submit workflows, follow them, save their outputs.

``run`` is the main job: read (API or UI format), override, validate offline, submit, show live
progress on stderr, download every output, print the saved paths on stdout. When the server is
unreachable at submit time, the workflow is saved through :class:`comfyctl.offline.OfflineStore`
and the command exits 3 saying where it went.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from comfyctl.cli._common import OUT_HELP, command, emit, info, jsonable, out_option, state
from comfyctl.cli.progress import JobProgress, ProgressDisplay, nodes_to_run, output_nodes
from comfyctl.errors import ComfyError, ServerUnreachable, TransportError, UsageError

__all__ = ["demo", "follow", "result_doc", "run", "save_outputs", "wait", "watch"]


def _seed(value: str | None) -> str | None:
    if value is None or value == "random" or value.lstrip("-").isdigit():
        return value
    raise click.BadParameter("expected 'random' or a whole number", param_hint="'--seed'")


def follow(job: Any, api: Mapping[str, Any] | None, defs: Any = None, *, events_out: bool = False) -> Any:
    """Show progress for ``job`` (or stream NDJSON events) until it ends; return its Result.

    Raises the job's error (ExecutionError, Interrupted, JobLost, WaitTimeout) like ``Job.wait``.
    """
    st = state()
    progress = JobProgress(api, nodes_to_run(api, output_nodes(api, defs)) if api else 0)
    display = ProgressDisplay.for_stderr(progress, quiet=st.quiet or events_out)
    deadline = None if st.timeout is None else time.monotonic() + st.timeout
    st.stage = ("wait", job.prompt_id)  # the error boundary names the prompt (Ctrl-C included)
    with display:
        for event in job.events(timeout=st.timeout):
            if events_out:
                click.echo(json.dumps(jsonable(event.to_dict()), ensure_ascii=False))
            display.update(event)
    # --timeout bounds the whole wait, not each half of it
    result = job.wait(timeout=None if deadline is None else max(0.001, deadline - time.monotonic()))
    cached = len(result.cached)
    n = len(result.executed) + cached
    # the server's run time: our own clock says 0.0s for 'watch' of a finished prompt
    run_ms = result.timing.run_ms
    took = _fmt(run_ms / 1000 if run_ms is not None else progress.elapsed)
    display.final(
        f"✓ {result.prompt_id}: {n} node{'s' * (n != 1)} ({cached} cached) in {took}, "
        f"{len(result.outputs)} output{'s' * (len(result.outputs) != 1)}"
    )
    return result


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f}s"


def save_outputs(result: Any, out: Path | None) -> list[dict[str, Any]]:
    """Download every output into ``out`` (None: do not download); one record per file."""
    st = state()
    st.stage = ("download", result.prompt_id)  # an error names the prompt whose outputs wait
    records: list[dict[str, Any]] = []
    for output in result.outputs:
        record = output.to_dict()
        record["path"] = str(st.client.download(output, out)) if out is not None else None
        records.append(record)
    return records


def check_writable(out: Path) -> None:
    """Fail before submitting when ``out`` cannot be written (else the run's work is stranded).

    Probes the folder, or the nearest existing parent, with a temp file; creates nothing.
    """
    from comfyctl.offline import create_temp

    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(f"{probe} is not a folder")
        fd, tmp = create_temp(probe, ".comfyctl-probe-", ".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise UsageError(
            f"cannot write into {out}: {exc.strerror or exc}",
            hint="pick another --out folder; nothing was submitted",
        ) from exc


def result_doc(result: Any, files: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``--json`` document of run/wait/download/demo (docs/cli.md)."""
    doc: dict[str, Any] = result.to_dict()
    doc["outputs"] = files
    doc["saved"] = [f["path"] for f in files if f.get("path")]
    return doc


def _print_saved(doc: dict[str, Any]) -> None:
    for path in doc["saved"]:
        click.echo(path)
    for node, texts in doc.get("texts", {}).items():
        for text in texts:
            click.echo(f"text from node {node}: {text}")
    if not doc["saved"] and not doc.get("texts"):
        info("the prompt produced no output files")


def _saved_offline(
    exc: ServerUnreachable, api: dict[str, Any] | None, ui: dict[str, Any] | None, project: str, name: str
) -> ServerUnreachable:
    """Server unreachable at submit time: save the workflow for later; the error says where."""
    state().stage = None  # nothing reached the server: no prompt to wait for
    exc.details.pop("prompt_id", None)
    if api is None:
        return ServerUnreachable(
            f"{exc.message}; the UI workflow was not saved: converting it needs node definitions",
            hint="start the server, or pass --object-info FILE to convert (and save) it offline",
            details=exc.details,
        )
    from comfyctl.offline import OfflineStore

    saved = OfflineStore().export(api, project=project, name=name, ui=ui)
    where = f"saved to {saved.path}" + (f" (UI graph: {saved.ui_path})" if saved.ui_path else "")
    return ServerUnreachable(
        f"{exc.message}; workflow {where}",
        hint=f"when the server is back: comfyctl offline submit {saved.name} --project {saved.project}"
        f" (or drag {saved.ui_path or saved.path} into ComfyUI)",
        details={**exc.details, "saved": saved.to_dict()},
    )


@command("run")
@click.argument("workflow", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NODE.INPUT=VALUE",
    help="Override an input; NODE is an id, a title or a class name. Repeatable.",
)
@click.option(
    "--seed",
    metavar="random|N",
    callback=lambda _c, _p, v: _seed(v),
    help="Set every seed: a fixed number, or random ones.",
)
@out_option()
@click.option("--no-wait", is_flag=True, help="Print the prompt id and exit once queued.")
@click.option("--front", is_flag=True, help="Queue in front of the pending prompts.")
@click.option("--project", default="default", show_default=True, help="Offline-save project name.")
@click.option("--name", help="Offline-save workflow name [default: the file name].")
@click.option("--events", is_flag=True, help="Stream every event as NDJSON on stdout.")
@click.option("--no-validate", is_flag=True, help="Skip offline validation before submitting.")
@click.option(
    "--object-info",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Node definitions file (default: from the server).",
)
def run(
    workflow: Path,
    sets: tuple[str, ...],
    seed: str | None,
    out: Path,
    no_wait: bool,
    front: bool,
    project: str,
    name: str | None,
    events: bool,
    no_validate: bool,
    object_info: Path | None,
) -> None:
    """Run WORKFLOW (API or UI JSON, or a PNG ComfyUI saved) and save its outputs.

    Progress goes to stderr, saved paths to stdout. When the server is down the workflow is saved
    under projects/PROJECT/workflows/ and the command exits 3.

    Example: comfyctl run flow.json --set KSampler.seed=42 --set "Positive.text=a cat" --out out
    """
    from comfyctl.cli import _workflows as wf

    st = state()
    st.events = events
    loaded = wf.read_workflow(workflow)
    api: dict[str, Any] | None = loaded.data if loaded.format == "api" else None
    try:
        try:
            defs = wf.definitions(object_info, st.client)
        except TransportError:
            if loaded.format == "ui":
                raise
            defs = None  # an API workflow can still be saved for later (or fail at submit)
        api = wf.apply_overrides(wf.to_api(loaded, defs), sets, seed, defs)
        if not no_validate and defs is not None:
            wf.check(api, defs)
        extra = {"extra_pnginfo": {"workflow": loaded.ui}} if loaded.ui else None
        if not no_wait:
            check_writable(out)
        # chosen here, so a Ctrl-C or a lost answer during the POST can still name the prompt
        pid = str(uuid.uuid4())
        st.stage = ("submit", pid)
        job = st.client.submit(api, prompt_id=pid, front=front, extra_data=extra)
    except ServerUnreachable as exc:
        if st.stage is not None and exc.details.get("landed", False) is None:
            raise  # the POST may have landed: saving it offline could run it twice
        raise _saved_offline(exc, api, loaded.ui, project, name or loaded.name) from exc
    if job.node_errors:
        # ComfyUI quirk: a 200 may carry node_errors; the outputs behind them are silently skipped
        from comfyctl.workflow.validate import describe_rejection

        _, problems = describe_rejection({"node_errors": job.node_errors}, api, defs=defs)
        for problem in problems:
            info(f"warning: skipped by the server: {problem.get('text') or problem.get('message')}")
    if no_wait:
        emit(
            {"prompt_id": job.prompt_id, "number": job.number, "node_errors": job.node_errors},
            lambda: click.echo(job.prompt_id),
        )
        return
    result = follow(job, api, defs, events_out=events)
    doc = result_doc(result, save_outputs(result, out))
    if job.node_errors:
        doc["node_errors"] = job.node_errors
    if events:
        click.echo(json.dumps({"type": "result", **jsonable(doc)}, ensure_ascii=False))
    else:
        emit(doc, lambda: _print_saved(doc))


@command("watch")
@click.argument("prompt_id")
def watch(prompt_id: str) -> None:
    """Follow PROMPT_ID (from any process) until it ends; print its result summary.

    Example: comfyctl watch 3f2a…  (exit 5 if it failed, 6 if interrupted)
    """
    st = state()
    st.stage = ("wait", prompt_id)
    job = st.client.attach(prompt_id)
    result = follow(job, _prompt_of(prompt_id))
    doc = result_doc(result, save_outputs(result, None))
    n = len(result.outputs)
    emit(doc, lambda: click.echo(f"{result.prompt_id} {result.status}: {n} output{'s' * (n != 1)}"))


@command("wait")
@click.argument("prompt_id")
@out_option(OUT_HELP + " [default: no download]", default=None)
def wait(prompt_id: str, out: Path | None) -> None:
    """Wait for PROMPT_ID to finish; with --out, save its outputs there and print the paths.

    Example: comfyctl wait 3f2a… --out outputs
    """
    st = state()
    st.stage = ("wait", prompt_id)  # Ctrl-C or a lost server: the error names the prompt
    job = st.client.attach(prompt_id)
    result = job.wait(timeout=st.timeout)
    doc = result_doc(result, save_outputs(result, out))
    emit(doc, lambda: _print_saved(doc) if out else click.echo(f"{result.prompt_id} {result.status}"))


def _prompt_of(prompt_id: str) -> dict[str, Any] | None:
    """The API workflow of a queued or running prompt (for node names in the progress line)."""
    try:
        queue = state().client.queue()
    except ComfyError:
        return None
    for item in (*queue.running, *queue.pending):
        if item.prompt_id == prompt_id:
            return dict(item.prompt)
    return None


DEMO_WORKFLOW = Path(__file__).with_name("demo_workflow.json")


@command("demo")
@out_option()
@click.option(
    "--sandbox", "force_sandbox", is_flag=True, help="Use the built-in sandbox even if a server answers."
)
def demo(out: Path, force_sandbox: bool) -> None:
    """Run a bundled example workflow end to end and save the images.

    Uses the ComfyUI at --url / COMFYUI_URL / http://127.0.0.1:8188 when one answers, else starts
    the built-in sandbox server on a free port (no GPU, no models needed).

    Example: comfyctl demo --out outputs
    """
    st = state()
    api = json.loads(DEMO_WORKFLOW.read_text(encoding="utf-8"))
    with contextlib.ExitStack() as stack:
        where = None
        if not force_sandbox:
            try:
                st.client.system_stats()
                where = st.client.url
            except TransportError:
                pass
        if where is None:
            from comfyctl.testing import Sandbox

            sb = stack.enter_context(Sandbox(port=0))  # its files live in a temp folder
            st.close()
            st.url, st.token = sb.url, None
            where = f"the built-in sandbox at {sb.url}"
        info(f"running the demo workflow on {where}")
        from comfyctl.cli import _workflows as wf

        defs = st.client.node_defs()
        wf.check(api, defs)
        pid = str(uuid.uuid4())
        st.stage = ("submit", pid)
        job = st.client.submit(api, prompt_id=pid)
        result = follow(job, api, defs)
        doc = result_doc(result, save_outputs(result, out))
        doc["server"] = where

    def human() -> None:
        _print_saved(doc)
        info(f"saved {len(doc['saved'])} file(s) in {out}/")

    emit(doc, human)
