"""The sandbox's aiohttp application: ComfyUI 0.8.0's routes, answered the way the real server answers.

ComfyUI is itself an aiohttp app, so using aiohttp gives its exact 500 text bodies, 405s, HEAD handling
and FileResponse/Range behaviour. Handlers keep the real server's order of operations (e.g. the prompt
counter advances before validation) because clients are tested against those details.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import mimetypes
import os
import ssl
import sys
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from io import BytesIO
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from comfyctl.nodedefs import NodeDefs
from comfyctl.testing.engine import (
    SENSITIVE_EXTRA_DATA_KEYS,
    SERVER_FEATURES,
    Engine,
    Hub,
    QueueItem,
    annotated_path,
)
from comfyctl.testing.faults import Faults

__all__ = ["SandboxServer"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: aiohttp's own body for an unhandled exception, which is what ComfyUI answers for malformed requests.
TEXT_500 = "500 Internal Server Error\n\nServer got itself in trouble"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".apng", ".jfif")
MODEL_FOLDERS = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "custom_nodes",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
)
#: Legacy combo inputs whose choices are the files of a model folder (core loaders).
MODEL_COMBOS = {
    "ckpt_name": "checkpoints",
    "lora_name": "loras",
    "vae_name": "vae",
    "control_net_name": "controlnet",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "clip_name4": "text_encoders",
    "model_name": "upscale_models",
    "style_model_name": "style_models",
    "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks",
    "config_name": "configs",
}
#: Per-class exceptions to MODEL_COMBOS.
MODEL_COMBO_OVERRIDES = {
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("unCLIPCheckpointLoader", "ckpt_name"): "checkpoints",
}
JOB_STATUSES = ("pending", "in_progress", "completed", "failed")
#: Core loaders whose VALIDATE_INPUTS checks that the file exists (kind = word used in the message).
FILE_LOADERS = {
    "LoadImage": "image",
    "LoadImageMask": "image",
    "LoadImageOutput": "image",
    "LoadLatent": "latent",
}


def _ms() -> int:
    return int(time.time() * 1000)


class SandboxServer:
    """State + aiohttp app of one sandbox; started and stopped on the sandbox's own loop."""

    def __init__(
        self,
        root: str,
        object_info: Mapping[str, Any],
        faults: Faults,
        *,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
    ):
        self.root = os.path.abspath(root)
        self.dirs = {name: os.path.join(self.root, name) for name in ("input", "output", "temp")}
        for path in [*self.dirs.values(), os.path.join(self.root, "models")]:
            os.makedirs(path, exist_ok=True)
        example = os.path.join(self.dirs["input"], "example.png")
        if not os.path.exists(example):  # ComfyUI ships input/example.png; the fixture workflows load it
            _example_image().save(example)
        self.object_info = dict(object_info)
        # Combos ComfyUI fills from folders at request time: uploads from input/, model names from models/.
        # Combos ComfyUI fills from folders at request time: uploads from input/, model names from models/.
        self.dynamic_combos: list[tuple[str, str, str]] = []
        for ct, info in self.object_info.items():
            for name, spec in ((info.get("input") or {}).get("required") or {}).items():
                folder = _combo_folder(ct, name, spec)
                if folder is not None:
                    self.dynamic_combos.append((ct, name, folder))
        self.faults = faults
        self.token = token
        self.basic_auth = basic_auth
        self.hub = Hub(faults)
        self.engine = Engine(self.dirs, self.node_defs, self.hub, faults)
        self.runner: web.AppRunner | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.hang = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------------------
    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        self.hub.messages = asyncio.Queue()
        self.engine.reset()
        app = self.build_app()
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True, ssl_context=ssl_context)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        actual = int(sockets[0].getsockname()[1]) if sockets else port
        self.tasks = [asyncio.create_task(self.hub.publish_loop()), asyncio.create_task(self.engine.worker())]
        return actual

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        self.hang.set()
        self.hang = asyncio.Event()
        for ws in list(self.hub.all_sockets):
            transport = getattr(ws, "_sandbox_transport", None)
            if transport is not None:
                transport.abort()
        self.hub.sockets.clear()
        self.hub.metadata.clear()
        self.hub.all_sockets.clear()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # -- node definitions, with combo lists computed at request time like ComfyUI -------------------------
    def current_object_info(self) -> dict[str, Any]:
        info = dict(self.object_info)
        listings: dict[str, list[str]] = {}
        for ct, name, folder in self.dynamic_combos:
            if folder not in listings:
                if folder == "input":
                    listings[folder] = sorted(
                        f
                        for f in os.listdir(self.dirs["input"])
                        if os.path.isfile(os.path.join(self.dirs["input"], f))
                        and f.lower().endswith(IMAGE_EXTENSIONS)
                    )
                else:
                    listings[folder] = self.model_files(folder.split("/", 1)[1])
            entry = dict(info[ct])
            inputs = dict(entry["input"])
            required = dict(inputs["required"])
            required[name] = _with_choices(required[name], listings[folder])
            inputs["required"] = required
            entry["input"] = inputs
            info[ct] = entry
        return info

    def node_defs(self) -> NodeDefs:
        return NodeDefs(self.current_object_info())

    # -- middlewares ------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=104857600,
            middlewares=[
                self.error_log_middleware,
                self.auth_middleware,
                self.fault_middleware,
                self.origin_middleware,
            ],
        )
        routes = self.routes()
        app.add_routes([web.route(m, "/api" + p, h) for m, p, h in routes])
        app.add_routes([web.route(m, p, h) for m, p, h in routes])
        app.add_routes(
            [
                web.get("/api/jobs", self.get_jobs),
                web.get("/api/jobs/{job_id}", self.get_job),
                web.get("/api/api/jobs", self.get_jobs),
                web.get("/api/api/jobs/{job_id}", self.get_job),
            ]
        )
        internal = web.Application()
        internal.add_routes(
            [
                web.get("/logs", self.get_logs),
                web.get("/logs/raw", self.get_raw_logs),
                web.patch("/logs/subscribe", self.subscribe_logs),
                web.get("/folder_paths", self.folder_paths),
                web.get("/files/{directory_type}", self.files),
            ]
        )
        app.add_subapp("/internal", internal)
        app.add_routes([web.get("/{tail:.*}", self.static_fallback)])
        return app

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Bearer token / basic auth in front of everything (/ws too), like a reverse proxy would add."""
        if self.token is None and self.basic_auth is None:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        allowed = []
        if self.token is not None:
            allowed.append(f"Bearer {self.token}")
        if self.basic_auth is not None:
            user, password = self.basic_auth
            allowed.append("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        if header in allowed:
            return await handler(request)
        headers = {"WWW-Authenticate": 'Basic realm="comfyui"'} if self.basic_auth is not None else {}
        return web.Response(status=401, text="401: Unauthorized", headers=headers)

    @web.middleware
    async def fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.faults.take_route(request.method, request.path)
        if fault is None:
            return await handler(request)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.hang:
            await self.hang.wait()
            raise ConnectionResetError("sandbox stopped")
        if fault.status is None:
            return await handler(request)
        if fault.status == 500:
            return web.Response(status=500, text=TEXT_500)
        return web.Response(status=fault.status, text=f"{fault.status}: {HTTPStatus(fault.status).phrase}")

    @web.middleware
    async def error_log_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Unhandled exceptions (aiohttp's 500) reach /internal/logs, as ComfyUI's log capture does."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            self.engine.log(f"Error handling request from {request.remote}\n{traceback.format_exc()}")
            raise

    @web.middleware
    async def origin_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """ComfyUI's default Origin check: a loopback Host with a different Origin gets 403."""
        if "Host" in request.headers and "Origin" in request.headers:
            host = request.headers["Host"].lower()
            parsed = urllib.parse.urlparse(request.headers["Origin"])
            origin = parsed.netloc.lower()
            host_parsed = urllib.parse.urlsplit("//" + host)
            loopback = _is_loopback(host_parsed.hostname)
            if parsed.port is None:
                host = host_parsed.hostname or ""
            if host_parsed.port is None:
                origin = parsed.hostname or ""
            if loopback and host and origin and host != origin:
                return web.Response(status=403)
        if request.method == "OPTIONS":
            return web.Response()
        return await handler(request)

    # -- route table (each also under /api) -------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/ws", self.websocket),
            ("GET", "/", self.index),
            ("GET", "/embeddings", self.embeddings),
            ("GET", "/models", self.models),
            ("GET", "/models/{folder}", self.models_folder),
            ("GET", "/extensions", self.extensions),
            ("POST", "/upload/image", self.upload_image),
            ("POST", "/upload/mask", self.upload_mask),
            ("GET", "/view", self.view),
            ("GET", "/view_metadata/{folder_name}", self.not_found),
            ("GET", "/system_stats", self.system_stats),
            ("GET", "/features", self.features),
            ("GET", "/prompt", self.get_prompt),
            ("POST", "/prompt", self.post_prompt),
            ("GET", "/object_info", self.get_object_info),
            ("GET", "/object_info/{node_class}", self.get_object_info_node),
            ("GET", "/history", self.get_history),
            ("GET", "/history/{prompt_id}", self.get_history_id),
            ("POST", "/history", self.post_history),
            ("GET", "/queue", self.get_queue),
            ("POST", "/queue", self.post_queue),
            ("POST", "/interrupt", self.post_interrupt),
            ("POST", "/free", self.post_free),
            ("GET", "/experiment/models", self.experiment_models),
            ("GET", "/experiment/models/{folder}", self.experiment_models_folder),
            ("GET", "/global_subgraphs/{id}", self.null),
            ("GET", "/i18n", self.empty_object),
            ("GET", "/workflow_templates", self.empty_object),
            ("GET", "/global_subgraphs", self.empty_object),
            ("GET", "/settings", self.empty_object),
            ("GET", "/users", self.users),
        ]

    # -- websocket ----------------------------------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if self.faults.block_websocket:
            blocked = self.faults.block_websocket
            return web.Response(status=blocked if isinstance(blocked, int) and blocked > 1 else 503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        ws._sandbox_transport = request.transport  # type: ignore[attr-defined]
        hub = self.hub
        sid = request.rel_url.query.get("clientId", "")
        if sid:
            hub.sockets.pop(sid, None)  # reusing an id: the newest socket takes over
        else:
            sid = uuid.uuid4().hex
        hub.sockets[sid] = ws
        hub.metadata[sid] = {"feature_flags": {}}
        hub.all_sockets.add(ws)
        try:
            await hub.send("status", {"status": self.engine.queue_info(), "sid": sid}, sid)
            # Reconnecting as the running prompt's client during a node: no prompt_id, no display_node.
            if self.engine.client_id == sid and self.engine.last_node_id is not None:
                await hub.send("executing", {"node": self.engine.last_node_id}, sid)
            first = True
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    # Only the very first client message may negotiate feature flags.
                    if first and data.get("type") == "feature_flags":
                        hub.metadata[sid]["feature_flags"] = data.get("data", {})
                        await hub.send("feature_flags", SERVER_FEATURES, sid)
                    first = False
                except Exception:
                    pass
        finally:
            # Quirk kept on purpose: closing an *old* socket unregisters whatever socket now has this id.
            hub.sockets.pop(sid, None)
            hub.metadata.pop(sid, None)
            hub.all_sockets.discard(ws)
            hub.log_subscribers.discard(sid)
        return ws

    # -- small routes -------------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html><body>comfyctl sandbox</body></html>", content_type="text/html")

    async def static_fallback(self, request: web.Request) -> web.StreamResponse:
        # Unknown paths fall through to the static web root: 404, application/octet-stream, empty.
        return web.Response(status=404, content_type="application/octet-stream")

    async def not_found(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    async def empty_object(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def users(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"storage": "server", "migrated": True})

    def model_files(self, folder: str) -> list[str]:
        base = os.path.join(self.root, "models", folder)
        out = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                out.append(os.path.relpath(os.path.join(dirpath, name), base).replace(os.sep, "/"))
        return sorted(out)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([os.path.splitext(f)[0] for f in self.model_files("embeddings")])

    async def models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(list(MODEL_FOLDERS))

    async def models_folder(self, request: web.Request) -> web.StreamResponse:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        return web.json_response(self.model_files(folder))

    async def experiment_models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [{"name": f, "folders": [os.path.join(self.root, "models", f)]} for f in MODEL_FOLDERS]
        )

    async def experiment_models_folder(self, request: web.Request) -> web.StreamResponse:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)
        base = os.path.join(self.root, "models", folder)
        out = []
        for name in self.model_files(folder):
            st = os.stat(os.path.join(base, name))
            out.append(
                {
                    "name": name,
                    "pathIndex": 0,
                    "modified": st.st_mtime,
                    "created": st.st_ctime,
                    "size": st.st_size,
                }
            )
        return web.json_response(out)

    async def null(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(None)

    async def extensions(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([])

    async def system_stats(self, request: web.Request) -> web.StreamResponse:
        mem = 8 * 1024**3
        return web.json_response(
            {
                "system": {
                    "os": sys.platform,
                    "ram_total": mem,
                    "ram_free": mem // 2,
                    "comfyui_version": "0.8.0",
                    "required_frontend_version": "1.35.9",
                    "installed_templates_version": "0.7.67",
                    "required_templates_version": "0.7.67",
                    "python_version": sys.version,
                    "pytorch_version": "sandbox",
                    "embedded_python": False,
                    "argv": ["main.py", "--cpu", "--sandbox"],
                },
                "devices": [
                    {
                        "name": "cpu",
                        "type": "cpu",
                        "index": None,
                        "vram_total": mem,
                        "vram_free": mem // 2,
                        "torch_vram_total": mem,
                        "torch_vram_free": mem // 2,
                    }
                ],
            }
        )

    async def features(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(SERVER_FEATURES)

    async def get_object_info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.current_object_info())

    async def get_object_info_node(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["node_class"]
        info = self.current_object_info()
        return web.json_response({name: info[name]} if name in info else {})

    # -- prompt / queue / history -------------------------------------------------------------------------
    async def get_prompt(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.engine.queue_info())

    async def post_prompt(self, request: web.Request) -> web.StreamResponse:
        engine = self.engine
        engine.log("got prompt")
        json_data = await request.json()  # malformed JSON raises: aiohttp's 500 text, like ComfyUI
        # The counter advances before validation, so rejected prompts consume a number too.
        if "number" in json_data:
            number: float = float(json_data["number"])
        else:
            number = engine.number
            # `in` first, as ComfyUI does: a JSON list body must reach the no_prompt answer, not crash
            if "front" in json_data and json_data["front"]:  # noqa: RUF019
                number = -number
            engine.number += 1
        if "prompt" not in json_data:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = json_data["prompt"]
        prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
        targets = json_data.get("partial_execution_targets", None)
        verdict = self.validate(prompt, targets)
        extra_data = json_data.get("extra_data", {})
        if "client_id" in json_data:
            extra_data["client_id"] = json_data["client_id"]
        if verdict.status != 200:
            engine.log(f"invalid prompt: {verdict.body.get('error')}")
            return web.json_response(verdict.body, status=400)
        sensitive = {k: extra_data.pop(k) for k in SENSITIVE_EXTRA_DATA_KEYS if k in extra_data}
        extra_data["create_time"] = _ms()
        engine.put(QueueItem(number, prompt_id, verdict.prompt, extra_data, list(verdict.outputs), sensitive))
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": verdict.body.get("node_errors", {})}
        )

    def validate(self, prompt: Any, targets: Any) -> Any:
        """ComfyUI's validate_prompt (reproduced in comfyctl.workflow.validate) with this sandbox's files."""
        from comfyctl.testing.tracebacks import format_frame
        from comfyctl.workflow.validate import file_validator, validate_prompt

        def exists(name: str) -> bool:
            return os.path.exists(annotated_path(name, self.dirs))

        custom = {ct: file_validator(kind, exists) for ct, kind in FILE_LOADERS.items()}
        verdict = validate_prompt(
            prompt,
            self.node_defs(),
            partial_execution_targets=targets,
            custom_validators=custom,
            format_frame=format_frame,
        )
        if verdict.status == 500:  # the real server has no handler for these: aiohttp's 500 text/plain
            raise RuntimeError(verdict.body.get("exception_message", "invalid prompt"))
        return verdict

    async def get_queue(self, request: web.Request) -> web.StreamResponse:
        running = [item.wire() for item in self.engine.running.values()]
        pending = [item.wire() for item in self.engine.queue]  # the raw heap array, not run order
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def post_queue(self, request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        if "clear" in json_data and json_data["clear"]:  # noqa: RUF019 - a list body must not crash
            self.engine.wipe_queue()
        if "delete" in json_data:
            for prompt_id in json_data["delete"]:
                self.engine.delete_queued(prompt_id)
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None  # non-int: 500, like ComfyUI
        offset = int(query["offset"]) if "offset" in query else -1
        return web.json_response(self.engine.get_history(max_items=max_items, offset=offset))

    async def get_history_id(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.engine.get_history(prompt_id=request.match_info["prompt_id"]))

    async def post_history(self, request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        if "clear" in json_data and json_data["clear"]:  # noqa: RUF019 - a list body must not crash
            self.engine.history = {}
        if "delete" in json_data:
            for prompt_id in json_data["delete"]:
                self.engine.history.pop(prompt_id, None)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.StreamResponse:
        try:
            json_data = await request.json()
        except json.JSONDecodeError:
            json_data = {}
        prompt_id = json_data.get("prompt_id")
        if prompt_id:
            # Targeted: fires only when that prompt is the running one; otherwise ignored.
            if any(item.prompt_id == prompt_id for item in self.engine.running.values()):
                self.engine.interrupt()
        else:
            self.engine.interrupt()
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        for flag in ("unload_models", "free_memory"):
            if json_data.get(flag, False):
                self.engine.flags[flag] = json_data[flag]
        return web.Response(status=200)

    # -- jobs ---------------------------------------------------------------------------------------------
    async def get_jobs(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        sort_by = query.get("sort_by", "created_at").lower()
        sort_order = query.get("sort_order", "desc").lower()
        statuses: list[str] = list(JOB_STATUSES)
        if query.get("status"):
            statuses = [s.strip().lower() for s in query["status"].split(",") if s.strip()]
            bad = [s for s in statuses if s not in JOB_STATUSES]
            if bad:
                return web.json_response(
                    {
                        "error": f"Invalid status value(s): {', '.join(bad)}. "
                        f"Valid values: {', '.join(JOB_STATUSES)}"
                    },
                    status=400,
                )
        if sort_by not in ("created_at", "execution_duration"):
            return web.json_response(
                {"error": "sort_by must be 'created_at' or 'execution_duration'"}, status=400
            )
        if sort_order not in ("asc", "desc"):
            return web.json_response({"error": "sort_order must be 'asc' or 'desc'"}, status=400)
        limit = None
        if "limit" in query:
            try:
                limit = int(query["limit"])
            except ValueError:
                return web.json_response({"error": "limit must be an integer"}, status=400)
            if limit <= 0:
                return web.json_response({"error": "limit must be a positive integer"}, status=400)
        offset = 0
        if "offset" in query:
            try:
                offset = max(0, int(query["offset"]))
            except ValueError:
                return web.json_response({"error": "offset must be an integer"}, status=400)
        jobs: list[dict[str, Any]] = []
        if "in_progress" in statuses:
            jobs += [_queue_job(item.wire(), "in_progress") for item in self.engine.running.values()]
        if "pending" in statuses:
            jobs += [_queue_job(item.wire(), "pending") for item in self.engine.queue]
        for prompt_id, entry in self.engine.history.items():
            failed = (entry.get("status") or {}).get("status_str") == "error"
            if ("failed" if failed else "completed") in statuses:
                jobs.append(_history_job(prompt_id, entry))
        workflow_id = query.get("workflow_id")
        if workflow_id:
            jobs = [j for j in jobs if j.get("workflow_id") == workflow_id]

        def key(job: dict[str, Any]) -> Any:
            if sort_by == "execution_duration":
                start, end = job.get("execution_start_time", 0), job.get("execution_end_time", 0)
                return end - start if end and start else 0
            return job.get("create_time", 0)

        jobs.sort(key=key, reverse=sort_order == "desc")
        total = len(jobs)
        page = jobs[offset:] if offset > 0 else jobs
        if limit is not None:
            page = page[:limit]
        return web.json_response(
            {
                "jobs": page,
                "pagination": {
                    "offset": offset,
                    "limit": limit,
                    "total": total,
                    "has_more": offset + len(page) < total,
                },
            }
        )

    async def get_job(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        if job_id in self.engine.history:
            return web.json_response(_history_job(job_id, self.engine.history[job_id], full=True))
        for item in self.engine.running.values():
            if item.prompt_id == job_id:
                return web.json_response(_queue_job(item.wire(), "in_progress"))
        for item in self.engine.queue:
            if item.prompt_id == job_id:
                return web.json_response(_queue_job(item.wire(), "pending"))
        return web.json_response({"error": "Job not found"}, status=404)

    # -- files --------------------------------------------------------------------------------------------
    def dir_by_type(self, name: str | None) -> str | None:
        return self.dirs.get(name or "", None) if name in ("input", "output", "temp") else None

    async def view(self, request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename = query["filename"]
        output_dir: str | None = None
        for tag in ("output", "input", "temp"):  # "name.png [output]" overrides type
            if filename.endswith(f"[{tag}]"):
                filename, output_dir = filename[: -len(tag) - 3], self.dirs[tag]
                break
        if not filename:
            return web.Response(status=400)
        if filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        if output_dir is None:
            output_dir = self.dir_by_type(query.get("type", "output"))
        if output_dir is None:
            return web.Response(status=400)
        if "subfolder" in query:
            full = os.path.join(output_dir, query["subfolder"])
            if os.path.commonpath((os.path.abspath(full), output_dir)) != output_dir:
                return web.Response(status=403)
            output_dir = full
        filename = os.path.basename(filename)  # directory parts of filename are dropped
        path = os.path.join(output_dir, filename)
        if not os.path.isfile(path):
            return web.Response(status=404)
        disposition = {"Content-Disposition": f'filename="{filename}"'}
        channel = query.get("channel", "rgba")
        if "preview" in query:
            with Image.open(path) as img:
                info = query["preview"].split(";")
                fmt = (
                    info[0] if info[0] in ("webp", "jpeg") and "a" not in query.get("channel", "") else "webp"
                )
                quality = int(info[-1]) if info[-1].isdigit() else 90
                if fmt == "jpeg" or query.get("channel", "") == "rgb":
                    img = img.convert("RGB")
                buf = BytesIO()
                img.save(buf, format=fmt, quality=quality)
            return web.Response(body=buf.getvalue(), content_type=f"image/{fmt}", headers=disposition)
        if channel in ("rgb", "a"):
            with Image.open(path) as img:
                if channel == "rgb":
                    out = Image.merge("RGB", img.split()[:3]) if img.mode == "RGBA" else img.convert("RGB")
                else:
                    alpha = img.split()[3] if img.mode == "RGBA" else Image.new("L", img.size, 255)
                    out = Image.new("RGBA", img.size)
                    out.putalpha(alpha)
                buf = BytesIO()
                out.save(buf, format="PNG")
            return web.Response(body=buf.getvalue(), content_type="image/png", headers=disposition)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if content_type in {
            "text/html",
            "text/html-sandboxed",
            "application/xhtml+xml",
            "text/javascript",
            "text/css",
        }:
            content_type = "application/octet-stream"
        return web.FileResponse(path, headers={**disposition, "Content-Type": content_type})

    def image_upload(
        self, post: Any, save: Callable[[Any, Any, str], None] | None = None
    ) -> web.StreamResponse:
        image = post.get("image")
        overwrite = post.get("overwrite")
        kind = post.get("type") or "input"
        upload_dir = self.dir_by_type(kind)
        if upload_dir is None:
            raise ValueError(f"bad upload type {kind!r}")  # ComfyUI: UnboundLocalError → 500
        if not (image and image.file):
            return web.Response(status=400)
        filename = image.filename
        if not filename:
            return web.Response(status=400)
        subfolder = post.get("subfolder", "")
        folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        path = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((upload_dir, path)) != upload_dir:
            return web.Response(status=400)
        os.makedirs(folder, exist_ok=True)
        stem, ext = os.path.splitext(filename)
        duplicate = False
        if overwrite not in ("true", "1"):
            index = 1
            data = image.file.read()
            image.file.seek(0)
            while os.path.exists(path):
                with open(path, "rb") as fh:  # same bytes under the same name: reuse it (dedup by hash)
                    if hashlib.sha256(fh.read()).digest() == hashlib.sha256(data).digest():
                        duplicate = True
                        break
                filename = f"{stem} ({index}){ext}"
                path = os.path.join(folder, filename)
                index += 1
        if not duplicate:
            if save is not None:
                save(image, post, path)
            else:
                with open(path, "wb") as fh:
                    fh.write(image.file.read())
        return web.json_response({"name": filename, "subfolder": subfolder, "type": kind})

    async def upload_image(self, request: web.Request) -> web.StreamResponse:
        return self.image_upload(await request.post())

    async def upload_mask(self, request: web.Request) -> web.StreamResponse:
        def save(image: Any, post: Any, path: str) -> None:
            # Quirk: when the original is missing or invalid nothing is written, yet the answer is 200.
            ref = json.loads(post.get("original_ref"))
            name = ref["filename"]
            base: str | None = None
            for tag in ("output", "input", "temp"):
                if name.endswith(f"[{tag}]"):
                    name, base = name[: -len(tag) - 3], self.dirs[tag]
            if not name or name[0] == "/" or ".." in name:
                return
            base = base or self.dir_by_type(ref.get("type", "output"))
            if base is None:
                return
            if ref.get("subfolder", ""):
                full = os.path.join(base, ref["subfolder"])
                if os.path.commonpath((os.path.abspath(full), base)) != base:
                    return
                base = full
            original = os.path.join(base, name)
            if not os.path.isfile(original):
                return
            with Image.open(original) as img:
                meta = PngInfo()
                for key, value in getattr(img, "text", {}).items():
                    meta.add_text(key, value)
                rgba = img.convert("RGBA")
                rgba.putalpha(Image.open(image.file).convert("RGBA").getchannel("A"))
                rgba.save(path, compress_level=4, pnginfo=meta)

        return self.image_upload(await request.post(), save)

    # -- /internal ----------------------------------------------------------------------------------------
    async def get_logs(self, request: web.Request) -> web.StreamResponse:
        return web.json_response("".join(e["t"] + " - " + e["m"] for e in self.engine.logs))

    async def get_raw_logs(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"entries": list(self.engine.logs), "size": {"cols": 80, "rows": 24}})

    async def subscribe_logs(self, request: web.Request) -> web.StreamResponse:
        json_data = await request.json()
        if json_data["enabled"]:
            self.hub.log_subscribers.add(json_data["clientId"])
        else:
            self.hub.log_subscribers.discard(json_data["clientId"])
        return web.Response(status=200)

    async def folder_paths(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({f: [os.path.join(self.root, "models", f)] for f in MODEL_FOLDERS})

    async def files(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["directory_type"]
        if kind not in ("output", "input", "temp"):
            return web.json_response({"error": "Invalid directory type"}, status=400)
        entries = [e for e in os.scandir(self.dirs[kind]) if e.is_file() and not e.name.startswith(".")]
        entries.sort(key=lambda e: -e.stat().st_mtime)
        return web.json_response([e.name for e in entries])


def _combo_folder(class_type: str, name: str, spec: Any) -> str | None:
    """Which folder lists this combo's choices ("input" or "models/<folder>"), or None."""
    if not isinstance(spec, list) or not spec:
        return None
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    legacy = isinstance(spec[0], list)
    if not legacy and not (spec[0] == "COMBO" and isinstance(options.get("options"), list)):
        return None
    if options.get("image_upload") and legacy:
        return "input"
    folder = MODEL_COMBO_OVERRIDES.get((class_type, name)) or MODEL_COMBOS.get(name)
    return None if folder is None else "models/" + folder


def _with_choices(spec: list[Any], files: list[str]) -> list[Any]:
    """The spec with the folder's files as choices; non-file entries (VAELoader's "pixel_space") kept."""
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else None
    if isinstance(spec[0], list):
        keep = [c for c in spec[0] if isinstance(c, str) and "." not in c and c not in files]
        return [files + keep, options] if options is not None else [files + keep]
    assert options is not None
    keep = [c for c in options["options"] if isinstance(c, str) and "." not in c and c not in files]
    return [spec[0], {**options, "options": files + keep}]


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _job_meta(extra_data: Mapping[str, Any]) -> tuple[Any, Any]:
    return extra_data.get("create_time"), (extra_data.get("extra_pnginfo") or {}).get("workflow", {}).get(
        "id"
    )


def _queue_job(item: list[Any], status: str) -> dict[str, Any]:
    create_time, workflow_id = _job_meta(item[3])
    return _prune(
        {
            "id": item[1],
            "status": status,
            "priority": item[0],
            "create_time": create_time,
            "outputs_count": 0,
            "workflow_id": workflow_id,
        }
    )


def _outputs_summary(outputs: Mapping[str, Any]) -> tuple[int, dict[str, Any] | None]:
    count, preview, fallback = 0, None, None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media, items in node_outputs.items():
            if media == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    continue
                count += 1
                fmt = item.get("format", "") or ""
                previewable = (
                    media in ("images", "video", "audio")
                    or fmt.startswith(("video/", "audio/"))
                    or str(item.get("filename", "")).lower().endswith((".obj", ".fbx", ".gltf", ".glb"))
                )
                if preview is None and previewable:
                    enriched = {**item, "nodeId": node_id, "mediaType": media}
                    if item.get("type") == "output":
                        preview = enriched
                    elif fallback is None:
                        fallback = enriched
    return count, preview or fallback


def _history_job(prompt_id: str, entry: Mapping[str, Any], full: bool = False) -> dict[str, Any]:
    priority, _, prompt, extra_data, _ = entry["prompt"]
    create_time, workflow_id = _job_meta(extra_data)
    status_info = entry.get("status") or {}
    status = "failed" if status_info.get("status_str") == "error" else "completed"
    outputs = entry.get("outputs", {})
    count, preview = _outputs_summary(outputs)
    start = end = error = None
    for name, data in status_info.get("messages", []):
        if name == "execution_start":
            start = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            if name == "execution_error":
                error = data
    job = _prune(
        {
            "id": prompt_id,
            "status": status,
            "priority": priority,
            "create_time": create_time,
            "execution_start_time": start,
            "execution_end_time": end,
            "execution_error": error,
            "outputs_count": count,
            "preview_output": preview,
            "workflow_id": workflow_id,
        }
    )
    if full:
        job.update(
            outputs=outputs,
            execution_status=status_info,
            workflow={"prompt": prompt, "extra_data": extra_data},
        )
    return job


def _example_image() -> Image.Image:
    img = Image.new("RGB", (128, 96))
    img.putdata([(x * 2, y * 2, 128) for y in range(96) for x in range(128)])
    return img
