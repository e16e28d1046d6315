"""The sandbox's server state: queue, history, the worker, the execution cache and the message hub.

It follows ComfyUI 0.8.0's ``PromptQueue``, ``PromptExecutor``, ``ExecutionList`` and
``WebUIProgressHandler`` closely, because clients are tested against exactly those behaviours: a
heap-ordered pending queue, a classic input-signature cache, the executor's "output nodes first"
topological order, interrupts checked only at node start and on progress updates, and the completion race
(``execution_success`` goes out before the history entry exists). Everything runs on one asyncio loop;
messages go through one queue so their order is the order they were produced.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import heapq
import io
import json
import logging
import os
import struct
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image

from comfyctl.nodedefs import NodeDefs
from comfyctl.testing.faults import Faults
from comfyctl.testing.nodes import NodeContext, run_node

__all__ = ["Engine", "Hub"]

log = logging.getLogger("comfyctl.sandbox")

MAXIMUM_HISTORY_SIZE = 10000
SENSITIVE_EXTRA_DATA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
SERVER_FEATURES = {
    "supports_preview_metadata": True,
    "max_upload_size": 104857600,
    "extension": {"manager": {"supports_v4": True}},
}
#: File loaders whose IS_CHANGED hashes the named input's file.
FILE_INPUTS = {
    "LoadImage": "image",
    "LoadImageMask": "image",
    "LoadImageOutput": "image",
    "WebcamCapture": "image",
    "LoadLatent": "latent",
    "LoadAudio": "audio",
    "LoadVideo": "file",
}
# Binary frame types (comfyui-api.md §7.5).
PREVIEW_IMAGE, TEXT, PREVIEW_IMAGE_WITH_METADATA = 1, 3, 4


class Interrupted(Exception):
    """ComfyUI's InterruptProcessingException."""


class NodeFaultError(Exception):
    """An error injected by ``faults.node(error=...)``; reported under the requested type name."""

    def __init__(self, message: str, type_name: str):
        super().__init__(message)
        self.type_name = type_name


def _ms() -> int:
    return int(time.time() * 1000)


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )


def _type_name(exc: BaseException) -> str:
    if isinstance(exc, NodeFaultError):
        return exc.type_name
    module = type(exc).__module__
    return type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"


def _format_value(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    return str(value)


class Hub:
    """WebSocket registry and the single ordered outbound message queue (``send_sync`` + publish loop)."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.sockets: dict[str, Any] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.all_sockets: set[Any] = set()
        self.loop = asyncio.get_running_loop()
        self.messages: asyncio.Queue[tuple[Any, Any, str | None]] = asyncio.Queue()
        self.log_subscribers: set[str] = set()

    def send_sync(self, event: Any, data: Any, sid: str | None = None) -> None:
        """Queue a message from any thread; like ComfyUI, everything goes through one FIFO (order kept)."""
        self.loop.call_soon_threadsafe(self.messages.put_nowait, (event, data, sid))

    def supports_metadata(self, sid: str | None) -> bool:
        if sid is None or sid not in self.metadata:
            return False
        return bool(self.metadata[sid].get("feature_flags", {}).get("supports_preview_metadata", False))

    async def send(self, event: Any, data: Any, sid: str | None = None) -> None:
        targets = (
            list(self.sockets.values()) if sid is None else [self.sockets[sid]] if sid in self.sockets else []
        )
        for ws in targets:
            try:
                if isinstance(data, (bytes, bytearray)):
                    await ws.send_bytes(struct.pack(">I", event) + bytes(data))
                else:
                    await ws.send_json({"type": event, "data": data})
            except Exception as exc:  # a socket closing mid-send is dropped, like ComfyUI does
                log.debug("send failed: %s", exc)

    async def publish_loop(self) -> None:
        while True:
            event, data, sid = await self.messages.get()
            await self.send(event, data, sid)
            if self.faults.drop_after is not None and event == self.faults.drop_after:
                self.faults.drop_after = None
                self.drop_all()

    def drop_all(self) -> None:
        """Cut every socket's TCP connection without a close frame (a network drop)."""
        for ws in list(self.all_sockets):
            transport = getattr(ws, "_sandbox_transport", None)
            if transport is not None:
                transport.abort()


@dataclass
class CacheEntry:
    ui: dict[str, Any] | None
    outputs: tuple[Any, ...]


@dataclass
class QueueItem:
    """One queued prompt; ordered like ComfyUI's heap tuples (number, prompt_id, ...)."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    sensitive: dict[str, Any]

    def __lt__(self, other: QueueItem) -> bool:
        return (self.number, self.prompt_id) < (other.number, other.prompt_id)

    def wire(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


class Engine:
    """Queue, history, worker and executor of one sandbox server."""

    def __init__(self, dirs: dict[str, str], defs: Callable[[], NodeDefs], hub: Hub, faults: Faults):
        self.dirs = dirs
        self.defs = defs
        self.hub = hub
        self.faults = faults
        self.logs: deque[dict[str, str]] = deque(maxlen=300)
        self.reset()

    def reset(self) -> None:
        """Forget everything a restart forgets: queue, history, counter, cache, flags."""
        self.number = 0
        self.queue: list[QueueItem] = []
        self.running: dict[int, QueueItem] = {}
        self.task_counter = 0
        self.history: dict[str, dict[str, Any]] = {}
        self.flags: dict[str, Any] = {}
        self.interrupt_flag = False
        self.cache: dict[str, CacheEntry] = {}
        self.node_state: dict[str, dict[str, Any]] = {}
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.wakeup = asyncio.Event()
        self.resumed = asyncio.Event()
        self.resumed.set()

    # -- logging (what /internal/logs serves) -------------------------------------------------------------
    def log(self, text: str) -> None:
        entry = {"t": datetime.now().isoformat(), "m": text if text.endswith("\n") else text + "\n"}
        self.logs.append(entry)
        for sid in list(self.hub.log_subscribers):
            self.hub.send_sync("logs", {"entries": [entry], "size": None}, sid)

    # -- queue ---------------------------------------------------------------------------------------------
    def queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self.queue) + len(self.running)}}

    def queue_updated(self) -> None:
        self.hub.send_sync("status", {"status": self.queue_info()})

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self.queue, item)
        self.queue_updated()
        self.wakeup.set()

    def wipe_queue(self) -> None:
        self.queue = []
        self.queue_updated()

    def delete_queued(self, prompt_id: Any) -> None:
        for index, item in enumerate(self.queue):
            if item.prompt_id == prompt_id:
                if len(self.queue) == 1:
                    self.wipe_queue()  # quirk: deleting the last item sends two status messages
                else:
                    self.queue.pop(index)
                    heapq.heapify(self.queue)
                self.queue_updated()
                return

    def get_history(
        self, prompt_id: str | None = None, max_items: int | None = None, offset: int = -1
    ) -> dict[str, Any]:
        if prompt_id is not None:
            return {prompt_id: copy.deepcopy(self.history[prompt_id])} if prompt_id in self.history else {}
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for index, key in enumerate(self.history):
            if index >= offset:
                out[key] = self.history[key]
                if max_items is not None and len(out) >= max_items:
                    break
        return out

    def interrupt(self) -> None:
        self.interrupt_flag = True

    # -- worker --------------------------------------------------------------------------------------------
    async def worker(self) -> None:
        while True:
            if not self.queue or not self.resumed.is_set():
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            item = heapq.heappop(self.queue)
            task_id = self.task_counter
            self.task_counter += 1
            self.running[task_id] = copy.deepcopy(item)
            self.queue_updated()
            started = time.perf_counter()
            result, status = await self.execute(item)
            if self.faults.history_delay:
                await asyncio.sleep(self.faults.history_delay)
            # The history entry is written only now, after execution_success went out (the race).
            running = self.running.pop(task_id)
            if len(self.history) > MAXIMUM_HISTORY_SIZE:
                self.history.pop(next(iter(self.history)))
            self.history[running.prompt_id] = {
                "prompt": running.wire(),
                "outputs": {},
                "status": status,
                **result,
            }
            self.queue_updated()
            if self.client_id is not None:
                self.hub.send_sync("executing", {"node": None, "prompt_id": item.prompt_id}, self.client_id)
            self.log(f"Prompt executed in {time.perf_counter() - started:.2f} seconds")
            flags, self.flags = self.flags, {}
            if flags.get("free_memory"):
                self.cache.clear()
                self.node_state.clear()

    # -- executor ------------------------------------------------------------------------------------------
    async def execute(self, item: QueueItem) -> tuple[dict[str, Any], dict[str, Any]]:
        run = _Run(self, item)
        return await run.go()

    def signature(self, prompt: dict[str, Any], node_id: str, defs: NodeDefs) -> str:
        """ComfyUI's classic cache key: the node's inputs plus its ordered ancestry, ids abstracted."""
        ancestors: list[str] = []
        order: dict[str, int] = {}

        def walk(nid: str) -> None:
            inputs = prompt.get(nid, {}).get("inputs", {})
            for key in sorted(inputs):
                value = inputs[key]
                if _is_link(value) and value[0] not in order:
                    ancestors.append(value[0])
                    order[value[0]] = len(ancestors) - 1
                    walk(value[0])

        def immediate(nid: str) -> list[Any]:
            node = prompt.get(nid)
            if node is None:
                return ["NaN", nid]
            class_type = node["class_type"]
            sig: list[Any] = [class_type, self.is_changed(node)]
            hidden = defs[class_type].raw.get("input", {}).get("hidden", {}) if class_type in defs else {}
            if any(v == "UNIQUE_ID" or v == ["UNIQUE_ID"] for v in hidden.values()):
                sig.append(nid)
            for key in sorted(node["inputs"]):
                value = node["inputs"][key]
                sig.append([key, ["ANCESTOR", order[value[0]], value[1]] if _is_link(value) else value])
            return sig

        walk(node_id)
        parts = [immediate(node_id)] + [immediate(a) for a in ancestors]
        return json.dumps(parts, sort_keys=True, default=str)

    def is_changed(self, node: dict[str, Any]) -> Any:
        """The node's IS_CHANGED / fingerprint_inputs value, part of its cache key."""
        class_type = node.get("class_type")
        if class_type == "SaveImageWebsocket":
            return time.time()  # its IS_CHANGED returns time.time(): never cached
        arg = FILE_INPUTS.get(str(class_type))
        if arg is None:
            return False
        # File loaders hash the file, so replacing it invalidates the cache.
        path = annotated_path(str(node["inputs"].get(arg, "")), self.dirs)
        try:
            with open(path, "rb") as fh:
                return hashlib.sha256(fh.read()).hexdigest()
        except OSError:
            return "missing"


def annotated_path(name: str, dirs: dict[str, str], default: str = "input") -> str:
    """``"x.png [output]"`` → the file in that folder (ComfyUI's get_annotated_filepath)."""
    for tag in ("output", "input", "temp"):
        suffix = f"[{tag}]"
        if name.endswith(suffix):
            return os.path.join(dirs[tag], name[: -len(suffix) - 1])
    return os.path.join(dirs[default], name)


class _Run:
    """One prompt's execution (ComfyUI's PromptExecutor.execute_async + ExecutionList)."""

    def __init__(self, engine: Engine, item: QueueItem):
        self.e = engine
        self.hub = engine.hub
        self.item = item
        self.prompt = item.prompt
        self.prompt_id = item.prompt_id
        self.extra = {**item.extra_data, **item.sensitive}
        self.client_id: str | None = self.extra.get("client_id")
        self.defs = engine.defs()
        self.messages: list[list[Any]] = []
        self.progress: dict[str, dict[str, Any]] = {}
        self.ui_outputs: dict[str, dict[str, Any]] = {}
        self.executed: set[str] = set()
        self.keys: dict[str, str] = {}
        self.pending: dict[str, bool] = {}
        self.block_count: dict[str, int] = {}
        self.blocking: dict[str, dict[str, dict[int, bool]]] = {}

    # messages
    def add_message(self, event: str, data: dict[str, Any], broadcast: bool) -> None:
        data = {**data, "timestamp": _ms()}
        self.messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.hub.send_sync(event, data, self.client_id)

    def send_progress_state(self) -> None:
        nodes = {
            nid: {
                "value": s["value"],
                "max": s["max"],
                "state": s["state"],
                "node_id": nid,
                "prompt_id": self.prompt_id,
                "display_node_id": nid,
                "parent_node_id": None,
                "real_node_id": nid,
            }
            for nid, s in self.progress.items()
            if s["state"] != "pending"
        }
        self.hub.send_sync("progress_state", {"prompt_id": self.prompt_id, "nodes": nodes}, self.client_id)

    def start_progress(self, nid: str) -> None:
        self.progress[nid] = {"state": "running", "value": 0.0, "max": 1.0}
        self.send_progress_state()

    def finish_progress(self, nid: str) -> None:
        entry = self.progress.setdefault(nid, {"state": "pending", "value": 0, "max": 1})
        entry["state"] = "finished"
        entry["value"] = entry["max"]
        self.send_progress_state()

    def hook(self, nid: str, value: int, total: int, preview: tuple[str, Image.Image] | None) -> None:
        """ComfyUI's progress-bar hook: interrupt check, progress_state (+type 4), progress, type 1."""
        if self.e.interrupt_flag:
            raise Interrupted("Processing interrupted")
        self.progress[nid] = {"state": "running", "value": value, "max": total}
        self.send_progress_state()
        metadata = self.hub.supports_metadata(self.client_id)
        if preview is not None and metadata:
            fmt, image = preview
            meta = {
                "node_id": nid,
                "prompt_id": self.prompt_id,
                "display_node_id": nid,
                "parent_node_id": None,
                "real_node_id": nid,
                "image_type": "image/png" if fmt == "PNG" else "image/jpeg",
            }
            blob = json.dumps(meta).encode()
            self.hub.send_sync(
                PREVIEW_IMAGE_WITH_METADATA,
                struct.pack(">I", len(blob)) + blob + _encode(image, fmt),
                self.client_id,
            )
        self.hub.send_sync(
            "progress",
            {"value": value, "max": total, "prompt_id": self.prompt_id, "node": nid},
            self.client_id,
        )
        if preview is not None and not metadata:
            fmt, image = preview
            self.hub.send_sync(
                PREVIEW_IMAGE,
                struct.pack(">I", 2 if fmt == "PNG" else 1) + _encode(image, fmt),
                self.client_id,
            )

    # topological order (ExecutionList)
    def is_cached(self, nid: str) -> bool:
        return self.keys.get(nid) in self.e.cache

    def add_node(self, start: str) -> None:
        stack = [start]
        links: list[tuple[str, int, str]] = []
        while stack:
            nid = stack.pop()
            if nid in self.pending:
                continue
            self.pending[nid] = True
            self.block_count[nid] = 0
            self.blocking[nid] = {}
            for value in self.prompt[nid]["inputs"].values():
                if _is_link(value) and value[0] in self.prompt:
                    if not self.is_cached(value[0]):
                        stack.append(value[0])
                    links.append((value[0], value[1], nid))
        for src, slot, dst in links:
            self.add_strong_link(src, slot, dst)

    def add_strong_link(self, src: str, slot: int, dst: str) -> None:
        if not self.is_cached(src):
            self.add_node(src)
            if dst not in self.blocking[src]:
                self.blocking[src][dst] = {}
                self.block_count[dst] += 1
            self.blocking[src][dst][slot] = True

    def is_output(self, nid: str) -> bool:
        ct = self.prompt[nid]["class_type"]
        return ct in self.defs and self.defs[ct].is_output_node

    def is_async(self, nid: str) -> bool:
        # ComfyUI runs async nodes first; the partner API nodes are the async ones.
        ct = self.prompt[nid]["class_type"]
        return ct in self.defs and bool(self.defs[ct].raw.get("api_node"))

    def pick(self, ready: list[str]) -> str:
        for nid in ready:
            if self.is_output(nid) or self.is_async(nid):
                return nid
        for nid in ready:
            if any(self.is_output(b) for b in self.blocking[nid]):
                return nid
        for nid in ready:
            if any(self.is_output(b2) for b in self.blocking[nid] for b2 in self.blocking.get(b, {})):
                return nid
        return ready[0]

    def complete(self, nid: str) -> None:
        del self.pending[nid]
        for blocked in self.blocking.pop(nid):
            self.block_count[blocked] -= 1

    # running
    async def go(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self.e.interrupt_flag = False
        self.e.client_id = self.client_id
        self.add_message("execution_start", {"prompt_id": self.prompt_id}, broadcast=False)
        self.keys = {nid: self.e.signature(self.prompt, nid, self.defs) for nid in self.prompt}
        used = set(self.keys.values())
        for key in [
            k for k in self.e.cache if k not in used
        ]:  # classic cache: drop what this prompt doesn't use
            del self.e.cache[key]
        cached = [nid for nid in self.prompt if self.keys[nid] in self.e.cache]
        self.add_message("execution_cached", {"nodes": cached, "prompt_id": self.prompt_id}, broadcast=False)
        current_outputs = list(self.prompt)
        for nid in self.item.outputs:
            self.add_node(nid)
        success = True
        while self.pending:
            ready = [n for n in self.pending if self.block_count[n] == 0]
            if not ready:
                nid = next(iter(self.pending))
                self.add_message(
                    "execution_error",
                    {
                        "prompt_id": self.prompt_id,
                        "node_id": nid,
                        "node_type": self.prompt[nid]["class_type"],
                        "executed": list(self.executed),
                        "exception_message": "Dependency cycle detected",
                        "exception_type": "graph.DependencyCycleError",
                        "traceback": [],
                        "current_inputs": [],
                        "current_outputs": current_outputs,
                    },
                    broadcast=False,
                )
                success = False
                break
            nid = self.pick(ready)
            error = await self.execute_node(nid)
            if error is not None:
                success = False
                ct = self.prompt[nid]["class_type"]
                if isinstance(error, Interrupted):
                    self.add_message(
                        "execution_interrupted",
                        {
                            "prompt_id": self.prompt_id,
                            "node_id": nid,
                            "node_type": ct,
                            "executed": list(self.executed),
                        },
                        broadcast=True,
                    )
                else:
                    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
                    self.add_message(
                        "execution_error",
                        {
                            "prompt_id": self.prompt_id,
                            "node_id": nid,
                            "node_type": ct,
                            "executed": list(self.executed),
                            **details,
                            "current_outputs": current_outputs,
                        },
                        broadcast=False,
                    )
                break
            self.complete(nid)
        else:
            self.add_message("execution_success", {"prompt_id": self.prompt_id}, broadcast=False)
        self.e.last_node_id = None
        result = {
            "outputs": {n: u["output"] for n, u in self.ui_outputs.items()},
            "meta": {n: u["meta"] for n, u in self.ui_outputs.items()},
        }
        status = {
            "status_str": "success" if success else "error",
            "completed": success,
            "messages": self.messages,
        }
        return result, status

    def gather_inputs(self, nid: str) -> dict[str, Any]:
        """Declared inputs in declaration order (unknown keys are ignored, like ComfyUI), links resolved."""
        node = self.prompt[nid]
        ct = node["class_type"]
        given = node["inputs"]
        names = [spec.name for spec in self.defs[ct].inputs] if ct in self.defs else list(given)
        # V3 dynamic inputs arrive dotted ("images.image0" for the declared "images").
        ordered = [n for n in names if n in given]
        ordered += [n for n in given if n not in names and n.split(".")[0] in names]
        values: dict[str, Any] = {}
        for name in ordered:
            value = given[name]
            if _is_link(value):
                entry = self.e.cache.get(self.keys.get(value[0], ""))
                if entry is not None and value[1] < len(entry.outputs):
                    values[name] = entry.outputs[value[1]]
            else:
                values[name] = value
        return values

    def hidden_inputs(self, nid: str) -> dict[str, Any]:
        """What ComfyUI fills in for hidden inputs (shown in execution_error.current_inputs)."""
        ct = self.prompt[nid]["class_type"]
        hidden = (self.defs[ct].raw.get("input") or {}).get("hidden") or {} if ct in self.defs else {}
        out: dict[str, Any] = {}
        for name, kind in hidden.items():
            kind = kind[0] if isinstance(kind, list) and kind else kind
            if kind == "PROMPT":
                out[name] = self.prompt
            elif kind == "EXTRA_PNGINFO":
                out[name] = self.extra.get("extra_pnginfo")
            elif kind == "UNIQUE_ID":
                out[name] = nid
            else:  # DYNPROMPT and the API keys: never echo credentials back
                out[name] = None
        return out

    async def execute_node(self, nid: str) -> BaseException | None:
        node = self.prompt[nid]
        ct = node["class_type"]
        entry = self.e.cache.get(self.keys[nid])
        if entry is not None:
            if self.client_id is not None:
                output = (entry.ui or {}).get("output")
                self.hub.send_sync(
                    "executed",
                    {"node": nid, "display_node": nid, "output": output, "prompt_id": self.prompt_id},
                    self.client_id,
                )
                if entry.ui is not None:
                    self.ui_outputs[nid] = entry.ui
            self.finish_progress(nid)
            return None
        inputs: dict[str, Any] | None = None
        try:
            self.start_progress(nid)
            inputs = self.gather_inputs(nid)
            if self.client_id is not None:
                self.e.last_node_id = nid
                self.hub.send_sync(
                    "executing",
                    {"node": nid, "display_node": nid, "prompt_id": self.prompt_id},
                    self.client_id,
                )
            if self.e.interrupt_flag:  # checked at node start (and in progress updates), nowhere else
                raise Interrupted("Processing interrupted")
            fault = self.e.faults.for_node(nid, ct)
            if fault is not None:
                await self.apply_fault(nid, fault)
            ctx = NodeContext(
                node_id=nid,
                class_type=ct,
                node_def=self.defs.get(ct, None),
                dirs=self.e.dirs,
                prompt=self.prompt,
                extra_pnginfo=self.extra.get("extra_pnginfo"),
                send_text=lambda node_id, text: self.hub.send_sync(
                    TEXT, struct.pack(">I", len(node_id.encode())) + node_id.encode() + text.encode(), None
                ),
                progress=lambda value, total, preview: self.node_progress(nid, value, total, preview, fault),
                hostile_name=self.e.faults.next_hostile_name,
                state=self.e.node_state.setdefault(nid, {}),
                latent_previews=self.extra.get("preview_method") in ("auto", "latent2rgb", "taesd"),
            )
            # Node work runs off the loop, like ComfyUI's worker thread, so HTTP (e.g. /interrupt) is
            # served while a node runs and an interrupt can land on its next progress update.
            outputs, ui = await asyncio.to_thread(run_node, ctx, inputs)
        except Interrupted as exc:
            self.e.log("Processing interrupted")
            return exc
        except Exception as exc:
            formatted: dict[str, Any] = {}
            if inputs is not None:
                for name, value in {**inputs, **self.hidden_inputs(nid)}.items():
                    formatted[name] = [_format_value(value)]
            self.e.log(f"!!! Exception during processing !!! {exc}")
            return Exception(
                {
                    "exception_message": f"{exc}\n",
                    "exception_type": _type_name(exc),
                    "traceback": traceback.format_tb(exc.__traceback__),
                    "current_inputs": formatted,
                }
            )
        if ui:
            self.ui_outputs[nid] = {
                "meta": {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid},
                "output": ui,
            }
            if self.client_id is not None:
                self.hub.send_sync(
                    "executed",
                    {"node": nid, "display_node": nid, "output": ui, "prompt_id": self.prompt_id},
                    self.client_id,
                )
        self.e.cache[self.keys[nid]] = CacheEntry(self.ui_outputs.get(nid), tuple(outputs))
        self.finish_progress(nid)
        self.executed.add(nid)
        return None

    def node_progress(self, nid: str, value: int, total: int, preview: Any, fault: Any) -> None:
        """A real node's progress bar (in the node thread); ``step_delay`` slows each step down."""
        if fault is not None and fault.step_delay:
            time.sleep(fault.step_delay)
        self.hook(nid, value, total, preview)

    async def apply_fault(self, nid: str, fault: Any) -> None:
        if fault.steps > 0:
            for step in range(1, fault.steps + 1):
                await asyncio.sleep(fault.delay / fault.steps)
                preview = ("JPEG", _preview_image(step, fault.steps)) if fault.preview else None
                self.hook(nid, step, fault.steps, preview)
        elif fault.delay:
            await asyncio.sleep(fault.delay)  # no progress bar: not interruptible, like Canny on big images
        if fault.error is not None:
            raise NodeFaultError(fault.error, fault.exception_type)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, quality=95, compress_level=1)
    return buf.getvalue()


def _preview_image(step: int, total: int) -> Image.Image:
    shade = int(255 * step / max(total, 1))
    return Image.new("RGB", (64, 64), (shade, shade, shade))
