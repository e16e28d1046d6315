"""CLI: inventory, check, export, offline, doctor against the sandbox; exactly-once submit under SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from comfyctl.client import Client
from comfyctl.offline import OfflineStore
from test_cli_support import assert_error, assert_schema, invoke

API_OK = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "inv"}},
}
API_MISSING = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl_base.safetensors"}},
    "2": {"class_type": "IPAdapterAdvanced", "inputs": {"model": ["1", 0]}},
    "3": {"class_type": "LoraLoader", "inputs": {"lora_name": "detail.safetensors", "model": ["1", 0]}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}


@pytest.fixture
def down_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """./projects and ./state land in the test's folder."""
    monkeypatch.chdir(tmp_path)


def _file(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_inventory_command_caches_and_refreshes(sandbox: Any, tmp_path: Path) -> None:
    (sandbox.root / "models/loras").mkdir(parents=True, exist_ok=True)
    (sandbox.root / "models/loras/detail.safetensors").write_bytes(b"x")
    first = invoke("inventory", "--json", url=sandbox.url)
    assert first.code == 0, first.stderr
    doc = first.json()
    assert_schema(doc, "inventory")
    assert doc["mode"] == "online" and doc["models"]["loras"] == ["detail.safetensors"]
    assert doc["nodes"]["SaveImageWebsocket"] == "custom_nodes.websocket_image_save"
    assert (tmp_path / "state/inventory.json").is_file()
    (sandbox.root / "models/loras/new.safetensors").write_bytes(b"x")
    assert invoke("inventory", "--json", url=sandbox.url).json()["created"] == doc["created"]
    refreshed = invoke("inventory", "--refresh", "--json", url=sandbox.url).json()
    assert_schema(refreshed, "inventory")
    assert refreshed["models"]["loras"] == ["detail.safetensors", "new.safetensors"]
    human = invoke("inventory", url=sandbox.url)
    assert human.code == 0 and "new.safetensors" in human.stdout and "websocket_image_save" in human.stdout


def test_inventory_falls_back_to_a_stale_cache_with_a_warning(sandbox: Any, tmp_path: Path) -> None:
    url = sandbox.url
    assert invoke("inventory", "--json", url=url).code == 0
    sandbox.stop()
    out = invoke("inventory", "--max-age", "0", "--json", url=url)
    assert out.code == 0 and out.json()["stale"] is True
    assert_schema(out.json(), "inventory")
    assert "unreachable" in out.stderr
    down = invoke("inventory", "--state-dir", str(tmp_path / "none"), url=url)
    assert down.code == 3
    assert_error(invoke("inventory", "--state-dir", tmp_path / "none", "--json", url=url), 3, "unreachable")
    assert_error(
        invoke(
            "check", _file(tmp_path, "wf.json", API_OK), "--state-dir", tmp_path / "none", "--json", url=url
        ),
        3,
        "unreachable",
    )


def test_inventory_scan_command(tmp_path: Path) -> None:
    root = tmp_path / "ComfyUI"
    (root / "models/vae").mkdir(parents=True)
    (root / "models/vae/ae.safetensors").write_bytes(b"")
    (root / "custom_nodes/pack").mkdir(parents=True)
    (root / "custom_nodes/pack/__init__.py").write_text('NODE_CLASS_MAPPINGS = {"PackNode": object}\n')
    out = invoke("inventory", "scan", str(root), "--json")
    assert out.code == 0, out.stderr
    doc = out.json()
    assert_schema(doc, "inventory")
    assert doc["mode"] == "offline" and doc["models"]["vae"] == ["ae.safetensors"]
    assert doc["nodes"] == {"PackNode": "custom_nodes.pack"}
    assert root.resolve().as_uri() in json.loads((tmp_path / "state/inventory.json").read_text())["servers"]
    assert invoke("inventory", "scan", str(tmp_path / "nope")).code == 2
    assert_error(invoke("inventory", "scan", tmp_path / "nope", "--json"), 2, "usage")


def test_check_names_each_missing_item_with_its_folder_or_package(sandbox: Any, tmp_path: Path) -> None:
    wf = _file(tmp_path, "needs.json", API_MISSING)
    out = invoke("check", wf, url=sandbox.url)
    assert out.code == 4
    assert "IPAdapterAdvanced" in out.stdout and "ComfyUI_IPAdapter_plus" in out.stdout
    assert "sdxl_base.safetensors" in out.stdout and "models/checkpoints/" in out.stdout
    assert "detail.safetensors" in out.stdout and "models/loras/" in out.stdout
    doc = invoke("check", wf, "--json", url=sandbox.url).json()
    assert_schema(doc, "check")
    assert doc["ok"] is False
    kinds = sorted((p["kind"], p.get("folder") or p.get("package")) for p in doc["problems"])
    assert kinds == [
        ("missing_model", "checkpoints"),
        ("missing_model", "loras"),
        ("missing_node", "ComfyUI_IPAdapter_plus"),
    ]
    (sandbox.root / "models/checkpoints").mkdir(parents=True, exist_ok=True)
    (sandbox.root / "models/checkpoints/sdxl_base.safetensors").write_bytes(b"x")
    again = invoke("check", wf, "--refresh", "--json", url=sandbox.url).json()
    assert_schema(again, "check")
    assert [p["value"] for p in again["problems"] if p["kind"] == "missing_model"] == ["detail.safetensors"]
    ok = invoke("check", _file(tmp_path, "ok.json", API_OK), url=sandbox.url)
    assert ok.code == 0 and "everything it needs is installed" in ok.stdout
    ok_doc = invoke("check", _file(tmp_path, "ok.json", API_OK), "--json", url=sandbox.url)
    assert ok_doc.code == 0 and ok_doc.json()["ok"] is True and ok_doc.json()["problems"] == []
    assert_schema(ok_doc.json(), "check")
    assert_error(
        invoke("check", _file(tmp_path, "list.json", [1]), "--json", url=sandbox.url), 2, "bad_workflow"
    )


def test_check_against_a_folder_on_disk(tmp_path: Path) -> None:
    root = tmp_path / "ComfyUI"
    (root / "models/checkpoints").mkdir(parents=True)
    (root / "models/checkpoints/sdxl_base.safetensors").write_bytes(b"")
    out = invoke("check", _file(tmp_path, "needs.json", API_MISSING), "--comfyui-dir", root, "--json")
    assert out.code == 4
    assert_schema(out.json(), "check")
    missing = {p["class_type"] for p in out.json()["problems"]}
    assert missing == {
        "CheckpointLoaderSimple",
        "IPAdapterAdvanced",
        "LoraLoader",
        "SaveImage",
    }  # no core scan


def test_export_ls_and_submit_exactly_once(sandbox: Any, tmp_path: Path) -> None:
    wf = _file(tmp_path, "flow.json", API_OK)
    saved = invoke("export", wf, "--project", "p", "--name", "night", "--json")
    assert saved.code == 0, saved.stderr
    assert_schema(saved.json(), "exported")
    assert saved.json()["path"] == str(Path("projects/p/workflows/night.json"))
    assert json.loads((tmp_path / "projects/p/workflows/night.json").read_text()) == API_OK
    second = invoke("export", wf, "--project", "p", "--name", "night", "--json").json()
    assert second["name"] == "night-2"  # never silently replaced
    listed = invoke("offline", "ls", "--json").json()
    assert_schema(listed, "offline_ls")
    assert [p["name"] for p in listed["pending"]] == ["night", "night-2"]
    assert invoke("offline", "submit", url=sandbox.url).code == 2  # neither --all nor names
    assert_error(invoke("offline", "submit", "--json", url=sandbox.url), 2, "usage")
    assert_error(invoke("export", tmp_path / "absent.json", "--json"), 2, "bad_workflow")
    sandbox.pause_worker()
    sub = invoke("offline", "submit", "--all", "--json", url=sandbox.url)
    assert sub.code == 0, sub.stderr
    assert_schema(sub.json(), "offline_submit")
    assert {s["status"] for s in sub.json()["submitted"]} == {"submitted"}
    ids = [s["prompt_id"] for s in sub.json()["submitted"]]
    queued = invoke("queue", "--json", url=sandbox.url)
    assert queued.code == 0
    posted = Counter(item["prompt_id"] for item in queued.json()["pending"])
    assert posted == Counter(ids) and set(posted.values()) == {1}
    assert invoke("offline", "submit", "--all", "--json", url=sandbox.url).json() == {"submitted": []}
    assert invoke("offline", "ls", "--json").json()["pending"] == []


def test_offline_submit_against_a_down_server_exits_3_and_keeps_the_work(
    down_url: str, tmp_path: Path
) -> None:
    OfflineStore().export(API_OK, name="keep")
    out = invoke("offline", "submit", "--all", url=down_url)
    assert out.code == 3
    assert_error(invoke("offline", "submit", "--all", "--json", url=down_url), 3, "unreachable")
    assert [p.name for p in OfflineStore().pending()] == ["keep"]


def test_run_with_the_server_down_saves_the_workflow_and_exits_3(down_url: str, tmp_path: Path) -> None:
    wf = _file(tmp_path, "later.json", API_OK)
    out = invoke("run", wf, "--project", "q", url=down_url)
    assert out.code == 3, out.stderr
    saved = tmp_path / "projects/q/workflows/later.json"
    assert json.loads(saved.read_text()) == API_OK
    assert str(saved.relative_to(tmp_path)) in out.stderr
    assert [p.name for p in OfflineStore().pending("q")] == ["later"]


def test_doctor_verdicts(sandbox: Any, down_url: str, tmp_path: Path) -> None:
    out = invoke("doctor", "--json", url=sandbox.url)
    assert out.code == 0, out.stderr
    doc = out.json()
    assert_schema(doc, "doctor")
    assert doc["verdict"] == "degraded"  # no inventory cached yet
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["reachable"]["status"] == "ok" and "0.8.0" in checks["versions"]["message"]
    assert checks["inventory"]["status"] == "warn"
    assert invoke("inventory", url=sandbox.url).code == 0
    healthy = invoke("doctor", url=sandbox.url)
    assert healthy.code == 0 and "verdict: healthy" in healthy.stdout
    healthy_doc = invoke("doctor", "--json", url=sandbox.url).json()
    assert healthy_doc["verdict"] == "healthy"
    assert_schema(healthy_doc, "doctor")
    down = invoke("doctor", "--json", url=down_url)
    assert down.code == 3 and down.json()["verdict"] == "down"
    assert_schema(down.json(), "doctor")  # a verdict, not an error document
    assert_error(invoke("doctor", "--sample", "-1", "--json", url=down_url), 2, "usage")
    assert down.json()["checks"][0]["advice"]["code"] == "unreachable"


def test_doctor_flags_a_stuck_queue(sandbox: Any) -> None:
    sandbox.faults.node("1", delay=60, steps=600)  # runs for the whole test; interruptible per step
    assert invoke("run", _file(Path("."), "slow.json", API_OK), "--no-wait", url=sandbox.url).code == 0
    with Client(sandbox.url) as client:
        for _ in range(500):  # until the worker has taken it
            if client.queue().running:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the worker never started the prompt: {client.queue()}")
    fine = invoke("doctor", "--sample", "0.05", "--json", url=sandbox.url)
    queue = {c["name"]: c for c in fine.json()["checks"]}["queue"]
    assert queue["status"] == "ok" and "same prompt running" in queue["message"]  # young: not stuck
    assert_schema(fine.json(), "doctor")
    out = invoke("doctor", "--stuck-after", "0", "--json", url=sandbox.url)
    assert_schema(out.json(), "doctor")
    queue = {c["name"]: c for c in out.json()["checks"]}["queue"]
    assert queue["status"] == "warn" and queue["advice"]["code"] == "queue_stuck"
    assert out.json()["verdict"] == "degraded" and out.code == 0
    sandbox.faults.clear()
    sandbox.interrupt()


SUBMIT = "import sys; from comfyctl.cli.main import main; main(sys.argv[1:])"
# The same, but it stops for good right after the server answered the POST (the test then kills
# it there): the wrapper lives in the test's child process, the library knows nothing of it.
SUBMIT_THEN_STOP = textwrap.dedent(
    """
    import pathlib, sys, time
    from comfyctl import client
    real = client.Client.submit
    def submit(self, *args, **kwargs):
        job = real(self, *args, **kwargs)
        pathlib.Path("posted.tmp").write_text(job.prompt_id)
        pathlib.Path("posted.tmp").rename("posted")
        time.sleep(120)
    client.Client.submit = submit
    from comfyctl.cli.main import main
    main(sys.argv[1:])
    """
)


def _ledger(root: Path) -> dict[str, Any]:
    try:  # written atomically: always a whole document
        return dict(json.loads((root / "projects/default/ledger.json").read_text())["workflows"])
    except FileNotFoundError:
        return {}


def _on_server(client: Client) -> Counter[str]:
    """How many times each prompt id is on the server (queue and history)."""
    state = client.queue()
    return Counter([*(i.prompt_id for i in (*state.running, *state.pending)), *client.history()])


def _kill_submit_when(
    root: Path, url: str, env: dict[str, str], reached: Any, script: str = SUBMIT
) -> dict[str, Any]:
    """Start 'offline submit --all', SIGKILL it as soon as ``reached(ledger)``; the ledger then."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--url", url, "-q", "offline", "submit", "--all"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(6000):
            entries = _ledger(root)
            if reached(entries):
                break
            if proc.poll() is not None:
                pytest.fail(f"the submit ended (exit {proc.returncode}) before the kill point")
            time.sleep(0.005)
        else:
            pytest.fail("the kill point was never reached")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return _ledger(root)


def test_sigkill_mid_submit_then_rerun_submits_each_exactly_once(sandbox: Any, tmp_path: Path) -> None:
    """Kills land in each dangerous window on purpose, and every workflow reaches the server once."""
    store = OfflineStore(tmp_path)
    names = [store.export(API_OK, name=f"wf{i:02d}").name for i in range(12)]
    sandbox.pause_worker()  # everything posted stays in the queue, duplicates included
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def new_reservation(before: dict[str, Any]) -> Any:
        return lambda now: (
            {n for n, e in now.items() if e.get("status") == "submitting"}
            - {n for n, e in before.items() if e.get("status") == "submitting"}
        )

    with Client(sandbox.url) as client:
        # 1. Killed after the server accepted the POST, before the ledger recorded it.
        before = _ledger(tmp_path)
        posted = tmp_path / "posted"
        after = _kill_submit_when(tmp_path, sandbox.url, env, lambda now: posted.exists(), SUBMIT_THEN_STOP)
        [landed] = new_reservation(before)(after) or pytest.fail("no prompt id was reserved before the POST")
        landed_id = after[landed]["prompt_id"]
        assert posted.read_text() == landed_id and landed_id in _on_server(client)  # posted...
        assert after[landed]["status"] == "submitting"  # ...not recorded

        # 2. Killed after reserving the id, while the POST hangs (the server never queues it).
        hung = sandbox.faults.route("/prompt", method="POST", hang=True, times=1)
        before = _ledger(tmp_path)
        after = _kill_submit_when(
            tmp_path, sandbox.url, env, lambda now: new_reservation(before)(now) and hung.times == 0
        )
        [lost] = new_reservation(before)(after) or pytest.fail("no prompt id was reserved before the POST")
        lost_id = after[lost]["prompt_id"]
        assert lost_id not in _on_server(client)  # reserved, never posted
        assert after[landed]["status"] == "submitted" and after[landed]["prompt_id"] == landed_id
        sandbox.faults.clear()

        # 3. Killed in the middle of the loop, after a few more went through.
        done_before = sum(e.get("status") == "submitted" for e in _ledger(tmp_path).values())
        _kill_submit_when(
            tmp_path,
            sandbox.url,
            env,
            lambda now: sum(e.get("status") == "submitted" for e in now.values()) >= done_before + 3,
        )

        final = subprocess.run(
            [sys.executable, "-c", SUBMIT, "--url", sandbox.url, "--json", "offline", "submit", "--all"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert final.returncode == 0, final.stderr
        assert json.loads(final.stdout)["submitted"]  # the kill left work for the rerun
        assert store.pending() == []
        ledger = _ledger(tmp_path)
        assert ledger[lost]["prompt_id"] == lost_id  # re-sent under the id it had reserved
        assert ledger[landed]["prompt_id"] == landed_id  # found on the server, not re-sent
        assert all(ledger[n]["status"] == "submitted" for n in names)
        ids = [ledger[n]["prompt_id"] for n in names]
        assert _on_server(client) == Counter(ids) and len(set(ids)) == len(names)  # each exactly once


def test_export_of_a_ui_workflow_saves_both_files(tmp_path: Path, fixtures_dir: Path) -> None:
    ui = fixtures_dir / "ui2api/default.ui.json"
    out = invoke("export", ui, "--object-info", fixtures_dir / "object_info.json", "--json")
    assert out.code == 0, out.stderr
    doc = out.json()
    assert_schema(doc, "exported")
    assert doc["name"] == "default"  # the file name without .ui.json
    saved_api = json.loads(Path(doc["path"]).read_text())
    assert saved_api == json.loads((fixtures_dir / "ui2api/default.api.json").read_text())
    assert json.loads(Path(doc["ui_path"]).read_text()) == json.loads(ui.read_text())  # loadable in ComfyUI
    (tmp_path / "models").mkdir()  # an empty ComfyUI install (a bare folder is refused as not ComfyUI)
    check = invoke("check", ui, "--comfyui-dir", tmp_path, "--json")  # a UI file checks without conversion
    assert check.code == 4 and {p["class_type"] for p in check.json()["problems"]} >= {"KSampler"}
    assert_schema(check.json(), "check")
    assert check.json()["format"] == "ui"


def test_export_of_a_ui_workflow_without_definitions_is_unreachable_not_saved(
    tmp_path: Path, fixtures_dir: Path, down_url: str
) -> None:
    out = invoke("export", fixtures_dir / "ui2api/default.ui.json", url=down_url)
    assert out.code == 3 and "--object-info" in out.stderr
    err = assert_error(
        invoke("export", fixtures_dir / "ui2api/default.ui.json", "--json", url=down_url), 3, "unreachable"
    )
    assert "--object-info" in err["hint"]
    assert not (tmp_path / "projects").exists()


def test_run_of_a_ui_workflow_with_the_server_down_uses_the_cached_definitions(
    sandbox: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    """inventory.load_node_defs is what lets 'run' convert (and so save) a UI file offline."""
    url = sandbox.url
    assert invoke("inventory", url=url).code == 0  # caches /object_info
    sandbox.stop()
    ui = fixtures_dir / "ui2api/edge_primitive_widget_input.ui.json"
    out = invoke("run", ui, "--name", "prim", url=url)
    assert out.code == 3, out.stderr
    folder = tmp_path / "projects/default/workflows"
    expected = json.loads((fixtures_dir / "ui2api/edge_primitive_widget_input.api.json").read_text())
    assert json.loads((folder / "prim.json").read_text()) == expected
    assert json.loads((folder / "prim.ui.json").read_text()) == json.loads(ui.read_text())


def test_offline_submit_marks_a_rejected_workflow_and_exits_4(sandbox: Any, tmp_path: Path) -> None:
    store = OfflineStore()
    store.export({"1": {"class_type": "DoesNotExist", "inputs": {}}}, name="bad")
    store.export(API_OK, name="good")
    out = invoke("offline", "submit", "--all", "--json", url=sandbox.url)
    assert out.code == 4
    assert_schema(out.json(), "offline_submit")
    rows = {s["name"]: s for s in out.json()["submitted"]}
    assert rows["bad"]["status"] == "rejected" and rows["bad"]["error"]["code"] == "prompt_rejected"
    assert rows["good"]["status"] == "submitted"
    assert store.pending() == []
    listed = invoke("offline", "ls", "--submitted", "--json").json()
    assert_schema(listed, "offline_ls")
    assert {r["name"]: r["status"] for r in listed["submitted"]} == {"bad": "rejected", "good": "submitted"}


def test_offline_ls_says_when_a_server_ignored_our_prompt_id(tmp_path: Path) -> None:
    class OlderComfyUI:
        """Takes the prompt but answers with an id of its own."""

        url = "http://127.0.0.1:1"

        def submit(self, workflow: Any, *, prompt_id: str | None = None) -> Any:
            return type("Job", (), {"prompt_id": "server-chosen-1"})()

        def queue(self) -> Any:
            raise AssertionError("nothing was reserved: no lookup needed")

        def history_entry(self, prompt_id: str) -> Any:
            raise AssertionError("nothing was reserved: no lookup needed")

        def submit_once(self, workflow: Any, *, prompt_id: str) -> Any:
            raise AssertionError("nothing was reserved: no lookup needed")

    OfflineStore().export(API_OK, name="old")
    [done] = OfflineStore().submit(OlderComfyUI())
    assert done.prompt_id == "server-chosen-1"
    human = invoke("offline", "ls", "--submitted")
    assert human.code == 0
    assert "server-chosen-1" in human.stdout and "not exactly-once" in human.stdout
    doc = invoke("offline", "ls", "--submitted", "--json").json()
    assert_schema(doc, "offline_ls")
    [row] = doc["submitted"]
    assert (row["prompt_id"], row["exactly_once"]) == ("server-chosen-1", False)
    assert "ignored the prompt id" in row["note"]


def test_an_unreadable_ledger_is_one_clear_error_and_doctor_warns(sandbox: Any, tmp_path: Path) -> None:
    OfflineStore().export(API_OK, name="a")
    (tmp_path / "projects/default/ledger.json").write_text("{torn")
    err = assert_error(invoke("offline", "submit", "--all", "--json", url=sandbox.url), 2, "usage")
    assert "ledger" in err["message"] and "do not delete" in (err["hint"] or "")
    assert sandbox.history() == {} and invoke("queue", "--json", url=sandbox.url).json()["pending"] == []
    doc = invoke("doctor", "--json", url=sandbox.url).json()
    offline = {c["name"]: c for c in doc["checks"]}["offline"]
    assert offline["status"] == "warn" and "ledger" in offline["message"]


def test_a_corrupt_inventory_cache_is_reported_once(
    sandbox: Any, tmp_path: Path, down_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").mkdir()
    for n, url in enumerate((down_url, sandbox.url)):
        (tmp_path / "state/inventory.json").write_text("{corrupt" + "!" * n)  # a new broken version
        caplog.clear()
        invoke("inventory", url=url)
        warnings = [r for r in caplog.records if "unreadable inventory cache" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
    json.loads((tmp_path / "state/inventory.json").read_text())  # replaced by the fresh inventory
