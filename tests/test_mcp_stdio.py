"""``comfyctl mcp --url <sandbox>`` as a subprocess, driven by the SDK's stdio client: every tool."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from comfyctl.mcp.server import tool_names
from comfyctl.testing import Sandbox
from conftest import FIXTURES
from mcp_support import Session, demo, images_of, tiny

COMFYCTL = str(Path(sys.executable).with_name("comfyctl"))


@asynccontextmanager
async def subprocess_session(url: str, cwd: Path, *extra: str) -> AsyncIterator[Session]:
    params = StdioServerParameters(command=COMFYCTL, args=["mcp", "--url", url, *extra], cwd=str(cwd))
    async with Client(params) as client:
        yield Session(client, None)  # type: ignore[arg-type]  # the runtime lives in the subprocess


class Calls:
    """Records which tools a test called (every one must be)."""

    def __init__(self, s: Session):
        self.s = s
        self.names: set[str] = set()

    async def ok(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        self.names.add(name)
        return await self.s.ok(name, args)

    async def error(self, name: str, args: dict[str, Any], code: str) -> dict[str, Any]:
        self.names.add(name)
        return await self.s.error(name, args, code=code)


async def test_every_tool_over_stdio(sandbox: Sandbox, tmp_path: Path) -> None:
    from PIL import Image

    color = random.randrange(1, 1 << 24)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 200, 0)).save(buf, "PNG")
    ui = json.loads((FIXTURES / "ui2api" / "default.ui.json").read_text())
    async with subprocess_session(sandbox.url, tmp_path, "--state-dir", str(tmp_path / "state")) as s:
        c = Calls(s)
        assert [t.name for t in (await s.client.list_tools()).tools] == tool_names()
        assert (await c.ok("status"))["reachable"] is True
        assert (await c.ok("list_nodes", {"filter": "SaveImage"}))["count"] >= 1
        assert (await c.ok("node_info", {"class_type": "EmptyImage"}))["class_type"] == "EmptyImage"
        assert "checkpoints" in (await c.ok("list_models"))["folders"]
        assert (await c.ok("inventory"))["mode"] == "online"
        assert (await c.ok("validate_workflow", {"workflow": demo()}))["ok"] is True
        assert (await c.ok("convert_workflow", {"workflow": ui}))["format"] == "ui"
        assert (await c.ok("workflow_params", {"workflow": demo()}))["params"]
        up = await c.ok(
            "upload_image",
            {"data_base64": base64.b64encode(buf.getvalue()).decode(), "filename": "stdio.png"},
        )
        flow = {
            "1": {"class_type": "LoadImage", "inputs": {"image": up["ref"]}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "stdio"}},
        }
        res = await s.call("run_workflow", {"workflow": flow, "set": [f"1.image={up['ref']}"]})
        c.names.add("run_workflow")
        assert not res.is_error and res.structured_content["status"] == "success"
        assert images_of(res)  # a thumbnail through the pipe
        pid = res.structured_content["prompt_id"]
        assert (await c.ok("job_status", {"prompt_id": pid}))["status"] == "success"
        assert (await c.ok("wait_job", {"prompt_id": pid}))["status"] == "success"
        got = await c.ok("get_outputs", {"prompt_id": pid, "save_to": str(tmp_path / "out")})
        assert Path(got["saved"][0]).is_file()
        assert pid in {i["prompt_id"] for i in (await c.ok("history"))["items"]}
        sandbox.pause_worker()
        queued = await c.ok("run_workflow", {"workflow": tiny(color), "wait_s": 0, "prompt_id": "stdio-q"})
        assert queued["status"] == "pending" and queued["prompt_id"] == "stdio-q"
        assert [i["prompt_id"] for i in (await c.ok("queue"))["pending"]] == ["stdio-q"]
        assert (await c.ok("cancel_job", {"prompt_id": "stdio-q"}))["outcome"] == "dequeued"
        await c.error("clear_queue", {}, code="usage")
        assert (await c.ok("clear_queue", {"confirm": True}))["cleared"] == 0
        assert (await c.ok("interrupt", {"confirm": True}))["interrupted"] is None
        sandbox.resume_worker()
        assert (await c.ok("free_memory"))["unload_models"] is True
        saved = await c.ok("export_workflow", {"workflow": tiny(color + 1), "name": "stdio"})
        assert Path(saved["path"]).is_relative_to(tmp_path)  # the server's working directory
        assert [p["name"] for p in (await c.ok("list_offline"))["pending"]] == ["stdio"]
        (sent,) = (await c.ok("submit_offline"))["submitted"]
        assert sent["status"] == "submitted"
        assert (await c.ok("diagnose"))["verdict"] in ("healthy", "degraded")
        assert c.names == set(tool_names())


async def test_faults_over_stdio(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.pause_worker()
    async with subprocess_session(sandbox.url, tmp_path) as s:
        # slow job past wait_s: the id comes back, wait_job finishes it
        first = await s.ok("run_workflow", {"workflow": tiny(random.randrange(1 << 24)), "wait_s": 0.2})
        assert first["status"] == "pending"
        # a call the client gives up on (notifications/cancelled): the server keeps serving
        with pytest.raises(MCPError):
            await s.call(
                "wait_job", {"prompt_id": first["prompt_id"], "wait_s": 100}, read_timeout_seconds=0.5
            )
        task = asyncio.create_task(s.call("wait_job", {"prompt_id": first["prompt_id"], "wait_s": 100}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await s.ok("job_status", {"prompt_id": first["prompt_id"]}))["status"] == "pending"
        sandbox.resume_worker()
        done = await s.ok("wait_job", {"prompt_id": first["prompt_id"], "wait_s": 30})
        assert done["status"] == "success"
        sandbox.restart()  # the server forgets everything: never reported as done
        assert (await s.ok("job_status", {"prompt_id": first["prompt_id"]}))["status"] == "unknown"
        await s.error("wait_job", {"prompt_id": first["prompt_id"]}, code="job_lost")
    async with subprocess_session("http://127.0.0.1:9", tmp_path) as s:
        doc = await s.error("run_workflow", {"workflow": tiny(7), "name": "down"}, code="unreachable")
        assert Path(doc["details"]["saved"]["path"]).is_file()


async def test_streamable_http_at_mcp(sandbox: Sandbox, tmp_path: Path) -> None:
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [COMFYCTL, "mcp", "--http", f"127.0.0.1:{port}", "--url", sandbox.url],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # until it listens (a condition, polled)
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            await asyncio.sleep(0.05)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            s = Session(client, None)  # type: ignore[arg-type]
            assert (await s.ok("status"))["reachable"] is True
            done = await s.ok("run_workflow", {"workflow": tiny(random.randrange(1 << 24))})
            assert done["status"] == "success"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_bad_http_address_is_a_usage_error() -> None:
    from test_cli_support import invoke

    out = invoke("mcp", "--http", "nope")
    assert out.code == 2 and "--http" in out.stderr
