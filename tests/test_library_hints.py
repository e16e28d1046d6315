"""Library errors advise in API terms; the CLI's error boundary says the same in commands (issue 14).

A Python user or an MCP agent that is told "pass --token" or "comfyctl wait ID" gets advice it
cannot follow; a CLI user told "token=" likewise. Both sides are checked on real errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from comfyctl import Client, errors
from comfyctl.testing import Sandbox
from test_cli_support import invoke

DEMO = Path(__file__).resolve().parent.parent / "src" / "comfyctl" / "cli" / "demo_workflow.json"
DEMO_API = json.loads(DEMO.read_text())

#: A comfyctl command or one of its own flags (ComfyUI's server flags, e.g. --max-upload-size, are fine).
CLI_WORDS = re.compile(r"comfyctl [a-z]|--(token|timeout|url|json|out|quiet|unlink|object-info)\b")


def _error_classes() -> list[type[errors.ComfyError]]:
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ComfyError)]


def test_the_check_sees_cli_words() -> None:
    assert CLI_WORDS.search("pass --token (or set COMFYUI_TOKEN)")
    assert CLI_WORDS.search("'comfyctl wait 3f2a'")
    assert not CLI_WORDS.search("start ComfyUI with a larger --max-upload-size")


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_default_hints_speak_api_terms(cls: type[errors.ComfyError]) -> None:
    assert not CLI_WORDS.search(cls.default_hint), cls.default_hint


def test_named_hints_speak_api_terms() -> None:
    for hint in (errors.NO_API_HINT, errors.EXECUTION_HINT, errors.WAIT_TIMEOUT_HINT):
        assert hint and not CLI_WORDS.search(hint), hint


def test_library_errors_raised_by_the_client_speak_api_terms(tmp_path: Path) -> None:
    with Sandbox(root=tmp_path / "sb", token="s3cret") as sb:
        with Client(sb.url) as comfy, pytest.raises(errors.AuthError) as auth:
            comfy.system_stats()
        elsewhere = Client(sb.url + "/nothing-here", token="s3cret")
        with elsewhere as comfy, pytest.raises(errors.NotFound) as missing:
            comfy.system_stats()
        sb.faults.node("ImageInvert", error="boom", exception_type="RuntimeError")
        with Client(sb.url, token="s3cret") as comfy:
            with pytest.raises(errors.ExecutionError) as failed:
                comfy.run(DEMO_API)
            sb.pause_worker()
            job = comfy.submit(
                {**DEMO_API, "9": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}}}
            )
            with pytest.raises(errors.WaitTimeout) as timed_out:
                job.wait(0.2)
    for exc in (auth.value, missing.value, failed.value, timed_out.value):
        assert exc.hint and not CLI_WORDS.search(exc.hint), (type(exc).__name__, exc.hint)
    assert "token=" in auth.value.hint
    assert "history_entry" in failed.value.hint and "cancel(" in timed_out.value.hint


def test_the_cli_boundary_says_it_in_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Sandbox(root=tmp_path / "sb", token="s3cret") as sb:
        auth = invoke("status", url=sb.url)  # no token: the default advice
        assert auth.code == 8 and "hint: pass --token" in auth.stderr, auth.stderr
        missing = invoke("status", "--token", "s3cret", url=sb.url + "/nothing-here")
        assert "check --url" in missing.stderr, missing.stderr
        sb.faults.node("ImageInvert", error="boom", exception_type="RuntimeError")
        failed = invoke("--json", "run", str(DEMO), "--token", "s3cret", url=sb.url).json()["error"]
        pid = failed["details"]["prompt_id"]
        assert f"comfyctl history show {pid} --json" in failed["hint"], failed
        assert "history_entry" not in failed["hint"]
