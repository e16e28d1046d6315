"""MCP benchmark: what the MCP layer adds to a ``run_workflow`` call, and how fast the server starts.

1. Overhead per call: ``run_workflow`` over stdio to a ``comfyctl mcp`` subprocess versus the same
   tool body (the same library calls on an ``AsyncClient``) in-process, on the sandbox. Calls are
   paired (stdio, in-process, alternating which goes first) with a fresh workflow each (no cache
   hits); it prints both medians, the median of the paired differences (target: at most 5 ms per
   call beyond the library call) and the median ratio.
2. Start: from launching ``comfyctl mcp`` to the first tool result (``status``), beside the same
   for ``comfyctl --json status`` (one CLI call), as a ratio.

Run it with the venv's Python: ``.venv/bin/python bench/bench_mcp.py [--calls N] [--starts N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXE = str(Path(sys.executable).with_name("comfyctl"))


def workflow() -> dict[str, Any]:
    color = random.randrange(1 << 24)
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench_mcp"}},
    }


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COMFYUI_", "COMFYCTL_"))}
    clean.pop("PYTHONDONTWRITEBYTECODE", None)  # measure what users get: bytecode cached
    clean["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "comfyctl-bench-pycache")
    return clean


async def overhead(url: str, calls: int, cwd: str) -> None:
    from mcp import Client, StdioServerParameters

    from comfyctl.mcp import tools
    from comfyctl.mcp.runtime import Runtime
    from comfyctl.settings import Settings

    params = StdioServerParameters(command=EXE, args=["mcp", "--url", url], cwd=cwd, env=env())
    runtime = Runtime(Settings.resolve(url), root=cwd)

    async def over_stdio(client: Client) -> float:
        t0 = time.perf_counter()
        res = await client.call_tool("run_workflow", {"workflow": workflow()})
        took = time.perf_counter() - t0
        assert not res.is_error and res.structured_content["status"] == "success", res
        return took

    async def in_process() -> float:
        t0 = time.perf_counter()
        reply = await tools.run_workflow(runtime, workflow=workflow())
        took = time.perf_counter() - t0
        assert reply.data["status"] == "success", reply.data
        return took

    try:
        async with Client(params) as client:
            for _ in range(3):  # warm both sides (connections, sockets, imports)
                await over_stdio(client)
                await in_process()
            pairs: list[tuple[float, float]] = []
            for i in range(calls):
                if i % 2:
                    b = await in_process()
                    a = await over_stdio(client)
                else:
                    a = await over_stdio(client)
                    b = await in_process()
                pairs.append((a, b))
    finally:
        await runtime.aclose()
    stdio = statistics.median(a for a, _ in pairs) * 1000
    direct = statistics.median(b for _, b in pairs) * 1000
    diff = statistics.median((a - b) for a, b in pairs) * 1000
    ratio = statistics.median(a / b for a, b in pairs)
    print(
        f"run_workflow, {calls} paired calls: stdio {stdio:.1f} ms, in-process {direct:.1f} ms, "
        f"overhead {diff:+.1f} ms per call (target <= 5 ms), ratio {ratio:.2f}x"
    )


async def first_result(url: str, cwd: str) -> float:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=EXE, args=["mcp", "--url", url], cwd=cwd, env=env())
    t0 = time.perf_counter()
    async with Client(params) as client:
        res = await client.call_tool("status", {})
        took = time.perf_counter() - t0
        assert not res.is_error and res.structured_content["reachable"] is True, res
    return took


def cli_status(url: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([EXE, "--url", url, "--json", "status"], check=True, env=env(), stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def start_sandbox(cwd: str) -> tuple[str, subprocess.Popen[bytes]]:
    """``comfyctl sandbox`` on a free port, once it answers."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = os.path.join(cwd, "sandbox")
    proc = subprocess.Popen(
        [EXE, "sandbox", "--port", str(port), "--root", root],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/system_stats", timeout=1):
                return url, proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("comfyctl sandbox did not answer within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="paired run_workflow calls")
    parser.add_argument("--starts", type=int, default=7, help="server starts measured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="comfyctl-bench-mcp-") as cwd:
        # the sandbox in its own process: neither side shares a GIL with the server
        url, proc = start_sandbox(cwd)
        try:
            print(f"server: sandbox at {url}")
            asyncio.run(overhead(url, args.calls, cwd))
            cli_status(url)  # warm the bytecode cache and the file cache
            mcp_starts, cli_starts = [], []
            for _ in range(args.starts):
                mcp_starts.append(asyncio.run(first_result(url, cwd)))
                cli_starts.append(cli_status(url))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        m, c = statistics.median(mcp_starts), statistics.median(cli_starts)
        ratio = statistics.median(a / b for a, b in zip(mcp_starts, cli_starts, strict=True))
        print(
            f"start to first tool result, {args.starts} starts: comfyctl mcp {m * 1000:.0f} ms, "
            f"comfyctl --json status {c * 1000:.0f} ms, ratio {ratio:.2f}x"
        )


if __name__ == "__main__":
    main()
