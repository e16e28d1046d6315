"""WebSocket frame decoding on every captured frame, plus binary and malformed frames."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from comfyctl import events as ev
from conftest import FIXTURES

WS_LOGS = sorted((FIXTURES / "ws").glob("*.jsonl"))
KNOWN = {
    "status",
    "execution_start",
    "execution_cached",
    "executing",
    "progress",
    "progress_state",
    "executed",
    "execution_success",
    "execution_error",
    "execution_interrupted",
    "feature_flags",
    "logs",
}


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _encode_binary(frame: dict[str, Any]) -> bytes:
    """Rebuild the wire bytes from a decoded capture (image bytes: the captured magic only)."""
    kind = frame["event_type"]
    image = bytes.fromhex(frame.get("image_magic_hex", ""))
    if kind == 1:
        return struct.pack(">II", 1, frame["image_format_code"]) + image
    if kind == 4:
        meta = json.dumps(frame["metadata"]).encode()
        return struct.pack(">II", 4, len(meta)) + meta + image
    if kind == 3:
        node = str(frame["node_id"]).encode()
        return struct.pack(">II", 3, len(node)) + node + str(frame["text"]).encode()
    raise AssertionError(kind)


@pytest.mark.parametrize("path", WS_LOGS, ids=lambda p: p.stem)
def test_every_captured_text_frame_parses_to_its_typed_event(path: Path) -> None:
    seen = 0
    for rec in _records(path):
        if rec.get("kind") != "text":
            continue
        msg = rec["msg"]
        event = ev.parse_event(json.dumps(msg))
        assert event.type == msg["type"]
        assert isinstance(event, ev.UnknownEvent) == (msg["type"] not in KNOWN)
        data = msg["data"]
        if isinstance(data, dict) and "prompt_id" in data:
            assert event.prompt_id == data["prompt_id"]
        json.dumps(event.to_dict())  # NDJSON-safe
        seen += 1
    assert seen


@pytest.mark.parametrize("path", WS_LOGS, ids=lambda p: p.stem)
def test_every_captured_binary_frame_decodes(path: Path) -> None:
    for rec in _records(path):
        if rec.get("kind") != "binary":
            continue
        frame = rec["frame"]
        event = ev.parse_event(_encode_binary(frame))
        if frame["event_type"] == 3:
            assert isinstance(event, ev.NodeText)
            assert (event.node_id, event.text) == (frame["node_id"], frame["text"])
        else:
            assert isinstance(event, ev.Preview)
            assert event.image == bytes.fromhex(frame["image_magic_hex"])
            if frame["event_type"] == 4:
                assert event.metadata == frame["metadata"]
                assert event.prompt_id == frame["metadata"]["prompt_id"]
                assert event.format == frame["metadata"]["image_type"].split("/")[1]
            else:
                assert event.format == {1: "jpeg", 2: "png"}[frame["image_format_code"]]
            out = event.to_dict()
            assert out["size"] == len(event.image) and "image" not in out


def test_execution_error_drops_current_inputs() -> None:
    payload = {
        "prompt_id": "p",
        "node_id": "3",
        "node_type": "SaveImage",
        "exception_type": "Exception",
        "exception_message": "boom",
        "traceback": ["a", "b"],
        "executed": ["1"],
        "current_inputs": {"secret": ["hunter2"]},
        "timestamp": 5,
    }
    event = ev.parse_event(json.dumps({"type": "execution_error", "data": payload}))
    assert isinstance(event, ev.ExecutionFailed)
    assert (event.node_id, event.node_type, event.traceback, event.executed) == (
        "3",
        "SaveImage",
        ("a", "b"),
        ("1",),
    )
    assert "hunter2" not in json.dumps(event.to_dict())


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"type": 5}',
        '{"no_type": true}',
        '{"type": "progress", "data": {"value": "many"}}',
        '{"type": "brand_new_thing", "data": {"prompt_id": "p", "x": 1}}',
        b"",
        b"\x00\x00",
        struct.pack(">I", 9) + b"xyz",
        struct.pack(">II", 4, 999) + b"{}",
        struct.pack(">II", 4, 2) + b"[]",
        struct.pack(">II", 3, 50) + b"1",
    ],
)
def test_anything_unknown_or_malformed_is_an_unknown_event_never_an_exception(frame: str | bytes) -> None:
    event = ev.parse_event(frame)
    assert isinstance(event, ev.UnknownEvent)
    json.dumps(event.to_dict())


def test_unknown_event_keeps_type_data_and_prompt_id() -> None:
    event = ev.parse_event('{"type": "brand_new_thing", "data": {"prompt_id": "p", "x": 1}}')
    assert isinstance(event, ev.UnknownEvent)
    assert (event.type, event.data, event.prompt_id) == ("brand_new_thing", {"prompt_id": "p", "x": 1}, "p")


def test_connect_status_and_feature_flag_handshake() -> None:
    status = ev.parse_event(
        '{"type":"status","data":{"status":{"exec_info":{"queue_remaining":3}},"sid":"abc"}}'
    )
    assert status == ev.Status(queue_remaining=3, sid="abc")
    assert json.loads(ev.feature_flags_message()) == {
        "type": "feature_flags",
        "data": {"supports_preview_metadata": True},
    }
