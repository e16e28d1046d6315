"""ComfyUI's HTTP protocol as pure functions: request bodies, response parsing, error mapping.

No I/O here: :mod:`comfyctl.client` and :mod:`comfyctl.aio` send what these functions build and
hand the answers back. Wire quirks are named where they are handled (see comfyui-api.md §12).
"""

from __future__ import annotations

import json
import posixpath
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlencode

from comfyctl import errors
from comfyctl.results import (
    Device,
    JobStatus,
    OutputFile,
    QueueItem,
    QueueState,
    Result,
    SystemStats,
    Timing,
    UploadedFile,
)

Redact = Callable[[str], str]
CancelOutcome = Literal["dequeued", "interrupted", "cleared", "not_found"]
FileType = Literal["input", "temp", "output"]

#: Responses worth repeating an idempotent request for (408/429: a proxy or rate limiter in front).
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
#: The longest ``Retry-After`` we sleep for; a longer one ends the retries at once.
MAX_RETRY_AFTER = 10.0
#: Largest JSON body we quote in an error.
_BODY_QUOTE = 2000

_VIDEO = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"}
_AUDIO = {".flac", ".mp3", ".opus", ".ogg", ".wav", ".m4a", ".aac"}
_IMAGE = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".avif"}
_MODEL3D = {".glb", ".gltf", ".obj", ".fbx", ".stl", ".ply", ".usdz"}
_KEY_KINDS = {
    "gifs": "gif",
    "video": "video",
    "videos": "video",
    "audio": "audio",
    "3d": "3d",
    "latents": "latent",
    "latent": "latent",
    "meshes": "3d",
    "model_file": "3d",
}


def api(path: str) -> str:
    """The ``/api`` form of a route (the frontend uses it); ``/internal`` has no ``/api`` twin."""
    return path if path.startswith("/internal") else "/api" + path


#: Client ids comfyctl makes up start with this, so ``attach`` can tell a comfyctl owner (whose
#: process is typically gone, e.g. after ``run --no-wait``) from a browser tab that still listens.
CLIENT_ID_PREFIX = "comfyctl-"


def new_id() -> str:
    """A fresh WebSocket client id (recognisably comfyctl's)."""
    return CLIENT_ID_PREFIX + uuid.uuid4().hex


def attach_socket(owner: str | None, own_id: str, follow_progress: bool) -> Literal["own", "owner"]:
    """Which client id ``attach`` listens with: its own, or the prompt owner's.

    ComfyUI sends a prompt's progress only to the socket of the client id that queued it, and
    keeps one socket per id: taking the owner's id over silences the owner (a browser tab goes
    quiet for good once our socket closes, as ComfyUI then unregisters the id). So the owner's id
    is taken only when asked, or when comfyctl made it up; otherwise the job finishes from
    ``/queue`` + ``/history`` (queue broadcasts reach every socket) without progress events.
    """
    if owner and owner != own_id and (follow_progress or owner.startswith(CLIENT_ID_PREFIX)):
        return "owner"
    return "own"


def new_prompt_id() -> str:
    """Client-chosen prompt ids let us match events that arrive before the POST answer."""
    return str(uuid.uuid4())


def retry_delay(attempt: int, *, base: float = 0.1, cap: float = 2.0) -> float:
    """Exponential backoff with full jitter (attempt 0 is the first retry)."""
    return float(random.uniform(0.5, 1.0) * min(cap, base * (2**attempt)))


def status_retry_delay(attempt: int, retry_after: str | None) -> float | None:
    """Seconds to wait before repeating a request answered with a RETRY_STATUSES status; None when
    the server asks for a pause longer than :data:`MAX_RETRY_AFTER` (give up now, not hang)."""
    if retry_after:
        try:
            asked = float(retry_after)
        except ValueError:  # an HTTP date: rare from proxies in front of ComfyUI, back off instead
            return retry_delay(attempt)
        return max(0.0, asked) if asked <= MAX_RETRY_AFTER else None
    return retry_delay(attempt)


# -- requests -------------------------------------------------------------------------------------


def error_retry_delay(
    attempt: int, *, last: bool, idempotent: bool, sent: bool, read_timeout: bool
) -> float | None:
    """After a transport error: seconds to wait before repeating, None to give up. A request that
    never left (no connection) is always safe to repeat; one that may have reached the server only
    when idempotent, and not after a read timeout (a slow server gets no second load)."""
    if last or not ((idempotent and not read_timeout) or not sent):
        return None
    return retry_delay(attempt)


def answer_retry_delay(
    attempt: int, status: int, retry_after: str | None, *, last: bool, idempotent: bool
) -> float | None:
    """After an HTTP answer: seconds to wait before repeating, None to keep the answer."""
    if last or not idempotent or status not in RETRY_STATUSES:
        return None
    return status_retry_delay(attempt, retry_after)


def prompt_body(
    workflow: Mapping[str, Any],
    *,
    client_id: str,
    prompt_id: str,
    front: bool = False,
    number: float | None = None,
    extra_data: Mapping[str, Any] | None = None,
    partial_execution_targets: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``POST /prompt`` body.

    Raises:
        UsageError: the workflow is not an API-format mapping of node id → node.
    """
    if not isinstance(workflow, Mapping) or not workflow:
        raise errors.UsageError("a workflow must be a non-empty mapping of node id to node (API format)")
    if "nodes" in workflow and "links" in workflow:
        raise errors.UsageError(
            "this is a UI-format workflow; convert it to API format first",
            hint="use comfyctl.workflow to load and convert it",
        )
    body: dict[str, Any] = {"prompt": dict(workflow), "client_id": client_id, "prompt_id": prompt_id}
    if number is not None:
        body["number"] = number
    elif front:
        body["front"] = True
    if extra_data:
        body["extra_data"] = dict(extra_data)
    if partial_execution_targets is not None:
        body["partial_execution_targets"] = [str(t) for t in partial_execution_targets]
    return body


def view_params(filename: str, subfolder: str = "", type: str = "output") -> dict[str, str]:
    # /view keeps only the basename of `filename`: the subfolder must travel separately.
    return {"filename": filename, "subfolder": subfolder, "type": type}


def asked_view_params(filename: str, subfolder: str = "", type: str = "output") -> dict[str, str]:
    """:func:`view_params` for a name a user typed: refuse what ComfyUI refuses, with the reason.

    ComfyUI answers a bare 400 for a filename with ``..`` or a leading ``/``, and 403 for a
    subfolder leaving its folder; a 403 reads like bad credentials.
    """
    import posixpath

    sub = posixpath.normpath(subfolder.replace("\\", "/")) if subfolder else ""
    if filename.startswith("/") or ".." in filename or sub.startswith(("/", "../")) or sub == "..":
        raise errors.UsageError(
            f"{posixpath.join(subfolder, filename)!r} leaves the server's {type} folder",
            hint="name a file inside it: a relative subfolder and file name without '..'",
        )
    return view_params(filename, subfolder, type)


def view_url(base_url: str, filename: str, subfolder: str = "", type: str = "output") -> str:
    return f"{base_url}{api('/view')}?{urlencode(view_params(filename, subfolder, type))}"


def upload_form(
    name: str,
    subfolder: str,
    type: str,
    overwrite: bool,
    mask_for: OutputFile | UploadedFile | Mapping[str, Any] | None,
) -> tuple[str, dict[str, str]]:
    if type not in ("input", "temp", "output"):
        # ComfyUI answers 500 for any other type.
        raise errors.UsageError(f"upload type must be input, temp or output, not {type!r}")
    if not name.strip():
        raise errors.UsageError("the upload needs a non-empty file name")
    stored = posixpath.normpath(posixpath.join(subfolder.replace("\\", "/"), name.replace("\\", "/")))
    if stored.startswith(("/", "../")) or stored == "..":
        # ComfyUI answers a bare 400 for a path leaving its folder; say why instead
        raise errors.UsageError(
            f"upload path {stored!r} leaves the server's {type} folder",
            hint="use a relative subfolder and file name without '..'",
        )
    data = {"type": type, "subfolder": subfolder}
    if overwrite:
        data["overwrite"] = "true"
    if mask_for is None:
        return "/upload/image", data
    if isinstance(mask_for, OutputFile):
        ref = {"filename": mask_for.filename, "subfolder": mask_for.subfolder, "type": mask_for.type}
    elif isinstance(mask_for, UploadedFile):
        ref = {"filename": mask_for.name, "subfolder": mask_for.subfolder, "type": mask_for.type}
    else:
        ref = {
            "filename": str(mask_for.get("filename") or mask_for.get("name") or ""),
            "subfolder": str(mask_for.get("subfolder") or ""),
            "type": str(mask_for.get("type") or "input"),
        }
    if not ref["filename"]:
        raise errors.UsageError("mask_for must name the original image (filename)")
    data["original_ref"] = json.dumps(ref)
    return "/upload/mask", data


def original_params(data: Mapping[str, str]) -> dict[str, str]:
    """``/view`` parameters of a mask upload's original image (for a HEAD: does it exist?)."""
    ref = json.loads(data["original_ref"])
    return view_params(ref["filename"], ref["subfolder"], ref["type"])


def missing_original(params: Mapping[str, str]) -> errors.UsageError:
    # ComfyUI quirk: /upload/mask with a missing original stores nothing yet answers 200 + a name
    where = "/".join(p for p in (params["subfolder"], params["filename"]) if p)
    return errors.UsageError(
        f"the original image {where!r} is not in the server's {params['type']} folder",
        hint="upload the original first, then its mask with mask_for= naming it",
    )


def output_params(output: OutputFile | Mapping[str, Any]) -> tuple[str, str, str]:
    if isinstance(output, OutputFile):
        return output.filename, output.subfolder, output.type
    if isinstance(output, Mapping) and isinstance(output.get("filename"), str):
        return output["filename"], str(output.get("subfolder") or ""), str(output.get("type") or "output")
    raise errors.UsageError("download() takes an OutputFile or a {filename, subfolder, type} mapping")


def history_params(max_items: int | None, offset: int | None) -> dict[str, int]:
    params: dict[str, int] = {}
    for name, value in (("max_items", max_items), ("offset", offset)):
        if value is not None:
            # The server answers 500 for non-integers; catch it here with a clear message.
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise errors.UsageError(f"{name} must be a non-negative integer, got {value!r}")
            params[name] = value
    return params


# -- responses ------------------------------------------------------------------------------------


class CappedBody:
    """Collects an answer's chunks, refusing to grow past ``cap`` bytes while reading (not after):
    a 300 MB answer from a broken proxy or custom node costs at most ``cap``, not 3x its size.

    ``declared`` is the Content-Length, checked before the first chunk. With ``truncate`` (error
    bodies, only quoted) reading just stops at the cap instead of raising.
    """

    def __init__(
        self,
        cap: int | None,
        *,
        method: str,
        url: str,
        declared: str | None = None,
        truncate: bool = False,
    ):
        self.cap, self.method, self.url, self.truncate = cap, method, url, truncate
        self.buffer = bytearray()
        self.full = False
        if cap is not None and not truncate and declared and declared.isdigit() and int(declared) > cap:
            raise self._too_large(int(declared))

    def add(self, chunk: bytes) -> bool:
        """Append a chunk; False once a truncated body is full (stop reading).

        Raises:
            ResponseTooLarge: the body passed the cap (and ``truncate`` is off).
        """
        room = len(chunk) if self.cap is None else self.cap - len(self.buffer)
        if len(chunk) > room:
            if not self.truncate:
                raise self._too_large(None)
            self.buffer += chunk[:room]
            self.full = True
            return False
        self.buffer += chunk
        return True

    def _too_large(self, size: int | None) -> errors.ResponseTooLarge:
        what = f"{size} bytes" if size is not None else "more"
        return errors.ResponseTooLarge(
            f"{self.method} {self.url}: the answer is larger than the {self.cap}-byte cap ({what})",
            status=200,
            method=self.method,
            url=self.url,
            details={"cap": self.cap, "declared": size},
        )


def _same(text: str) -> str:
    return text


def decode_json(
    body: str | bytes | bytearray, *, method: str, url: str, status: int = 200, redact: Redact = _same
) -> Any:
    """Parse a JSON answer (bytes are read as UTF-8/16/32, as JSON says); a non-JSON 2xx body is a
    server fault, not a crash."""
    try:
        return json.loads(body) if body.strip() else None
    except ValueError as exc:
        text = body if isinstance(body, str) else bytes(body[: _BODY_QUOTE * 4]).decode("utf-8", "replace")
        raise errors.HTTPError(
            f"{method} {url}: the server answered {status} with a body that is not JSON",
            status=status,
            method=method,
            url=url,
            body=redact(text[:_BODY_QUOTE]),
            hint="is this URL a ComfyUI server (and not a proxy's HTML page)?",
        ) from exc


def unexpected(
    message: str, data: Any, *, method: str, url: str, redact: Redact = _same, hint: str | None = None
) -> errors.HTTPError:
    """A 200 whose JSON does not have the shape ComfyUI's has (the body quoted, shortened)."""
    return errors.HTTPError(
        message,
        status=200,
        method=method,
        url=url,
        body=redact(json.dumps(data, default=str)[:_BODY_QUOTE]),
        hint=hint,
    )


def expect(data: Any, kind: type, *, method: str, url: str, redact: Redact = _same) -> Any:
    if not isinstance(data, kind):
        raise unexpected(
            f"{method} {url}: expected a JSON {kind.__name__}, got {type(data).__name__}",
            data,
            method=method,
            url=url,
            redact=redact,
        )
    return data


_ALWAYS_SERVED = ("/system_stats", "/object_info", "/queue", "/prompt", "/history", "/features")


def error_for_status(
    status: int,
    *,
    method: str,
    url: str,
    body: str,
    content_type: str = "",
    prompt: Mapping[str, Any] | None = None,
    log_tail: str | None = None,
    authenticated: bool = False,
    query: Mapping[str, str] | None = None,
) -> errors.ComfyError:
    """The one place an unexpected HTTP status becomes a :class:`ComfyError`.

    ``body`` must already be redacted. ``prompt`` is the workflow when the request was
    ``POST /prompt`` (a 400 then becomes :class:`PromptRejected`). ``query`` is the request's
    query (a 403 from ``/view`` for a subfolder leaving the server's folder is not an auth failure).
    """
    common: dict[str, Any] = {"status": status, "method": method, "url": url, "body": body}
    outside = _outside_folder(query) if status == 403 and url.split("?")[0].endswith("/view") else None
    if outside is not None:
        # ComfyUI answers 403 for a subfolder that leaves the type's folder (e.g. ../../..)
        return errors.UnsafePath(
            f"{method} {url}: the server refused {outside!r} (403): the path leaves its "
            f"{(query or {}).get('type') or 'output'} folder",
            hint="the file name came from a broken or hostile history entry; nothing was written",
            details={**common, "path": outside},
        )
    if status == 400 and prompt is not None:
        data = _maybe_json(body)
        if isinstance(data, dict) and ("error" in data or "node_errors" in data):
            summary, problems, hint = _describe_rejection(data, prompt)
            return errors.PromptRejected(summary, body=data, problems=problems, hint=hint)
    if status in (401, 403):
        if status == 403 and not body.strip():
            reason = (
                "the server refused the request (403): an auth proxy wants credentials, "
                "or ComfyUI's Origin check rejected it"
            )
        else:
            reason = f"the server refused the request ({status})"
        hint = (
            "check the token or the user:password in the URL"
            if authenticated
            else errors.AuthError.default_hint
        )
        return errors.AuthError(f"{method} {url}: {reason}", hint=hint, **common)
    if status == 404:
        # every ComfyUI serves these: a 404 there means the URL points at something else
        path = url.split("?", 1)[0].rstrip("/")
        elsewhere = path.endswith(_ALWAYS_SERVED)
        hint = errors.NO_API_HINT if elsewhere else None
        return errors.NotFound(f"{method} {url}: not found (404)", hint=hint, **common)
    if status == 413:
        return errors.RequestTooLarge(
            f"{method} {url}: {_first_line(body) or 'request body too large'}", **common
        )
    if status in (408, 429):
        # Not ComfyUI's own answers: a proxy or rate limiter in front of it says "later".
        why = "is rate-limiting requests" if status == 429 else "timed out waiting for the request"
        return errors.ServerError(
            f"{method} {url}: the server (or a proxy) {why} ({status})",
            hint="retry later, or send fewer requests at once",
            **common,
        )
    if status >= 500:
        # ComfyUI answers unhandled exceptions with a text/plain "500 Internal Server Error" page.
        text = _first_line(body) if "json" not in content_type else _error_text(body)
        return errors.ServerError(
            f"{method} {url}: server error {status}" + (f": {text}" if text else ""),
            log_tail=log_tail,
            **common,
        )
    text = _error_text(body)
    return errors.HTTPError(
        f"{method} {url}: unexpected status {status}" + (f": {text}" if text else ""), **common
    )


def _outside_folder(query: Mapping[str, str] | None) -> str | None:
    """The ``subfolder/filename`` of a ``/view`` query when it leaves the server's folder."""
    import posixpath

    if not query:
        return None
    sub = str(query.get("subfolder") or "").replace("\\", "/")
    name = str(query.get("filename") or "")
    joined = posixpath.normpath(posixpath.join(sub, "x")) if sub else "x"
    if joined.startswith(("/", "../")) or name.startswith("/") or ".." in name:
        return posixpath.join(sub, name)
    return None


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _error_text(body: str) -> str:
    """``{"error": "..."}`` (jobs API) or ``{"error": {"message": ...}}`` → its text."""
    data = _maybe_json(body)
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, str):
            return err
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return _first_line(body)


def _describe_rejection(
    body: dict[str, Any], prompt: Mapping[str, Any]
) -> tuple[str, list[errors.NodeProblem], str | None]:
    """Summary, readable problems and a fitting hint (None: the error class's default)."""
    from comfyctl.workflow.validate import describe_rejection, hint_for  # heavy: load on a 400 only

    summary, problems = describe_rejection(body, prompt)
    return summary, problems, hint_for(problems)


def log_tail(logs: Any, lines: int = 30) -> str | None:
    """The last lines of ``/internal/logs`` (a JSON string), or None."""
    if not isinstance(logs, str) or not logs.strip():
        return None
    return "\n".join(logs.rstrip().splitlines()[-lines:])


def parse_history_entry(data: Any, prompt_id: str, *, url: str, redact: Redact = _same) -> Any:
    """``GET /history/{id}`` → the entry, or None while it is not there (ComfyUI answers ``{}``).

    Raises:
        HTTPError: anything else (an object naming other prompts, a list...): retrying would
            only read it again.
    """
    if data is None or data == {}:
        return None
    if isinstance(data, dict) and isinstance(data.get(prompt_id), dict):
        return data[prompt_id]
    raise unexpected(
        f"GET {url}: the answer is not prompt {prompt_id}'s history entry",
        data,
        method="GET",
        url=url,
        redact=redact,
        hint="is this a ComfyUI server (and not a proxy's page)?",
    )


def parse_object_info(data: Any, *, url: str, redact: Redact = _same) -> dict[str, Any]:
    """``GET /object_info`` → ``{class_type: definition}``; every definition must be an object.

    Raises:
        HTTPError: the answer is not an object, or a class's definition is not one (a broken
            custom node pack): named, instead of a crash deep in a command.
    """
    expect(data, dict, method="GET", url=url, redact=redact)
    bad = [k for k, v in data.items() if not isinstance(v, dict)]
    if bad:
        kind = type(data[bad[0]]).__name__
        raise unexpected(
            f"GET {url}: the definition of node class {bad[0]!r} is a {kind}, not an object"
            + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
            {k: data[k] for k in bad[:20]},
            method="GET",
            url=url,
            redact=redact,
            hint="a custom node pack sends a broken definition: update or remove it",
        )
    return dict(data)


def parse_submit(
    data: Any, *, method: str, url: str, redact: Redact = _same
) -> tuple[str | None, float | None, dict[str, Any]]:
    """``{"prompt_id", "number", "node_errors"}`` → (prompt id, number, node_errors)."""
    expect(data, dict, method=method, url=url, redact=redact)
    number = data.get("number")
    node_errors = data.get("node_errors") or {}
    return (
        None if data.get("prompt_id") is None else str(data["prompt_id"]),
        float(number) if isinstance(number, (int, float)) else None,
        node_errors if isinstance(node_errors, dict) else {},
    )


def parse_queue(data: Any) -> QueueState:
    """``GET /queue`` → :class:`QueueState` with ``pending`` in run order.

    ComfyUI sends ``queue_pending`` as its raw heap array; the run order is (number, prompt id).
    """

    body = data if isinstance(data, dict) else {}

    def items(key: str, running: bool) -> list[QueueItem]:
        out = []
        listed = body.get(key)
        for raw in listed if isinstance(listed, list) else ():
            if not isinstance(raw, (list, tuple)) or len(raw) < 2:
                continue
            number = raw[0] if isinstance(raw[0], (int, float)) else 0
            out.append(
                QueueItem(
                    prompt_id=str(raw[1]),
                    number=float(number),
                    prompt=raw[2] if len(raw) > 2 and isinstance(raw[2], dict) else {},
                    extra_data=raw[3] if len(raw) > 3 and isinstance(raw[3], dict) else {},
                    outputs=tuple(str(o) for o in raw[4])
                    if len(raw) > 4 and isinstance(raw[4], list)
                    else (),
                    running=running,
                )
            )
        return out

    pending = sorted(items("queue_pending", False), key=lambda i: (i.number, i.prompt_id))
    return QueueState(running=tuple(items("queue_running", True)), pending=tuple(pending))


def queued(queue: QueueState, prompt_id: str) -> QueueItem | None:
    """The prompt's entry in a ``/queue`` read (running first), or None when it is not there."""
    return next((i for i in (*queue.running, *queue.pending) if i.prompt_id == prompt_id), None)


def parse_system_stats(data: Any) -> SystemStats:
    data = data if isinstance(data, dict) else {}
    system = data.get("system") if isinstance(data.get("system"), dict) else {}
    devices = tuple(
        Device(
            name=str(d.get("name")),
            type=str(d.get("type")),
            index=d.get("index"),
            vram_total=d.get("vram_total"),
            vram_free=d.get("vram_free"),
        )
        for d in (data.get("devices") if isinstance(data.get("devices"), list) else ())
        if isinstance(d, dict)
    )
    return SystemStats(
        comfyui_version=system.get("comfyui_version"),
        python_version=system.get("python_version"),
        pytorch_version=system.get("pytorch_version"),
        os=system.get("os"),
        ram_total=system.get("ram_total"),
        ram_free=system.get("ram_free"),
        devices=devices,
        argv=tuple(str(a) for a in system.get("argv") or ()) if isinstance(system.get("argv"), list) else (),
        raw=data,
    )


def parse_upload(data: Any, *, method: str, url: str, redact: Redact = _same) -> UploadedFile:
    expect(data, dict, method=method, url=url, redact=redact)
    if not data.get("name"):
        raise unexpected(
            f"{method} {url}: the answer names no file", data, method=method, url=url, redact=redact
        )
    return UploadedFile(
        name=str(data["name"]),
        subfolder=str(data.get("subfolder") or ""),
        type=str(data.get("type") or "input"),
    )


# -- history entry → Result -----------------------------------------------------------------------


def file_kind(ui_key: str, filename: str) -> str:
    """What an output file is, from its UI key and extension (videos come under ``images``)."""
    ext = PurePosixPath(filename).suffix.lower()
    if ext in _VIDEO:
        return "video"
    if ext == ".svg":
        return "svg"
    if ui_key in _KEY_KINDS:
        return _KEY_KINDS[ui_key]
    if ext in _IMAGE or ext == ".gif":
        return "gif" if ext == ".gif" else "image"
    if ext in _AUDIO:
        return "audio"
    if ext in _MODEL3D:
        return "3d"
    if ext == ".latent":
        return "latent"
    return "image" if ui_key == "images" else "file"


def outputs_from_ui(node_id: str, ui: Any, base_url: str = "") -> tuple[list[OutputFile], list[str]]:
    """Every file record (any list of dicts with ``filename``) and text in one node's UI dict."""
    files: list[OutputFile] = []
    texts: list[str] = []
    if not isinstance(ui, Mapping):
        return files, texts
    animated_flags = ui.get("animated")
    animated = bool(isinstance(animated_flags, list) and any(a is True for a in animated_flags))
    for key, value in ui.items():
        if not isinstance(value, list):
            continue
        if key == "text":
            texts.extend(v if isinstance(v, str) else json.dumps(v) for v in value)
            continue
        for item in value:
            if isinstance(item, Mapping) and isinstance(item.get("filename"), str) and item["filename"]:
                name = item["filename"]
                sub = str(item.get("subfolder") or "")
                ftype = str(item.get("type") or "output")
                files.append(
                    OutputFile(
                        node_id=str(node_id),
                        filename=name,
                        subfolder=sub,
                        type=ftype,
                        kind=file_kind(key, name),
                        ui_key=key,
                        animated=animated,
                        url=view_url(base_url, name, sub, ftype),
                    )
                )
    return files, texts


def reachable_nodes(prompt: Mapping[str, Any], roots: Iterable[str]) -> list[str]:
    """Nodes the outputs depend on (what the executor runs), roots included."""
    seen: set[str] = set()
    stack = [str(r) for r in roots]
    while stack:
        nid = stack.pop()
        if nid in seen or nid not in prompt:
            continue
        seen.add(nid)
        node = prompt[nid]
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        for value in (inputs or {}).values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                stack.append(value[0])
    return sorted(seen, key=lambda n: (len(n), n))


def result_from_history(prompt_id: str, entry: Mapping[str, Any], base_url: str = "") -> Result:
    """One ``/history/{id}`` entry → :class:`Result` (status told apart by the last message).

    Raises:
        HTTPError: the entry does not have history's shape (a proxy, a broken custom node).
    """
    try:
        if not isinstance(entry, Mapping):
            raise TypeError(f"a {type(entry).__name__}, not an object")
        for key, kind in (("status", Mapping), ("outputs", Mapping), ("prompt", (list, tuple))):
            if entry.get(key) and not isinstance(entry[key], kind):
                raise TypeError(f"{key} is a {type(entry[key]).__name__}")
        return _result(prompt_id, entry, base_url)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise unexpected(
            f"the history entry of prompt {prompt_id} is malformed: {exc}",
            entry,
            method="GET",
            url=f"/history/{prompt_id}",
            hint="is this a ComfyUI server? a custom node may have stored something odd",
        ) from exc


def _result(prompt_id: str, entry: Mapping[str, Any], base_url: str) -> Result:
    status_block = entry.get("status") or {}
    messages = [m for m in status_block.get("messages") or () if isinstance(m, (list, tuple)) and len(m) == 2]
    by_name = {m[0]: m[1] for m in messages if isinstance(m[1], dict)}
    # An interrupt is stored as status_str "error"; only the message name tells them apart.
    status: JobStatus
    if "execution_interrupted" in by_name:
        status = "interrupted"
    elif "execution_error" in by_name or status_block.get("status_str") == "error":
        status = "error"
    else:
        status = "success"
    outputs: list[OutputFile] = []
    texts: dict[str, tuple[str, ...]] = {}
    for node_id, ui in (entry.get("outputs") or {}).items():
        files, node_texts = outputs_from_ui(str(node_id), ui, base_url)
        outputs.extend(files)
        if node_texts:
            texts[str(node_id)] = tuple(node_texts)
    cached = tuple(str(n) for n in (by_name.get("execution_cached") or {}).get("nodes") or ())
    terminal = by_name.get("execution_error") or by_name.get("execution_interrupted")
    if terminal is not None and isinstance(terminal.get("executed"), list):
        executed = tuple(str(n) for n in terminal["executed"])
    else:
        # Success history does not list executed nodes: every node the outputs reach, minus cache.
        stored = list(entry.get("prompt") or ())
        graph = stored[2] if len(stored) > 2 and isinstance(stored[2], dict) else {}
        roots = stored[4] if len(stored) > 4 and isinstance(stored[4], list) else []
        executed = tuple(n for n in reachable_nodes(graph, roots) if n not in set(cached))
    prompt_list = list(entry.get("prompt") or ())
    extra_data = prompt_list[3] if len(prompt_list) > 3 and isinstance(prompt_list[3], dict) else {}
    final = terminal or by_name.get("execution_success") or {}
    timing = Timing(
        created=_int(extra_data.get("create_time")),
        started=_int((by_name.get("execution_start") or {}).get("timestamp")),
        finished=_int(final.get("timestamp")),
    )
    error = None
    if terminal is not None:
        error = {k: v for k, v in terminal.items() if k not in ("current_inputs", "current_outputs")}
    return Result(
        prompt_id=prompt_id,
        status=status,
        outputs=tuple(outputs),
        texts=texts,
        executed=executed,
        cached=cached,
        timing=timing,
        error=error,
        raw=entry,
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def execution_error(prompt_id: str, payload: Mapping[str, Any]) -> errors.ExecutionError:
    """An ``execution_error`` payload → :class:`ExecutionError` (``current_inputs`` left out)."""
    node_id = _opt(payload.get("node_id"))
    node_type = _opt(payload.get("node_type"))
    exc_type = _opt(payload.get("exception_type"))
    exc_msg = _opt(payload.get("exception_message"))
    where = f"node {node_id} ({node_type})" if node_type else f"node {node_id}"
    first = (exc_msg or "").strip().splitlines()[0] if (exc_msg or "").strip() else ""
    return errors.ExecutionError(
        f"prompt {prompt_id} failed in {where}: {exc_type or 'error'}" + (f": {first}" if first else ""),
        prompt_id=prompt_id,
        node_id=node_id,
        node_type=node_type,
        exception_type=exc_type,
        exception_message=exc_msg,
        traceback=[str(t) for t in tb] if isinstance(tb := payload.get("traceback"), list) else [],
        hint=errors.EXECUTION_HINT,
    )


def interrupted(prompt_id: str, payload: Mapping[str, Any] | None) -> errors.Interrupted:
    payload = payload or {}
    node = _opt(payload.get("node_id"))
    where = f" at node {node} ({payload.get('node_type')})" if node else ""
    return errors.Interrupted(
        f"prompt {prompt_id} was interrupted{where}",
        prompt_id=prompt_id,
        details={"node_id": node, "node_type": _opt(payload.get("node_type"))},
    )


def raise_for_result(result: Result) -> Result:
    """Return a successful result; raise ExecutionError / Interrupted for the others."""
    if result.status == "error":
        raise execution_error(result.prompt_id, result.error or {})
    if result.status == "interrupted":
        raise interrupted(result.prompt_id, result.error)
    return result


def with_prompt(exc: errors.ComfyError, prompt_id: str) -> errors.ComfyError:
    """``exc`` naming the prompt it happened to (``details["prompt_id"]``): raised after an id
    was chosen, the prompt may be on the server whatever failed here."""
    exc.details.setdefault("prompt_id", prompt_id)
    return exc


def landing_unknown(check: errors.ComfyError, prompt_id: str, post: errors.ComfyError) -> errors.ComfyError:
    """The POST of a prompt got no answer, and the look at ``/queue`` + ``/history`` that would
    tell whether it landed failed too: the prompt may be queued (``details["landed"]`` is None)."""
    check.message = f"{post.message}; then {check.message}: prompt {prompt_id} may be queued"
    check.args = (check.message,)
    check.hint = "the prompt may run: attach(prompt_id) finds out once the server answers"
    check.details.update(prompt_id=prompt_id, landed=None)
    return check


def closed_error() -> errors.UsageError:
    """What any use of a closed client raises (nothing reopens it)."""
    return errors.UsageError("this client is closed", hint="create a new client")


def job_gone(prompt_id: str, *, cancelled: bool = False) -> errors.JobError:
    """A prompt in neither queue nor history: Interrupted if we dequeued it ourselves, else JobLost."""
    if cancelled:
        return errors.Interrupted(f"prompt {prompt_id} was cancelled before it ran", prompt_id=prompt_id)
    return errors.JobLost(f"prompt {prompt_id} is in neither the queue nor the history", prompt_id=prompt_id)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
