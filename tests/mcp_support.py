"""Helpers of the MCP tests: the server in-process over the SDK's memory transport, tool calls, polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp_types import CallToolResult, ImageContent, ResourceLink, TextContent

from comfyctl.mcp.runtime import Runtime
from comfyctl.mcp.server import build_server
from comfyctl.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "src" / "comfyctl" / "cli" / "demo_workflow.json"


def demo() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO.read_text())
    return data


def tiny(
    color: int, *, prefix: str = "mcp", ids: tuple[str, str] = ("1", "2"), size: int = 16
) -> dict[str, Any]:
    """A two-node workflow; a distinct ``color`` keeps ComfyUI's cache from answering it."""
    a, b = ids
    return {
        a: {
            "class_type": "EmptyImage",
            "inputs": {"width": size, "height": size, "batch_size": 1, "color": color},
            "_meta": {"title": "Canvas"},
        },
        b: {"class_type": "SaveImage", "inputs": {"images": [a, 0], "filename_prefix": prefix}},
    }


class Session:
    """An MCP client session plus the runtime behind the server (for assertions on its state)."""

    def __init__(self, client: Client, runtime: Runtime):
        self.client = client
        self.runtime = runtime

    async def call(self, name: str, args: dict[str, Any] | None = None, **kw: Any) -> CallToolResult:
        return await self.client.call_tool(name, args or {}, **kw)

    async def ok(self, name: str, args: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Call a tool that must succeed; its structured content."""
        res = await self.call(name, args, **kw)
        assert not res.is_error, (name, text_of(res), res.structured_content)
        assert isinstance(res.structured_content, dict)
        assert isinstance(res.content[0], TextContent) and res.content[0].text
        return res.structured_content

    async def error(
        self, name: str, args: dict[str, Any] | None = None, code: str | None = None
    ) -> dict[str, Any]:
        """Call a tool that must fail with a ComfyError result; its ``to_dict()``."""
        res = await self.call(name, args)
        assert res.is_error, (name, res.structured_content)
        doc = res.structured_content
        assert isinstance(doc, dict) and {"code", "message", "hint", "details"} <= set(doc), doc
        if code is not None:
            assert doc["code"] == code, doc
        return doc

    async def until_status(self, prompt_id: str, *statuses: str, tries: int = 2000) -> dict[str, Any]:
        """Poll job_status until the prompt reaches one of ``statuses`` (a condition, not a sleep)."""
        doc: dict[str, Any] = {}
        for _ in range(tries):
            doc = await self.ok("job_status", {"prompt_id": prompt_id})
            if doc["status"] in statuses:
                return doc
            await asyncio.sleep(0.01)
        raise AssertionError(f"{prompt_id} never reached {statuses}: {doc}")


def text_of(res: CallToolResult) -> str:
    return "\n".join(c.text for c in res.content if isinstance(c, TextContent))


def images_of(res: CallToolResult) -> list[ImageContent]:
    return [c for c in res.content if isinstance(c, ImageContent)]


def links_of(res: CallToolResult) -> list[ResourceLink]:
    return [c for c in res.content if isinstance(c, ResourceLink)]


@asynccontextmanager
async def connected(
    url: str, root: Path, *, token: str | None = None, retries: int | None = None
) -> AsyncIterator[Session]:
    """The server in-process, driven by the SDK's client over memory streams (JSON-RPC framing)."""
    settings = Settings.resolve(url, token=token)
    if retries is not None:
        import dataclasses

        settings = dataclasses.replace(settings, retries=retries)
    runtime = Runtime(settings, root=root, state_dir=root / "state")
    server = build_server(runtime)
    try:
        async with Client(server, mode="legacy") as client:
            yield Session(client, runtime)
    finally:
        await runtime.aclose()
