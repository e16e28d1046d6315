"""``comfyctl sandbox`` serves a real run: the 7 real nodes end to end, producing a viewable PNG."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from PIL import Image

from sandbox_helpers import Socket, submit
from test_sandbox_execution import SEVEN


def test_cli_serves_seven_node_run(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "comfyctl"), "sandbox", "--port", "0", "--root", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with Socket(url, "cli") as ws:
            ws.recv()
            prompt_id = submit(url, SEVEN, client_id="cli")["prompt_id"]
            ws.until_done(prompt_id)
        entry = httpx.get(f"{url}/history/{prompt_id}").json()[prompt_id]
        saved = entry["outputs"]["5"]["images"][0]
        png = httpx.get(url + "/view", params=saved).content
        with Image.open(io.BytesIO(png)) as img:
            img.load()
            assert img.format == "PNG" and img.size == (64, 32)
        assert (tmp_path / "output" / "seven" / saved["filename"]).is_file()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_cli_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "comfyctl"),
                "sandbox",
                "--port",
                str(port),
                "--root",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "hint:" in result.stderr
