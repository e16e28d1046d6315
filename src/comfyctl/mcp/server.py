"""The MCP server: every comfyctl operation as a tool, on the official SDK's ``MCPServer`` (2.x).

:data:`TOOLS` is the registration table: one :class:`ToolSpec` per tool, naming the body in
:mod:`comfyctl.mcp.tools` and its output schema in :mod:`comfyctl.mcp.schemas`. A new front (the
batch engine's ``run_batch``, ...) adds rows here; :func:`build_server` registers them all.

Every result carries typed ``structuredContent`` and a short text; images add thumbnails and a
resource link per file. A :class:`comfyctl.ComfyError` becomes an ``isError`` result whose structured
content is its ``to_dict()`` (with the diagnosis' advice in ``details.advice``), never a protocol
error. Every string that leaves is passed through the settings' redaction, so a token never does.

Resources: ``comfyui://outputs/{prompt_id}/{node}/{filename}`` (a file's bytes, fetched from /view
through a temp file, so memory stays bounded until the size is known), ``comfyui://nodes`` and
``comfyui://nodes/{class_type}`` (the node definitions).
"""

from __future__ import annotations

import inspect
import json
import logging
import mimetypes
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types import (
    CallToolResult,
    ContentBlock,
    ImageContent,
    InputRequiredResult,
    ResourceLink,
    TextContent,
    ToolAnnotations,
)
from pydantic import AnyUrl, BaseModel

from comfyctl import _protocol as proto
from comfyctl.errors import ComfyError, ValidationError
from comfyctl.mcp import schemas as s
from comfyctl.mcp import tools as t
from comfyctl.mcp.runtime import Runtime

__all__ = ["MAX_RESOURCE_BYTES", "TOOLS", "ToolSpec", "build_server", "tool_names"]

log = logging.getLogger("comfyctl.mcp")

#: A resource read returns the whole file in one message: bigger files are refused (get_outputs
#: with save_to downloads them to disk instead).
MAX_RESOURCE_BYTES = 64 << 20
OUTPUTS_PREFIX = "comfyui://outputs/"

INSTRUCTIONS = """Drive a ComfyUI server. Typical flow: status -> (list_nodes / node_info / \
workflow_params) -> run_workflow (returns a prompt_id at once or within wait_s; if status is \
pending/running call wait_job with that prompt_id) -> get_outputs (thumbnails, save_to to download). \
cancel_job stops only your prompt; interrupt and clear_queue affect everyone and need confirm: true. \
Errors are results with isError and {code, message, hint, details}: follow the hint."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its body, its output schema and its behaviour hints for the host."""

    fn: Callable[..., Awaitable[t.Reply]]
    output: type[BaseModel]
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False

    @property
    def name(self) -> str:
        return self.fn.__name__


#: The registration table (the extension point: append a ToolSpec to add a tool).
TOOLS: list[ToolSpec] = [
    ToolSpec(t.status, s.StatusOut, read_only=True, idempotent=True),
    ToolSpec(t.list_nodes, s.NodesOut, read_only=True, idempotent=True),
    ToolSpec(t.node_info, s.NodeInfoOut, read_only=True, idempotent=True),
    ToolSpec(t.list_models, s.ModelsOut, read_only=True, idempotent=True),
    ToolSpec(t.inventory, s.InventoryOut, read_only=True, idempotent=True),
    ToolSpec(t.validate_workflow, s.ValidateOut, read_only=True, idempotent=True),
    ToolSpec(t.convert_workflow, s.ConvertOut, read_only=True, idempotent=True),
    ToolSpec(t.workflow_params, s.ParamsOut, read_only=True, idempotent=True),
    ToolSpec(t.run_workflow, s.JobOut),
    ToolSpec(t.job_status, s.JobStatusOut, read_only=True, idempotent=True),
    ToolSpec(t.wait_job, s.JobOut, read_only=True, idempotent=True),
    ToolSpec(t.get_outputs, s.OutputsOut, read_only=True, idempotent=True),
    ToolSpec(t.upload_image, s.UploadOut, idempotent=True),
    ToolSpec(t.cancel_job, s.CancelOut, destructive=True, idempotent=True),
    ToolSpec(t.interrupt, s.InterruptOut, destructive=True),
    ToolSpec(t.clear_queue, s.ClearOut, destructive=True),
    ToolSpec(t.free_memory, s.FreeOut, idempotent=True),
    ToolSpec(t.queue, s.QueueOut, read_only=True, idempotent=True),
    ToolSpec(t.history, s.HistoryOut, read_only=True, idempotent=True),
    ToolSpec(t.export_workflow, s.ExportOut),
    ToolSpec(t.list_offline, s.OfflineOut, read_only=True, idempotent=True),
    ToolSpec(t.submit_offline, s.SubmitOfflineOut, idempotent=True),
    ToolSpec(t.diagnose, s.DiagnoseOut, read_only=True, idempotent=True),
]


def tool_names() -> list[str]:
    """The names of every tool the server offers (docs/mcp.md lists exactly these)."""
    return [spec.name for spec in TOOLS]


def _scrub(rt: Runtime, obj: Any) -> Any:
    """``obj`` with every secret redacted from every string (keys included)."""
    if isinstance(obj, str):
        return rt.redact(obj)
    if isinstance(obj, dict):
        return {_scrub(rt, k): _scrub(rt, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scrub(rt, v) for v in obj]
    return obj


def _jsonable(obj: Any) -> Any:
    from comfyctl.results import jsonable

    return jsonable(obj)


def success(rt: Runtime, reply: t.Reply) -> CallToolResult:
    """A tool's reply as an MCP result: structured content, text, thumbnails, resource links."""
    content: list[ContentBlock] = [TextContent(type="text", text=rt.redact(reply.text))]
    content += [ImageContent(type="image", data=data, mime_type=mime) for data, mime in reply.images]
    content += [
        ResourceLink(
            type="resource_link",
            uri=link.uri,
            name=link.name,
            mime_type=link.mime,
            description=link.description,
        )
        for link in reply.links
    ]
    return CallToolResult(content=content, structured_content=_scrub(rt, _jsonable(reply.data)))


def failure(rt: Runtime, exc: ComfyError) -> CallToolResult:
    """A ComfyError as an ``isError`` result: ``to_dict()`` (+ advice), and the lines to read."""
    doc = exc.to_dict()
    details = dict(doc["details"])
    try:
        from comfyctl.diagnose import advise

        advice = advise(exc)
    except Exception:  # advice is a bonus: never let it replace the real error
        advice = None
    if advice is not None:
        details["advice"] = advice.to_dict()
    doc["details"] = details
    doc["hint"] = doc["hint"] or None
    lines = [f"error ({exc.code}): {exc.message}"]
    if isinstance(exc, ValidationError):
        lines += [f"  {p.get('text') or p.get('message')}" for p in exc.problems]
    if exc.hint:
        lines.append(f"hint: {exc.hint}")
    try:
        structured = _scrub(rt, _jsonable(doc))
        json.dumps(structured)
    except (TypeError, ValueError):
        structured = _scrub(rt, {**doc, "details": {}})
    return CallToolResult(
        content=[TextContent(type="text", text=rt.redact("\n".join(lines)))],
        structured_content=structured,
        is_error=True,
    )


def unexpected(rt: Runtime, exc: Exception) -> CallToolResult:
    """A bug: the same error shape as the CLI's ``unexpected`` (the traceback goes to the log)."""
    name = type(exc).__name__
    log.error("tool failed unexpectedly: %s", rt.redact(f"{name}: {exc}"), exc_info=log.isEnabledFor(10))
    doc = {
        "code": "unexpected",
        "message": rt.redact(f"unexpected {name}: {exc}" if str(exc) else f"unexpected {name}"),
        "hint": "this is a bug in comfyctl: report it with the server's log (comfyctl mcp --debug)",
        "details": {"exception_type": name},
    }
    return CallToolResult(
        content=[TextContent(type="text", text=f"error (unexpected): {doc['message']}")],
        structured_content=doc,
        is_error=True,
    )


def _register(server: MCPServer, rt: Runtime, spec: ToolSpec) -> None:
    """Add ``spec`` to ``server``: the body's keyword arguments are the input schema."""
    sig = inspect.signature(spec.fn, eval_str=True)
    wants_progress = "progress" in sig.parameters
    params = [p for name, p in sig.parameters.items() if name not in ("rt", "progress")]
    params.append(inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
    body = spec.fn

    async def call(ctx: Context, **kwargs: Any) -> CallToolResult:
        if wants_progress:

            async def progress(value: float, total: float | None, message: str) -> None:
                await ctx.report_progress(value, total, rt.redact(message))

            kwargs["progress"] = progress
        try:
            reply = await body(rt, **kwargs)
        except ComfyError as exc:
            return failure(rt, exc)
        except Exception as exc:  # a bug: still one error result, the server keeps serving
            return unexpected(rt, exc)
        return success(rt, reply)

    returns = Annotated[CallToolResult, spec.output]
    call.__signature__ = sig.replace(parameters=params, return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    call.__name__ = spec.name
    call.__doc__ = inspect.cleandoc(body.__doc__ or spec.name)
    server.add_tool(
        call,
        name=spec.name,
        description=call.__doc__,
        annotations=ToolAnnotations(
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=False,
        ),
    )


class _ComfyServer(MCPServer[Any]):
    """``MCPServer`` whose output-file resources carry the file's own MIME type."""

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        contents = await super().read_resource(uri, context)
        if isinstance(contents, InputRequiredResult) or not str(uri).startswith(OUTPUTS_PREFIX):
            return contents
        mime = mimetypes.guess_type(unquote(str(uri).rsplit("/", 1)[-1]))[0]
        return [
            ReadResourceContents(content=c.content, mime_type=mime or c.mime_type, meta=c.meta)
            for c in contents
        ]


def _resources(server: MCPServer, rt: Runtime) -> None:
    @server.resource(
        OUTPUTS_PREFIX + "{prompt_id}/{node}/{filename}",
        name="output",
        description="One output file of a finished prompt (bytes via /view).",
        mime_type="application/octet-stream",
    )
    async def output_file(prompt_id: str, node: str, filename: str) -> bytes:
        client = rt.client
        try:
            entry = await client.history_entry(prompt_id)
            if entry is None:
                raise ResourceError(
                    f"prompt {prompt_id} has no outputs on the server (unfinished or unknown)"
                )
            result = proto.result_from_history(prompt_id, entry, client.settings.base_url)
            match = [o for o in result.outputs if o.node_id == node and o.filename == filename]
            if not match:
                raise ResourceError(f"prompt {prompt_id} has no output {filename!r} from node {node}")
            with tempfile.TemporaryDirectory(prefix="comfyctl-mcp-") as tmp:
                path = await client.download(match[0], Path(tmp))
                size = path.stat().st_size
                if size > MAX_RESOURCE_BYTES:
                    raise ResourceError(
                        f"{filename} is {size} bytes, over the {MAX_RESOURCE_BYTES >> 20} MiB limit "
                        "of a resource: download it with get_outputs (save_to)"
                    )
                return path.read_bytes()
        except ComfyError as exc:
            raise ResourceError(rt.redact(exc.message)) from exc

    @server.resource(
        "comfyui://nodes",
        name="nodes",
        description="Every node definition of the server (/object_info).",
        mime_type="application/json",
    )
    async def all_nodes() -> str:
        try:
            return json.dumps(await rt.client.object_info(), ensure_ascii=False)
        except ComfyError as exc:
            raise ResourceError(rt.redact(exc.message)) from exc

    @server.resource(
        "comfyui://nodes/{class_type}",
        name="node",
        description="One node class's definition (/object_info/{class_type}).",
        mime_type="application/json",
    )
    async def one_node(class_type: str) -> str:
        try:
            info = await rt.client.object_info(class_type)
        except ComfyError as exc:
            raise ResourceError(rt.redact(exc.message)) from exc
        if class_type not in info:
            raise ResourceError(f"no node class {class_type!r} on the server")
        return json.dumps(info[class_type], ensure_ascii=False)


def build_server(rt: Runtime, *, tools: Iterable[ToolSpec] | None = None) -> MCPServer[Any]:
    """The MCP server over ``rt`` (no I/O: the client is made on the first tool call).

    The caller closes ``rt`` (``await rt.aclose()``) when the server is done: one client serves
    every session (streamable HTTP has one per connected host).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("comfyctl")
    except PackageNotFoundError:  # pragma: no cover - a source checkout without metadata
        ours = "0"

    server = _ComfyServer(
        "comfyctl",
        title="ComfyUI (comfyctl)",
        instructions=INSTRUCTIONS,
        version=ours,
        log_level="WARNING",
    )
    for spec in TOOLS if tools is None else tools:
        _register(server, rt, spec)
    _resources(server, rt)
    return server
