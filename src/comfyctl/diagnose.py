"""Failures → advice: what went wrong in words a user can act on, and what to do next.

:func:`advise` maps an exception (our :class:`~comfyctl.errors.ComfyError` tree, or a raw one such
as ``FileNotFoundError``) to :class:`Advice`; :func:`queue_advice` judges a queue snapshot (the
"stuck queue" rule used by ``comfyctl doctor``). The knowledge both need lives here too: which
model folder a loader input reads from (:func:`model_folder`) and which custom-node package likely
provides a node type (:func:`package_for`). Pure: no I/O.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comfyctl.errors import (
    AuthError,
    ExecutionError,
    JobLost,
    RequestTimeout,
    ServerError,
    ServerUnreachable,
    ValidationError,
)

__all__ = [
    "MODEL_EXTENSIONS",
    "Advice",
    "PackageHint",
    "advise",
    "looks_like_model_file",
    "model_folder",
    "package_for",
    "queue_advice",
]


@dataclass(frozen=True)
class Advice:
    """A diagnosis: ``code`` (stable slug), one-line ``summary``, ordered ``steps`` to try."""

    code: str
    summary: str
    steps: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "summary": self.summary,
            "steps": list(self.steps),
            "details": dict(self.details),
        }

    def __str__(self) -> str:
        return "\n".join([self.summary, *(f"  - {s}" for s in self.steps)])


# -- model folders -----------------------------------------------------------------------------

#: File extensions ComfyUI lists in model folders (folder_paths.supported_pt_extensions) + GGUF.
MODEL_EXTENSIONS = frozenset(
    {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".gguf"}
)

# Core loaders (class → input → folder) come from comfyctl.workflow.validate.MODEL_INPUTS; what
# follows adds popular custom-node loaders and input names core does not use.

#: Input names of custom loaders → folder (after validate's own name list).
_INPUT_FOLDERS = {
    "config_name": "configs",
    "style_model_name": "style_models",
    "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks",
    "photomaker_model_name": "photomaker",
    "audio_encoder_name": "audio_encoders",
    "ipadapter_file": "ipadapter",
    "instantid_file": "instantid",
    "embedding_name": "embeddings",
}

#: Popular custom-node loaders: class → {input: folder}.
_CUSTOM_LOADERS: dict[str, dict[str, str]] = {
    "IPAdapterModelLoader": {"ipadapter_file": "ipadapter"},
    "InstantIDModelLoader": {"instantid_file": "instantid"},
    "UltralyticsDetectorProvider": {"model_name": "ultralytics"},
    "SAMLoader": {"model_name": "sams"},
    "UnetLoaderGGUF": {"unet_name": "diffusion_models"},
    "UnetLoaderGGUFAdvanced": {"unet_name": "diffusion_models"},
    "CLIPLoaderGGUF": {"clip_name": "text_encoders"},
    "DualCLIPLoaderGGUF": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
}


def looks_like_model_file(value: Any) -> bool:
    """True for strings ending in a model-file extension (``x.safetensors``, ``sub/y.ckpt``)."""
    if not isinstance(value, str):
        return False
    dot = value.rfind(".")
    return dot > 0 and value[dot:].lower() in MODEL_EXTENSIONS


def model_folder(class_type: str, input_name: str | None = None, value: Any = None) -> str | None:
    """The model folder a loader input reads from, or None when it is not a known model input.

    ``input_name`` None means "a widget value of this class" (UI workflows carry values without
    names): the class's folder when all its model inputs share one (a ``.yaml`` value of a loader
    with a ``configs`` input is its config).
    """
    from comfyctl.workflow.validate import MODEL_INPUTS
    from comfyctl.workflow.validate import model_folder as core_folder

    inputs = {**MODEL_INPUTS.get(class_type, {}), **_CUSTOM_LOADERS.get(class_type, {})}
    if input_name is not None:
        if input_name in inputs:
            return inputs[input_name]
        if inputs:
            return None  # a known loader's other input (a type or dtype combo)
        return core_folder(class_type, input_name, value) or _INPUT_FOLDERS.get(input_name) or None
    folders = set(inputs.values())
    if isinstance(value, str) and value.lower().endswith(".yaml") and "configs" in folders:
        return "configs"
    folders.discard("configs")
    return folders.pop() if len(folders) == 1 else None


# -- custom-node packages ----------------------------------------------------------------------


@dataclass(frozen=True)
class PackageHint:
    """A custom-node package likely to provide a node type: its folder name and repository."""

    name: str
    repo: str | None = None

    @property
    def install(self) -> str:
        where = f"https://github.com/{self.repo}" if self.repo else self.name
        return f"install the custom-node package {self.name} ({where}) with ComfyUI-Manager or git clone"


#: (pattern on the class type, package, GitHub repo): popular packages, most specific first.
_PACKAGES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p), name, repo)
    for p, name, repo in (
        (r"^VHS_", "ComfyUI-VideoHelperSuite", "Kosinkadink/ComfyUI-VideoHelperSuite"),
        (r"^ADE_|^AnimateDiff", "ComfyUI-AnimateDiff-Evolved", "Kosinkadink/ComfyUI-AnimateDiff-Evolved"),
        (r"^ACN_", "ComfyUI-Advanced-ControlNet", "Kosinkadink/ComfyUI-Advanced-ControlNet"),
        (r"^UltralyticsDetectorProvider$", "ComfyUI-Impact-Subpack", "ltdrdata/ComfyUI-Impact-Subpack"),
        (r"//Inspire$", "ComfyUI-Inspire-Pack", "ltdrdata/ComfyUI-Inspire-Pack"),
        (
            r"^(Impact|SEGS|FaceDetailer|Detailer|BboxDetector|SegmDetector|SAMLoader|SAMDetector|ToDetailerPipe|"
            r"FromDetailerPipe|ToBasicPipe|FromBasicPipe|MaskToSEGS|SEGSTo|ImpactWildcard|EmptySegs)|SEGS|"
            r"(DetectorProvider|HookProvider|UpscalerProvider(Pipe)?|DetailerPipe(SDXL)?|BasicPipe|ForEach)$",
            "ComfyUI-Impact-Pack",
            "ltdrdata/ComfyUI-Impact-Pack",
        ),
        (r"^(IPAdapter|PrepImageForClipVision)", "ComfyUI_IPAdapter_plus", "cubiq/ComfyUI_IPAdapter_plus"),
        (
            r"^(InstantID|ApplyInstantID|FaceKeypointsPreprocessor)",
            "ComfyUI_InstantID",
            "cubiq/ComfyUI_InstantID",
        ),
        (r" \+$", "ComfyUI_essentials", "cubiq/ComfyUI_essentials"),
        (
            r"Preprocessor$|^AIO_Preprocessor$|^ControlNetPreprocessorSelector$",
            "comfyui_controlnet_aux",
            "Fannovel16/comfyui_controlnet_aux",
        ),
        (
            r"^(RIFE|FILM|GMFSS|IFRNet|IFUnet|M2M|STMFNet|FLAVR|CAIN|AMT|Sepconv) VFI",
            "ComfyUI-Frame-Interpolation",
            "Fannovel16/ComfyUI-Frame-Interpolation",
        ),
        (r"\(rgthree\)$", "rgthree-comfy", "rgthree/rgthree-comfy"),
        (r"\|pysssss$", "ComfyUI-Custom-Scripts", "pythongosssss/ComfyUI-Custom-Scripts"),
        (
            r"\(Efficient\)|^Efficient Loader|^Eff\. Loader|^(LoRA|Control Net|LoRA Stack) Stacker|"
            r"^XY (Plot|Input)",
            "efficiency-nodes-comfyui",
            "jags111/efficiency-nodes-comfyui",
        ),
        (
            r"KJ$|^(SetNode|GetNode|GetImageSizeAndCount|GrowMaskWithBlur|ColorMatch|ConditioningMultiCombine|"
            r"INTConstant|FloatConstant|StringConstant|ImageConcanate|WidgetToString)$",
            "ComfyUI-KJNodes",
            "kijai/ComfyUI-KJNodes",
        ),
        (r"^WanVideo", "ComfyUI-WanVideoWrapper", "kijai/ComfyUI-WanVideoWrapper"),
        (r"^(Florence2|DownloadAndLoadFlorence2)", "ComfyUI-Florence2", "kijai/ComfyUI-Florence2"),
        (r"^SUPIR", "ComfyUI-SUPIR", "kijai/ComfyUI-SUPIR"),
        (r"GGUF", "ComfyUI-GGUF", "city96/ComfyUI-GGUF"),
        (r"^UltimateSDUpscale", "ComfyUI_UltimateSDUpscale", "ssitu/ComfyUI_UltimateSDUpscale"),
        (r"^CR ", "ComfyUI_Comfyroll_CustomNodes", "Suzie1/ComfyUI_Comfyroll_CustomNodes"),
        (r"^easy ", "ComfyUI-Easy-Use", "yolain/ComfyUI-Easy-Use"),
        (r"^ttN ", "ComfyUI_tinyterraNodes", "TinyTerra/ComfyUI_tinyterraNodes"),
        (r" \(mtb\)$", "comfy_mtb", "melMass/comfy_mtb"),
        (r"\[Crystools\]$", "ComfyUI-Crystools", "crystian/ComfyUI-Crystools"),
        (r"^Anything Everywhere|^Prompts Everywhere", "cg-use-everywhere", "chrisgoringe/cg-use-everywhere"),
        (r"\(segment anything\)$", "comfyui_segment_anything", "storyicon/comfyui_segment_anything"),
        (r"^Layer(Style|Mask|Utility|Color|Filter)", "ComfyUI_LayerStyle", "chflame163/ComfyUI_LayerStyle"),
        (r"^ReActor", "comfyui-reactor-node", "Gourieff/comfyui-reactor-node"),
        (r"^CM_", "ComfyMath", "evanspearman/ComfyMath"),
        # WAS names are plain words with spaces ("Image Blend by Mask", "Text Concatenate"): last.
        (
            r"^(Text|Image|Mask|Number|Latent|Logic|Samples|Load|Save|Cache|Constant|Debug|BLIP|SAM|Bounded|"
            r"CLIPSeg|Conditioning|Dictionary|Integer|Upscale|Write|True|False|Create|Convert|Bus|Tensor|"
            r"Checkpoint|Diffusers|KSampler|unCLIP|Seed|Random|String|Prompt|Export|Boolean|Lora|Model) .+",
            "was-node-suite-comfyui",
            "WASasquatch/was-node-suite-comfyui",
        ),
    )
)


def package_for(class_type: str, known: Mapping[str, str] | None = None) -> PackageHint | None:
    """The custom-node package that likely provides ``class_type``.

    ``known`` (class type → package, e.g. from an offline scan or another server's inventory) wins
    over the built-in map of popular packages.
    """
    if known and known.get(class_type) and known[class_type] != "core":
        return PackageHint(known[class_type])
    for pattern, name, repo in _PACKAGES:
        if pattern.search(class_type):
            return PackageHint(name, repo)
    return None


# -- rules -------------------------------------------------------------------------------------

_OOM = re.compile(
    r"out of memory|OutOfMemory|Allocation on device|can't allocate memory|not enough memory|"
    r"MPS backend out of memory|HIP out of memory|failed to allocate",
    re.IGNORECASE,
)
_DTYPE = re.compile(
    r"expected scalar type|should be the same|must have the same dtype|"
    r"expected both vectors to have the same dtype|have the same dtype|dtype mismatch|"
    r"not implemented for '(Half|BFloat16|Float8)",
    re.IGNORECASE,
)
_SHAPE = re.compile(
    r"mat1 and mat2 shapes cannot be multiplied|size mismatch for|Error\(s\) in loading state_dict"
)
#: SaveImage & co. refuse a filename_prefix that leaves the output folder (``..``, absolute paths)
#: at run time, not at validation (comfyui-api.md §9).
_OUTSIDE_OUTPUT = re.compile(r"Saving (image|file)s? outside the output folder", re.IGNORECASE)
_NODE_MISSING = re.compile(r"node (.+?) does not exist", re.IGNORECASE)
_NOT_IN_LIST = re.compile(r": '(.*)' not in ")
_PATH_IN_MESSAGE = re.compile(r"""['"]([^'"]+\.[A-Za-z0-9]{2,12})['"]""")


def _oom(message: str, node: str) -> Advice:
    return Advice(
        "out_of_memory",
        f"Out of memory{node}: the GPU (or RAM) could not hold this job.",
        (
            "lower the resolution or the batch size (e.g. --set EmptyLatentImage.width=768)",
            "decode with 'VAE Decode (Tiled)' (VAEDecodeTiled) instead of VAEDecode",
            "free cached models: comfyctl free --unload-models --free-memory",
            "restart ComfyUI with --lowvram (or --novram / --cpu as a last resort)",
        ),
        {"message": message},
    )


def _dtype(message: str, node: str) -> Advice:
    return Advice(
        "dtype_mismatch",
        f"Data type mismatch{node}: two models or tensors in this graph use different precisions.",
        (
            "use a VAE / ControlNet / LoRA made for this checkpoint's model family and precision",
            "set the loader's weight_dtype to 'default', or start ComfyUI with --force-fp32 (or --fp32-vae)",
            "on CPU or older GPUs, half precision may be unsupported: try --force-fp32",
        ),
        {"message": message},
    )


def _shape(message: str, node: str) -> Advice:
    return Advice(
        "model_mismatch",
        f"Model mismatch{node}: a model does not fit the architecture it is combined with.",
        (
            "check that LoRAs, ControlNets, VAEs and text encoders match the checkpoint's family "
            "(SD1.5, SDXL, Flux, ...)",
            "check the loader's type option (e.g. CLIPLoader type) and the latent size",
        ),
        {"message": message},
    )


def _missing_file(path: str, node: str) -> Advice:
    return Advice(
        "missing_model",
        f"A file is missing{node}: {path}",
        (
            f"put the file at {path} (or pick a file that exists)",
            "list what the server has with 'comfyctl models FOLDER' or 'comfyctl inventory'",
        ),
        {"path": path},
    )


def _missing_model(
    class_type: str, input_name: str, value: Any, node_id: Any, folder: str | None = None
) -> Advice:
    folder = folder or model_folder(class_type, input_name, value)
    where = f"models/{folder}/" if folder else "its model folder"
    return Advice(
        "missing_model",
        f"Model file {value!r} is not on the server (node {node_id} {class_type}, input {input_name!r}).",
        (
            f"download it into ComfyUI's {where} (or an extra_model_paths.yaml folder for {folder or 'it'})",
            f"or choose an installed one: comfyctl models {folder or ''}".rstrip(),
            "new files are listed at once; restart ComfyUI only if it still does not see them",
        ),
        {
            "node_id": node_id,
            "class_type": class_type,
            "input_name": input_name,
            "value": value,
            "folder": folder,
        },
    )


def _missing_node(class_types: list[str], known: Mapping[str, str] | None) -> Advice:
    hints = {cls: package_for(cls, known) for cls in class_types}
    steps: list[str] = []
    for cls, hint in hints.items():
        step = (
            hint.install
            if hint
            else f"find the custom-node package that provides {cls!r} (ComfyUI-Manager: 'Install Missing "
            "Custom Nodes')"
        )
        if step not in steps:
            steps.append(step)
    steps.append("restart ComfyUI after installing, then 'comfyctl inventory --refresh'")
    named = ", ".join(f"{cls!r}" + (f" (likely from {h.name})" if h else "") for cls, h in hints.items())
    first = hints[class_types[0]]
    return Advice(
        "missing_node",
        f"Node type{'s' if len(class_types) > 1 else ''} not installed on the server: {named}.",
        tuple(steps),
        {
            "class_type": class_types[0],
            "package": first.name if first else None,
            "repo": first.repo if first else None,
            "missing": [
                {"class_type": c, "package": h.name if h else None, "repo": h.repo if h else None}
                for c, h in hints.items()
            ],
        },
    )


def _node_label(exc: ExecutionError) -> str:
    if exc.node_id or exc.node_type:
        return f" in node {exc.node_id} ({exc.node_type})" if exc.node_type else f" in node {exc.node_id}"
    return ""


def _problems(exc: ValidationError) -> list[dict[str, Any]]:
    """Per-input problems: from ``problems`` or, for a raw 400 body, from its ``node_errors``."""
    rows = [dict(p) for p in exc.problems]
    body = getattr(exc, "body", None)
    if not rows and isinstance(body, Mapping):
        for node_id, entry in (body.get("node_errors") or {}).items():
            if not isinstance(entry, Mapping):
                continue
            for err in entry.get("errors") or []:
                if isinstance(err, Mapping):
                    extra = err.get("extra_info") or {}
                    rows.append(
                        {
                            "node_id": node_id,
                            "class_type": entry.get("class_type"),
                            "type": err.get("type"),
                            "message": err.get("message"),
                            "details": err.get("details"),
                            "input_name": extra.get("input_name"),
                            "received_value": extra.get("received_value"),
                        }
                    )
    return rows


def _validation(exc: ValidationError, known: Mapping[str, str] | None) -> Advice | None:
    body = getattr(exc, "body", None)
    top = body.get("error") if isinstance(body, Mapping) else None
    problems = _problems(exc)
    # Server wording (execution.validate_prompt): "Cannot execute because node X does not exist."
    # The server names only the first unknown type; offline validation lists each one as a problem.
    texts = [exc.message, str(top.get("message") or "") if isinstance(top, Mapping) else ""]
    texts += [str(p.get("message") or "") for p in problems]
    missing: list[str] = []
    for text in texts:
        m = _NODE_MISSING.search(text)
        if m and m.group(1) not in missing:
            missing.append(m.group(1))
    if missing:
        return _missing_node(missing, known)
    for p in problems:
        kind = p.get("type")
        class_type = str(p.get("class_type") or "")
        name = p.get("input_name")
        value = p.get("received_value")
        if value is None:
            # value_not_in_list details: "ckpt_name: 'x.safetensors' not in [...]" / "(list of length N)"
            m = _NOT_IN_LIST.search(str(p.get("details") or ""))
            value = m.group(1) if m else None
        if kind == "missing_model" or (
            kind == "value_not_in_list"
            and name
            and (model_folder(class_type, name) is not None or looks_like_model_file(value))
        ):
            return _missing_model(class_type, str(name), value, p.get("node_id"), p.get("folder"))
        if kind == "custom_validation_failed" and "Invalid image file" in str(p.get("details") or ""):
            return Advice(
                "missing_input_file",
                f"Input file missing on the server (node {p.get('node_id')} {class_type}): "
                f"{p.get('details')}",
                ("upload it first: comfyctl upload FILE (then use the name it prints)",),
                {"node_id": p.get("node_id"), "class_type": class_type},
            )
    return None


def advise(error: BaseException, *, known_packages: Mapping[str, str] | None = None) -> Advice | None:
    """Advice for ``error``, or None when there is nothing better to say than its own message.

    Recognises: out of memory (``torch.OutOfMemoryError``, "CUDA out of memory", "Allocation on
    device"), a missing model (a ``value_not_in_list`` on a loader input, ``FileNotFoundError``),
    a missing node type (``invalid_prompt`` "node X does not exist" → the likely package), dtype
    and architecture mismatches, server 500s (with the log tail), unreachable servers, auth
    failures, timeouts and lost jobs. ``known_packages`` (class → package) sharpens package hints.

    Example::

        try:
            comfy.run(workflow)
        except ComfyError as exc:
            if (advice := advise(exc)) is not None:
                print(advice)
    """
    if isinstance(error, ExecutionError):
        message = f"{error.exception_type or ''}: {error.exception_message or error.message}"
        node = _node_label(error)
        if _OOM.search(message):
            return _oom(message, node)
        if _DTYPE.search(message):
            return _dtype(message, node)
        if _SHAPE.search(message):
            return _shape(message, node)
        if _OUTSIDE_OUTPUT.search(message):
            return Advice(
                "output_outside_folder",
                f"Bad output path{node}: the filename_prefix leaves ComfyUI's output folder.",
                (
                    "use a relative filename_prefix without '..' or a leading '/', "
                    "e.g. --set SaveImage.filename_prefix=myrun/img",
                ),
                {"message": message},
            )
        if (error.exception_type or "").endswith("FileNotFoundError"):
            m = _PATH_IN_MESSAGE.search(error.exception_message or "")
            return _missing_file(m.group(1) if m else (error.exception_message or "?"), node)
        return None
    if isinstance(error, ValidationError):
        return _validation(error, known_packages)
    if isinstance(error, AuthError):
        return Advice(
            "auth",
            "The server refused our credentials (401/403).",
            (
                "pass --token TOKEN (or set COMFYUI_TOKEN), or put user:password in the URL",
                "a 403 with an empty body is ComfyUI's Origin check: do not send an Origin header, or start "
                "ComfyUI with --enable-cors-header",
            ),
            {"status": error.status},
        )
    if isinstance(error, ServerError):
        if str(error.details.get("url", "")).endswith("/upload/mask") and "images do not match" in (
            error.log_tail or ""
        ):
            # ComfyUI 0.8.0 quirk: /upload/mask copies the alpha without resizing; PIL raises → 500
            return Advice(
                "mask_size",
                "The mask is not the same size as the original image (ComfyUI answers 500).",
                ("resize the mask to the original image's width and height, then upload it again",),
                {"status": error.status},
            )
        steps = ["restart ComfyUI (it failed on this request), then retry"]
        if error.log_tail:
            steps.append("if it fails again, its log ends with:\n" + error.log_tail.rstrip()[-1500:])
        else:
            steps.append("if it fails again, read its log (GET /internal/logs or the console)")
        return Advice(
            "server_error",
            f"ComfyUI failed with HTTP {error.status}.",
            tuple(steps),
            {"status": error.status, "log_tail": error.log_tail},
        )
    if isinstance(error, ServerUnreachable):
        start = "start ComfyUI (python main.py --listen 127.0.0.1 --port 8188) or pass --url"
        pid = error.details.get("prompt_id")
        if error.details.get("saved"):
            later = "the workflow was saved offline; once the server is back: comfyctl offline submit"
        elif pid:
            # lost mid-job: the prompt was queued; nothing was saved offline
            later = (
                f"prompt {pid} was queued before the server went away; once it is back: comfyctl wait {pid}"
            )
        else:
            later = "'comfyctl run' saves workflows offline meanwhile; later: comfyctl offline submit --all"
        return Advice("unreachable", "ComfyUI is not reachable.", (start, later), dict(error.details))
    if isinstance(error, RequestTimeout):
        return Advice(
            "slow_server",
            "ComfyUI did not answer in time: it is busy or stuck.",
            (
                "check it with 'comfyctl doctor'",
                "raise --timeout, or interrupt the running job: comfyctl interrupt",
            ),
        )
    if isinstance(error, JobLost):
        return Advice(
            "job_lost",
            "The server no longer knows this prompt (it restarted, or the entry was deleted).",
            ("submit the workflow again",),
            {"prompt_id": error.prompt_id},
        )
    name = type(error).__name__
    text = str(error)
    if name == "OutOfMemoryError" or (isinstance(error, (RuntimeError, MemoryError)) and _OOM.search(text)):
        return _oom(text, "")
    if isinstance(error, FileNotFoundError):
        return _missing_file(str(error.filename or text), "")
    if isinstance(error, RuntimeError) and _DTYPE.search(text):
        return _dtype(text, "")
    return None


def queue_advice(
    running: Iterable[Any],
    pending: Iterable[Any],
    *,
    now: float | None = None,
    stuck_after: float = 600.0,
    previous_pending: int | None = None,
) -> Advice | None:
    """The "queue stuck" rule: a running prompt older than ``stuck_after`` seconds.

    Items are ``QueueItem``-like (``prompt_id``, ``extra_data``) or raw ``/queue`` arrays. Age comes
    from ``extra_data.create_time`` (epoch ms, set by the server at submit). ``previous_pending``
    (an earlier pending count) adds "and the queue is growing" evidence.
    """
    now = time.time() if now is None else now
    pend = list(pending)
    for item in running:
        if isinstance(item, (list, tuple)):
            prompt_id, extra = (item[1] if len(item) > 1 else None), (item[3] if len(item) > 3 else {})
        else:
            prompt_id, extra = getattr(item, "prompt_id", None), getattr(item, "extra_data", None) or {}
        created = extra.get("create_time") if isinstance(extra, Mapping) else None
        if not isinstance(created, (int, float)):
            continue
        age = now - created / 1000.0
        if age < stuck_after:
            continue
        growing = previous_pending is not None and len(pend) > previous_pending
        return Advice(
            "queue_stuck",
            f"Prompt {prompt_id} has been in the queue's running slot for {age / 60:.0f} min"
            f" with {len(pend)} waiting{' and the queue growing' if growing else ''}.",
            (
                f"if it should have finished, stop it: comfyctl cancel {prompt_id} (or comfyctl interrupt)",
                "then free memory: comfyctl free --unload-models --free-memory",
                "a node that reports no progress cannot be interrupted: restart ComfyUI if it does not stop",
            ),
            {"prompt_id": prompt_id, "age_seconds": round(age), "pending": len(pend)},
        )
    return None
