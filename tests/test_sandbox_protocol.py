"""The sandbox protocol, quirks included (comfyui-api.md §1-§8), and its programmable faults."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from comfyctl.testing import Sandbox
from sandbox_helpers import HTTP, Socket, is_done, submit, workflow

TINY: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
}
TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble"


def wait_history(url: str, prompt_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = HTTP.get(f"{url}/history/{prompt_id}").json()
        if entry:
            return dict(entry[prompt_id])
        time.sleep(0.02)
    raise AssertionError(f"{prompt_id} never reached history")


# -- routes -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/system_stats",
        "/features",
        "/prompt",
        "/queue",
        "/history",
        "/embeddings",
        "/models",
        "/extensions",
        "/object_info/EmptyImage",
    ],
)
def test_api_twins(sandbox: Sandbox, path: str) -> None:
    plain, twin = HTTP.get(sandbox.url + path), HTTP.get(sandbox.url + "/api" + path)
    assert plain.status_code == twin.status_code == 200
    assert plain.headers["content-type"] == "application/json; charset=utf-8"


def test_prefix_exceptions_and_fallthrough(sandbox: Sandbox) -> None:
    assert HTTP.get(sandbox.url + "/internal/logs").status_code == 200
    for path in ("/api/internal/logs", "/jobs", "/nonexistent/route"):
        response = HTTP.get(sandbox.url + path)
        assert (response.status_code, response.headers["content-type"], response.content) == (
            404,
            "application/octet-stream",
            b"",
        )
    assert HTTP.get(sandbox.url + "/api/jobs").status_code == 200
    assert HTTP.get(sandbox.url + "/api/api/jobs").status_code == 200
    wrong = HTTP.request("DELETE", sandbox.url + "/prompt")
    assert (wrong.status_code, wrong.text) == (405, "405: Method Not Allowed")
    assert HTTP.head(sandbox.url + "/system_stats").status_code == 200
    assert HTTP.options(sandbox.url + "/prompt").status_code == 200
    assert HTTP.get(sandbox.url + "/object_info/NoSuchNode").json() == {}
    assert HTTP.get(sandbox.url + "/models/nope").status_code == 404


def test_origin_check(sandbox: Sandbox) -> None:
    host = sandbox.url.split("//")[1]
    assert (
        HTTP.get(sandbox.url + "/system_stats", headers={"Origin": "http://evil.example"}).status_code == 403
    )
    assert HTTP.get(sandbox.url + "/system_stats", headers={"Origin": f"http://{host}"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/prompt", b"{not json"),
        ("POST", "/prompt", b'{"prompt": [1, 2]}'),
        ("POST", "/queue", b""),
        ("POST", "/free", b""),
        ("GET", "/history?max_items=abc", None),
    ],
)
def test_malformed_requests_get_the_500_text(
    sandbox: Sandbox, method: str, path: str, body: bytes | None
) -> None:
    response = HTTP.request(method, sandbox.url + path, content=body)
    assert (response.status_code, response.text) == (500, TEXT_500)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_non_object_bodies_like_comfyui(sandbox: Sandbox) -> None:
    # The handlers test keys with `in`, so a JSON list body is "no prompt" / a no-op, not a crash.
    listed = HTTP.post(sandbox.url + "/prompt", content=b"[1, 2]")
    assert (listed.status_code, listed.json()["error"]["type"]) == (400, "no_prompt")
    assert HTTP.post(sandbox.url + "/queue", content=b"[1]").status_code == 200
    assert HTTP.post(sandbox.url + "/history", content=b"[1]").status_code == 200
    assert HTTP.post(sandbox.url + "/free", content=b"[1]").status_code == 500  # .get() on a list
    assert HTTP.post(sandbox.url + "/interrupt", content=b"").status_code == 200  # no body: global


def test_logs_record_prompts(sandbox: Sandbox) -> None:
    HTTP.post(sandbox.url + "/prompt", json={"prompt": {}})
    raw = HTTP.get(sandbox.url + "/internal/logs/raw").json()
    assert any(e["m"].startswith("invalid prompt:") for e in raw["entries"]) and "size" in raw
    assert "got prompt" in HTTP.get(sandbox.url + "/internal/logs").json()


def test_log_subscription_streams_logs(sandbox: Sandbox) -> None:
    with Socket(sandbox.url, "logs") as ws:
        ws.recv()
        HTTP.patch(sandbox.url + "/internal/logs/subscribe", json={"clientId": "logs", "enabled": True})
        HTTP.post(sandbox.url + "/prompt", json={"prompt": {}})
        logs = ws.until(lambda f: f["type"] == "logs")[-1]
    assert logs["data"]["entries"][0]["m"] == "got prompt\n" and logs["data"]["size"] is None


# -- queue ------------------------------------------------------------------------------------------------
def test_queue_numbers_front_heap_and_delete(sandbox: Sandbox) -> None:
    sandbox.pause_worker()
    url = sandbox.url
    assert submit(url, TINY)["number"] == 0
    assert HTTP.post(url + "/prompt", json={"prompt": {}}).status_code == 400  # rejected: still consumes 1
    b = submit(url, TINY, front=True)
    assert b["number"] == -2
    c = submit(url, TINY, number=7)
    assert c["number"] == 7.0 and isinstance(c["number"], float)
    d = submit(url, TINY, prompt_id=12345, front=True)
    assert d == {"prompt_id": "12345", "number": -3, "node_errors": {}}
    queue = HTTP.get(url + "/queue").json()
    pending = queue["queue_pending"]
    assert queue["queue_running"] == [] and len(pending) == 4 and len(pending[0]) == 5
    run_order = [item[1] for item in sorted(pending, key=lambda i: (i[0], i[1]))]
    assert run_order[:2] == ["12345", b["prompt_id"]]  # later front items run first
    assert HTTP.get(url + "/prompt").json() == {"exec_info": {"queue_remaining": 4}}
    response = HTTP.post(url + "/queue", json={"delete": ["12345", "unknown"]})
    assert (response.status_code, response.content) == (200, b"")
    assert len(HTTP.get(url + "/queue").json()["queue_pending"]) == 3
    HTTP.post(url + "/queue", json={"clear": True})
    assert HTTP.get(url + "/queue").json()["queue_pending"] == []


def test_status_broadcasts_on_queue_changes(sandbox: Sandbox) -> None:
    with Socket(sandbox.url) as ws:
        first = ws.recv()
        assert (
            first["data"]["status"] == {"exec_info": {"queue_remaining": 0}}
            and len(first["data"]["sid"]) == 32
        )
        prompt_id = submit(sandbox.url, TINY)["prompt_id"]  # no client_id: only broadcasts reach us
        frames = ws.until(
            lambda f: f["type"] == "status" and f["data"]["status"]["exec_info"]["queue_remaining"] == 0
        )
    kinds = {f["type"] for f in frames}
    assert "executing" not in kinds and "execution_start" not in kinds and "progress_state" in kinds
    assert wait_history(sandbox.url, prompt_id)["prompt"][3] == {
        "create_time": pytest.approx(time.time() * 1000, abs=60000)
    }


# -- history ----------------------------------------------------------------------------------------------
def test_history_paging_delete_clear(sandbox: Sandbox) -> None:
    ids = [submit(sandbox.url, TINY, prompt_id=f"p{i}")["prompt_id"] for i in range(4)]
    wait_history(sandbox.url, ids[-1])
    url = sandbox.url + "/history"
    assert list(HTTP.get(url).json()) == ids
    assert list(HTTP.get(url, params={"max_items": 2}).json()) == ids[2:]  # newest two, oldest first
    assert list(HTTP.get(url, params={"offset": 1}).json()) == ids[1:]
    assert list(HTTP.get(url, params={"offset": 1, "max_items": 2}).json()) == ids[1:3]
    assert HTTP.get(url + "/unknown").json() == {}
    assert HTTP.post(url, json={"delete": ["p0", "nope"]}).content == b""
    assert list(HTTP.get(url).json()) == ids[1:]
    HTTP.post(url, json={"clear": True})
    assert HTTP.get(url).json() == {}


def test_pending_prompt_has_empty_history(sandbox: Sandbox) -> None:
    sandbox.pause_worker()
    prompt_id = submit(sandbox.url, TINY)["prompt_id"]
    assert HTTP.get(f"{sandbox.url}/history/{prompt_id}").json() == {}
    job = HTTP.get(f"{sandbox.url}/api/jobs/{prompt_id}").json()
    assert job["status"] == "pending" and job["outputs_count"] == 0
    sandbox.resume_worker()
    assert wait_history(sandbox.url, prompt_id)["status"]["status_str"] == "success"


def test_completion_race_history_written_after_success(sandbox: Sandbox) -> None:
    sandbox.faults.history_delay = 0.3
    with Socket(sandbox.url, "race") as ws:
        ws.recv()
        prompt_id = submit(sandbox.url, TINY, client_id="race")["prompt_id"]
        ws.until(lambda f: f["type"] == "execution_success")
        assert HTTP.get(f"{sandbox.url}/history/{prompt_id}").json() == {}  # not yet
        ws.until_done(prompt_id)
        assert prompt_id in HTTP.get(f"{sandbox.url}/history/{prompt_id}").json()  # written before the null


def test_duplicate_prompt_id_keeps_last_result(sandbox: Sandbox) -> None:
    submit(sandbox.url, TINY, prompt_id="dup")
    wait_history(sandbox.url, "dup")
    submit(sandbox.url, workflow("runtime_error"), prompt_id="dup")
    deadline = time.monotonic() + 10
    while wait_history(sandbox.url, "dup")["status"]["status_str"] != "error":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert list(HTTP.get(sandbox.url + "/history").json()) == ["dup"]


# -- jobs -------------------------------------------------------------------------------------------------
def test_jobs_listing_filters_and_errors(sandbox: Sandbox) -> None:
    ok = submit(sandbox.url, TINY, extra_data={"extra_pnginfo": {"workflow": {"id": "wf-1"}}})["prompt_id"]
    bad = submit(sandbox.url, workflow("runtime_error"))["prompt_id"]
    wait_history(sandbox.url, bad)
    wait_history(sandbox.url, ok)
    jobs = HTTP.get(sandbox.url + "/api/jobs").json()
    assert jobs["pagination"] == {"offset": 0, "limit": None, "total": 2, "has_more": False}
    by_id = {j["id"]: j for j in jobs["jobs"]}
    assert by_id[ok]["status"] == "completed" and by_id[ok]["workflow_id"] == "wf-1"
    assert by_id[ok]["outputs_count"] == 1 and by_id[ok]["preview_output"]["mediaType"] == "images"
    assert by_id[bad]["status"] == "failed" and by_id[bad]["execution_error"]["node_id"] == "3"
    assert [
        j["id"] for j in HTTP.get(sandbox.url + "/api/jobs", params={"status": "failed"}).json()["jobs"]
    ] == [bad]
    assert [
        j["id"] for j in HTTP.get(sandbox.url + "/api/jobs", params={"workflow_id": "wf-1"}).json()["jobs"]
    ] == [ok]
    page = HTTP.get(sandbox.url + "/api/jobs", params={"limit": 1, "offset": -5}).json()
    assert page["pagination"] == {"offset": 0, "limit": 1, "total": 2, "has_more": True}
    full = HTTP.get(f"{sandbox.url}/api/jobs/{ok}").json()
    assert full["execution_status"]["status_str"] == "success" and full["workflow"]["prompt"]["2"]
    cases: list[tuple[dict[str, str | int], str]] = [
        (
            {"status": "bogus"},
            "Invalid status value(s): bogus. Valid values: pending, in_progress, completed, failed",
        ),
        ({"sort_by": "x"}, "sort_by must be 'created_at' or 'execution_duration'"),
        ({"sort_order": "up"}, "sort_order must be 'asc' or 'desc'"),
        ({"limit": 0}, "limit must be a positive integer"),
        ({"limit": "abc"}, "limit must be an integer"),
        ({"offset": "x"}, "offset must be an integer"),
    ]
    for params, message in cases:
        response = HTTP.get(sandbox.url + "/api/jobs", params=params)
        assert (response.status_code, response.json()) == (400, {"error": message})
    assert HTTP.get(sandbox.url + "/api/jobs/unknown").json() == {"error": "Job not found"}


# -- files ------------------------------------------------------------------------------------------------
def png_bytes(color: tuple[int, int, int, int] = (1, 2, 3, 255)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (4, 4), color).save(buf, format="PNG")
    return buf.getvalue()


def upload(
    url: str, data: bytes, name: str = "up.png", route: str = "/upload/image", **fields: str
) -> httpx.Response:
    return HTTP.post(url + route, files={"image": (name, data, "image/png")}, data=fields)


def test_upload_dedup_rename_overwrite(sandbox: Sandbox) -> None:
    a, b = png_bytes(), png_bytes((9, 9, 9, 255))
    assert upload(sandbox.url, a).json() == {"name": "up.png", "subfolder": "", "type": "input"}
    assert upload(sandbox.url, a).json()["name"] == "up.png"  # same bytes: deduplicated
    assert upload(sandbox.url, b).json()["name"] == "up (1).png"
    assert upload(sandbox.url, b, overwrite="true").json()["name"] == "up.png"
    assert (sandbox.input_dir / "up.png").read_bytes() == b
    assert upload(sandbox.url, a, subfolder="sub", type="output").json() == {
        "name": "up.png",
        "subfolder": "sub",
        "type": "output",
    }
    assert upload(sandbox.url, a, subfolder="../../x").status_code == 400
    assert upload(sandbox.url, a, type="bogus").status_code == 500
    choices = HTTP.get(sandbox.url + "/object_info/LoadImage").json()["LoadImage"]["input"]["required"][
        "image"
    ][0]
    assert "up (1).png" in choices  # combo lists are computed at request time


def test_upload_mask_quirk(sandbox: Sandbox) -> None:
    upload(sandbox.url, png_bytes(), "orig.png")
    ref = json.dumps({"filename": "orig.png", "type": "input"})
    good = upload(sandbox.url, png_bytes((0, 0, 0, 7)), "mask.png", "/upload/mask", original_ref=ref)
    with Image.open(sandbox.input_dir / good.json()["name"]) as img:
        assert img.getpixel((0, 0)) == (1, 2, 3, 7)
    missing = json.dumps({"filename": "nope.png", "type": "input"})
    ghost = upload(sandbox.url, png_bytes(), "ghost.png", "/upload/mask", original_ref=missing)
    assert ghost.status_code == 200 and ghost.json()["name"] == "ghost.png"  # success, nothing written
    assert (
        HTTP.get(sandbox.url + "/view", params={"filename": "ghost.png", "type": "input"}).status_code == 404
    )


def test_view_path_checks(sandbox: Sandbox) -> None:
    upload(sandbox.url, png_bytes(), "v.png", subfolder="s")
    view = sandbox.url + "/view"
    ok = HTTP.get(view, params={"filename": "v.png", "subfolder": "s", "type": "input"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    assert ok.headers["content-disposition"] == 'filename="v.png"'
    ranged = HTTP.get(
        view, params={"filename": "v.png", "subfolder": "s", "type": "input"}, headers={"Range": "bytes=0-3"}
    )
    assert (ranged.status_code, ranged.content) == (206, b"\x89PNG")
    assert HTTP.get(view, params={"filename": "v.png [input]", "subfolder": "s"}).status_code == 200
    assert HTTP.get(view, params={"filename": "s/v.png", "type": "input"}).status_code == 404  # basename only
    assert HTTP.get(view, params={"filename": "../v.png", "type": "input"}).status_code == 400
    assert HTTP.get(view, params={"filename": "/etc/passwd"}).status_code == 400
    assert HTTP.get(view, params={"filename": "v.png", "subfolder": "../input"}).status_code == 403
    assert HTTP.get(view, params={"filename": "v.png", "type": "bogus"}).status_code == 400
    assert HTTP.get(view).status_code == 404
    rgb = HTTP.get(view, params={"filename": "v.png", "subfolder": "s", "type": "input", "channel": "rgb"})
    with Image.open(io.BytesIO(rgb.content)) as img:
        assert img.mode == "RGB"
    preview = HTTP.get(
        view, params={"filename": "v.png", "subfolder": "s", "type": "input", "preview": "jpeg;50"}
    )
    assert preview.headers["content-type"] == "image/jpeg"


# -- websocket --------------------------------------------------------------------------------------------
def test_targeting_client_events_vs_broadcasts(sandbox: Sandbox) -> None:
    sandbox.faults.node("1", steps=1)
    with Socket(sandbox.url, "owner") as owner, Socket(sandbox.url, "observer") as observer:
        owner.recv(), observer.recv()
        prompt_id = submit(sandbox.url, TINY, client_id="owner")["prompt_id"]
        owner.until_done(prompt_id)
        observer.until(
            lambda f: f["type"] == "status" and f["data"]["status"]["exec_info"]["queue_remaining"] == 0
        )
    seen = {f["type"] for f in observer.frames}
    assert seen == {"status"}  # targeted: progress, previews, executing... only to the owner
    assert {"progress", "progress_state", "executing", "executed", "binary"} <= {
        f["type"] for f in owner.frames
    }


def test_no_client_id_broadcasts_progress_and_type1(sandbox: Sandbox) -> None:
    sandbox.faults.node("1", steps=1)
    with Socket(sandbox.url, "observer", flags=True) as observer:
        observer.recv(), observer.recv()
        submit(sandbox.url, TINY)
        frames = observer.until(
            lambda f: f["type"] == "status" and f["data"]["status"]["exec_info"]["queue_remaining"] == 0
        )
    kinds = [f["type"] if f["type"] != "binary" else f"bin{f['event']}" for f in frames]
    assert "progress" in kinds and "bin1" in kinds and "bin4" not in kinds and "executing" not in kinds


def test_feature_flags_only_as_first_message(sandbox: Sandbox) -> None:
    with Socket(sandbox.url, "late") as ws:
        ws.recv()
        ws.conn.send(json.dumps({"type": "hello", "data": {}}))
        ws.conn.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)
    with Socket(sandbox.url, "early", flags=True) as ws:
        ws.recv()
        assert ws.recv()["data"] == HTTP.get(sandbox.url + "/features").json()


def test_reconnect_replays_executing_without_prompt_id(sandbox: Sandbox) -> None:
    sandbox.faults.node("1", delay=0.6, steps=3)
    with Socket(sandbox.url, "me") as ws:
        ws.recv()
        prompt_id = submit(sandbox.url, TINY, client_id="me")["prompt_id"]
        ws.until(lambda f: f["type"] == "progress")
    with Socket(sandbox.url, "me") as again:
        assert again.recv()["type"] == "status"
        assert again.recv() == {"type": "executing", "data": {"node": "1"}}
        frames = again.until_done(prompt_id)
    assert not [f for f in frames if f["type"] in ("execution_start", "execution_cached")]  # no replay


def test_closing_old_socket_unregisters_new_one(sandbox: Sandbox) -> None:
    sandbox.faults.node("1", delay=0.6, steps=3)
    old = Socket(sandbox.url, "same")
    old.recv()
    with Socket(sandbox.url, "same") as new:
        new.recv()
        prompt_id = submit(sandbox.url, TINY, client_id="same")["prompt_id"]
        new.until(lambda f: f["type"] == "progress")
        old.close()  # the server forgets "same": the new socket goes silent
        wait_history(sandbox.url, prompt_id)
        with pytest.raises(TimeoutError):
            new.until(lambda f: is_done(f, prompt_id), timeout=0.5)
    assert not [f for f in old.frames if f["type"] == "progress"]  # the old one got nothing after takeover


# -- faults -----------------------------------------------------------------------------------------------
def test_route_fault_500_then_recovers(sandbox: Sandbox) -> None:
    sandbox.faults.route("/prompt", status=500, times=1, method="POST")
    first = HTTP.post(sandbox.url + "/api/prompt", json={"prompt": TINY})
    assert (first.status_code, first.text, first.headers["content-type"]) == (
        500,
        TEXT_500,
        "text/plain; charset=utf-8",
    )
    assert HTTP.post(sandbox.url + "/prompt", json={"prompt": TINY}).status_code == 200


def test_route_fault_slow_and_hanging(sandbox: Sandbox) -> None:
    sandbox.faults.route("/system_stats", delay=0.5, times=2)
    with pytest.raises(httpx.ReadTimeout):  # slower than the client's patience...
        HTTP.get(sandbox.url + "/system_stats", timeout=0.1)
    assert HTTP.get(sandbox.url + "/system_stats", timeout=5).status_code == 200  # ...but it does answer
    assert HTTP.get(sandbox.url + "/system_stats", timeout=0.5).status_code == 200  # times=2 used up
    sandbox.faults.route("/queue", hang=True)
    with pytest.raises(httpx.ReadTimeout):
        HTTP.get(sandbox.url + "/queue", timeout=0.3)
    sandbox.faults.clear()
    assert HTTP.get(sandbox.url + "/queue").status_code == 200


def test_slow_websocket_connect(sandbox: Sandbox) -> None:
    sandbox.faults.route("/ws", delay=0.5, times=1)
    with pytest.raises(TimeoutError):
        connect(sandbox.ws_url + "?clientId=slow", open_timeout=0.1)
    with Socket(sandbox.url, "slow") as ws:
        assert ws.recv()["type"] == "status"


def test_block_websocket(sandbox: Sandbox) -> None:
    sandbox.faults.block_websocket = True
    with pytest.raises(InvalidStatus) as info:
        Socket(sandbox.url, "x")
    assert info.value.response.status_code == 503


def test_drop_websockets_mid_job(sandbox: Sandbox) -> None:
    sandbox.faults.node("1", delay=0.3)
    sandbox.faults.drop_websockets(after_event="executing")
    with Socket(sandbox.url, "d") as ws:
        ws.recv()
        prompt_id = submit(sandbox.url, TINY, client_id="d")["prompt_id"]
        with pytest.raises(ConnectionClosed):
            ws.until_done(prompt_id)
    assert [f["type"] for f in ws.frames][-1] == "executing"
    assert wait_history(sandbox.url, prompt_id)["status"]["status_str"] == "success"  # the job went on


def test_drop_websockets_now(sandbox: Sandbox) -> None:
    with Socket(sandbox.url, "n") as ws:
        ws.recv()
        sandbox.faults.drop_websockets()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_restart_loses_queue_history_and_sockets(sandbox: Sandbox) -> None:
    done = submit(sandbox.url, TINY)["prompt_id"]
    wait_history(sandbox.url, done)
    sandbox.pause_worker()
    submit(sandbox.url, TINY)
    port = sandbox.port
    with Socket(sandbox.url, "r") as ws:
        ws.recv()
        sandbox.restart()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert sandbox.port == port
    assert HTTP.get(sandbox.url + "/queue").json() == {"queue_running": [], "queue_pending": []}
    assert HTTP.get(sandbox.url + "/history").json() == {}
    assert submit(sandbox.url, TINY)["number"] == 0  # the counter starts over


def test_hostile_names_reported_in_outputs(sandbox: Sandbox) -> None:
    sandbox.faults.hostile_names = ["../../x.png", "/etc/passwd"]
    prompt = {
        **TINY,
        "1": {**TINY["1"], "inputs": {**TINY["1"]["inputs"], "batch_size": 2}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "h"}},
    }
    prompt_id = submit(sandbox.url, prompt)["prompt_id"]
    outputs = wait_history(sandbox.url, prompt_id)["outputs"]
    names = sorted(item["filename"] for node in outputs.values() for item in node["images"])
    assert names == ["../../x.png", "../../x.png", "/etc/passwd", "/etc/passwd"]


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_auth_required_on_http_and_ws(tmp_path: Any, auth: str) -> None:
    kwargs: dict[str, Any] = {"token": "s3cret"} if auth == "token" else {"basic_auth": ("u", "p")}
    header = "Bearer s3cret" if auth == "token" else "Basic " + base64.b64encode(b"u:p").decode()
    with Sandbox(root=tmp_path, **kwargs) as sb:
        assert HTTP.get(sb.url + "/system_stats").status_code == 401
        assert (
            HTTP.get(sb.url + "/system_stats", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert HTTP.get(sb.url + "/system_stats", headers={"Authorization": header}).status_code == 200
        with pytest.raises(InvalidStatus) as info:
            Socket(sb.url, "a")
        assert info.value.response.status_code == 401
        with Socket(sb.url, "a", headers={"Authorization": header}) as ws:
            assert ws.recv()["type"] == "status"


def test_sync_and_async_clients_from_other_threads(sandbox: Sandbox) -> None:
    results: list[int] = []

    def worker() -> None:
        results.append(HTTP.get(sandbox.url + "/prompt").status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4


async def test_async_client_in_test_loop(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(sandbox.url + "/prompt", json={"prompt": TINY})
        assert response.status_code == 200


def test_sandbox_not_running_is_a_usage_error(tmp_path: Any) -> None:
    from comfyctl.errors import UsageError

    sb = Sandbox(root=tmp_path)  # constructing binds nothing
    with pytest.raises(UsageError):
        _ = sb.url
    with pytest.raises(UsageError):
        sb.restart()
    sb.stop()  # harmless when never started


def test_interrupt_of_prompt_without_client_id_is_broadcast(sandbox: Sandbox) -> None:
    sandbox.faults.node("1", delay=2.0, steps=20)
    with Socket(sandbox.url, "observer") as observer:
        observer.recv()
        prompt_id = submit(sandbox.url, TINY)["prompt_id"]  # no client_id
        observer.until(lambda f: f["type"] == "progress")
        HTTP.post(sandbox.url + "/interrupt")
        frames = observer.until(lambda f: f["type"] == "execution_interrupted")
    assert frames[-1]["data"]["prompt_id"] == prompt_id and frames[-1]["data"]["node_id"] == "1"
    assert not [
        f for f in observer.frames if f["type"] in ("execution_start", "executing", "execution_cached")
    ]
