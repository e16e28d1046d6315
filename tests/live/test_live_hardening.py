"""Issue 13 on a real ComfyUI: a 403 from /view is not an auth failure, a 500 shows its log tail,
errors after a prompt id was chosen name it (and the prompt really is on the server)."""

from __future__ import annotations

import asyncio
import errno
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from comfyctl import AsyncClient, Client, errors
from comfyctl.results import OutputFile
from test_cli_support import invoke

pytestmark = pytest.mark.live


def _fresh() -> dict[str, Any]:
    color = uuid.uuid4().int % 2**24  # unique: nothing comes from the execution cache
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": color},
        },
        "2": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "comfyctl_live/h"},
        },
    }


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_live_403_for_a_path_outside_the_output_folder(live_url: str, tmp_path: Path, kind: str) -> None:
    hostile = OutputFile(node_id="1", filename="x.png", subfolder="../../..", type="output", kind="image")

    async def main() -> None:
        async with AsyncClient(live_url) as c:
            await c.download(hostile, tmp_path)

    with pytest.raises(errors.UnsafePath) as caught:
        if kind == "sync":
            with Client(live_url) as c:
                c.download(hostile, tmp_path)
        else:
            asyncio.run(main())
    assert caught.value.details["status"] == 403 and "token" not in caught.value.hint


def test_live_500_shows_the_log_tail(live_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    name = f"comfyctl_live_orig_{time.time_ns()}.png"
    Image.new("RGB", (8, 8)).save(tmp_path / name)
    Image.new("RGBA", (4, 4), (0, 0, 0, 9)).save(tmp_path / "mask.png")
    assert invoke("upload", tmp_path / name, url=live_url).code == 0
    out = invoke("upload", tmp_path / "mask.png", "--mask", name, url=live_url)
    assert out.code == 9, out.stderr
    assert "server log (last lines):" in out.stderr, out.stderr


def test_live_errors_after_the_post_name_a_prompt_that_is_on_the_server(
    live_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from comfyctl import _protocol
    from comfyctl._files import Sink

    monkeypatch.chdir(tmp_path)
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps(_fresh()))

    def landed_then_ctrl_c(*a: Any, **k: Any) -> Any:
        raise KeyboardInterrupt  # the POST landed; its answer is never used

    with monkeypatch.context() as m:
        m.setattr(_protocol, "parse_submit", landed_then_ctrl_c)
        stopped = invoke("--json", "run", wf, url=live_url)
    assert stopped.code == 130
    pid = stopped.json()["error"]["details"]["prompt_id"]
    assert invoke("wait", pid, "--timeout", "120", url=live_url).code == 0  # it was queued

    def full(self: Any, chunk: bytes) -> None:
        raise self._error(OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(Sink, "write", full)
    out = invoke("-q", "download", pid, "--out", tmp_path / "o", url=live_url)
    assert out.code == 10 and f"comfyctl download {pid}" in out.stderr, out.stderr
    with Client(live_url) as c:
        c.delete_history([pid])
