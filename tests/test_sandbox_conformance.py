"""Replays each captured WebSocket flow (tests/data/fixtures/ws/*.jsonl) against the sandbox.

For every socket of a flow we compare message *signatures*: the type plus the sorted field names of
``data`` (binary frames: their event type), never timestamps, ids or values. The "skeleton" (all
messages except the progress stream: ``progress``, ``progress_state``, preview frames) must match in
order; the progress stream must use the same signatures and the same interleaving of ``progress`` and
preview frames (which differs between legacy and negotiated previews). Slow captured workflows are
replayed shrunk (small images, a per-step delay) so they stay fast here; their message shapes don't
depend on image size.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfyctl.testing import Sandbox
from conftest import FIXTURES
from sandbox_helpers import HTTP, Frame, Socket, is_done

WS = FIXTURES / "ws"
PROGRESS = {"progress", "progress_state", "bin1", "bin4"}
#: Flows whose every frame (not just the skeleton) must match: no timing or set order involved.
EXACT = {
    "success.jsonl",
    "success_cached.jsonl",
    "error_runtime.jsonl",
    "binary_legacy.jsonl",
    "binary_feature_flags.jsonl",
}


def sig(frame: Frame) -> tuple[Any, ...]:
    if frame.get("type") == "binary":
        return (f"bin{frame['event']}",)
    return (frame["type"], tuple(sorted(frame["data"])))


def captured(name: str) -> tuple[list[dict[str, Any]], dict[str, list[tuple[Any, ...]]]]:
    """(records, per-socket signatures) of a capture."""
    records = [json.loads(line) for line in (WS / name).read_text().splitlines() if line.strip()]
    sockets: dict[str, list[tuple[Any, ...]]] = {}
    for r in records:
        if r["kind"] == "text":
            sockets.setdefault(r["socket"], []).append(sig(r["msg"]))
        elif r["kind"] == "binary":
            sockets.setdefault(r["socket"], []).append((f"bin{r['frame']['event_type']}",))
    return records, sockets


def skeleton(sigs: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [s for s in sigs if s[0] not in PROGRESS]


def interleave(sigs: list[tuple[Any, ...]]) -> list[str]:
    return [s[0] for s in sigs if s[0] in ("progress", "bin1", "bin4")][:4]


def assert_same_shape(
    ours: list[tuple[Any, ...]], theirs: list[tuple[Any, ...]], *, ordered: bool = True
) -> None:
    if ordered:
        assert skeleton(ours) == skeleton(theirs)
    else:  # node order is Python set order on the real server: compare contents, head and tail
        assert Counter(skeleton(ours)) == Counter(skeleton(theirs))
        assert skeleton(ours)[:5] == skeleton(theirs)[:5] and skeleton(ours)[-3:] == skeleton(theirs)[-3:]
    assert {s for s in ours if s[0] in PROGRESS} == {s for s in theirs if s[0] in PROGRESS}
    assert interleave(ours) == interleave(theirs)


def http_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = next(r["body"] for r in records if r["kind"] == "http" and r["path"] == "/prompt")
    return body


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with Sandbox(root=tmp_path_factory.mktemp("conformance")) as sandbox:
        (sandbox.input_dir / "apiref").mkdir()
        Image.new("RGBA", (32, 32), (0, 0, 0, 128)).save(sandbox.input_dir / "apiref" / "apiref_up.png")
        Image.new("RGB", (32, 32)).save(sandbox.output_dir / "lab_00001_.png")
        yield sandbox


def replay(
    sb: Sandbox,
    name: str,
    *,
    shrink: bool = False,
    interrupt_after: int | None = None,
    targeted: bool = False,
) -> dict[str, list[tuple[Any, ...]]]:
    """Open the capture's sockets, send its first messages, post its prompt; signatures per socket."""
    records, _ = captured(name)
    body = http_body(records)
    prompt = json.loads(json.dumps(body["prompt"]))
    if shrink:  # 1024² x150 is memory-heavy: same shapes with 32² images, slowed per step
        prompt["2"]["inputs"].update(width=32, height=32)
        sb.faults.node("4", step_delay=0.02)
    names = [r["socket"] for r in records if r["kind"] == "note" and r["note"].startswith("connected")]
    flags = {r["socket"] for r in records if r["kind"] == "sent" and r["msg"]["type"] == "feature_flags"}
    sockets = {n: Socket(sb.url, f"{name}-{n}", flags=n in flags) for n in names}
    try:
        for ws in sockets.values():
            ws.recv()
        main = sockets["main"]
        if "main" in flags:
            main.recv()
        sent = {k: v for k, v in body.items() if k != "client_id"}
        prompt_id = HTTP.post(
            sb.url + "/prompt", json={**sent, "prompt": prompt, "client_id": f"{name}-main"}
        ).json()["prompt_id"]
        if interrupt_after is not None:
            main.until(lambda f: f["type"] == "progress" and f["data"]["value"] >= interrupt_after)
            HTTP.post(sb.url + "/interrupt", json={"prompt_id": prompt_id} if targeted else {})
        main.until_done(prompt_id)
        for n, ws in sockets.items():
            if n != "main":
                ws.until(
                    lambda f: (
                        f["type"] == "status" and f["data"]["status"]["exec_info"]["queue_remaining"] == 0
                    )
                )
        return {n: [sig(f) for f in ws.frames] for n, ws in sockets.items()}
    finally:
        sb.faults.clear()
        for ws in sockets.values():
            ws.close()


# Order matters: the captures were taken one after another on one server (cache state carries over).
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("success.jsonl", {}),
        ("success_cached.jsonl", {}),
        ("error_runtime.jsonl", {}),
        ("interrupt.jsonl", {"shrink": True, "interrupt_after": 3}),
        ("binary_legacy.jsonl", {}),
        ("binary_feature_flags.jsonl", {}),
        ("interrupt_targeted.jsonl", {"shrink": True, "interrupt_after": 2, "targeted": True}),
        ("outputs_zoo.jsonl", {}),
    ],
)
def test_flow_replay(sb: Sandbox, name: str, kwargs: dict[str, Any]) -> None:
    if name == "success_cached.jsonl":  # captured right after success.jsonl's identical prompt
        replay(sb, "success.jsonl")
    ours = replay(sb, name, **kwargs)
    _, theirs = captured(name)
    for socket, expected in theirs.items():
        assert_same_shape(ours[socket], expected, ordered=name != "outputs_zoo.jsonl")
        if name in EXACT:  # deterministic flows: the whole stream, progress_state included, is the same
            assert ours[socket] == expected


def test_no_client_id_param(sb: Sandbox) -> None:
    _, theirs = captured("no_client_id_param.jsonl")
    with Socket(sb.url) as ws:
        first = ws.recv()
        ws.conn.send(json.dumps({"type": "hello", "data": {}}))
        ws.conn.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # only the very first client message may negotiate
    assert [sig(first)] == theirs["main"]


def test_no_client_id_observer(sb: Sandbox) -> None:
    # The capture kept no request body: a prompt of the same shape (previews + a text frame, no client_id).
    _, theirs = captured("no_client_id_observer.jsonl")
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 2, "color": 7}},
        "5": {"class_type": "GetImageSize", "inputs": {"image": ["1", 0]}},
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}},
        "7": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["1", 0]}},
    }
    with Socket(sb.url, "observer-nocid") as ws:
        ws.recv()
        HTTP.post(sb.url + "/prompt", json={"prompt": prompt})
        ws.until(lambda f: f["type"] == "status" and f["data"]["status"]["exec_info"]["queue_remaining"] == 0)
    ours = [sig(f) for f in ws.frames]
    assert set(ours) == set(theirs["observer"])
    assert skeleton(ours) == skeleton(theirs["observer"]) and interleave(ours) == interleave(
        theirs["observer"]
    )


def test_reconnect_same_client_id(sb: Sandbox) -> None:
    _, theirs = captured("reconnect_same_client_id.jsonl")
    prompt = json.loads(json.dumps(http_body(captured("interrupt.jsonl")[0])["prompt"]))
    prompt["2"]["inputs"].update(width=32, height=32)
    prompt["3"]["inputs"]["amount"] = 40
    sb.faults.node("4", step_delay=0.02)
    ws1 = Socket(sb.url, "re")
    ws1.recv()
    prompt_id = HTTP.post(sb.url + "/prompt", json={"prompt": prompt, "client_id": "re"}).json()["prompt_id"]
    ws1.until(lambda f: f["type"] == "progress")
    with Socket(sb.url, "re") as ws2:
        ws2.recv(), ws2.recv()  # status with sid, then executing with only "node"
        ws2.until(lambda f: f["type"] == "progress")
        ws1.close()
        deadline_frames = []
        try:
            deadline_frames = ws2.until(lambda f: is_done(f, prompt_id), timeout=2)
        except TimeoutError:
            pass
    assert not deadline_frames  # ws2 went silent when ws1 closed
    assert [sig(f) for f in ws2.frames][:2] == theirs["ws2"][:2]
    assert HTTP.get(f"{sb.url}/history/{prompt_id}").json()  # the prompt still finished
    sb.faults.clear()


def test_logs_subscription(sb: Sandbox) -> None:
    _, theirs = captured("logs_subscription.jsonl")
    with Socket(sb.url, "logs-sub-client") as ws:
        ws.recv()
        HTTP.patch(sb.url + "/internal/logs/subscribe", json={"clientId": "logs-sub-client", "enabled": True})
        HTTP.post(sb.url + "/prompt", json={"prompt": {}})
        ws.until(lambda f: f["type"] == "logs")
        ws.until(lambda f: f["type"] == "logs")
        HTTP.patch(
            sb.url + "/internal/logs/subscribe", json={"clientId": "logs-sub-client", "enabled": False}
        )
    assert [sig(f) for f in ws.frames] == theirs["main"]


def test_every_capture_is_replayed() -> None:
    covered = {
        "success",
        "success_cached",
        "error_runtime",
        "interrupt",
        "interrupt_targeted",
        "binary_legacy",
        "binary_feature_flags",
        "outputs_zoo",
        "no_client_id_param",
        "no_client_id_observer",
        "reconnect_same_client_id",
        "logs_subscription",
    }
    assert {p.stem for p in Path(WS).glob("*.jsonl")} <= covered
