"""The baseline for bench_client.py: the least a hand-written ComfyUI client does.

urllib for HTTP, one websocket (websockets.sync) for events, no retries, no error mapping, no
reconciliation: submit, wait for ``executing`` with node null for the prompt, read the history,
stream a file to disk. Jobs waited in any order share the socket (events of other prompts are kept).
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from typing import Any

from websockets.sync.client import connect


class RawClient:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        ws_url = self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.ws = connect(
            f"{ws_url}/ws?clientId={self.client_id}", max_size=None, compression=None
        ).__enter__()
        self.done: set[str] = set()
        self.seen: dict[str, int] = defaultdict(int)

    def _json(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def submit(self, prompt: dict[str, Any]) -> str:
        answer = self._json("/api/prompt", {"prompt": prompt, "client_id": self.client_id})
        return str(answer["prompt_id"])

    def wait(self, prompt_id: str) -> dict[str, Any]:
        while prompt_id not in self.done:
            frame = self.ws.recv()
            if isinstance(frame, bytes):
                continue
            msg = json.loads(frame)
            data = msg.get("data") or {}
            if msg.get("type") == "executing" and data.get("node") is None and data.get("prompt_id"):
                self.done.add(data["prompt_id"])
        entry: dict[str, Any] = self._json(f"/api/history/{prompt_id}")[prompt_id]
        return entry

    def download(self, filename: str, subfolder: str, type: str, dest: str) -> None:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        with (
            urllib.request.urlopen(f"{self.url}/api/view?{query}", timeout=30) as resp,
            open(dest, "wb") as fh,
        ):
            shutil.copyfileobj(resp, fh, 1 << 20)

    def close(self) -> None:
        self.ws.close()
