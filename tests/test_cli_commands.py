"""Every ``comfyctl`` command against the sandbox, in human and ``--json`` form (schemas: docs/cli.md)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyctl.cli.main import LAZY_COMMANDS
from comfyctl.client import Client
from test_cli_support import assert_error, assert_schema, closed_url, invoke  # noqa: F401 (closed_url: fixture)

DEMO = Path(__file__).resolve().parent.parent / "src" / "comfyctl" / "cli" / "demo_workflow.json"


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo.json"
    shutil.copy(DEMO, path)
    return path


def _wait_running(sb: Any, prompt_id: str) -> None:
    with Client(sb.url) as c:
        for _ in range(400):
            if c.queue().is_running(prompt_id):
                return
            time.sleep(0.01)
    raise AssertionError(f"{prompt_id} never started")


def test_help_lists_every_command_without_importing_them() -> None:
    out = invoke("--help")
    assert out.code == 0
    for name in (
        "status",
        "run",
        "watch",
        "wait",
        "queue",
        "history",
        "cancel",
        "interrupt",
        "free",
        "upload",
        "download",
        "view",
        "nodes",
        "models",
        "demo",
        "workflow",
    ):
        assert name in LAZY_COMMANDS
        assert f"  {name} " in out.stdout


def test_help_is_lazy() -> None:
    """``comfyctl --help`` imports no command module and not the client (start fast)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom comfyctl.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('comfyctl.cli.', 'comfyctl.client'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1]
    assert loaded == "['comfyctl.cli._common', 'comfyctl.cli.main']"


def test_status_human_and_json_both_option_positions(sandbox: Any) -> None:
    human = invoke("status", url=sandbox.url)
    assert human.code == 0
    assert "0.8.0" in human.stdout and "queue" in human.stdout
    for args in (["--json", "status"], ["status", "--json"]):
        out = invoke(*args, url=sandbox.url)
        assert out.code == 0, out.stderr
        doc = out.json()
        assert_schema(doc, "status")
        assert doc["url"] == sandbox.url and doc["queue"] == {"running": 0, "pending": 0}


def test_run_saves_every_output_and_prints_paths(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    out = invoke(
        "run",
        demo_file,
        "--out",
        tmp_path / "o",
        "--set",
        "Canvas.width=64",
        "--set",
        "1.height=32",
        url=sandbox.url,
    )
    assert out.code == 0, out.stderr
    paths = [Path(p) for p in out.stdout.split()]
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    assert "✓" in out.stderr  # the clean final line (stderr is not a terminal here)
    with Client(sandbox.url) as c:
        last = list(c.history().values())[-1]
        assert last["prompt"][2]["1"]["inputs"]["width"] == 64
        assert last["prompt"][2]["1"]["inputs"]["height"] == 32
        for p in paths:
            assert p.read_bytes() == c.view(p.name)


def test_run_json_matches_schema(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    out = invoke("--json", "run", demo_file, "-o", tmp_path / "j", url=sandbox.url)
    assert out.code == 0, out.stderr
    doc = out.json()
    assert_schema(doc, "result")
    assert doc["status"] == "success" and len(doc["saved"]) == 2
    assert all(Path(p).is_file() for p in doc["saved"])


def test_run_quiet_prints_nothing_on_stderr(sandbox: Any, demo_file: Path) -> None:
    out = invoke("run", demo_file, "-q", url=sandbox.url)
    assert out.code == 0 and out.stderr == ""
    assert len(out.stdout.split()) == 2


def test_run_ui_workflow_is_converted(sandbox: Any, fixtures_dir: Path, tmp_path: Path) -> None:
    ui = fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json"
    out = invoke("--json", "run", ui, "-o", tmp_path / "ui", url=sandbox.url)
    assert out.code == 0, out.stderr
    doc = out.json()
    assert sorted(doc["executed"]) == sorted(
        json.loads(ui.with_name("edge_reroute_chain.api.json").read_text())
    )
    with Client(sandbox.url) as c:
        entry = c.history_entry(doc["prompt_id"])
        assert entry is not None
        assert entry["prompt"][3]["extra_pnginfo"]["workflow"]["nodes"]  # the UI graph rides along


def test_run_events_streams_ndjson(sandbox: Any, demo_file: Path) -> None:
    sandbox.faults.node("2", delay=0.05, steps=3)
    out = invoke("run", demo_file, "--events", url=sandbox.url)
    assert out.code == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    types = [line["type"] for line in lines]
    assert "executing" in types and "progress" in types
    assert types[-1] == "result"
    assert_schema({k: v for k, v in lines[-1].items() if k != "type"}, "result")


def test_run_events_stream_ends_with_the_error_when_the_job_fails(sandbox: Any, demo_file: Path) -> None:
    sandbox.faults.node("2", error="boom", exception_type="RuntimeError")
    for flags in ((), ("--json",)):
        out = invoke(*flags, "run", demo_file, "--events", url=sandbox.url)
        assert out.code == 5, out.stderr
        lines = [json.loads(line) for line in out.stdout.splitlines()]  # every stdout line is one object
        assert "executing" in [line["type"] for line in lines]
        assert lines[-1]["type"] == "error" and lines[-1]["error"]["code"] == "execution_failed"
        assert_schema({"error": lines[-1]["error"]}, "error")
        assert ("error:" in out.stderr) is not bool(flags)  # humans still get the stderr line without --json


def test_view_to_stdout_refuses_json(sandbox: Any) -> None:
    out = invoke("--json", "view", "x.png", "-o", "-", url=sandbox.url)
    assert_error(out, 2, "usage")
    assert "-o -" in out.json()["error"]["message"]


def test_no_wait_then_wait_and_watch(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    sandbox.pause_worker()
    out = invoke("--json", "run", demo_file, "--no-wait", url=sandbox.url)
    assert out.code == 0, out.stderr
    sub = out.json()
    assert_schema(sub, "submitted")
    human = invoke("run", demo_file, "--no-wait", url=sandbox.url)
    assert human.code == 0 and human.stdout.strip() != sub["prompt_id"]
    sandbox.resume_worker()
    waited = invoke("--json", "wait", sub["prompt_id"], "--out", tmp_path / "w", url=sandbox.url)
    assert waited.code == 0, waited.stderr
    doc = waited.json()
    assert_schema(doc, "result")
    assert doc["prompt_id"] == sub["prompt_id"] and all(Path(p).is_file() for p in doc["saved"])
    watched = invoke("watch", human.stdout.strip(), url=sandbox.url)
    assert watched.code == 0 and "success" in watched.stdout
    plain = invoke("wait", human.stdout.strip(), url=sandbox.url)
    assert plain.code == 0 and plain.stdout.strip().endswith("success")


def test_queue_in_run_order_rm_cancel_clear(sandbox: Any, demo_file: Path) -> None:
    sandbox.pause_worker()
    ids = [invoke("run", demo_file, "--no-wait", url=sandbox.url).stdout.strip() for _ in range(3)]
    front = invoke("run", demo_file, "--no-wait", "--front", url=sandbox.url).stdout.strip()
    q = invoke("queue", "--json", url=sandbox.url).json()
    assert_schema(q, "queue")
    assert [i["prompt_id"] for i in q["pending"]] == [front, *ids]
    assert [i["position"] for i in q["pending"]] == [0, 1, 2, 3]
    human = invoke("queue", url=sandbox.url)
    assert human.stdout.index(front) < human.stdout.index(ids[0])
    rm = invoke("queue", "rm", ids[0], "nope", "--json", url=sandbox.url)
    assert rm.code == 0
    assert_schema(rm.json(), "queue_rm")
    assert rm.json() == {"deleted": [ids[0]], "not_pending": ["nope"]}
    cancel = invoke("cancel", ids[1], "--json", url=sandbox.url)
    assert cancel.code == 0
    assert_schema(cancel.json(), "cancel")
    assert cancel.json()["outcome"] == "dequeued"
    assert "removed from the queue" in invoke("cancel", ids[2], url=sandbox.url).stdout
    cleared = invoke("queue", "clear", "--json", url=sandbox.url)
    assert_schema(cleared.json(), "queue_clear")
    assert cleared.json() == {"cleared": 1}
    assert invoke("queue", url=sandbox.url).stdout.strip() == "the queue is empty"
    assert invoke("queue", "clear", url=sandbox.url).stdout.strip() == "removed 0 pending prompts"


def test_cancel_running_and_interrupt(sandbox: Any, demo_file: Path) -> None:
    sandbox.faults.node("2", delay=0.2, steps=50)
    pid = invoke("run", demo_file, "--no-wait", url=sandbox.url).stdout.strip()
    _wait_running(sandbox, pid)
    out = invoke("cancel", pid, "--json", url=sandbox.url)
    assert out.json() == {"prompt_id": pid, "outcome": "interrupted"}
    waited = invoke("wait", pid, url=sandbox.url)
    assert waited.code == 6 and len(waited.error_lines()) == 1
    pid2 = invoke("run", demo_file, "--no-wait", "--set", "Canvas.width=65", url=sandbox.url).stdout.strip()
    _wait_running(sandbox, pid2)
    inter = invoke("interrupt", "--json", url=sandbox.url)
    assert_schema(inter.json(), "interrupt")
    assert inter.json() == {"interrupted": pid2}
    assert invoke("wait", pid2, "--json", url=sandbox.url).json()["error"]["code"] == "interrupted"
    assert invoke("interrupt", url=sandbox.url).stdout.strip() == "nothing was running"


def test_history_ls_show_rm_clear(sandbox: Any, demo_file: Path) -> None:
    ran = invoke("--json", "run", demo_file, url=sandbox.url).json()
    invoke("run", demo_file, "--set", "Canvas.width=70", url=sandbox.url)
    hist = invoke("history", "--json", url=sandbox.url).json()
    assert_schema(hist, "history")
    assert next(i["prompt_id"] for i in hist["items"]) == ran["prompt_id"]
    assert len(invoke("history", "-n", "1", "--json", url=sandbox.url).json()["items"]) == 1
    assert ran["prompt_id"] in invoke("history", url=sandbox.url).stdout
    show = invoke("history", "show", ran["prompt_id"], "--json", url=sandbox.url).json()
    assert_schema(show, "result")
    assert show["status"] == "success" and len(show["outputs"]) == 2
    assert "comfyctl_demo_" in invoke("history", "show", ran["prompt_id"], url=sandbox.url).stdout
    rm = invoke("history", "rm", ran["prompt_id"], "--json", url=sandbox.url).json()
    assert_schema(rm, "history_rm")
    assert len(invoke("history", "--json", url=sandbox.url).json()["items"]) == 1
    cleared = invoke("history", "clear", "--json", url=sandbox.url).json()
    assert_schema(cleared, "history_clear")
    assert invoke("history", url=sandbox.url).stdout.strip() == "the history is empty"


def test_cancel_finished_prompt_clears_it(sandbox: Any, demo_file: Path) -> None:
    ran = invoke("--json", "run", demo_file, url=sandbox.url).json()
    out = invoke("cancel", ran["prompt_id"], "--json", url=sandbox.url)
    assert out.json()["outcome"] == "cleared"


def test_free(sandbox: Any) -> None:
    doc = invoke("free", "--unload-models", "--json", url=sandbox.url).json()
    assert_schema(doc, "free")
    assert doc == {"unload_models": True, "free_memory": False}
    assert invoke("free", "--json", url=sandbox.url).json() == {"unload_models": True, "free_memory": True}
    assert "unload models and free memory" in invoke("free", url=sandbox.url).stdout


def test_upload_view_download(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    ran = invoke("--json", "run", demo_file, "-o", tmp_path / "r", url=sandbox.url).json()
    png = Path(ran["saved"][0])
    up = invoke("upload", png, "--subfolder", "jobs", "--json", url=sandbox.url)
    assert up.code == 0, up.stderr
    assert_schema(up.json(), "upload")
    assert up.json()["ref"] == f"jobs/{png.name}"
    other = tmp_path / png.name
    other.write_bytes(png.read_bytes() + b"x")
    renamed = invoke("upload", other, "--subfolder", "jobs", url=sandbox.url)
    assert renamed.stdout.strip() == f"jobs/{png.stem} (1).png"
    view = invoke(
        "view",
        png.name,
        "--subfolder",
        "jobs",
        "--type",
        "input",
        "-o",
        tmp_path / "v.png",
        "--json",
        url=sandbox.url,
    )
    assert_schema(view.json(), "view")
    assert (tmp_path / "v.png").read_bytes() == png.read_bytes()
    annotated = invoke("view", f"jobs/{png.name} [input]", "-o", tmp_path / "a.png", url=sandbox.url)
    assert annotated.code == 0 and (tmp_path / "a.png").read_bytes() == png.read_bytes()
    mask = invoke(
        "upload", png, "--mask", f"jobs/{png.name}", "--name", "mask.png", "--json", url=sandbox.url
    )
    assert mask.code == 0, mask.stderr
    assert mask.json()["name"] == "mask.png"
    got = invoke("view", "mask.png", "--type", "input", "-o", tmp_path / "m.png", url=sandbox.url)
    assert got.code == 0 and (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")
    dl = invoke("download", ran["prompt_id"], "--out", tmp_path / "d", "--json", url=sandbox.url)
    assert dl.code == 0, dl.stderr
    assert_schema(dl.json(), "result")
    assert sorted(Path(p).name for p in dl.json()["saved"]) == sorted(Path(p).name for p in ran["saved"])
    human = invoke("download", ran["prompt_id"], "--out", tmp_path / "d2", url=sandbox.url)
    assert all(Path(p).is_file() for p in human.stdout.split())


def test_nodes_and_models(sandbox: Any) -> None:
    doc = invoke("nodes", "Invert", "--json", url=sandbox.url).json()
    assert_schema(doc, "nodes")
    assert "ImageInvert" in [n["class_type"] for n in doc["nodes"]] and doc["count"] == len(doc["nodes"])
    assert all(
        "invert" in (n["class_type"] + n["display_name"] + n["category"]).lower() for n in doc["nodes"]
    )
    glob = invoke("nodes", "Image*", url=sandbox.url).stdout
    assert "ImageInvert" in glob and "KSampler" not in glob
    everything = invoke("nodes", "--json", url=sandbox.url).json()
    assert everything["count"] > 500
    show = invoke("nodes", "show", "ImageScale", "--json", url=sandbox.url).json()
    assert_schema(show, "nodes_show")
    method = next(i for i in show["inputs"] if i["name"] == "upscale_method")
    assert "bilinear" in method["choices"]
    assert "range 0..16384" in invoke("nodes", "show", "ImageScale", url=sandbox.url).stdout
    folders = invoke("models", "--json", url=sandbox.url).json()
    assert_schema(folders, "models")
    assert "checkpoints" in folders["folders"]
    files = invoke("models", "checkpoints", "--json", url=sandbox.url).json()
    assert_schema(files, "models")
    assert files["folder"] == "checkpoints"


def test_workflow_convert_validate_params(fixtures_dir: Path, tmp_path: Path) -> None:
    oi = fixtures_dir / "object_info.json"
    ui = fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json"
    expected = json.loads(ui.with_name("edge_reroute_chain.api.json").read_text())
    out = invoke("workflow", "convert", ui, "--object-info", oi)
    assert out.code == 0, out.stderr
    api = json.loads(out.stdout)
    assert {k: (v["class_type"], v["inputs"]) for k, v in api.items()} == {
        k: (v["class_type"], v["inputs"]) for k, v in expected.items()
    }
    written = invoke("workflow", "convert", ui, "--object-info", oi, "-o", tmp_path / "api.json", "--json")
    assert_schema(written.json(), "convert")
    assert json.loads((tmp_path / "api.json").read_text()) == api
    valid = invoke("workflow", "validate", ui, "--object-info", oi, "--json")
    assert valid.code == 0
    assert_schema(valid.json(), "validate")
    assert valid.json()["valid"] is True
    assert "valid" in invoke("workflow", "validate", tmp_path / "api.json", "--object-info", oi).stdout
    params = invoke("workflow", "params", tmp_path / "api.json", "--object-info", oi, "--json")
    assert params.code == 0, params.stderr
    assert_schema(params.json(), "params")
    assert any(p["node_id"] == "7" and p["input"] == "filename_prefix" for p in params.json()["params"])
    assert (
        '7.filename_prefix = "edge/reroute"'
        in invoke("workflow", "params", tmp_path / "api.json", "--object-info", oi).stdout
    )


def test_workflow_uses_server_definitions(sandbox: Any, fixtures_dir: Path) -> None:
    ui = fixtures_dir / "ui2api" / "edge_muted.ui.json"
    out = invoke("workflow", "convert", ui, url=sandbox.url)
    assert out.code == 0, out.stderr
    assert set(json.loads(out.stdout)) == set(json.loads(ui.with_name("edge_muted.api.json").read_text()))


def test_demo_starts_a_sandbox_when_nothing_answers(tmp_path: Path, closed_url: str) -> None:  # noqa: F811
    out = invoke("demo", "--out", tmp_path / "demo", "--json", url=closed_url)
    assert out.code == 0, out.stderr
    doc = out.json()
    assert_schema(doc, "result")
    assert "sandbox" in doc["server"] and len(doc["saved"]) == 2
    assert all(Path(p).read_bytes().startswith(b"\x89PNG") for p in doc["saved"])


def test_demo_uses_a_server_that_answers(sandbox: Any, tmp_path: Path) -> None:
    out = invoke("demo", "--out", tmp_path / "demo", url=sandbox.url)
    assert out.code == 0, out.stderr
    assert f"on {sandbox.url}" in out.stderr
    assert all(Path(p).is_file() for p in out.stdout.split())
    with Client(sandbox.url) as c:
        assert len(c.history()) == 1


def test_view_to_stdout(sandbox: Any, demo_file: Path) -> None:
    ran = invoke("--json", "run", demo_file, url=sandbox.url).json()
    name = Path(ran["saved"][0]).name
    out = httpx.get(f"{sandbox.url}/view", params={"filename": name, "type": "output"})
    from click.testing import CliRunner

    from comfyctl.cli.main import cli

    res = CliRunner().invoke(cli, ["--url", sandbox.url, "view", name, "-o", "-"])
    assert res.exit_code == 0 and res.stdout_bytes == out.content


def test_seed_fixed_and_random(sandbox: Any, tmp_path: Path) -> None:
    wf = tmp_path / "seed.json"
    wf.write_text(
        json.dumps(
            {
                "1": {"class_type": "RandomNoise", "inputs": {"noise_seed": 0}},
                "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
            }
        )
    )
    fixed = invoke("--json", "run", wf, "--seed", "1234", url=sandbox.url).json()
    assert fixed["texts"]["2"]  # text outputs are part of the result
    seeds = []
    with Client(sandbox.url) as c:
        entry = c.history_entry(fixed["prompt_id"])
        assert entry is not None and entry["prompt"][2]["1"]["inputs"]["noise_seed"] == 1234
        for _ in range(2):
            pid = invoke("run", wf, "--seed", "random", "--no-wait", url=sandbox.url).stdout.strip()
            c.attach(pid).wait(timeout=30)
            entry = c.history_entry(pid)
            assert entry is not None
            seeds.append(entry["prompt"][2]["1"]["inputs"]["noise_seed"])
    assert seeds[0] != seeds[1] and 1234 not in seeds
    text = invoke("run", wf, "--seed", "5", url=sandbox.url).stdout
    assert "text from node 2:" in text


def test_remaining_human_and_json_forms(sandbox: Any, demo_file: Path) -> None:
    ran = invoke("--json", "run", demo_file, url=sandbox.url).json()
    watched = invoke("watch", ran["prompt_id"], "--json", url=sandbox.url)
    assert watched.code == 0
    assert_schema(watched.json(), "result")
    assert watched.json()["saved"] == [] and all(o["path"] is None for o in watched.json()["outputs"])
    assert (
        invoke("history", "rm", ran["prompt_id"], url=sandbox.url).stdout.strip()
        == f"deleted {ran['prompt_id']}"
    )
    sandbox.pause_worker()
    pid = invoke("run", demo_file, "--no-wait", url=sandbox.url).stdout.strip()
    rm = invoke("queue", "rm", pid, "other", url=sandbox.url)
    assert rm.code == 0 and rm.stdout.strip() == f"removed {pid}" and "other is not pending" in rm.stderr
    models = invoke("models", url=sandbox.url).stdout.split()
    assert "checkpoints" in models and "loras" in models


def test_partial_acceptance_is_reported(sandbox: Any, fixtures_dir: Path, tmp_path: Path) -> None:
    """A 200 with node_errors (one output invalid, one valid): run warns and reports it."""
    case = json.loads((fixtures_dir / "errors" / "partial_success_one_output_invalid.json").read_text())
    wf = tmp_path / "partial.json"
    wf.write_text(json.dumps(case["request_body"]["prompt"]))
    out = invoke("run", wf, "--no-validate", url=sandbox.url)
    assert out.code == 0, out.stderr
    assert "warning: skipped by the server: node 3 (ImageScale) input 'upscale_method'" in out.stderr
    doc = invoke("--json", "run", wf, "--no-validate", url=sandbox.url).json()
    assert list(doc["node_errors"]) == ["3"]


def test_run_from_a_png_comfyui_saved(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    first = invoke("--json", "run", demo_file, "-o", tmp_path / "a", url=sandbox.url).json()
    png = next(p for p in first["saved"] if "original" not in p)
    again = invoke("--json", "run", png, "--set", "Canvas.width=40", "-o", tmp_path / "b", url=sandbox.url)
    assert again.code == 0, again.stderr
    with Client(sandbox.url) as c:
        entry = c.history_entry(again.json()["prompt_id"])
        assert entry is not None
        assert entry["prompt"][2]["1"]["inputs"]["width"] == 40
        assert set(entry["prompt"][2]) == set(json.loads(demo_file.read_text()))


@pytest.mark.parametrize("args", [[], ["workflow"], ["history", "--help"]])
def test_bare_groups_show_their_help(args: list[str]) -> None:
    out = invoke(*args)
    assert out.code == (0 if "--help" in args else 2)
    assert out.stdout.startswith("Usage: comfyctl") and "Commands:" in out.stdout
    assert "error:" not in out.stderr


def test_upload_paths_and_mask_of_another_size(sandbox: Any, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "orig.png")
    Image.new("RGBA", (4, 4), (0, 0, 0, 9)).save(tmp_path / "mask.png")
    assert invoke("upload", tmp_path / "orig.png", url=sandbox.url).code == 0
    # a path leaving the input folder: our own usage error, not the server's bare 400 (exit 1)
    for args in (["--subfolder", "../../etc"], ["--name", "../x.png"], ["--subfolder", "/abs"]):
        out = invoke("upload", tmp_path / "orig.png", *args, url=sandbox.url)
        assert out.code == 2 and "leaves the server's input folder" in out.stderr, out.stderr
    assert invoke("upload", tmp_path / "orig.png", "--subfolder", "a/../b", url=sandbox.url).code == 0
    # ComfyUI answers 500 when the mask's size differs; the hint names the cause, not "restart"
    out = invoke("upload", tmp_path / "mask.png", "--mask", "orig.png", url=sandbox.url)
    assert out.code == 9 and "resize the mask" in out.stderr, out.stderr


def test_models_of_an_unknown_folder_is_a_usage_error_listing_folders(sandbox: Any) -> None:
    # ComfyUI answers a bare 404 (was: exit 1 "not found (404)")
    out = invoke("models", "nosuchfolder", url=sandbox.url)
    assert out.code == 2 and "no model folder 'nosuchfolder'" in out.stderr and "checkpoints" in out.stderr
    assert invoke("--json", "models", "nosuchfolder", url=sandbox.url).json()["error"]["code"] == "usage"


def test_seed_on_a_workflow_without_seeds_warns(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    # silently doing nothing let users believe they got a fresh sample (the server cached it)
    out = invoke("run", demo_file, "--seed", "random", "-o", tmp_path / "o", url=sandbox.url)
    assert out.code == 0 and "--seed changed nothing" in out.stderr
    quiet = invoke("run", demo_file, "--seed", "3", "-q", "-o", tmp_path / "o", url=sandbox.url)
    assert quiet.code == 0 and quiet.stderr == ""


def test_workflow_convert_output_in_new_or_unwritable_folder(fixtures_dir: Path, tmp_path: Path) -> None:
    oi = fixtures_dir / "object_info.json"
    ui = fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json"
    deep = tmp_path / "new" / "dir" / "api.json"  # was: exit 1 "unexpected FileNotFoundError"
    assert invoke("workflow", "convert", ui, "--object-info", oi, "-o", deep).code == 0
    assert json.loads(deep.read_text())
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = invoke("workflow", "convert", ui, "--object-info", oi, "-o", blocker / "api.json")
    assert out.code == 2 and out.stderr.startswith("error: cannot write ") and "Traceback" not in out.stderr


def test_downloads_and_converted_files_honour_the_umask(
    sandbox: Any, demo_file: Path, tmp_path: Path, fixtures_dir: Path
) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:  # tempfile.mkstemp's 0600 used to survive the rename: outputs unreadable to others
        saved = invoke("--json", "run", demo_file, "-o", tmp_path / "o", url=sandbox.url).json()["saved"]
        ui = fixtures_dir / "ui2api" / "edge_reroute_chain.ui.json"
        oi = fixtures_dir / "object_info.json"
        assert invoke("workflow", "convert", ui, "--object-info", oi, "-o", tmp_path / "api.json").code == 0
        exported = invoke("--json", "export", demo_file, "--object-info", oi).json()
    finally:
        os.umask(old)
    for path in [*saved, tmp_path / "api.json", exported["path"]]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, path


def test_watch_of_a_finished_prompt_reports_the_server_run_time(sandbox: Any, demo_file: Path) -> None:
    sandbox.faults.node("4", delay=0.2)
    pid = invoke("run", demo_file, "--no-wait", url=sandbox.url).stdout.strip()
    assert invoke("wait", pid, url=sandbox.url).code == 0
    run_ms = invoke("--json", "history", "show", pid, url=sandbox.url).json()["timing"]["run_ms"]
    out = invoke("watch", pid, url=sandbox.url)
    assert out.code == 0 and f"in {run_ms / 1000:.1f}s" in out.stderr, out.stderr  # was our clock: 0.0s


def test_workflow_from_stdin(sandbox: Any, demo_file: Path, tmp_path: Path) -> None:
    # `generate | comfyctl run -` was "-: no such file"
    text = demo_file.read_text()
    ran = invoke("--json", "run", "-", "-o", tmp_path / "o", url=sandbox.url, input=text)
    assert ran.code == 0, ran.stderr
    assert ran.json()["status"] == "success" and all(Path(p).is_file() for p in ran.json()["saved"])
    assert invoke("workflow", "validate", "-", url=sandbox.url, input=text).code == 0
    bad = invoke("run", "-", url=sandbox.url, input="{")
    assert bad.code == 2 and bad.stderr.startswith("error: stdin is not valid JSON")


def test_view_of_a_path_leaving_the_server_folder(sandbox: Any, tmp_path: Path) -> None:
    import asyncio

    from comfyctl import AsyncClient, errors

    # ComfyUI answers 400 (exit 1, no reason) or 403 (read as bad credentials: exit 8)
    for args in (["../../etc/passwd"], ["passwd", "--subfolder", "../../../etc"], ["/etc/passwd"]):
        out = invoke("view", *args, "-o", tmp_path / "x", url=sandbox.url)
        assert out.code == 2 and "leaves the server's output folder" in out.stderr, out.stderr

    async def via_async() -> None:
        async with AsyncClient(sandbox.url) as client:
            with pytest.raises(errors.UsageError):
                await client.view("x.png", subfolder="../..")

    asyncio.run(via_async())


def test_unwritable_out_fails_before_submitting(
    sandbox: Any, demo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = invoke("run", demo_file, "-o", blocker / "sub", url=sandbox.url)
    assert out.code == 2 and "nothing was submitted" in out.stderr, out.stderr
    assert sandbox.history() == {}  # was: ran on the server, then the download failed
    # a download that still fails after the run names the prompt and where its outputs are
    from comfyctl.client import Client

    def broken(self: Any, *a: Any, **k: Any) -> Any:
        from comfyctl.errors import UsageError

        raise UsageError("cannot write into x: disk full")

    monkeypatch.setattr(Client, "download", broken)
    doc = invoke("--json", "run", demo_file, "-o", tmp_path / "o", url=sandbox.url).json()
    pid = doc["error"]["details"]["prompt_id"]
    assert pid in sandbox.history() and f"comfyctl download {pid}" in doc["error"]["hint"]


def test_mask_for_a_missing_original_is_refused(sandbox: Any, tmp_path: Path) -> None:
    import asyncio

    from PIL import Image

    from comfyctl import AsyncClient, errors

    Image.new("RGBA", (4, 4), (0, 0, 0, 9)).save(tmp_path / "mask.png")
    # ComfyUI stores nothing and still answers 200 with a name: the mask silently did not exist
    out = invoke("upload", tmp_path / "mask.png", "--mask", "nope.png", url=sandbox.url)
    assert out.code == 2 and "the original image 'nope.png' is not in the server's input folder" in out.stderr
    assert not (sandbox.root / "input" / "mask.png").exists()

    async def via_async() -> None:
        async with AsyncClient(sandbox.url) as client:
            with pytest.raises(errors.UsageError):
                await client.upload(tmp_path / "mask.png", mask_for={"filename": "nope.png"})

    asyncio.run(via_async())
