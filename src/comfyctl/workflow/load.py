"""Read a workflow from a file, a JSON string, a dict, or a PNG/WebP that ComfyUI saved.

Three shapes exist in the wild and users mix them up constantly:

* **API format** ``{node_id: {"class_type", "inputs", "_meta"?}}``: what POST /prompt takes;
* **UI format** ``{"nodes": [...], "links": [...], "definitions"?: {"subgraphs": [...]}}``: what
  the editor saves; it must be converted (:func:`comfyctl.workflow.convert.to_api`);
* the **wrapper** ``{"prompt": {...api...}, "extra_data"?, "client_id"?}``: a POST /prompt body, as
  saved by some tools.

Images: ComfyUI's save nodes embed ``prompt`` (API) and ``workflow`` (UI) as PNG text chunks, and
as EXIF strings ``"prompt:{...}"`` / ``"workflow:{...}"`` in animated WebP. Both containers are
parsed here with the standard library (no Pillow).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from comfyctl.errors import ConversionError, WorkflowError
from comfyctl.nodedefs import NodeDefs

__all__ = ["LoadedWorkflow", "detect_format", "image_metadata", "load"]

Format = Literal["api", "ui", "wrapper"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class LoadedWorkflow:
    """A workflow as read, before any conversion.

    Attributes:
        format: ``"api"``, ``"ui"`` or ``"wrapper"`` (a ``{"prompt": ...}`` body); for images,
            ``"api"`` when the embedded prompt is there, else ``"ui"``.
        api: the API-format prompt when the source has one (wrapper and images included), else None.
        ui: the UI graph when the source has one (a UI file, an image's ``workflow`` chunk, or a
            wrapper's ``extra_data.extra_pnginfo.workflow``), else None.
        source: the path read, or ``"<string>"`` / ``"<dict>"`` / ``"<bytes>"``.
        extra: the wrapper's other keys (``extra_data``, ``client_id``, ...), else empty.
    """

    format: Format
    api: dict[str, Any] | None
    ui: dict[str, Any] | None
    source: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_conversion(self) -> bool:
        """True when only the UI graph is available (convert it with ``to_api`` before submitting)."""
        return self.api is None

    def to_api(self, defs: NodeDefs | None = None) -> dict[str, Any]:
        """The API prompt: the one in the source, else the UI graph converted with ``defs``.

        Raises:
            ConversionError: the UI graph cannot be converted, or ``defs`` is missing for it.
        """
        if self.api is not None:
            return self.api
        if defs is None:
            raise ConversionError(
                f"{self.source} is a UI-format workflow: node definitions are needed to convert it",
                hint="pass --object-info FILE, or connect to a server so its definitions can be used",
            )
        from comfyctl.workflow.convert import to_api

        return to_api(self.ui or {}, defs)


#: Larger than any workflow or image ComfyUI saves with one embedded.
MAX_FILE_BYTES = 256 << 20


def workflow_name(source: str | Path) -> str:
    """The name to save a workflow read from ``source`` under: the file name without ``.json``,
    ``.png``, ``.webp``, ``.ui``, ``.api`` (``workflow`` for a string, a dict or stdin)."""
    text = str(source)
    if text.startswith("<") or text in ("-", ""):
        return "workflow"
    name = Path(text).name
    for suffix in (".json", ".png", ".webp"):
        name = name.removesuffix(suffix)
    return name.removesuffix(".ui").removesuffix(".api") or "workflow"


def load(source: str | Path | bytes | Mapping[str, Any]) -> LoadedWorkflow:
    """Read a workflow and detect its format.

    Args:
        source: a path (``str`` or ``Path``) to a ``.json``, ``.png`` or ``.webp`` file; a ``str``
            holding JSON (recognised by its first character ``{``); raw file ``bytes``; or an
            already-parsed ``dict``.

    Returns:
        A :class:`LoadedWorkflow`.

    Raises:
        WorkflowError: missing or unreadable file, a directory, empty input, non-UTF-8 text,
            malformed JSON (with line and column), JSON that is not an object, an image without
            ComfyUI metadata, or an object that is neither API, UI nor wrapper format.

    Example:
        >>> wf = load("workflow.json")                          # doctest: +SKIP
        >>> api = wf.api or to_api(wf.ui, client.node_defs())   # doctest: +SKIP
    """
    if isinstance(source, Mapping):
        return _from_object(source, "<dict>")
    if isinstance(source, (bytes, bytearray)):
        return _from_bytes(bytes(source), "<bytes>")
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return _from_object(_parse_json(source, "<string>"), "<string>")
    if not isinstance(source, (str, Path)):
        raise WorkflowError(f"cannot read a workflow from a {type(source).__name__}")
    path = Path(source)
    if not str(source).strip():
        raise WorkflowError("no workflow given (empty path)")
    try:
        if path.is_dir():
            raise WorkflowError(f"{path} is a directory, not a workflow file")
        with path.open("rb") as fh:  # bounded: /dev/zero or a runaway pipe must not eat the memory
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise WorkflowError(f"{path} is over {MAX_FILE_BYTES >> 20} MiB: not a workflow file")
    except WorkflowError:
        raise
    except FileNotFoundError as exc:
        raise WorkflowError(f"{path}: no such file", hint="check the path") from exc
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    return _from_bytes(data, str(path))


def detect_format(obj: Any, source: str = "the workflow") -> Format:
    """Say which of the three shapes ``obj`` is, or raise WorkflowError saying what was found."""
    if not isinstance(obj, Mapping):
        raise WorkflowError(f"{source} must be a JSON object, not {_json_kind(obj)}")
    if isinstance(obj.get("nodes"), list):
        return "ui"
    if "prompt" in obj and isinstance(obj["prompt"], Mapping) and "class_type" not in obj["prompt"]:
        _check_api(obj["prompt"], f"the 'prompt' object of {source}")
        return "wrapper"
    _check_api(obj, source)
    return "api"


def image_metadata(data: bytes) -> dict[str, str]:
    """The text metadata of a PNG (tEXt/zTXt/iTXt) or WebP (EXIF ``key:value`` strings).

    Raises:
        WorkflowError: the bytes are neither PNG nor WebP, or the container is corrupt.
    """
    if data.startswith(_PNG_MAGIC):
        return _png_text(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_text(data)
    raise WorkflowError("not a PNG or WebP image")


# ---------------------------------------------------------------------------------------------


def _json_kind(obj: Any) -> str:
    if isinstance(obj, list):
        return "a list"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, (int, float)):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    return f"a {type(obj).__name__}"


def _check_api(obj: Mapping[str, Any], what: str) -> None:
    if not obj:
        raise WorkflowError(f"{what} is an empty object: no nodes")
    # A class_type of the wrong type (42, null) still makes an API node: the server answers it with
    # 400 invalid_prompt ("Cannot execute because node 42 does not exist."), so validation says so.
    bad = [str(k) for k, v in obj.items() if not isinstance(v, Mapping) or "class_type" not in v]
    if not bad:
        odd = [str(k) for k, v in obj.items() if "inputs" in v and not isinstance(v["inputs"], Mapping)]
        if odd:
            raise WorkflowError(
                f"{what}: the 'inputs' of node(s) {', '.join(odd[:8])} are not an object",
                details={"node_ids": odd},
            )
        return
    if len(bad) == len(obj):
        keys = ", ".join(list(map(str, obj))[:8])
        raise WorkflowError(
            f"{what} is neither an API workflow ({{id: {{class_type, inputs}}}}) nor a UI workflow "
            f"(nodes + links); its keys are: {keys}",
            hint="export with 'Save (API)' in ComfyUI, or save the workflow from the editor",
        )
    raise WorkflowError(
        f"{what} looks like an API workflow, but node(s) {', '.join(bad[:8])} have no 'class_type'",
        details={"node_ids": bad},
    )


def _parse_json(text: str, source: str) -> Any:
    if not text.strip():
        raise WorkflowError(f"{source} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            details={"line": exc.lineno, "column": exc.colno},
        ) from exc
    except RecursionError as exc:
        raise WorkflowError(f"{source} nests JSON too deeply to read") from exc


def _from_bytes(data: bytes, source: str) -> LoadedWorkflow:
    if data.startswith(_PNG_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return _from_image(data, source)
    if not data.strip():
        raise WorkflowError(f"{source} is empty")
    if data.startswith(b"\xff\xd8\xff"):
        raise WorkflowError(
            f"{source} is a JPEG image: ComfyUI embeds workflows only in the PNG and WebP files it saves",
        )
    try:
        # Windows PowerShell 5 writes UTF-16 with a BOM (Out-File, '>'); UTF-8 may carry a BOM too
        text = data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkflowError(
            f"{source} is not UTF-8 text (byte {exc.start}); expected JSON, PNG or WebP",
        ) from exc
    return _from_object(_parse_json(text, source), source)


def _from_object(obj: Any, source: str) -> LoadedWorkflow:
    kind = detect_format(obj, source)
    if kind == "ui":
        return LoadedWorkflow("ui", None, dict(obj), source)
    if kind == "wrapper":
        extra = {k: v for k, v in obj.items() if k != "prompt"}
        ui = None
        extra_data = obj.get("extra_data")
        pnginfo = extra_data.get("extra_pnginfo") if isinstance(extra_data, Mapping) else None
        for holder in (pnginfo, obj):  # the POST /prompt body, or tools that save both side by side
            graph = holder.get("workflow") if isinstance(holder, Mapping) else None
            if isinstance(graph, Mapping) and isinstance(graph.get("nodes"), list):
                ui = dict(graph)
                break
        return LoadedWorkflow("wrapper", dict(obj["prompt"]), ui, source, extra)
    return LoadedWorkflow("api", dict(obj), None, source)


def _from_image(data: bytes, source: str) -> LoadedWorkflow:
    meta = image_metadata(data)
    api = ui = None
    if "prompt" in meta:
        api = _parse_json(meta["prompt"], f"{source} (embedded prompt)")
        if detect_format(api, f"{source} (embedded prompt)") != "api":
            raise WorkflowError(f"{source}: the embedded 'prompt' is not an API workflow")
    if "workflow" in meta:
        try:
            ui = _parse_json(meta["workflow"], f"{source} (embedded workflow)")
            if not isinstance(ui, Mapping):
                raise WorkflowError(f"{source}: the embedded 'workflow' is {_json_kind(ui)}, not an object")
        except WorkflowError:
            if api is None:
                raise
            ui = None  # the prompt is what ran; a broken editor graph beside it is not fatal
    if api is None and ui is None:
        raise WorkflowError(
            f"{source} has no ComfyUI workflow in it (no 'prompt' or 'workflow' metadata)",
            hint="the image was not saved by ComfyUI, or metadata was stripped (--disable-metadata)",
        )
    return LoadedWorkflow("api" if api is not None else "ui", api, ui, source)


def _png_text(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = len(_PNG_MAGIC)
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            raise WorkflowError("the PNG is truncated")
        pos += 12 + length
        try:
            if ctype == b"tEXt":
                key, _, value = body.partition(b"\0")
                out[key.decode("latin-1")] = value.decode("latin-1")
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\0")
                out[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, _method = rest[0], rest[1]
                _lang, _, rest = rest[2:].partition(b"\0")
                _tkey, _, text = rest.partition(b"\0")
                raw = zlib.decompress(text) if compressed else text
                out[key.decode("latin-1")] = raw.decode("utf-8")
            elif ctype == b"IEND":
                break
        except (zlib.error, UnicodeDecodeError, IndexError) as exc:
            raise WorkflowError(f"the PNG has a corrupt {ctype.decode('latin-1')} chunk") from exc
    return out


def _webp_text(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 12
    while pos + 8 <= len(data):
        ctype = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
        if ctype == b"EXIF":
            for text in _tiff_strings(body[6:] if body.startswith(b"Exif\0\0") else body):
                key, sep, value = text.partition(":")
                if sep and key:
                    out.setdefault(key, value)
    return out


def _tiff_strings(tiff: bytes) -> list[str]:
    """ASCII values of IFD0 in a TIFF/EXIF block (ComfyUI stores ``"prompt:{json}"`` there)."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return []
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack(end + "I", tiff[4:8])
        (count,) = struct.unpack(end + "H", tiff[ifd : ifd + 2])
        strings = []
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
            _tag, kind, n, offset = struct.unpack(end + "HHII", entry)
            if kind != 2:  # ASCII
                continue
            raw = entry[8 : 8 + n] if n <= 4 else tiff[offset : offset + n]
            strings.append(raw.rstrip(b"\0").decode("utf-8", errors="replace"))
        return strings
    except struct.error as exc:
        raise WorkflowError("the WebP has a corrupt EXIF block") from exc
