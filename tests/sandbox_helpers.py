"""Small WebSocket/HTTP helpers shared by the sandbox tests (raw protocol, no comfyctl client)."""

from __future__ import annotations

import atexit
import json
import struct
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from conftest import FIXTURES

Frame = dict[str, Any]
#: One shared client: creating one per request costs ~0.1 s (TLS context setup) on this machine.
HTTP = httpx.Client(timeout=30)
atexit.register(HTTP.close)


def workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "workflows" / f"{name}.json").read_text())
    return data


def parse(raw: str | bytes) -> Frame:
    """A text frame as its JSON; a binary frame as {"type": "binary", "event": n, ...decoded header}."""
    if isinstance(raw, str):
        msg: Frame = json.loads(raw)
        return msg
    event = struct.unpack(">I", raw[:4])[0]
    frame: Frame = {"type": "binary", "event": event, "payload": raw[4:]}
    if event == 1:
        frame["format"] = struct.unpack(">I", raw[4:8])[0]
        frame["image"] = raw[8:]
    elif event == 3:
        n = struct.unpack(">I", raw[4:8])[0]
        frame["node_id"] = raw[8 : 8 + n].decode()
        frame["text"] = raw[8 + n :].decode()
    elif event == 4:
        n = struct.unpack(">I", raw[4:8])[0]
        frame["metadata"] = json.loads(raw[8 : 8 + n])
        frame["image"] = raw[8 + n :]
    return frame


class Socket:
    """A raw /ws connection that records every frame it receives."""

    def __init__(
        self,
        base_url: str,
        client_id: str | None = None,
        *,
        flags: bool = False,
        headers: dict[str, str] | None = None,
        path: str = "/ws",
    ):
        url = base_url.replace("http://", "ws://") + path + (f"?clientId={client_id}" if client_id else "")
        # entered as a context manager: websockets >= 15 warns about bare connect() otherwise
        self.conn: ClientConnection = connect(url, additional_headers=headers, max_size=None).__enter__()
        self.frames: list[Frame] = []
        if flags:
            self.conn.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))

    def recv(self, timeout: float = 10) -> Frame:
        frame = parse(self.conn.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def until(self, pred: Callable[[Frame], bool], timeout: float = 10) -> list[Frame]:
        """Frames received until (and including) the first one matching pred."""
        out = []
        while True:
            frame = self.recv(timeout)
            out.append(frame)
            if pred(frame):
                return out

    def until_done(self, prompt_id: str, timeout: float = 10) -> list[Frame]:
        return self.until(lambda f: is_done(f, prompt_id), timeout)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_done(frame: Frame, prompt_id: str) -> bool:
    return (
        frame.get("type") == "executing"
        and frame["data"].get("node") is None
        and (frame["data"].get("prompt_id") == prompt_id)
    )


def types(frames: list[Frame], *, skip: tuple[str, ...] = ("progress_state",)) -> list[str]:
    return [
        f["type"] if f["type"] != "binary" else f"bin{f['event']}" for f in frames if f["type"] not in skip
    ]


def submit(url: str, prompt: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = HTTP.post(url + "/prompt", json={"prompt": prompt, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
