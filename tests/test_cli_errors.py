"""Bad invocations and bad files: one ``error:`` line, the documented exit code, never a traceback.

Together with test_cli_commands.py this reaches every exit code 0-9 (and 130 for Ctrl-C).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from comfyctl.testing import Sandbox
from test_cli_support import Outcome, invoke

DEMO = Path(__file__).resolve().parent.parent / "src" / "comfyctl" / "cli" / "demo_workflow.json"
DEMO_API = json.loads(DEMO.read_text())


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _file(tmp: Path, name: str, content: Any) -> Path:
    path = tmp / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _demo(tmp: Path, **changes: Any) -> Path:
    api = json.loads(json.dumps(DEMO_API))
    for ref, value in changes.items():
        node, _, inp = ref.partition("__")
        api[node]["inputs"][inp] = value
    return _file(tmp, "wf.json", api)


def _closed() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


UNKNOWN_UI = {
    "last_node_id": 1,
    "last_link_id": 0,
    "version": 0.4,
    "links": [],
    "nodes": [
        {"id": 1, "type": "NoSuchNodeType", "mode": 0, "inputs": [], "outputs": [], "widgets_values": [1]}
    ],
}

# (id, argv builder(tmp, url) -> list, expected exit code, error code under --json)
Case = tuple[str, Callable[[Path, str], list[Any]], int, str]
CASES: list[Case] = [
    ("malformed-json", lambda t, u: ["run", _file(t, "bad.json", "{not json")], 2, "bad_workflow"),
    ("empty-file", lambda t, u: ["run", _file(t, "empty.json", "")], 2, "bad_workflow"),
    ("directory", lambda t, u: ["run", t], 2, "bad_workflow"),
    ("missing-file", lambda t, u: ["run", t / "nope.json"], 2, "bad_workflow"),
    ("json-list", lambda t, u: ["run", _file(t, "list.json", [1, 2])], 2, "bad_workflow"),
    ("json-not-workflow", lambda t, u: ["run", _file(t, "obj.json", {"a": 1})], 2, "bad_workflow"),
    ("ui-unknown-node", lambda t, u: ["run", _file(t, "ui.json", UNKNOWN_UI)], 2, "conversion_failed"),
    ("set-missing-node", lambda t, u: ["run", DEMO, "--set", "Nope.width=3"], 2, "bad_parameter"),
    ("set-missing-input", lambda t, u: ["run", DEMO, "--set", "Canvas.nope=3"], 2, "bad_parameter"),
    ("set-wrong-type", lambda t, u: ["run", DEMO, "--set", "Canvas.width=wide"], 2, "bad_parameter"),
    ("set-out-of-range", lambda t, u: ["run", DEMO, "--set", "Canvas.width=0"], 2, "bad_parameter"),
    ("set-no-equals", lambda t, u: ["run", DEMO, "--set", "Canvas.width"], 2, "bad_parameter"),
    (
        "set-ambiguous-class",
        lambda t, u: ["run", DEMO, "--set", "SaveImage.filename_prefix=x"],
        2,
        "bad_parameter",
    ),
    ("set-bad-combo", lambda t, u: ["run", DEMO, "--set", "Scale.upscale_method=magic"], 2, "bad_parameter"),
    ("seed-not-a-number", lambda t, u: ["run", DEMO, "--seed", "lucky"], 2, "usage"),
    ("timeout-negative", lambda t, u: ["--timeout", "-1", "status"], 2, "usage"),
    ("timeout-not-number", lambda t, u: ["status", "--timeout", "soon"], 2, "usage"),
    ("unknown-option", lambda t, u: ["status", "--bogus"], 2, "usage"),
    ("unknown-command", lambda t, u: ["frobnicate"], 2, "usage"),
    ("missing-argument", lambda t, u: ["run"], 2, "usage"),
    ("upload-missing-file", lambda t, u: ["upload", t / "none.png"], 2, "usage"),
    ("upload-bad-type", lambda t, u: ["upload", DEMO, "--type", "bogus"], 2, "usage"),
    ("history-n-zero", lambda t, u: ["history", "-n", "0"], 2, "usage"),
    (
        "object-info-malformed",
        lambda t, u: ["workflow", "validate", DEMO, "--object-info", _file(t, "oi.json", "{")],
        2,
        "usage",
    ),
    ("nodes-show-unknown", lambda t, u: ["nodes", "show", "NoSuchNode"], 2, "usage"),
    ("cancel-unknown", lambda t, u: ["cancel", "no-such-prompt"], 2, "usage"),
    ("history-show-unknown", lambda t, u: ["history", "show", "no-such-prompt"], 2, "usage"),
    ("queue-rm-unknown", lambda t, u: ["queue", "rm", "no-such-prompt"], 2, "usage"),
    ("download-unknown", lambda t, u: ["download", "no-such-prompt"], 2, "usage"),
    ("models-unknown-folder", lambda t, u: ["models", "no_such_folder"], 2, "usage"),
    ("view-missing-file", lambda t, u: ["view", "nope.png", "-o", t / "x.png"], 1, "not_found"),
    (
        "validate-out-of-range",
        lambda t, u: ["workflow", "validate", _demo(t, **{"1__width": 0})],
        4,
        "invalid_workflow",
    ),
    (
        "run-out-of-range-file",
        lambda t, u: ["run", _demo(t, **{"3__upscale_method": "magic"})],
        4,
        "invalid_workflow",
    ),
    (
        "run-no-validate-server-rejects",
        lambda t, u: ["run", _demo(t, **{"1__height": 0}), "--no-validate"],
        4,
        "prompt_rejected",
    ),
    ("run-dangling-link", lambda t, u: ["run", _demo(t, **{"4__image": ["99", 0]})], 4, "invalid_workflow"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_line_and_exit_code(case: Case, sandbox: Any, tmp_path: Path) -> None:
    _, argv, code, _ = case
    out = invoke(*argv(tmp_path, sandbox.url), url=sandbox.url)
    _assert_one_error(out, code)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_json_error_document(case: Case, sandbox: Any, tmp_path: Path) -> None:
    _, argv, code, err = case
    out = invoke("--json", *argv(tmp_path, sandbox.url), url=sandbox.url)
    assert out.code == code, (out.stdout, out.stderr)
    if err == "invalid_workflow" and "validate" in [str(a) for a in argv(tmp_path, sandbox.url)]:
        assert out.json()["valid"] is False and out.json()["problems"]
        return
    doc = out.json()
    assert doc["error"]["code"] == err
    assert set(doc["error"]) == {"code", "message", "hint", "details"}
    assert "Traceback" not in out.stderr


def _assert_one_error(out: Outcome, code: int) -> None:
    assert out.code == code, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.error_lines()) == 1, out.stderr
    assert out.stderr.startswith("error: ")
    others = out.stderr.splitlines()[1:]
    assert all(line.startswith(("hint: ", "  ")) for line in others), out.stderr
    assert out.stdout == ""


def test_validation_errors_list_each_node_input(sandbox: Any, tmp_path: Path) -> None:
    out = invoke(
        "workflow",
        "validate",
        _demo(tmp_path, **{"1__width": 0, "3__upscale_method": "magic"}),
        url=sandbox.url,
    )
    _assert_one_error(out, 4)
    assert "node 1 (EmptyImage) input 'width'" in out.stderr
    assert "node 3 (ImageScale) input 'upscale_method'" in out.stderr


def test_server_rejection_lists_each_node_input(sandbox: Any, tmp_path: Path) -> None:
    out = invoke("run", _demo(tmp_path, **{"1__height": 0}), "--no-validate", url=sandbox.url)
    _assert_one_error(out, 4)
    assert "node 1 (EmptyImage) input 'height'" in out.stderr
    doc = invoke(
        "--json", "run", _demo(tmp_path, **{"1__height": 0}), "--no-validate", url=sandbox.url
    ).json()
    assert doc["error"]["code"] == "prompt_rejected"
    assert [p["type"] for p in doc["error"]["details"]["problems"]] == ["value_smaller_than_min"]


@pytest.mark.parametrize(("class_type", "shown"), [(42, "42"), (None, "None"), (True, "True")])
def test_class_type_not_a_string_is_a_rejected_workflow(
    sandbox: Any, tmp_path: Path, fixtures_dir: Path, class_type: Any, shown: str
) -> None:
    # The real server answers 400 invalid_prompt "Cannot execute because node 42 does not exist."
    # (checked on ComfyUI 0.8.0): offline validation and run say the same, exit 4, not "no class_type".
    api = json.loads(json.dumps(DEMO_API))
    api["1"]["class_type"] = class_type
    wf = _file(tmp_path, "wf.json", api)
    reason = f"Cannot execute because node {shown} does not exist."
    offline = invoke("workflow", "validate", wf, "--object-info", fixtures_dir / "object_info.json")
    _assert_one_error(offline, 4)
    assert "node 1: class_type must be a node type name (a string)" in offline.stderr
    assert reason in offline.stderr
    doc = invoke("--json", "workflow", "validate", wf, "--object-info", fixtures_dir / "object_info.json")
    assert doc.code == 4
    problems = doc.json()["problems"]
    assert [(p["node_id"], p["type"], p["message"]) for p in problems] == [("1", "invalid_prompt", reason)]
    online = invoke("run", wf, "--no-validate", url=sandbox.url)  # the sandbox answers as the server
    _assert_one_error(online, 4)
    assert reason in online.stderr


def test_unreachable_saves_offline_and_exits_3(tmp_path: Path) -> None:
    out = invoke("run", DEMO, "--project", "p1", "--name", "later", url=_closed())
    _assert_one_error(out, 3)
    saved = tmp_path / "projects" / "p1" / "workflows" / "later.json"
    assert json.loads(saved.read_text()) == DEMO_API
    assert str(saved.relative_to(tmp_path)) in out.stderr and "offline submit" in out.stderr
    doc = invoke("--json", "run", DEMO, url=_closed()).json()
    assert doc["error"]["code"] == "unreachable"
    assert doc["error"]["details"]["advice"]["code"] == "unreachable"  # the diagnosis rides along
    assert Path(doc["error"]["details"]["saved"]["path"]).name == "demo_workflow.json"


def test_unreachable_ui_saved_with_its_graph(tmp_path: Path, fixtures_dir: Path) -> None:
    ui = shutil.copy(fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json", tmp_path / "graph.ui.json")
    out = invoke("run", ui, "--object-info", fixtures_dir / "object_info.json", url=_closed())
    _assert_one_error(out, 3)
    folder = tmp_path / "projects" / "default" / "workflows"
    assert (folder / "graph.json").is_file() and (folder / "graph.ui.json").is_file()
    no_defs = invoke("run", ui, url=_closed())
    _assert_one_error(no_defs, 3)
    assert "--object-info" in no_defs.stderr


@pytest.mark.parametrize("args", [["status"], ["queue"], ["workflow", "convert", "UI"]])
def test_unreachable_commands(args: list[str], fixtures_dir: Path) -> None:
    argv = [fixtures_dir / "ui2api" / "edge_muted.ui.json" if a == "UI" else a for a in args]
    _assert_one_error(invoke(*argv, url=_closed()), 3)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_wrong_or_missing_token_exits_8(tmp_path: Path, token: str | None) -> None:
    with Sandbox(root=tmp_path / "sb", token="s3cret") as sb:
        args = ["status"] + (["--token", token] if token else [])
        _assert_one_error(invoke(*args, url=sb.url), 8)
        assert invoke("status", "--token", "s3cret", url=sb.url).code == 0


def test_execution_error_exits_5(sandbox: Any) -> None:
    sandbox.faults.node("ImageInvert", error="boom", exception_type="RuntimeError")
    out = invoke("run", DEMO, "-q", url=sandbox.url)
    _assert_one_error(out, 5)
    assert "boom" in out.stderr
    loud = invoke("run", DEMO, "--set", "Canvas.width=78", url=sandbox.url)
    assert loud.code == 5 and len(loud.error_lines()) == 1 and "Traceback" not in loud.stderr
    doc = invoke("--json", "run", DEMO, "--set", "Canvas.width=77", url=sandbox.url).json()
    assert doc["error"]["code"] == "execution_failed" and doc["error"]["details"]["node_id"] == "4"


def test_server_error_exits_9(sandbox: Any) -> None:
    sandbox.faults.route("/prompt", status=500)
    _assert_one_error(invoke("run", DEMO, url=sandbox.url), 9)


def test_wait_timeout_exits_7(sandbox: Any) -> None:
    sandbox.pause_worker()
    pid = invoke("run", DEMO, "--no-wait", url=sandbox.url).stdout.strip()
    out = invoke("wait", pid, "--timeout", "0.3", url=sandbox.url)
    _assert_one_error(out, 7)
    assert pid in out.stderr
    # the hint is a command to paste, with the real id (it said 'comfyctl wait ID')
    assert f"hint: the prompt keeps going: 'comfyctl wait {pid}', or 'comfyctl cancel {pid}'" in out.stderr


def test_unexpected_error_exits_1_and_debug_shows_traceback(
    monkeypatch: pytest.MonkeyPatch, sandbox: Any
) -> None:
    from comfyctl.cli import server_cmds

    def broken(*a: Any, **k: Any) -> None:
        raise ZeroDivisionError("synthetic")

    monkeypatch.setattr(server_cmds, "_gib", broken)
    out = invoke("status", url=sandbox.url)
    _assert_one_error(out, 1)
    assert "ZeroDivisionError" in out.stderr and "--debug" in out.stderr
    debug = invoke("status", "--debug", url=sandbox.url)
    assert debug.code == 1 and "Traceback" in debug.stderr


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> None:
    from comfyctl.cli import server_cmds

    def interrupted(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(server_cmds, "_gib", interrupted)
    out = invoke("status", url=sandbox.url)
    assert out.code == 130 and "Traceback" not in out.stderr


def test_definitions_fall_back_to_the_inventory_cache(tmp_path: Path, fixtures_dir: Path) -> None:
    """Server down: workflow convert/validate and run use the inventory cache for that server."""
    ui = fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json"
    with Sandbox(root=tmp_path / "sb") as sb:
        url = sb.url
        assert invoke("inventory", "--refresh", url=url).code == 0
    out = invoke("workflow", "convert", ui, url=url)
    assert out.code == 0, out.stderr
    assert set(json.loads(out.stdout)) == set(
        json.loads(ui.with_name("edge_reroute_chain.api.json").read_text())
    )
    assert invoke("workflow", "validate", ui, url=url).code == 0
    saved = invoke("run", ui, "--name", "cached", url=url)
    _assert_one_error(saved, 3)
    assert (tmp_path / "projects" / "default" / "workflows" / "cached.ui.json").is_file()


def test_url_pasted_with_api_suffix_works(sandbox: Any) -> None:
    # the frontend's .../api URL used to become /api/api/system_stats → 404 (exit 1)
    for url in (sandbox.url + "/api", sandbox.url + "/api/"):
        assert invoke("--json", "status", url=url).json()["reachable"] is True


def test_https_to_a_plain_http_server_says_use_http(sandbox: Any) -> None:
    out = invoke("status", url=sandbox.url.replace("http://", "https://"))
    _assert_one_error(out, 3)
    assert "use http://" in out.stderr and "--ca-bundle" not in out.stderr


@pytest.mark.parametrize("json_mode", [False, True])
def test_ctrl_c_while_following_names_the_prompt_that_keeps_running(
    monkeypatch: pytest.MonkeyPatch, sandbox: Any, json_mode: bool
) -> None:
    from comfyctl.cli import progress

    def interrupted(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(progress.ProgressDisplay, "update", interrupted)
    out = invoke(*(["--json"] if json_mode else []), "run", DEMO, url=sandbox.url)
    assert out.code == 130 and "Traceback" not in out.stderr
    if json_mode:  # an agent gets the prompt id in the one JSON document, not only in stderr prose
        doc = out.json()
        assert doc["error"]["code"] == "aborted" and doc["error"]["details"]["prompt_id"]
        assert "comfyctl cancel " + doc["error"]["details"]["prompt_id"] in doc["error"]["hint"]
    else:
        _assert_one_error(out, 130)
        assert "comfyctl cancel " in out.stderr


def test_wait_on_a_prompt_another_client_dequeued(sandbox: Any) -> None:
    from comfyctl import Client

    sandbox.pause_worker()
    pid = invoke("run", DEMO, "--no-wait", url=sandbox.url).stdout.strip()
    with Client(sandbox.url) as other:  # another process's cancel leaves no trace on the server
        other.delete_queued([pid])
    out = invoke("wait", pid, url=sandbox.url)
    _assert_one_error(out, 5)
    assert "another client removed it" in out.stderr  # not only "the server lost it (restarted?)"


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_timeout_is_a_usage_error(sandbox: Any, value: str) -> None:
    _assert_one_error(invoke("--timeout", value, "status", url=sandbox.url), 2)


def test_url_of_something_that_is_not_comfyui(tmp_path: Path) -> None:
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:  # a 404 on /system_stats used to come with no hint at all
        out = invoke("status", url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    _assert_one_error(out, 1)
    assert "hint: no ComfyUI API at this URL" in out.stderr
