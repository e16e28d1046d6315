"""The MCP tools' bodies: plain async functions over the one :class:`comfyctl.AsyncClient`.

Each takes the :class:`Runtime` first and keyword arguments (their names and types are the tool's
input schema; :mod:`comfyctl.mcp.server` registers them), and returns a :class:`Reply`: the
structured content (the same JSON-safe dicts ``--json`` prints), a short text, and for images a few
thumbnails and resource links. Failures are raised as :class:`comfyctl.ComfyError`; the server turns
them into ``isError`` results carrying ``to_dict()``. Nothing here imports the MCP SDK.

The rules the peers get wrong, kept here:

* ``run_workflow`` always hands back the prompt id: finished, or still pending/running at ``wait_s``
  (with its queue position, the progress so far and the call to make next).
* A caller-chosen ``prompt_id`` goes through :meth:`AsyncClient.submit_once` (the one exactly-once
  rule): the same id never queues twice.
* A prompt the server no longer knows is ``unknown``, never done; ``cancel_job`` cancels exactly
  that prompt; ``interrupt`` and ``clear_queue`` need ``confirm: true``.
* Images come back as thumbnails within a byte budget, never inlined whole.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import Field

from comfyctl import _protocol as proto
from comfyctl.errors import (
    ComfyError,
    JobLost,
    NotFound,
    ServerUnreachable,
    TransportError,
    UsageError,
    ValidationError,
    WaitTimeout,
    WorkflowError,
)
from comfyctl.mcp.runtime import Runtime
from comfyctl.mcp.thumbnails import DEFAULT_BUDGET, MAX_SOURCE_BYTES, ThumbnailError, make_thumbnail
from comfyctl.nodedefs import NodeDefs, node_detail, node_summary
from comfyctl.progress import JobProgress, nodes_to_run, output_nodes
from comfyctl.results import OutputFile, Result, parse_ref

__all__ = ["DEFAULT_WAIT", "MAX_WAIT", "Link", "Progress", "Reply", "output_uri"]

#: Seconds node definitions are kept between calls (see _definitions).
DEFS_MAX_AGE = 30.0
#: run_workflow / wait_job: how long one call waits by default, and at most. Below the usual
#: tool-call timeouts of agent hosts (60 s and up), so a long job never loses its prompt id.
DEFAULT_WAIT = 50.0
MAX_WAIT = 110.0
_KEEP_PROGRESS = 256

T = TypeVar("T")

#: Called with (progress, total, message) while a tool waits; the server sends notifications/progress.
Progress = Callable[[float, float | None, str], Awaitable[None]]


@dataclass(frozen=True)
class Link:
    """A resource link to one output file (``comfyui://outputs/{prompt_id}/{node}/{filename}``)."""

    uri: str
    name: str
    mime: str | None
    description: str


@dataclass
class Reply:
    """A tool's answer: ``data`` is the structured content, ``text`` the line for text-only hosts."""

    data: dict[str, Any]
    text: str
    images: list[tuple[str, str]] = field(default_factory=list)  # (base64, mime)
    links: list[Link] = field(default_factory=list)


def output_uri(prompt_id: str, output: OutputFile) -> str:
    """The resource URI of one output (the file name percent-encoded: any name is safe in it)."""
    return f"comfyui://outputs/{quote(prompt_id, safe='')}/{quote(output.node_id, safe='')}/" + quote(
        output.filename, safe=""
    )


def _mime(filename: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type(filename)[0]


# -- argument types (their constraints are the input schema) -----------------------------------------

WorkflowArg = Annotated[
    dict[str, Any] | str,
    Field(
        description="An API- or UI-format workflow: a JSON object, a JSON string, or the path of a "
        ".json/.png/.webp file on the MCP server's machine."
    ),
]
PromptId = Annotated[str, Field(min_length=1, max_length=200, description="A prompt id.")]
WaitS = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_WAIT,
        description=f"Seconds to wait for the end (at most {MAX_WAIT:g}); the prompt keeps running after.",
    ),
]
ImageBudget = Annotated[
    int,
    Field(ge=0, le=4 << 20, description="Bytes of thumbnail data (base64) in this result; 0 for none."),
]


# -- shared plumbing -----------------------------------------------------------------------------------


def _load(workflow: dict[str, Any] | str) -> Any:
    from comfyctl.workflow.load import load

    if isinstance(workflow, str) and not workflow.strip():
        raise UsageError("no workflow given", hint="pass a workflow object, a JSON string or a file path")
    return load(workflow)


async def _definitions(rt: Runtime, *, required: bool = True, fresh: bool = False) -> NodeDefs | None:
    """The server's node definitions, else the inventory cache (like ``comfyctl run``).

    A long-lived server keeps them for ``DEFS_MAX_AGE`` seconds (``/object_info`` is megabytes on
    servers with many custom nodes); what they may have missed since (a file uploaded by someone
    else, listed in a combo) is covered by :func:`_with_fresh_defs`. ``required=False`` gives None
    when the server is down and nothing is cached (an API workflow can still be saved or submitted).
    """
    if not fresh and rt.defs is not None and time.monotonic() - rt.defs_at < DEFS_MAX_AGE:
        return rt.defs
    try:
        defs = NodeDefs(await rt.client.object_info())
    except TransportError:
        from comfyctl import inventory

        try:
            return await rt.call_sync(inventory.load_node_defs, state=rt.state_dir)
        except TransportError:
            if required:
                raise
            return None
    rt.defs, rt.defs_at = defs, time.monotonic()
    return defs


async def _with_fresh_defs(
    rt: Runtime,
    step: Callable[[NodeDefs | None], T],
    *,
    required: bool = True,
    accept: Callable[[T], bool] = lambda _: True,
) -> tuple[T, NodeDefs | None]:
    """``step(defs)``; if kept definitions made it fail (or not ``accept`` it), once more with fresh ones.

    So a cached combo list never rejects what the server would accept.
    """
    started = time.monotonic()
    defs = await _definitions(rt, required=required)
    kept = defs is not None and defs is rt.defs and rt.defs_at < started
    try:
        out = step(defs)
    except (ValidationError, WorkflowError):
        if not kept:
            raise
    else:
        if not kept or accept(out):
            return out, defs
    defs = await _definitions(rt, required=required, fresh=True)
    return step(defs), defs


def _to_api(loaded: Any, defs: NodeDefs | None) -> dict[str, Any]:
    return dict(loaded.to_api(defs))


def _remember(rt: Runtime, prompt_id: str, progress: JobProgress) -> None:
    rt.progress.pop(prompt_id, None)
    rt.progress[prompt_id] = progress
    while len(rt.progress) > _KEEP_PROGRESS:
        rt.progress.pop(next(iter(rt.progress)))


def _progress_doc(p: JobProgress | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "node": p.node,
        "node_title": p.title(p.node) or None,
        "step": p.value if p.max else None,
        "steps": p.max or None,
        "nodes_done": min(len(p.done), p.total),
        "nodes_total": p.total,
        "cached": len(p.cached),
        "elapsed_s": round(p.elapsed, 3),
        "eta_s": None if (eta := p.eta()) is None else round(eta, 1),
        "line": p.line(),
    }


def _next_wait(prompt_id: str) -> dict[str, Any]:
    return {"tool": "wait_job", "arguments": {"prompt_id": prompt_id, "wait_s": DEFAULT_WAIT}}


async def _outputs_doc(rt: Runtime, result: Result) -> list[dict[str, Any]]:
    docs = []
    for out in result.outputs:
        doc = out.to_dict()
        doc["ref"] = out.ref
        doc["resource"] = output_uri(result.prompt_id, out)
        docs.append(doc)
    return docs


async def _previews(
    rt: Runtime, result: Result, budget: int, outputs: list[OutputFile] | None = None
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """Thumbnails of the result's images, all together within ``budget`` base64 bytes."""
    images: list[tuple[str, str]] = []
    notes: list[dict[str, Any]] = []
    if budget <= 0:
        return images, notes
    left = budget
    with tempfile.TemporaryDirectory(prefix="comfyctl-mcp-") as tmp:
        for n, out in enumerate(outputs if outputs is not None else result.images):
            if out.kind != "image":
                continue
            note: dict[str, Any] = {"node_id": out.node_id, "filename": out.filename}
            if left < 1024:
                notes.append({**note, "thumbnail": None, "reason": "over this call's image budget"})
                continue
            try:
                path = await rt.client.download(out, Path(tmp) / str(n))
                size = path.stat().st_size
                if size > MAX_SOURCE_BYTES:
                    notes.append({**note, "thumbnail": None, "reason": f"{size} bytes: too large to preview"})
                    continue
                thumb = make_thumbnail(path, left)
                path.unlink()
            except (ThumbnailError, ComfyError) as exc:  # one unreadable file never fails the call
                notes.append({**note, "thumbnail": None, "reason": getattr(exc, "message", str(exc))})
                continue
            if thumb is None:
                notes.append({**note, "thumbnail": None, "reason": "over this call's image budget"})
                continue
            left -= len(thumb.data)
            images.append((thumb.data, thumb.mime))
            notes.append({**note, "thumbnail": len(images) - 1, "width": thumb.width, "height": thumb.height})
    return images, notes


async def _finished(
    rt: Runtime, result: Result, budget: int, *, extra: Mapping[str, Any] | None = None
) -> Reply:
    """The reply for a prompt that ended successfully: outputs, thumbnails, resource links."""
    outputs = await _outputs_doc(rt, result)
    images, notes = await _previews(rt, result, budget)
    data: dict[str, Any] = {
        **result.to_dict(),
        "outputs": outputs,
        "thumbnails": notes,
        "queue_position": None,
        "progress": None,
        "next": {"tool": "get_outputs", "arguments": {"prompt_id": result.prompt_id, "save_to": "DIR"}}
        if result.outputs
        else None,
        **dict(extra or {}),
    }
    links = [
        Link(o["resource"], o["filename"], _mime(o["filename"]), f"output of node {o['node_id']}")
        for o in outputs
    ]
    n = len(outputs)
    text = f"prompt {result.prompt_id}: {result.status}, {n} output{'s' * (n != 1)}"
    for o in outputs:
        text += f"\n  node {o['node_id']}: {o['filename']} ({o['kind']}) {o['resource']}"
    for node, texts in result.texts.items():
        for t in texts:
            text += f"\n  text from node {node}: {t}"
    return Reply(data, text, images, links)


async def _still_going(rt: Runtime, prompt_id: str, progress: JobProgress | None, budget: int) -> Reply:
    """``wait_s`` passed: where the prompt is now, and the call that continues the wait."""
    client = rt.client
    queue = await client.queue()
    position = queue.position(prompt_id)
    if position is None and not queue.is_running(prompt_id):
        entry = await client.history_entry(prompt_id)
        if entry is None:
            raise proto.job_gone(prompt_id)
        return await _finished(rt, proto.raise_for_result(_result(rt, prompt_id, entry)), budget)
    status = "running" if position is None else "pending"
    data: dict[str, Any] = {
        "prompt_id": prompt_id,
        "status": status,
        "queue_position": position,
        "progress": _progress_doc(progress) if status == "running" else None,
        "outputs": [],
        "next": _next_wait(prompt_id),
        "hint": f"the prompt keeps going on the server: call wait_job with prompt_id {prompt_id!r} "
        "(or job_status; cancel_job to stop it)",
    }
    where = f"queued at position {position}" if position is not None else "running"
    line = f" ({progress.line()})" if progress is not None and status == "running" else ""
    return Reply(data, f"prompt {prompt_id} is {where}{line}; call wait_job to keep waiting")


def _result(rt: Runtime, prompt_id: str, entry: Mapping[str, Any]) -> Result:
    return proto.result_from_history(prompt_id, entry, rt.client.settings.base_url)


async def _follow(
    rt: Runtime,
    job: Any,
    api: Mapping[str, Any] | None,
    defs: NodeDefs | None,
    wait_s: float,
    progress: Progress | None,
    budget: int,
    extra: Mapping[str, Any] | None = None,
) -> Reply:
    """Wait up to ``wait_s`` for ``job``: its result, or where it is when the time is up."""
    tracker = rt.progress.get(job.prompt_id)
    if tracker is None or api:
        tracker = JobProgress(api, nodes_to_run(api, output_nodes(api, defs)) if api else 0)
    _remember(rt, job.prompt_id, tracker)
    sent = -1.0
    try:
        async for event in job.events(timeout=wait_s):
            if tracker.feed(event) and progress is not None:
                done = len(tracker.done) + (tracker.value / tracker.max if tracker.max else 0.0)
                sent = max(sent, float(done))  # notifications/progress must only go up
                total = float(tracker.total) if tracker.total else None
                await progress(sent, total, tracker.line())
        result = await job.result()
    except WaitTimeout:
        return await _still_going(rt, job.prompt_id, tracker, budget)
    return await _finished(rt, result, budget, extra=extra)


def _saved_offline(
    rt: Runtime,
    exc: ServerUnreachable,
    api: dict[str, Any] | None,
    ui: dict[str, Any] | None,
    project: str,
    name: str,
) -> ServerUnreachable:
    """The server is down: keep the workflow in the offline store (as ``comfyctl run`` does)."""
    if api is None:
        return ServerUnreachable(
            f"{exc.message}; the UI workflow was not saved: converting it needs node definitions",
            hint="start the server (or run the inventory tool once while it is up), then run it again",
            details=exc.details,
        )
    from comfyctl.offline import OfflineStore

    saved = OfflineStore(rt.root).export(api, project=project, name=name, ui=ui)
    return ServerUnreachable(
        f"{exc.message}; the workflow was saved to {saved.path}",
        hint=f"when the server is back, call submit_offline with names [{saved.project + '/' + saved.name!r}]"
        f" (or: comfyctl offline submit {saved.name} --project {saved.project})",
        details={
            **exc.details,
            "saved": saved.to_dict(),
            "next": {"tool": "submit_offline", "arguments": {"names": [f"{saved.project}/{saved.name}"]}},
        },
    )


# -- server ---------------------------------------------------------------------------------------------


async def status(rt: Runtime) -> Reply:
    """Is the server up? ComfyUI version, OS, Python/PyTorch, devices with VRAM, RAM, queue counts.

    An unreachable server is a normal answer (reachable: false, with the reason and a hint).
    """
    client = rt.client
    try:
        stats = await client.system_stats()
        queue = await client.queue()
    except TransportError as exc:
        data: dict[str, Any] = {
            "reachable": False,
            "url": client.url,
            "error": exc.to_dict(),
            "hint": exc.hint or None,
        }
        return Reply(data, f"{client.url} is not reachable: {exc.message}")
    data = {
        "reachable": True,
        "url": client.url,
        "comfyui_version": stats.comfyui_version,
        "python_version": stats.python_version,
        "pytorch_version": stats.pytorch_version,
        "os": stats.os,
        "ram": {"total": stats.ram_total, "free": stats.ram_free},
        "devices": [d.to_dict() for d in stats.devices],
        "queue": {"running": len(queue.running), "pending": len(queue.pending)},
    }
    text = (
        f"{client.url} is up: ComfyUI {stats.comfyui_version or '?'}, "
        f"{len(queue.running)} running, {len(queue.pending)} pending"
    )
    return Reply(data, text)


def _matches(pattern: str, fields: tuple[str, ...]) -> bool:
    pat = pattern.lower()
    if any(c in pat for c in "*?["):
        return any(fnmatch.fnmatchcase(f.lower(), pat) for f in fields)
    return any(pat in f.lower() for f in fields)


async def list_nodes(
    rt: Runtime,
    filter: Annotated[
        str | None, Field(description="Substring or glob (e.g. 'Image*') on class, display name, category.")
    ] = None,
    offset: Annotated[int, Field(ge=0)] = 0,
    limit: Annotated[int, Field(ge=1, le=1000)] = 100,
) -> Reply:
    """List node classes (name, display name, category, package, output node), filtered and paged."""
    defs = await _definitions(rt)
    assert defs is not None
    found = [
        node_summary(defs[name])
        for name in sorted(defs, key=str.lower)
        if filter is None or _matches(filter, (name, defs[name].display_name, defs[name].category))
    ]
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    data: dict[str, Any] = {
        "nodes": page,
        "count": len(found),
        "offset": offset,
        "limit": limit,
        "next_offset": offset + limit if more else None,
    }
    text = f"{len(found)} node classes match; showing {len(page)}: " + ", ".join(
        n["class_type"] for n in page[:30]
    )
    return Reply(data, text + (" …" if len(page) > 30 else ""))


async def node_info(
    rt: Runtime, class_type: Annotated[str, Field(min_length=1, description="A node class, e.g. KSampler.")]
) -> Reply:
    """Inputs (types, defaults, ranges, choices, required or not) and outputs of one node class."""
    client = rt.client
    defs = NodeDefs(await client.object_info(class_type))
    if class_type not in defs:
        import difflib

        close = difflib.get_close_matches(class_type, list(await client.object_info()), n=3)
        raise UsageError(
            f"no node class {class_type!r} on the server",
            hint=f"did you mean {', '.join(close)}?" if close else "find one with list_nodes",
        )
    doc = node_detail(defs[class_type])
    inputs = ", ".join(f"{i['name']}: {i['type']}" for i in doc["inputs"])
    return Reply(doc, f"{class_type} inputs: {inputs}")


async def list_models(
    rt: Runtime,
    folder: Annotated[
        str | None, Field(description="A model folder (checkpoints, loras, vae, ...); omit for the folders.")
    ] = None,
    filter: Annotated[str | None, Field(description="Substring or glob on the names.")] = None,
) -> Reply:
    """List model folders, or the files in one folder."""
    client = rt.client
    if folder is None:
        folders = [f for f in await client.models() if filter is None or _matches(filter, (f,))]
        return Reply({"folder": None, "folders": folders, "files": None}, "folders: " + ", ".join(folders))
    try:
        files = await client.models(folder)
    except NotFound as exc:  # ComfyUI answers a bare 404 for a folder it does not have
        raise UsageError(
            f"the server has no model folder {folder!r}", hint="folders: " + ", ".join(await client.models())
        ) from exc
    files = [f for f in files if filter is None or _matches(filter, (f,))]
    text = f"{len(files)} file(s) in {folder}" + (": " + ", ".join(files[:50]) if files else "")
    return Reply({"folder": folder, "folders": None, "files": files}, text)


async def inventory(
    rt: Runtime,
    refresh: Annotated[bool, Field(description="Fetch again even if the cache is fresh.")] = False,
    max_age: Annotated[
        float, Field(ge=0, description="Use a cached inventory younger than this (s).")
    ] = 3600,
) -> Reply:
    """What the server has: system, node classes by package, models per folder, embeddings.

    Cached in state/inventory.json; a stale cache is used (stale: true) when the server is down.
    """
    from comfyctl.inventory import get_inventory

    inv = await rt.call_sync(get_inventory, state=rt.state_dir, max_age=max_age, refresh=refresh)
    doc = inv.to_dict()
    models = sum(len(v) for v in inv.models.values())
    text = f"{inv.server}: {len(inv.nodes)} node classes, {models} model files" + (
        " (STALE: the server is unreachable)" if inv.stale else ""
    )
    return Reply(doc, text)


# -- workflows --------------------------------------------------------------------------------------------


async def validate_workflow(rt: Runtime, workflow: WorkflowArg) -> Reply:
    """Check a workflow offline with the server's own rules and wording: every problem with node id,
    class, input and reason (a verdict, not an error: ok is false when it would be rejected)."""
    from comfyctl.workflow.validate import validate

    loaded = _load(workflow)

    def step(defs: NodeDefs | None) -> tuple[dict[str, Any], Any]:
        assert defs is not None
        api = _to_api(loaded, defs)
        return api, validate(api, defs)

    (api, report), _ = await _with_fresh_defs(rt, step, accept=lambda out: bool(out[1].ok))
    doc = {**report.to_dict(), "format": "ui" if loaded.api is None else "api", "nodes": len(api)}
    lines = [report.summary or ("valid" if report.ok else "invalid")]
    lines += [str(p.get("text") or p.get("message")) for p in report.problems]
    return Reply(doc, "\n".join(lines))


async def convert_workflow(rt: Runtime, workflow: WorkflowArg) -> Reply:
    """Convert a UI-format workflow (or a PNG ComfyUI saved) to API format, like the frontend does."""
    loaded = _load(workflow)
    defs = await _definitions(rt) if loaded.api is None else None
    api = _to_api(loaded, defs)
    fmt = "ui" if loaded.api is None else "api"
    return Reply({"format": fmt, "nodes": len(api), "api": api}, f"API workflow with {len(api)} nodes")


async def workflow_params(rt: Runtime, workflow: WorkflowArg) -> Reply:
    """What can be set: every literal input as NODE.INPUT with its value, type, range and choices
    (the names run_workflow's `set` takes)."""
    from comfyctl.workflow.params import list_params

    loaded = _load(workflow)
    defs = await _definitions(rt, required=loaded.api is None)
    api = _to_api(loaded, defs)
    items = [p.to_dict() for p in list_params(api, defs)]
    text = "\n".join(f"{p['node_id']}.{p['input']} = {p['value']!r}" for p in items[:200])
    return Reply({"params": items}, text or "no settable inputs")


# -- jobs -------------------------------------------------------------------------------------------------


async def run_workflow(
    rt: Runtime,
    workflow: WorkflowArg,
    set: Annotated[
        list[str],
        Field(
            description="Overrides NODE.INPUT=VALUE, applied in order; NODE is a node id, a title or a "
            "class name (as comfyctl run --set)."
        ),
    ] = [],  # noqa: B006 - pydantic copies defaults; the schema needs a literal
    seed: Annotated[
        int | Literal["random"] | None, Field(description="Set every seed: a whole number, or 'random'.")
    ] = None,
    wait_s: WaitS = DEFAULT_WAIT,
    prompt_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="Your own id for this run (e.g. a UUID). Idempotent: calling again with the same "
            "id never queues a second copy; it continues waiting on the first.",
        ),
    ] = None,
    front: Annotated[bool, Field(description="Queue in front of the pending prompts.")] = False,
    validate: Annotated[bool, Field(description="Validate offline before submitting.")] = True,
    project: Annotated[str, Field(description="Offline-store project if the server is down.")] = "default",
    name: Annotated[str | None, Field(description="Offline-store name if the server is down.")] = None,
    max_image_bytes: ImageBudget = DEFAULT_BUDGET,
    progress: Progress | None = None,
) -> Reply:
    """Run a workflow: override inputs, validate, queue, wait up to wait_s; ALWAYS returns the prompt id.

    Finished: status success with its outputs (references, thumbnails, resource links). Still
    pending or running at wait_s: status pending|running with the queue position, the progress so
    far and the next call (wait_job). Server down: the workflow is saved offline and the error says
    where and how to submit it later.
    """
    try:
        return await _run(
            rt,
            workflow,
            set,
            seed,
            wait_s,
            prompt_id,
            front,
            validate,
            project,
            name,
            max_image_bytes,
            progress,
        )
    except ComfyError as exc:
        if prompt_id is not None:  # the caller's id: a retry with it is safe, whatever failed
            exc.details.setdefault("prompt_id", prompt_id)
        raise


async def _run(
    rt: Runtime,
    workflow: dict[str, Any] | str,
    sets: list[str],
    seed: int | str | None,
    wait_s: float,
    prompt_id: str | None,
    front: bool,
    validate: bool,
    project: str,
    name: str | None,
    max_image_bytes: int,
    progress: Progress | None,
) -> Reply:
    from comfyctl.workflow.load import workflow_name
    from comfyctl.workflow.overrides import apply_overrides

    client = rt.client
    loaded = _load(workflow)
    ui = dict(loaded.ui) if loaded.ui else None
    api: dict[str, Any] | None = dict(loaded.api) if loaded.api is not None else None
    warnings: list[str] = []
    try:
        from comfyctl.workflow.validate import check

        def prepare(defs: NodeDefs | None) -> tuple[dict[str, Any], list[str]]:
            ready, notes = apply_overrides(_to_api(loaded, defs), sets, seed, defs)
            if validate and defs is not None:
                check(ready, defs)
            return ready, notes

        # without definitions (server down, nothing cached) an API workflow can still be saved
        # for later, or fail at submit
        (ready, warnings), defs = await _with_fresh_defs(rt, prepare, required=loaded.api is None)
        api = ready
        extra = {"extra_pnginfo": {"workflow": ui}} if ui else None
        if prompt_id is not None:
            job = await client.submit_once(ready, prompt_id=prompt_id, front=front, extra_data=extra)
        else:
            job = await client.submit(ready, front=front, extra_data=extra)
    except ServerUnreachable as exc:
        raise _saved_offline(rt, exc, api, ui, project, name or workflow_name(loaded.source)) from exc
    more: dict[str, Any] = {}
    if job.node_errors:
        # ComfyUI quirk: a 200 may carry node_errors; the outputs behind them are silently skipped
        from comfyctl.workflow.validate import describe_rejection

        _, problems = describe_rejection({"node_errors": job.node_errors}, api, defs=defs)
        more["node_errors"] = job.node_errors
        warnings += [f"skipped by the server: {p.get('text') or p.get('message')}" for p in problems]
    if warnings:
        more["warnings"] = warnings
    reply = await _follow(rt, job, api, defs, wait_s, progress, max_image_bytes, more)
    reply.data.update(more)
    return reply


async def wait_job(
    rt: Runtime,
    prompt_id: PromptId,
    wait_s: WaitS = DEFAULT_WAIT,
    max_image_bytes: ImageBudget = DEFAULT_BUDGET,
    progress: Progress | None = None,
) -> Reply:
    """Wait up to wait_s for a prompt (queued by anyone); the same result shape as run_workflow.

    A prompt the server no longer knows (restart, deleted) is an error (job_lost), never done.
    """
    job = await rt.client.attach(prompt_id)
    queued = await _queued_prompt(rt, prompt_id)
    return await _follow(rt, job, queued, None, wait_s, progress, max_image_bytes)


async def _queued_prompt(rt: Runtime, prompt_id: str) -> dict[str, Any] | None:
    """The API workflow of a queued or running prompt (node names for the progress line)."""
    known = rt.progress.get(prompt_id)
    if known is not None and known.api:
        return None  # the tracker made at submit time already knows the workflow
    try:
        queue = await rt.client.queue()
    except ComfyError:
        return None
    item = proto.queued(queue, prompt_id)
    return dict(item.prompt) if item is not None else None


async def job_status(rt: Runtime, prompt_id: PromptId) -> Reply:
    """Where a prompt is: pending (with its queue position), running (node and step when this server
    follows it), success, error, interrupted, or unknown (the server no longer knows it: never done)."""
    client = rt.client
    # history first, then the queue, then history again: a prompt leaves the queue for the history,
    # so this order never misses one that finishes between the reads
    entry = await client.history_entry(prompt_id)
    if entry is None:
        queue = await client.queue()
        position = queue.position(prompt_id)
        if position is not None or queue.is_running(prompt_id):
            running = position is None
            known = rt.progress.get(prompt_id)
            data: dict[str, Any] = {
                "prompt_id": prompt_id,
                "status": "running" if running else "pending",
                "queue_position": position,
                "progress": _progress_doc(known) if running else None,
                "error": None,
                "outputs": [],
                "next": _next_wait(prompt_id),
            }
            where = "running" if running else f"pending at queue position {position}"
            return Reply(data, f"prompt {prompt_id} is {where}")
        entry = await client.history_entry(prompt_id)
    if entry is None:
        data = {
            "prompt_id": prompt_id,
            "status": "unknown",
            "queue_position": None,
            "progress": None,
            "error": None,
            "outputs": [],
            "next": None,
            "hint": JobLost.default_hint,
        }
        return Reply(data, f"prompt {prompt_id} is unknown to the server (not queued, running or finished)")
    result = _result(rt, prompt_id, entry)
    data = {
        "prompt_id": prompt_id,
        "status": result.status,
        "queue_position": None,
        "progress": None,
        "error": dict(result.error) if result.error else None,
        "outputs": await _outputs_doc(rt, result),
        "timing": result.timing.to_dict(),
        "next": {"tool": "get_outputs", "arguments": {"prompt_id": prompt_id}} if result.outputs else None,
    }
    return Reply(data, f"prompt {prompt_id}: {result.status}, {len(result.outputs)} output(s)")


async def get_outputs(
    rt: Runtime,
    prompt_id: PromptId,
    save_to: Annotated[
        str | None,
        Field(description="A folder on the MCP server's machine to download every output into."),
    ] = None,
    node: Annotated[str | None, Field(description="Only the outputs of this node id.")] = None,
    max_image_bytes: ImageBudget = DEFAULT_BUDGET,
    overwrite: Annotated[bool, Field(description="Replace files in save_to (else 'name (1).png').")] = False,
) -> Reply:
    """A finished prompt's outputs: references (node, filename, subfolder, type, kind, URL), image
    thumbnails within max_image_bytes (longest side at most 512 px), a resource link per file; with
    save_to, the files are downloaded there (names made safe) and their paths returned."""
    client = rt.client
    entry = await client.history_entry(prompt_id)
    if entry is None:
        queue = await client.queue()
        if prompt_id in queue:
            raise UsageError(
                f"prompt {prompt_id} has not finished yet",
                hint=f"call wait_job with prompt_id {prompt_id!r}",
                details={"prompt_id": prompt_id},
            )
        raise proto.job_gone(prompt_id)
    result = _result(rt, prompt_id, entry)
    chosen = [o for o in result.outputs if node is None or o.node_id == node]
    docs = [d for d in await _outputs_doc(rt, result) if node is None or d["node_id"] == node]
    saved: list[str] = []
    if save_to is not None:
        for out, doc in zip(chosen, docs, strict=True):
            try:
                doc["path"] = str(await client.download(out, Path(save_to), overwrite=overwrite))
                saved.append(doc["path"])
            except ComfyError as exc:  # e.g. /view refusing a name: the other files still come
                doc["path"] = None
                doc["error"] = exc.to_dict()
    images, notes = await _previews(rt, result, max_image_bytes, chosen)
    data: dict[str, Any] = {
        "prompt_id": prompt_id,
        "status": result.status,
        "outputs": docs,
        "saved": saved,
        "thumbnails": notes,
        "texts": {k: list(v) for k, v in result.texts.items()},
    }
    links = [
        Link(d["resource"], d["filename"], _mime(d["filename"]), f"output of node {d['node_id']}")
        for d in docs
    ]
    text = f"prompt {prompt_id}: {len(docs)} output(s)" + "".join(
        f"\n  {d.get('path') or d['filename']}" for d in docs
    )
    return Reply(data, text, images, links)


async def upload_image(
    rt: Runtime,
    path: Annotated[str | None, Field(description="A file on the MCP server's machine.")] = None,
    data_base64: Annotated[
        str | None, Field(description="The file's bytes, base64 (needs filename).")
    ] = None,
    filename: Annotated[str | None, Field(description="Name to store it under [default: path's].")] = None,
    subfolder: str = "",
    type: Literal["input", "temp", "output"] = "input",
    overwrite: bool = False,
    mask_for: Annotated[
        str | None,
        Field(description="Upload as the mask (alpha) of this image, e.g. 'photo.png' or 'x.png [output]'."),
    ] = None,
) -> Reply:
    """Upload an image (or a mask of one) for LoadImage; returns the name to use (ref) in a workflow.

    The server may rename it ('name (1).png') when a different file has the same name.
    """
    if (path is None) == (data_base64 is None):
        raise UsageError("give exactly one of path or data_base64")
    content: Path | bytes
    if data_base64 is not None:
        if not filename:
            raise UsageError("data_base64 needs a filename (e.g. 'photo.png')")
        try:
            content = base64.b64decode(data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UsageError(f"data_base64 is not valid base64: {exc}") from exc
    else:
        assert path is not None
        content = Path(path).expanduser()
        if not content.is_file():
            raise UsageError(f"{path}: no such file on the MCP server's machine")
    rt.defs = None  # loaders list the input folder: the kept definitions are out of date
    uploaded = await rt.client.upload(
        content,
        filename=filename,
        subfolder=subfolder,
        type=type,
        overwrite=overwrite,
        mask_for=parse_ref(mask_for) if mask_for else None,
    )
    return Reply(uploaded.to_dict(), f"uploaded as {uploaded.ref!r} (use it as LoadImage's image)")


async def cancel_job(rt: Runtime, prompt_id: PromptId) -> Reply:
    """Cancel exactly this prompt: dequeued if pending, interrupted if running (never another job);
    a finished one is removed from the history."""
    outcome = await rt.client.cancel(prompt_id)
    texts = {
        "dequeued": "removed from the queue",
        "interrupted": "interrupted while running",
        "cleared": "already finished: its result was removed from the history",
        "not_found": "not queued, running or in the history",
    }
    return Reply({"prompt_id": prompt_id, "outcome": outcome}, f"{prompt_id}: {texts.get(outcome, outcome)}")


def _confirm(confirm: bool, what: str) -> None:
    if not confirm:
        raise UsageError(
            f"{what} affects every user's jobs on this server: pass confirm: true to do it",
            hint="to stop only your own prompt, use cancel_job with its prompt_id",
        )


Confirm = Annotated[bool, Field(description="Must be true: this affects other users' jobs.")]


async def interrupt(rt: Runtime, confirm: Confirm = False) -> Reply:
    """Interrupt whatever prompt is running now, whoever queued it (needs confirm: true; prefer
    cancel_job for your own prompt)."""
    _confirm(confirm, "interrupt")
    client = rt.client
    running = [i.prompt_id for i in (await client.queue()).running]
    await client.interrupt()
    pid = running[0] if running else None
    return Reply({"interrupted": pid}, f"interrupted {pid}" if pid else "nothing was running")


async def clear_queue(rt: Runtime, confirm: Confirm = False) -> Reply:
    """Remove every pending prompt, every user's (needs confirm: true); the running one stays."""
    _confirm(confirm, "clear_queue")
    client = rt.client
    n = len((await client.queue()).pending)
    await client.clear_queue()
    return Reply({"cleared": n}, f"removed {n} pending prompt(s)")


async def free_memory(
    rt: Runtime,
    unload_models: Annotated[bool, Field(description="Unload models from (V)RAM.")] = True,
    free_memory: Annotated[bool, Field(description="Free cached memory (drops the execution cache).")] = True,
) -> Reply:
    """Ask the server to unload models and/or free memory (applied after the running prompt)."""
    if not unload_models and not free_memory:
        raise UsageError("nothing to do: set unload_models and/or free_memory")
    await rt.client.free(unload_models=unload_models, free_memory=free_memory)
    return Reply(
        {"unload_models": unload_models, "free_memory": free_memory},
        "asked the server to free memory (applied after the running prompt)",
    )


async def queue(rt: Runtime) -> Reply:
    """The queue: running prompts, then pending ones in the order they will run (position 0 = next)."""
    q = await rt.client.queue()

    def item(i: Any, position: int | None) -> dict[str, Any]:
        return {**i.to_dict(), "position": position}

    data: dict[str, Any] = {
        "running": [item(i, None) for i in q.running],
        "pending": [item(i, n) for n, i in enumerate(q.pending)],
    }
    return Reply(data, f"{len(q.running)} running, {len(q.pending)} pending")


async def history(
    rt: Runtime, max_items: Annotated[int, Field(ge=1, le=1000, description="The newest N.")] = 20
) -> Reply:
    """Finished prompts (oldest first of the newest max_items): status, output count, timing."""
    client = rt.client
    entries = await client.history(max_items=max_items)
    items = []
    for pid, entry in entries.items():
        r = _result(rt, pid, entry)
        items.append(
            {"prompt_id": pid, "status": r.status, "outputs": len(r.outputs), "timing": r.timing.to_dict()}
        )
    return Reply({"items": items}, f"{len(items)} finished prompt(s)")


# -- offline store ----------------------------------------------------------------------------------------


async def export_workflow(
    rt: Runtime,
    workflow: WorkflowArg,
    name: Annotated[str, Field(min_length=1, description="Name to save under.")] = "workflow",
    project: str = "default",
    overwrite: Annotated[bool, Field(description="Replace a saved workflow of that name.")] = False,
) -> Reply:
    """Save a workflow to projects/PROJECT/workflows/NAME.json (API format, plus NAME.ui.json for a UI
    graph) for later submission, as run_workflow does when the server is down."""
    from comfyctl.offline import OfflineStore

    loaded = _load(workflow)
    defs = await _definitions(rt) if loaded.api is None else None
    api = _to_api(loaded, defs)
    saved = OfflineStore(rt.root).export(
        api, project=project, name=name, ui=dict(loaded.ui) if loaded.ui else None, overwrite=overwrite
    )
    return Reply(saved.to_dict(), f"saved {saved.path}; submit it later with submit_offline")


async def list_offline(
    rt: Runtime,
    project: Annotated[str | None, Field(description="Only this project.")] = None,
    submitted: Annotated[bool, Field(description="Also list submitted and rejected ones.")] = False,
) -> Reply:
    """Workflows saved while the server was down (pending, oldest first)."""
    from comfyctl.offline import OfflineStore

    store = OfflineStore(rt.root)
    pending = [p.to_dict() for p in store.pending(project)]
    done = store.submitted(project) if submitted else None
    data = {"pending": pending, "submitted": done}
    return Reply(data, f"{len(pending)} pending workflow(s)")


async def submit_offline(
    rt: Runtime,
    names: Annotated[
        list[str] | None, Field(description="NAME or PROJECT/NAME of pending workflows; omit for all.")
    ] = None,
    project: Annotated[str | None, Field(description="Only this project.")] = None,
) -> Reply:
    """Submit pending offline workflows, each exactly once (safe to call again after a failure)."""
    from comfyctl.offline import OfflineStore

    done = await rt.call_sync(OfflineStore(rt.root).submit, names, project=project)
    items = [s.to_dict() for s in done]
    text = "\n".join(f"{s.project}/{s.name}: {s.status} {s.prompt_id}" for s in done) or "nothing pending"
    return Reply({"submitted": items}, text)


# -- health -----------------------------------------------------------------------------------------------


async def diagnose(
    rt: Runtime,
    prompt_id: Annotated[str | None, Field(description="Also explain why this prompt failed.")] = None,
) -> Reply:
    """The doctor's verdict on the server (healthy / degraded / down, a check per concern, advice),
    and with prompt_id, advice for that prompt's failure."""
    from comfyctl.diagnose import advise
    from comfyctl.doctor import check_health

    health = await rt.call_sync(check_health, state_dir=rt.state_dir, offline_root=rt.root)
    data = dict(health.doc)
    data["prompt"] = None
    text = str(data["summary"])
    if prompt_id is not None:
        prompt: dict[str, Any] = {"prompt_id": prompt_id, "status": "unknown", "advice": None}
        try:
            entry = await rt.client.history_entry(prompt_id)
            if entry is None:
                queue = await rt.client.queue()
                if prompt_id in queue:
                    prompt["status"] = "running" if queue.is_running(prompt_id) else "pending"
                else:
                    advice = advise(proto.job_gone(prompt_id))
                    prompt["advice"] = advice.to_dict() if advice else None
            else:
                result = _result(rt, prompt_id, entry)
                prompt["status"] = result.status
                prompt["error"] = dict(result.error) if result.error else None
                try:
                    proto.raise_for_result(result)
                except ComfyError as exc:
                    advice = advise(exc)
                    prompt["advice"] = advice.to_dict() if advice else None
        except ComfyError as exc:
            prompt["advice"] = None
            prompt["error"] = exc.to_dict()
        data["prompt"] = prompt
        if prompt.get("advice"):
            text += f"\nprompt {prompt_id}: {prompt['advice'].get('summary')}"
    return Reply(data, text)
