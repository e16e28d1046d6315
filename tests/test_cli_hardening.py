"""Issue 13 at the CLI's error boundary: every error after a prompt id was chosen names it, with
the command that picks it up again; a disk error is not a usage error; a 500 shows its log tail."""

from __future__ import annotations

import contextlib
import errno
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_cli_support import Outcome, invoke

DEMO = Path(__file__).resolve().parent.parent / "src" / "comfyctl" / "cli" / "demo_workflow.json"
OBJECT_INFO = Path(__file__).resolve().parent / "data" / "fixtures" / "object_info.json"


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _only_prompt(sandbox: Any) -> str:
    ids = [*sandbox.history()]
    with __import__("comfyctl").Client(sandbox.url) as c:
        q = c.queue()
    ids += [i.prompt_id for i in (*q.running, *q.pending)]
    assert len(ids) == 1, ids
    return str(ids[0])


def _one_error(out: Outcome, code: int) -> str:
    assert out.code == code, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.startswith("error: ")
    return out.stderr


def test_post_and_landing_check_timing_out_name_the_prompt(sandbox: Any) -> None:
    """Was: 'GET /api/queue: no answer within 3 s', exit 7 and no id, after a POST that landed."""
    sandbox.faults.route("/prompt", hang=True)
    sandbox.faults.route("/queue", hang=True)
    args = ["--timeout", "1", "run", DEMO, "--object-info", OBJECT_INFO, "--no-validate"]
    doc = invoke("--json", *args, url=sandbox.url).json()["error"]
    pid = doc["details"]["prompt_id"]
    assert doc["code"] == "request_timeout" and pid in doc["message"]
    assert f"comfyctl wait {pid}" in doc["hint"]
    assert not (Path("projects").exists())  # it may be queued: never also saved for a second run
    human = _one_error(invoke("-q", *args, url=sandbox.url), 7)
    assert "comfyctl wait " in human and "may be queued" in human


def test_server_gone_while_waiting_names_the_prompt_and_saved_nothing(sandbox: Any) -> None:
    sandbox.pause_worker()
    url = sandbox.url
    pid = invoke("run", DEMO, "--no-wait", url=url).stdout.strip()
    sandbox.stop()
    doc = invoke("--json", "wait", pid, url=url).json()["error"]
    assert doc["code"] == "unreachable" and doc["details"]["prompt_id"] == pid
    assert f"comfyctl wait {pid}" in doc["hint"]
    steps = " ".join(doc["details"]["advice"]["steps"])
    assert "offline" not in steps and f"comfyctl wait {pid}" in steps  # nothing was saved offline
    assert f"comfyctl wait {pid}" in _one_error(invoke("-q", "wait", pid, url=url), 3)


def test_disk_full_while_downloading_names_the_prompt_even_quiet(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfyctl._files import Sink

    def full(self: Any, chunk: bytes) -> None:
        raise self._error(OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(Sink, "write", full)
    err = _one_error(invoke("-q", "run", DEMO, "--out", tmp_path / "o", url=sandbox.url), 10)
    pid = _only_prompt(sandbox)
    assert "No space left" in err and f"comfyctl download {pid}" in err
    doc = invoke("--json", "download", pid, "--out", tmp_path / "o", url=sandbox.url)
    assert doc.code == 10  # not 2: nothing was wrong with the command
    error = doc.json()["error"]
    assert error["code"] == "local_io" and error["details"]["prompt_id"] == pid
    assert f"comfyctl download {pid}" in error["hint"]
    assert f"comfyctl download {pid}" in _one_error(invoke("-q", "download", pid, url=sandbox.url), 10)


@pytest.mark.parametrize("json_mode", [False, True])
def test_ctrl_c_while_the_post_is_in_flight_names_the_queued_prompt(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, json_mode: bool
) -> None:
    from comfyctl import _protocol

    def landed_then_ctrl_c(*a: Any, **k: Any) -> Any:
        raise KeyboardInterrupt  # the server queued it; its answer is never used

    monkeypatch.setattr(_protocol, "parse_submit", landed_then_ctrl_c)
    out = invoke(*(["--json"] if json_mode else []), "run", DEMO, url=sandbox.url)
    assert out.code == 130 and "Traceback" not in out.stderr
    pid = _only_prompt(sandbox)
    if json_mode:
        doc = out.json()["error"]
        assert doc["details"]["prompt_id"] == pid and f"comfyctl wait {pid}" in doc["hint"]
    else:
        assert pid in out.stderr and f"comfyctl wait {pid}" in out.stderr


def test_ctrl_c_during_wait_names_the_prompt(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was a plain 'interrupted by the user'."""
    from comfyctl.client import Job

    sandbox.pause_worker()
    pid = invoke("run", DEMO, "--no-wait", url=sandbox.url).stdout.strip()

    def ctrl_c(self: Any, *a: Any, **k: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Job, "wait", ctrl_c)
    err = _one_error(invoke("wait", pid, url=sandbox.url), 130)
    assert f"stopped watching prompt {pid}" in err and f"comfyctl cancel {pid}" in err
    doc = invoke("--json", "wait", pid, url=sandbox.url).json()["error"]
    assert doc["code"] == "aborted" and doc["details"]["prompt_id"] == pid


def _serving(body: bytes) -> Iterator[str]:
    """A plain HTTP server answering every GET with ``body`` (JSON)."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_nodes_with_a_broken_definition_is_a_clear_error() -> None:
    """Was: exit 1 'unexpected AttributeError: 'int' object has no attribute 'get''."""
    info = json.loads(OBJECT_INFO.read_text())
    info["BrokenPackNode"] = 42
    with contextlib.contextmanager(_serving)(json.dumps(info).encode()) as url:
        out = invoke("--json", "nodes", url=url)
        err = invoke("nodes", url=url).stderr
    doc = out.json()["error"]
    assert out.code == 1 and doc["code"] == "http_error" and "BrokenPackNode" in doc["message"]
    assert "unexpected" not in err and "BrokenPackNode" in err


def test_a_500_shows_the_last_lines_of_the_servers_log(sandbox: Any, tmp_path: Path) -> None:
    """The log tail was fetched but only --json showed it."""
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "orig.png")
    Image.new("RGBA", (4, 4), (0, 0, 0, 9)).save(tmp_path / "mask.png")
    assert invoke("upload", tmp_path / "orig.png", url=sandbox.url).code == 0
    err = _one_error(invoke("upload", tmp_path / "mask.png", "--mask", "orig.png", url=sandbox.url), 9)
    assert "server log (last lines):" in err
    tail = err.split("server log (last lines):", 1)[1].splitlines()[1:]
    assert 1 <= len([t for t in tail if t.startswith("  ") and not t.startswith("  hint")]) <= 5
    assert "images do not match" in err
