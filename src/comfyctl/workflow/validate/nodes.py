"""What ComfyUI 0.8.0's core nodes check and read themselves: their own validators, file and model inputs.

The server's rules (:mod:`.rules`) call a node's ``VALIDATE_INPUTS`` and skip checks for the inputs
it names; offline there is no node code, so :data:`KNOWN_VALIDATORS` describes each core one and
stands in for it. :data:`MODEL_INPUTS` and :data:`FILE_LOADERS` say which inputs name files, so a
rejection can say "put it in models/checkpoints/" rather than "value not in list".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FILE_LOADERS",
    "KNOWN_VALIDATORS",
    "MODEL_EXTENSIONS",
    "MODEL_INPUTS",
    "Validator",
    "ValidatorSpec",
    "file_validator",
    "model_folder",
]

Validator = Callable[[Mapping[str, Any]], Any]

# ---------------------------------------------------------------------------------------------
# What the server knows about nodes that validate their own inputs
# ---------------------------------------------------------------------------------------------


def _file_loader_default(values: Mapping[str, Any]) -> bool:
    """A file loader's check with no file system: only the type check every real one makes first."""
    # folder_paths.exists_annotated_filepath(name) calls name.endswith(...): a non-string value
    # (a linked input arrives as None during validation) raises AttributeError on the real server.
    for value in values.values():
        if not isinstance(value, str):
            raise AttributeError(f"'{type(value).__name__}' object has no attribute 'endswith'")
    return True


def file_validator(kind: str, exists: Callable[[str], bool]) -> Validator:
    """A stand-in for a core file loader's VALIDATE_INPUTS, given a function telling whether a file exists.

    ``kind`` is the word the server uses in its message (``image``, ``latent``, ``audio``, ``video``).
    ``exists`` receives the value as sent (it may carry a `` [output]`` annotation or a subfolder).
    Example: ``custom_validators={"LoadImage": file_validator("image", lambda n: (root / n).is_file())}``.
    """

    def check(values: Mapping[str, Any]) -> bool | str:
        _file_loader_default(values)
        for value in values.values():
            if not exists(value):
                return f"Invalid {kind} file: {value}"
        return True

    return check


def _soft_switch(values: Mapping[str, Any]) -> bool | str:
    if "on_false" not in values and "on_true" not in values:
        return "At least one of on_false or on_true must be connected to Switch node"
    return True


def _kling_camera(values: Mapping[str, Any]) -> bool | str:
    configs = [values[k] for k in ("horizontal_movement", "vertical_movement", "pan", "tilt", "roll", "zoom")]
    if not any(not math.isclose(v, 0.0) for v in configs):
        return "Invalid camera control configs: at least one of the values must be non-zero"
    return True


def _flux_ultra_aspect(values: Mapping[str, Any]) -> bool:
    text = values["aspect_ratio"]
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"Aspect ratio must be 'X:Y' (e.g., 16:9), got '{text}'.")
    try:
        a, b = int(parts[0].strip()), int(parts[1].strip())
    except ValueError as exc:
        raise ValueError(f"Aspect ratio must contain integers separated by ':', got '{text}'.") from exc
    if a <= 0 or b <= 0:
        raise ValueError(f"Aspect ratio parts must be positive integers, got {a}:{b}.")
    ratio = a / b
    if ratio < 0.25:
        raise ValueError(f"Aspect ratio `{ratio:.2g}` must be ≤ {0.25:.2g}.")
    if ratio > 4.0:
        raise ValueError(f"Aspect ratio `{ratio:.2g}` must be ≤ {4.0:.2g}.")
    return True


def _tripo_conversion(values: Mapping[str, Any]) -> bool | str:
    if values["input_types"]["original_model_task_id"] not in (
        "MODEL_TASK_ID",
        "RIG_TASK_ID",
        "RETARGET_TASK_ID",
    ):
        return "original_model_task_id must be MODEL_TASK_ID, RIG_TASK_ID or RETARGET_TASK_ID type"
    return True


@dataclass(frozen=True)
class ValidatorSpec:
    """What the server learns from a class's ``VALIDATE_INPUTS`` (V1) / ``validate_inputs`` (V3) signature.

    The server reads the function's argument names with ``inspect.getfullargspec``: inputs named
    there (or every input, with ``**kwargs``) skip the min/max/combo checks and are passed to the
    function; an argument called ``input_types`` also skips the link type check for the whole node.
    ``args`` includes the bound first parameter (``s``/``cls``) exactly as ``getfullargspec`` lists it.
    """

    qualname: str
    args: tuple[str, ...]
    required: tuple[str, ...] = ()
    kwargs: bool = False
    v3: bool = False
    default: Validator | None = field(default=None, compare=False)
    #: (file, line, source) of the file-existence check, for tracebacks of file loaders
    source: tuple[str, int, str] | None = None

    @property
    def function_name(self) -> str:
        return "validate_inputs" if self.v3 else "VALIDATE_INPUTS"


def _file_spec(
    qualname: str, arg: str, where: tuple[str, int], *, v3: bool = False, first: str = "s"
) -> ValidatorSpec:
    source = (where[0], where[1], f"if not folder_paths.exists_annotated_filepath({arg}):")
    return ValidatorSpec(qualname, (first, arg), (arg,), v3=v3, default=_file_loader_default, source=source)


#: Core classes (ComfyUI 0.8.0) that define VALIDATE_INPUTS / validate_inputs, found by reading
#: nodes.py, comfy_extras/ and comfy_api_nodes/ (subclasses inherit the parent's function).
KNOWN_VALIDATORS: Mapping[str, ValidatorSpec] = {
    "LoadImage": _file_spec("LoadImage", "image", ("nodes.py", 1719)),
    "LoadImageMask": _file_spec("LoadImageMask", "image", ("nodes.py", 1768)),
    "LoadImageOutput": _file_spec("LoadImageOutput", "image", ("nodes.py", 1719)),
    "WebcamCapture": _file_spec("WebcamCapture", "image", ("nodes.py", 1719)),
    "LoadLatent": _file_spec("LoadLatent", "latent", ("nodes.py", 545)),
    "LoadAudio": _file_spec("LoadAudio", "audio", ("comfy_extras/nodes_audio.py", 287), v3=True, first="cls"),
    "LoadVideo": _file_spec("LoadVideo", "file", ("comfy_extras/nodes_video.py", 195), v3=True),
    "ComfySoftSwitchNode": ValidatorSpec(
        "SoftSwitchNode", ("cls", "switch", "on_false", "on_true"), ("switch",), v3=True, default=_soft_switch
    ),
    "CustomCombo": ValidatorSpec(
        "CustomComboNode", ("cls", "choice"), ("choice",), v3=True, default=lambda v: True
    ),
    "FluxProUltraImageNode": ValidatorSpec(
        "FluxProUltraImageNode",
        ("cls", "aspect_ratio"),
        ("aspect_ratio",),
        v3=True,
        default=_flux_ultra_aspect,
    ),
    "KlingCameraControls": ValidatorSpec(
        "KlingCameraControls",
        ("cls", "horizontal_movement", "vertical_movement", "pan", "tilt", "roll", "zoom"),
        ("horizontal_movement", "vertical_movement", "pan", "tilt", "roll", "zoom"),
        v3=True,
        default=_kling_camera,
    ),
    "TripoConversionNode": ValidatorSpec(
        "TripoConversionNode", ("cls", "input_types"), ("input_types",), v3=True, default=_tripo_conversion
    ),
}

#: Inputs of core loader nodes (ComfyUI 0.8.0) and the models/ folder their files live in,
#: read from the ``folder_paths.get_filename_list(...)`` calls in nodes.py and comfy_extras/.
MODEL_INPUTS: Mapping[str, Mapping[str, str]] = {
    "CheckpointLoader": {"ckpt_name": "checkpoints", "config_name": "configs"},
    "CheckpointLoaderSimple": {"ckpt_name": "checkpoints"},
    "unCLIPCheckpointLoader": {"ckpt_name": "checkpoints"},
    "ImageOnlyCheckpointLoader": {"ckpt_name": "checkpoints"},
    "CreateHookModelAsLora": {"ckpt_name": "checkpoints"},
    "CreateHookModelAsLoraModelOnly": {"ckpt_name": "checkpoints"},
    "LTXVAudioVAELoader": {"ckpt_name": "checkpoints"},
    "LTXAVTextEncoderLoader": {"text_encoder": "text_encoders", "ckpt_name": "checkpoints"},
    "LoraLoader": {"lora_name": "loras"},
    "LoraLoaderModelOnly": {"lora_name": "loras"},
    "CreateHookLora": {"lora_name": "loras"},
    "CreateHookLoraModelOnly": {"lora_name": "loras"},
    "TrainLoraNode": {"existing_lora": "loras"},
    "VAELoader": {"vae_name": "vae"},
    "ControlNetLoader": {"control_net_name": "controlnet"},
    "DiffControlNetLoader": {"control_net_name": "controlnet"},
    "UNETLoader": {"unet_name": "diffusion_models"},
    "CLIPLoader": {"clip_name": "text_encoders"},
    "DualCLIPLoader": {"clip_name1": "text_encoders", "clip_name2": "text_encoders"},
    "TripleCLIPLoader": {f"clip_name{i}": "text_encoders" for i in (1, 2, 3)},
    "QuadrupleCLIPLoader": {f"clip_name{i}": "text_encoders" for i in (1, 2, 3, 4)},
    "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "StyleModelLoader": {"style_model_name": "style_models"},
    "GLIGENLoader": {"gligen_name": "gligen"},
    "ModelPatchLoader": {"name": "model_patches"},
    "UpscaleModelLoader": {"model_name": "upscale_models"},
    "LatentUpscaleModelLoader": {"model_name": "latent_upscale_models"},
    "HypernetworkLoader": {"hypernetwork_name": "hypernetworks"},
    "AudioEncoderLoader": {"audio_encoder_name": "audio_encoders"},
    "PhotoMakerLoader": {"photomaker_model_name": "photomaker"},
    "DiffusersLoader": {"model_path": "diffusers"},
}

#: Input names custom loader packs commonly reuse from core loaders.
_MODEL_INPUT_NAMES = {
    "ckpt_name": "checkpoints",
    "lora_name": "loras",
    "vae_name": "vae",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "control_net_name": "controlnet",
    "upscale_model_name": "upscale_models",
}

#: File name endings of model files (a custom loader input with such a value names a model file).
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx", ".pt2")

#: Core file loaders: class -> (input, the word the server uses in "Invalid <kind> file: ...").
FILE_LOADERS: Mapping[str, tuple[str, str]] = {
    "LoadImage": ("image", "image"),
    "LoadImageMask": ("image", "image"),
    "LoadLatent": ("latent", "latent"),
    "LoadAudio": ("audio", "audio"),
    "LoadVideo": ("file", "video"),
}


def model_folder(class_type: Any, input_name: Any, value: Any = None) -> str | None:
    """The models/ folder a loader input reads from, or None when it is not a model-file input.

    Known core loaders come from :data:`MODEL_INPUTS`; other classes are recognised by a core
    loader's input name, or (folder unknown: ``""``) by a value that looks like a model file.
    """
    if not isinstance(input_name, str):
        return None
    known = MODEL_INPUTS.get(class_type) if isinstance(class_type, str) else None
    if known is not None:
        return known.get(input_name)
    base = input_name.rstrip("0123456789")
    if base in _MODEL_INPUT_NAMES:
        return _MODEL_INPUT_NAMES[base]
    if isinstance(value, str) and value.lower().endswith(MODEL_EXTENSIONS):
        return ""
    return None
