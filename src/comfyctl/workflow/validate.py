"""ComfyUI's own prompt validation, reproduced offline, plus the checks only an offline tool can make.

:func:`validate_prompt` answers exactly what ComfyUI 0.8.0's ``POST /prompt`` answers (status, error
types, messages, details, ``extra_info``, ``dependent_outputs``) for a prompt and a set of node
definitions. It follows the server's ``execution.validate_prompt`` / ``validate_inputs`` step by
step and runs the same Python operations on the same JSON values, so odd inputs (``[1, 0]`` links,
``"0"`` slots, ``int("wide")``) fail with the very exception types and messages the server reports.
The sandbox serves its answers, the client uses :func:`describe_rejection` to explain a 400, and
:func:`validate` / :func:`check` add what the server only finds at run time or never says plainly
(cycles, missing model files).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import ChainMap
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import NodeProblem, ValidationError
from ..nodedefs import NodeDefs

__all__ = [
    "FILE_LOADERS",
    "KNOWN_VALIDATORS",
    "MODEL_INPUTS",
    "TRACEBACK_ROOT",
    "PromptVerdict",
    "ValidationReport",
    "ValidatorSpec",
    "check",
    "describe_rejection",
    "file_validator",
    "find_cycles",
    "model_folder",
    "validate",
    "validate_prompt",
    "validate_request",
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

# ---------------------------------------------------------------------------------------------
# Tracebacks: the server sends traceback.format_tb() lines; ours name the same places in 0.8.0
# ---------------------------------------------------------------------------------------------

#: Where the install lives in our made-up tracebacks (a real server shows its own absolute path).
TRACEBACK_ROOT = "ComfyUI"

# site -> (file, line, function, source line, (failing expression, length of its "~" part) or None)
_SITES: dict[str, tuple[str, int, str, str, tuple[str, int] | None]] = {
    "prompt": (
        "execution.py",
        1043,
        "validate_prompt",
        "m = await validate_inputs(prompt_id, prompt, o, validated)",
        ("await validate_inputs(prompt_id, prompt, o, validated)", 0),
    ),
    "inner": (
        "execution.py",
        838,
        "validate_inputs",
        "r = await validate_inputs(prompt_id, prompt, o_id, validated)",
        ("await validate_inputs(prompt_id, prompt, o_id, validated)", 0),
    ),
    "inputs": (
        "execution.py",
        755,
        "validate_inputs",
        "inputs = prompt[unique_id]['inputs']",
        ("prompt[unique_id]['inputs']", 17),
    ),
    "finalize": (
        "execution.py",
        768,
        "validate_inputs",
        "class_inputs, _, v3_data = _io.get_finalized_class_inputs(class_inputs, inputs)",
        ("_io.get_finalized_class_inputs(class_inputs, inputs)", 0),
    ),
    "contains": ("execution.py", 786, "validate_inputs", "if x not in inputs:", ("x not in inputs", 0)),
    "value": ("execution.py", 800, "validate_inputs", "val = inputs[x]", ("inputs[x]", 6)),
    "link_node": (
        "execution.py",
        818,
        "validate_inputs",
        "o_class_type = prompt[o_id]['class_type']",
        ("prompt[o_id]", 6),
    ),
    "link_slot": ("execution.py", 820, "validate_inputs", "received_type = r[val[1]]", ("r[val[1]]", 1)),
    "min": (
        "execution.py",
        899,
        "validate_inputs",
        'if "min" in extra_info and val < extra_info["min"]:',
        ('val < extra_info["min"]', 0),
    ),
    "max": (
        "execution.py",
        912,
        "validate_inputs",
        'if "max" in extra_info and val > extra_info["max"]:',
        ('val > extra_info["max"]', 0),
    ),
    "input_data": (
        "execution.py",
        957,
        "validate_inputs",
        "input_data_all, _, v3_data = get_input_data(inputs, obj_class, unique_id)",
        ("get_input_data(inputs, obj_class, unique_id)", 0),
    ),
    "custom": (
        "execution.py",
        965,
        "validate_inputs",
        "ret = await _async_map_node_over_list(prompt_id, unique_id, obj_class, input_filtered, "
        "validate_function_name, v3_data=v3_data)",
        (
            "await _async_map_node_over_list(prompt_id, unique_id, obj_class, input_filtered, "
            "validate_function_name, v3_data=v3_data)",
            0,
        ),
    ),
    "map_empty": ("execution.py", 299, "_async_map_node_over_list", "await process_inputs({})", None),
    "map_each": (
        "execution.py",
        303,
        "_async_map_node_over_list",
        "await process_inputs(input_dict, i)",
        None,
    ),
    "call": ("execution.py", 291, "process_inputs", "result = f(**inputs)", ("f(**inputs)", 0)),
    "v3_call": (
        "comfy_api/internal/__init__.py",
        149,
        "wrapped_func",
        "return method(locked_class, **inputs)",
        ("method(locked_class, **inputs)", 0),
    ),
    "exists": (
        "folder_paths.py",
        272,
        "exists_annotated_filepath",
        "name, base_dir = annotated_filepath(name)",
        ("annotated_filepath(name)", 0),
    ),
    "endswith": (
        "folder_paths.py",
        244,
        "annotated_filepath",
        'if name.endswith("[output]"):',
        ("name.endswith", 0),
    ),
}


def _frame(site: str | tuple[str, int, str, str, tuple[str, int] | None]) -> str:
    """One ``traceback.format_tb`` entry (Python 3.11 style, with its caret line when there is one)."""
    path, line, func, source, anchor = _SITES[site] if isinstance(site, str) else site
    text = f'  File "{TRACEBACK_ROOT}/{path}", line {line}, in {func}\n    {source}\n'
    if anchor is not None:
        expr, tildes = anchor
        text += " " * (4 + source.index(expr)) + "~" * tildes + "^" * (len(expr) - tildes) + "\n"
    return text


def _type_name(exc: BaseException) -> str:
    """``execution.full_type_name``: builtins by qualname, others module-qualified."""
    klass = type(exc)
    if klass.__module__ == "builtins":
        return klass.__qualname__
    return f"{klass.__module__}.{klass.__qualname__}"


class _NodeFailed(Exception):
    """An exception escaping the server's ``validate_inputs`` for one node, with where it was raised."""

    def __init__(self, exc: BaseException, frames: list[str]):
        super().__init__(str(exc))
        self.exc = exc
        self.frames = frames


# ---------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptVerdict:
    """What ``POST /prompt`` answers for a prompt.

    ``status`` is 200 or 400, or 500 when the real server would crash on the prompt (it then sends
    ``text/plain`` "500 Internal Server Error"; ``body`` here holds ``exception_type`` and
    ``exception_message`` saying why). On 200, ``body`` is ``{"node_errors": ...}`` (the server adds
    ``prompt_id`` and ``number``); ``outputs`` lists the output nodes that will run; ``prompt`` is
    the prompt with literals coerced the way the server stores and runs it.
    """

    status: int
    body: dict[str, Any]
    outputs: tuple[str, ...]
    prompt: Any

    @property
    def ok(self) -> bool:
        return self.status == 200


def _error(kind: str, message: str, details: str = "") -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def _node_error(kind: str, message: str, details: str, **extra_info: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


_UPSTREAM_INVALID = object()


@dataclass
class _NodeContext:
    inputs: Any
    v3: bool
    fn_args: tuple[str, ...]
    has_kwargs: bool
    received_types: dict[str, Any]


def _working_copy(prompt: Any) -> Any:
    """Copies of the dicts the server mutates (prompt, nodes, inputs); values are shared, not deep-copied."""
    if not isinstance(prompt, dict):
        return prompt
    out: dict[Any, Any] = {}
    for key, node in prompt.items():
        if isinstance(node, dict):
            node = dict(node)
            if isinstance(node.get("inputs"), dict):
                node["inputs"] = dict(node["inputs"])
        out[key] = node
    return out


_DYNAMIC_TYPES = frozenset({"COMFY_AUTOGROW_V3", "COMFY_DYNAMICCOMBO_V3", "COMFY_DYNAMICSLOT_V3"})


def _is_v3(raw: Mapping[str, Any]) -> bool:
    # V3 node info is a dataclass dumped whole, so it always has output_matchtypes; V1 info never does.
    return "output_matchtypes" in raw


def _finalize_v3(declared: Mapping[str, Any], live: Any) -> dict[str, dict[str, Any]]:
    """``_io.get_finalized_class_inputs``: expand Autogrow / DynamicCombo / DynamicSlot for these inputs."""
    out: dict[str, dict[str, Any]] = {"required": {}, "optional": {}}
    _parse_v3(out, live, {k: v for k, v in declared.items() if k != "hidden"}, None)
    return out


def _parse_v3(
    out: dict[str, dict[str, Any]], live: Any, sections: Mapping[str, Any], prefix: list[str] | None
) -> None:
    for section, specs in sections.items():
        for name, spec in specs.items():
            kind = spec[0]
            if kind == "COMFY_AUTOGROW_V3":
                _expand_autogrow(out, live, spec, (prefix or []) + [name])
            elif kind == "COMFY_DYNAMICCOMBO_V3":
                _expand_dynamic_combo(out, live, spec, section, (prefix or []) + [name])
            elif kind == "COMFY_DYNAMICSLOT_V3":
                path = (prefix or []) + [name]
                key = ".".join(path)
                if key in live:
                    _parse_v3(out, live, spec[1]["inputs"], path)
                    out.setdefault(section, {})[key] = spec
            else:
                out.setdefault(section, {})[".".join([*prefix, name]) if prefix else name] = spec


def _expand_autogrow(out: dict[str, dict[str, Any]], live: Any, spec: Any, prefix: list[str]) -> None:
    template = spec[1]["template"]
    if "names" in template:
        names = list(template["names"])
    else:
        names = [f"{template['prefix']}{i}" for i in range(template["max"])]
    minimum = template["min"]
    template_input = None
    for inner in template["input"].values():
        template_input = next(iter(inner.values()))
    grown: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        if ".".join([*prefix, name]) in live:
            grown.setdefault("required" if i < minimum else "optional", {})[name] = template_input
    _parse_v3(out, live, grown, prefix)


def _expand_dynamic_combo(
    out: dict[str, dict[str, Any]], live: Any, spec: Any, section: str, prefix: list[str]
) -> None:
    key = ".".join(prefix)
    if key not in live:
        return  # quirk: an absent DynamicCombo is not reported as a missing required input
    chosen = live[key]
    for option in spec[1]["options"]:
        if option["key"] == chosen:
            _parse_v3(out, live, option["inputs"], prefix)
            out.setdefault(section, {})[key] = spec
            return


def _coerce(input_type: Any, val: Any) -> Any:
    if input_type == "INT":
        return int(val)
    if input_type == "FLOAT":
        return float(val)
    if input_type == "STRING":
        return str(val)
    if input_type == "BOOLEAN":
        return bool(val)
    return val


def _is_link(value: Any) -> bool:
    """``graph_utils.is_link``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], (int, float))
    )


def _types_compatible(received: Any, expected: Any) -> bool:
    """``comfy_execution.validation.validate_node_input`` (non-strict)."""
    if received == expected:
        return True
    if received == "*" or expected == "*":
        return True
    if received == "COMFY_MATCHTYPE_V3" or expected == "COMFY_MATCHTYPE_V3":
        return True
    if isinstance(received, list) and expected == "COMBO":
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    if "*" in got or "*" in want:
        return True
    return bool(got & want)


class _Run:
    """One validation run: the server's ``validate_inputs`` recursion and its ``validated`` memo."""

    def __init__(self, prompt: Any, defs: NodeDefs, validators: Mapping[str, Any]):
        self.prompt = prompt
        self.defs = defs
        self.validators = validators
        self.validated: dict[Any, tuple[bool, list[dict[str, Any]]]] = {}
        self.site = "inputs"  # where the server would be if a Python operation raised now
        self.active: set[Any] = set()  # nodes on the current recursion path
        self._layouts: dict[str, tuple[Mapping[str, Any], dict[str, tuple[str, Any]]]] = {}
        self._outputs: dict[Any, Any] = {}

    def _enter(self, uid: Any) -> tuple[bool, list[dict[str, Any]]] | None:
        """The memo check at the top of the server's ``validate_inputs``; None means: validate it now."""
        if uid in self.validated:
            return self.validated[uid]
        if uid in self.active:
            # A dependency cycle. The server recurses until RecursionError; the error it records
            # deep down is overwritten when the outer frames of the same nodes finish, so every
            # node on the cycle ends up invalid with only its own errors. Same outcome, no recursion.
            return (False, [])
        self.active.add(uid)
        return None

    def node(self, root: Any) -> tuple[bool, list[dict[str, Any]]]:
        """Validate one node; raise :class:`_NodeFailed` where the server's ``validate_inputs`` raises.

        The server recurses into linked nodes; here each node is a generator that yields the ids
        it needs validated, driven from an explicit stack, so long chains cannot hit Python's
        recursion limit before the server would.
        """
        early = self._enter(root)
        if early is not None:
            return early
        stack: list[tuple[Any, Generator[Any, Any, tuple[bool, list[dict[str, Any]]]]]] = [
            (root, self._node(root))
        ]
        reply: Any = None
        failure: _NodeFailed | None = None
        while True:
            uid, steps = stack[-1]
            try:
                if failure is not None:
                    pending, failure = failure, None
                    child = steps.throw(pending)
                else:
                    child = steps.send(reply)
            except StopIteration as done:
                self.active.discard(uid)
                self.validated[uid] = done.value
                stack.pop()
                if not stack:
                    return done.value
                reply = done.value
                continue
            except Exception as exc:
                self.active.discard(uid)
                stack.pop()
                # anything not already located failed at prompt[uid]["inputs"], as on the server
                failure = exc if isinstance(exc, _NodeFailed) else _NodeFailed(exc, [_frame("inputs")])
                if not stack:
                    raise failure from exc
                continue
            early = self._enter(child)
            if early is not None:
                reply = early
            else:
                stack.append((child, self._node(child)))
                reply = None

    def _node(self, uid: Any) -> Generator[Any, Any, tuple[bool, list[dict[str, Any]]]]:
        prompt = self.prompt
        inputs = prompt[uid]["inputs"]
        class_type = prompt[uid]["class_type"]
        raw = self.defs[class_type].raw
        custom = self.validators.get(class_type)
        if isinstance(custom, ValidatorSpec):
            spec: ValidatorSpec | None = custom  # the caller describes a (custom) node's signature
        else:
            spec = KNOWN_VALIDATORS.get(class_type)
            if spec is None and custom is not None:
                # A validator for a class we know nothing about: treat it as VALIDATE_INPUTS(**kwargs).
                spec = ValidatorSpec(class_type, ("s",), kwargs=True)
        v3 = _is_v3(raw)
        class_inputs, categories = self._layout(class_type, raw, inputs, v3)
        fn_args: tuple[str, ...] = spec.args if spec else ()
        has_kwargs = bool(spec and spec.kwargs)
        errors: list[dict[str, Any]] = []
        valid = True
        received_types: dict[str, Any] = {}

        ctx = _NodeContext(inputs, v3, fn_args, has_kwargs, received_types)
        self.site = "contains"
        try:
            for x, (category, ispec) in categories.items():
                outcome = yield from self._input(x, category, ispec, ctx)
                if outcome is _UPSTREAM_INVALID:
                    valid = False
                elif outcome is not None:
                    errors.append(outcome)
            if spec is not None and (len(fn_args) > 0 or has_kwargs):
                self.site = "input_data"
                errors += self._custom(class_type, spec, inputs, class_inputs, received_types, v3)
        except _NodeFailed:
            raise
        except Exception as exc:
            raise _NodeFailed(exc, [_frame(self.site)]) from exc

        if errors or valid is not True:
            return (False, errors)
        return (True, [])

    def _input(self, x: str, category: str, ispec: Any, ctx: _NodeContext) -> Generator[Any, Any, Any]:
        """One declared input: an error dict, ``_UPSTREAM_INVALID``, or None when it passes."""
        input_type = ispec[0]
        extra_info = ispec[1] if len(ispec) > 1 else {}
        info = [input_type, extra_info]
        inputs = ctx.inputs
        self.site = "contains"
        if x not in inputs:
            if category != "required":
                return None
            # V3 nodes report the leaf of a dotted dynamic name in details (`resize_type.width` → `width`)
            details = x.split(".")[-1] if ctx.v3 else x
            return _node_error("required_input_missing", "Required input is missing", details, input_name=x)
        self.site = "value"
        val = inputs[x]
        if isinstance(val, list):
            return (yield from self._link(x, val, input_type, info, ctx))
        try:
            # {"__value__": [...]} carries a list literal (a bare list is always a link).
            if isinstance(val, dict) and "__value__" in val:
                val = val["__value__"]
                inputs[x] = val
            if input_type in ("INT", "FLOAT", "STRING", "BOOLEAN"):
                val = _coerce(input_type, val)
                inputs[x] = val
        except Exception as exc:
            return _node_error(
                "invalid_input_type",
                f"Failed to convert an input value to a {input_type} value",
                f"{x}, {val}, {exc}",
                input_name=x,
                input_config=info,
                received_value=val,
                exception_message=str(exc),
            )
        if x in ctx.fn_args or ctx.has_kwargs:
            return None  # the node validates this input itself
        self.site = "min"
        if "min" in extra_info and val < extra_info["min"]:
            message = f"Value {val} smaller than min of {extra_info['min']}"
            return _node_error(
                "value_smaller_than_min", message, x, input_name=x, input_config=info, received_value=val
            )
        self.site = "max"
        if "max" in extra_info and val > extra_info["max"]:
            message = f"Value {val} bigger than max of {extra_info['max']}"
            return _node_error(
                "value_bigger_than_max", message, x, input_name=x, input_config=info, received_value=val
            )
        if isinstance(input_type, list) or input_type == "COMBO":
            options = extra_info.get("options", []) if input_type == "COMBO" else input_type
            self.site = "combo"
            if val not in options:
                # The server does not echo long lists (model folders): "(list of length N)".
                if len(options) > 20:
                    list_info, config = f"(list of length {len(options)})", None
                else:
                    list_info, config = str(options), info
                return _node_error(
                    "value_not_in_list",
                    "Value not in list",
                    f"{x}: '{val}' not in {list_info}",
                    input_name=x,
                    input_config=config,
                    received_value=val,
                )
        return None

    def _link(
        self, x: str, val: list[Any], input_type: Any, info: list[Any], ctx: _NodeContext
    ) -> Generator[Any, Any, Any]:
        if len(val) != 2:
            return _node_error(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                x,
                input_name=x,
                input_config=info,
                received_value=val,
            )
        o_id = val[0]
        self.site = "link_node"
        o_class_type = self.prompt[o_id]["class_type"]
        self.site = "link_slot"
        received_type = self._return_types(o_class_type)[val[1]]
        ctx.received_types[x] = received_type
        if "input_types" not in ctx.fn_args and not _types_compatible(received_type, input_type):
            return _node_error(
                "return_type_mismatch",
                "Return type mismatch between linked nodes",
                f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                input_name=x,
                input_config=info,
                received_type=received_type,
                linked_node=val,
            )
        try:
            upstream_ok, _ = yield o_id  # validated by the driver in node(), like the server's recursion
        except _NodeFailed as failed:
            # Quirk: the upstream node gets the error, described by this (downstream) input.
            self.validated[o_id] = (
                False,
                [
                    _node_error(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        str(failed.exc),
                        input_name=x,
                        input_config=info,
                        exception_message=str(failed.exc),
                        exception_type=_type_name(failed.exc),
                        traceback=[_frame("inner"), *failed.frames],
                        linked_node=val,
                    )
                ],
            )
            return _UPSTREAM_INVALID
        return _UPSTREAM_INVALID if upstream_ok is False else None

    def _layout(
        self, class_type: str, raw: Mapping[str, Any], inputs: Any, v3: bool
    ) -> tuple[Mapping[str, Any], dict[str, tuple[str, Any]]]:
        """The inputs the server checks for this node (``get_finalized_class_inputs`` for V3), by name.

        Cached per class unless the class has dynamic inputs, whose expansion depends on the node.
        """
        cached = self._layouts.get(class_type)
        if cached is not None:
            return cached
        declared = raw.get("input") or {}
        dynamic = v3 and any(
            isinstance(spec, list) and spec and spec[0] in _DYNAMIC_TYPES
            for section in ("required", "optional")
            for spec in (declared.get(section) or {}).values()
        )
        if dynamic:
            try:
                class_inputs: Mapping[str, Any] = _finalize_v3(declared, inputs)
            except Exception as exc:
                raise _NodeFailed(exc, [_frame("finalize")]) from exc
        else:
            class_inputs = declared
        categories: dict[str, tuple[str, Any]] = {}
        for section in ("required", "optional"):
            for name, ispec in (class_inputs.get(section) or {}).items():
                categories.setdefault(name, (section, ispec))
        if not dynamic:
            self._layouts[class_type] = (class_inputs, categories)
        return class_inputs, categories

    def _return_types(self, class_type: Any) -> Any:
        types = self._outputs.get(class_type)
        if types is None:
            raw = self.defs[class_type].raw
            outputs = raw.get("output") or []
            # V1 RETURN_TYPES is a tuple, V3's a list: it shows in IndexError/TypeError messages.
            types = self._outputs[class_type] = list(outputs) if _is_v3(raw) else tuple(outputs)
        return types

    def _custom(
        self,
        class_type: str,
        spec: ValidatorSpec,
        inputs: Any,
        class_inputs: Mapping[str, Any],
        received_types: dict[str, Any],
        v3: bool,
    ) -> list[dict[str, Any]]:
        """The node's own VALIDATE_INPUTS, called as ``validate_inputs`` does (links arrive as None)."""
        known: dict[str, Any] = {}
        for section in ("required", "optional", "hidden"):
            if v3 and section == "hidden":
                continue
            for name, ispec in (class_inputs.get(section) or {}).items():
                known.setdefault(name, ispec)
        data: dict[str, Any] = {}
        for x in inputs:
            value = inputs[x]
            ispec = known.get(x)
            opts = ispec[1] if ispec is not None and len(ispec) > 1 and isinstance(ispec[1], dict) else {}
            if _is_link(value) and (ispec is None or not opts.get("rawLink", False)):
                data[x] = None
            elif ispec is not None:
                data[x] = value
        filtered = {x: v for x, v in data.items() if x in spec.args or spec.kwargs}
        if "input_types" in spec.args:
            filtered["input_types"] = received_types
        self.site = "custom"
        fn = self.validators.get(class_type, spec.default)
        if isinstance(fn, ValidatorSpec):
            fn = fn.default
        try:
            missing = [a for a in spec.required if a not in filtered]
            if missing:
                raise TypeError(f"{spec.qualname}.{spec.function_name}() {_missing_args(missing)}")
            result = fn(filtered) if fn is not None else True
        except Exception as exc:
            frames = [_frame("custom"), _frame("map_each" if filtered else "map_empty"), _frame("call")]
            if spec.v3:
                frames.append(_frame("v3_call"))
            if spec.source and isinstance(exc, AttributeError) and "endswith" in str(exc):
                path, line, source = spec.source
                anchor = (source[7:-1], 0)  # folder_paths.exists_annotated_filepath(...)
                frames += [
                    _frame((path, line, spec.function_name, source, anchor)),
                    _frame("exists"),
                    _frame("endswith"),
                ]
            raise _NodeFailed(exc, frames) from exc
        if result is True:
            return []
        errors = []
        for x in filtered:
            details = f"{x}" if result is False else f"{x} - {result}"
            errors.append(
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": details,
                    "extra_info": {"input_name": x},
                }
            )
        return errors


def _missing_args(names: list[str]) -> str:
    """Python's own wording for a call missing positional arguments."""
    quoted = [f"'{n}'" for n in names]
    if len(quoted) == 1:
        text = quoted[0]
    elif len(quoted) == 2:
        text = f"{quoted[0]} and {quoted[1]}"
    else:
        text = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    noun = "argument" if len(names) == 1 else "arguments"
    return f"missing {len(names)} required positional {noun}: {text}"


def validate_prompt(
    prompt: Any,
    defs: NodeDefs,
    *,
    partial_execution_targets: Sequence[str] | None = None,
    custom_validators: Mapping[str, Callable[[Mapping[str, Any]], bool | str] | ValidatorSpec] | None = None,
) -> PromptVerdict:
    """Validate an API-format prompt exactly as ComfyUI 0.8.0's ``POST /prompt`` does.

    Args:
        prompt: the value of the request's ``prompt`` key, any JSON value.
        defs: node definitions of the target server.
        partial_execution_targets: the request's ``partial_execution_targets`` (output ids to run).
        custom_validators: per class_type, a stand-in for the node's own VALIDATE_INPUTS: it gets
            the inputs the real function would get (links as None) and returns True or an error
            string. Classes in :data:`KNOWN_VALIDATORS` without one use a built-in stand-in. A
            :class:`ValidatorSpec` instead describes a custom node's VALIDATE_INPUTS signature
            (which inputs skip the min/max/combo checks), with its ``default`` as the function.

    Returns:
        A :class:`PromptVerdict`; never raises for any input.

    Example:
        >>> verdict = validate_prompt(api, defs)
        >>> verdict.status, verdict.body["node_errors"]
    """
    work = _working_copy(prompt)
    run = _Run(work, defs, custom_validators or {})
    try:
        outputs: list[Any] = []
        for x in work:
            node = work[x]
            if "class_type" not in node:
                error = _error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{x}'",
                )
                return PromptVerdict(400, {"error": error, "node_errors": {}}, (), work)
            class_type = node["class_type"]
            if class_type not in defs:
                error = _error(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{x}'",
                )
                return PromptVerdict(400, {"error": error, "node_errors": {}}, (), work)
            is_output = defs[class_type].raw.get("output_node") is True
            if is_output and (partial_execution_targets is None or x in partial_execution_targets):
                outputs.append(x)
    except Exception as exc:  # the real server has no handler here: aiohttp answers 500 text/plain
        return PromptVerdict(
            500, {"exception_type": _type_name(exc), "exception_message": str(exc)}, (), work
        )

    if not outputs:
        return PromptVerdict(
            400, {"error": _error("prompt_no_outputs", "Prompt has no outputs"), "node_errors": {}}, (), work
        )

    good: list[Any] = []
    failed: list[tuple[Any, list[dict[str, Any]]]] = []
    node_errors: dict[Any, dict[str, Any]] = {}
    for o in outputs:
        try:
            valid, reasons = run.node(o)
        except _NodeFailed as exc:
            valid = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(exc.exc),
                    "extra_info": {
                        "exception_type": _type_name(exc.exc),
                        "traceback": [_frame("prompt"), *exc.frames],
                    },
                }
            ]
            run.validated[o] = (False, reasons)
        if valid is True:
            good.append(o)
            continue
        failed.append((o, reasons))
        # Quirk: every node validated so far that carries errors gets this output appended, even a
        # node this output does not depend on (it was validated for an earlier output).
        for node_id, (ok, node_reasons) in run.validated.items():
            if ok is not True and node_reasons:
                if node_id not in node_errors:
                    node_errors[node_id] = {
                        "errors": node_reasons,
                        "dependent_outputs": [],
                        "class_type": work[node_id]["class_type"],
                    }
                node_errors[node_id]["dependent_outputs"].append(o)

    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, reasons in failed for e in reasons)
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return PromptVerdict(400, {"error": error, "node_errors": node_errors}, (), work)
    return PromptVerdict(200, {"node_errors": node_errors}, tuple(good), work)


def validate_request(body: Any, defs: NodeDefs, **kwargs: Any) -> PromptVerdict:
    """Validate a whole ``POST /prompt`` JSON body the way the server's handler reads it.

    Covers what happens before :func:`validate_prompt`: a body without ``prompt`` (400
    ``no_prompt``, also for a JSON list), a ``number`` that ``float()`` rejects or a body of the
    wrong type (500), and ``partial_execution_targets``. Keyword arguments go to :func:`validate_prompt`.
    """
    try:
        if "number" in body:
            float(body["number"])
        elif "front" in body:
            bool(body["front"])
        has_prompt = "prompt" in body
        if has_prompt:
            prompt = body["prompt"]
            # not body.get(): the body may be any JSON value, and `in` is what the server uses
            targets = body["partial_execution_targets"] if "partial_execution_targets" in body else None  # noqa: SIM401
    except Exception as exc:  # the server has no handler here: aiohttp answers 500 text/plain
        return PromptVerdict(
            500, {"exception_type": _type_name(exc), "exception_message": str(exc)}, (), None
        )
    if not has_prompt:
        error = _error("no_prompt", "No prompt provided", "No prompt provided")
        return PromptVerdict(400, {"error": error, "node_errors": {}}, (), None)
    return validate_prompt(prompt, defs, partial_execution_targets=targets, **kwargs)


# ---------------------------------------------------------------------------------------------
# Readable problems
# ---------------------------------------------------------------------------------------------

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
_MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx", ".pt2")

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
    if isinstance(value, str) and value.lower().endswith(_MODEL_EXTENSIONS):
        return ""
    return None


def _short(value: Any, limit: int = 80) -> str:
    """A value as the user wrote it: strings quoted, containers as JSON, long ones cut."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _choices(config: Any) -> list[Any] | None:
    """The options of a combo ``input_config`` (legacy list or ``["COMBO", {"options": [...]}]``)."""
    if not isinstance(config, (list, tuple)) or not config:
        return None
    head = config[0]
    if isinstance(head, list):
        return head
    if head == "COMBO" and len(config) > 1 and isinstance(config[1], Mapping):
        options = config[1].get("options")
        return options if isinstance(options, list) else None
    return None


def _one_of(options: Sequence[Any], value: Any) -> str:
    shown = ", ".join(str(o) for o in options[:12])
    if len(options) > 12:
        shown += f", … ({len(options)} in all)"
    text = f"{_short(value)} is not one of {shown}"
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.6)
    if close:
        text += f" (did you mean {close[0]!r}?)"
    return text


def _nodes(prompt: Any) -> Mapping[Any, Any]:
    return prompt if isinstance(prompt, Mapping) else {}


def _class_of(prompt: Any, node_id: Any) -> Any:
    node = _nodes(prompt).get(node_id) if isinstance(node_id, str) else None
    return node.get("class_type") if isinstance(node, Mapping) else None


def _link_fault(
    prompt: Any, node_id: Any, exc_type: str, message: str, defs: NodeDefs | None
) -> tuple[str | None, str] | None:
    """Find the link in ``node_id``'s inputs that made the server's validation raise, and say why."""
    out_of_range: list[tuple[str, Any, int]] = []
    node = _nodes(prompt).get(node_id)
    inputs = node.get("inputs") if isinstance(node, Mapping) else None
    if not isinstance(inputs, Mapping):
        return None
    nodes = _nodes(prompt)
    for name, value in inputs.items():
        if not isinstance(value, list) or len(value) != 2:
            continue
        target, slot = value
        try:
            exists = target in nodes
        except TypeError:
            exists = False
        if not exists and exc_type in ("KeyError", "TypeError"):
            if isinstance(target, (int, float)) and str(target) in nodes:
                fixed = _short([str(target), slot])
                return name, f"links to node {target} as a number; node ids in links are strings: {fixed}"
            if (exc_type == "KeyError" and message == repr(target)) or (
                exc_type == "TypeError" and "unhashable" in message
            ):
                shown = target if isinstance(target, str) else _short(target)
                return name, f"links to node {shown}, which does not exist"
        if (
            exists
            and exc_type == "TypeError"
            and not isinstance(slot, int)
            and type(slot).__name__ in message
        ):
            return name, f"output index {_short(slot)} must be an integer (a link is [node_id, output_index])"
        if exists and exc_type == "IndexError" and isinstance(slot, int) and not isinstance(slot, bool):
            out_of_range.append((name, target, slot))
    if out_of_range:
        # The server does not say which link; without definitions, blame the highest index.
        name, target, slot = max(out_of_range, key=lambda c: _slot_rank(c[1], c[2], prompt, defs))
        target_class = _class_of(prompt, target)
        owner = f"node {target} ({target_class})" if target_class else f"node {target}"
        return name, f"links to output {slot} of {owner}, which has no such output"
    return None


def _slot_rank(target: Any, slot: int, prompt: Any, defs: NodeDefs | None) -> tuple[bool, int]:
    class_type = _class_of(prompt, target)
    if defs is not None and isinstance(class_type, str) and class_type in defs:
        count = len(defs[class_type].raw.get("output") or ())
        return (not -count <= slot < count, abs(slot))
    return (True, abs(slot))


def _exception_text(
    prompt: Any, node_id: Any, class_type: Any, err: Mapping[str, Any], defs: NodeDefs | None
) -> tuple[str | None, str]:
    extra = _extra(err)
    exc_type = str(extra.get("exception_type") or "")
    message = str(extra.get("exception_message") or err.get("details") or "")
    found = _link_fault(prompt, node_id, exc_type, message, defs)
    if found is not None:
        return found
    if exc_type == "KeyError" and message == "'inputs'":
        return None, "has no 'inputs' object"
    missing = re.search(r"missing \d+ required positional arguments?: (.*)$", message)
    if exc_type == "TypeError" and missing:
        names = re.findall(r"'([^']+)'", missing.group(1))
        return (names[0] if len(names) == 1 else None), f"required input {', '.join(names)} is missing"
    if (
        exc_type == "AttributeError"
        and message.endswith("has no attribute 'endswith'")
        and class_type in FILE_LOADERS
    ):
        name = FILE_LOADERS[class_type][0]
        return name, "must be a file name typed in (a string), not a link or a number"
    guessing = not _nodes(prompt)  # with the prompt at hand, _link_fault already found real link faults
    if guessing and exc_type == "KeyError" and re.fullmatch(r"'[\d:.]+'", message):
        return None, f"a link points to node {message[1:-1]}, which does not exist"
    if guessing and exc_type == "KeyError" and re.fullmatch(r"-?\d+(\.\d+)?", message):
        return None, f'a link names node {message} as a number; node ids in links are strings ("{message}")'
    if (
        guessing
        and exc_type == "TypeError"
        and re.search(r"indices must be integers or slices, not", message)
    ):
        return None, "a link's output index is not an integer (a link is [node_id, output_index])"
    if guessing and exc_type == "IndexError" and message.endswith("index out of range"):
        return None, "a link points to an output index the linked node does not have"
    return None, f"the server's validation raised {exc_type or 'an exception'}: {message}"


def _extra(err: Mapping[str, Any]) -> Mapping[str, Any]:
    extra = err.get("extra_info")
    return extra if isinstance(extra, Mapping) else {}


def _problem(
    node_id: Any, class_type: Any, err: Mapping[str, Any], prompt: Any, defs: NodeDefs | None = None
) -> NodeProblem:
    """One server error dict as a :class:`NodeProblem` with a readable line."""
    kind = str(err.get("type") or "error")
    extra = _extra(err)
    name = extra.get("input_name")
    name = name if isinstance(name, str) else None
    details = str(err.get("details") or "")
    config = extra.get("input_config")
    value = extra.get("received_value")
    expected = config[0] if isinstance(config, (list, tuple)) and config else None
    if kind == "required_input_missing":
        text = "required input is missing"
    elif kind == "bad_linked_input":
        text = f'{_short(value)} is not a link; a link is [node_id, output_index], e.g. ["4", 0]'
    elif kind == "return_type_mismatch":
        linked = extra.get("linked_node")
        source = linked[0] if isinstance(linked, list) and linked else "?"
        slot = linked[1] if isinstance(linked, list) and len(linked) > 1 else "?"
        source_class = _class_of(prompt, source)
        owner = f"node {source} ({source_class})" if source_class else f"node {source}"
        wanted = "a COMBO value" if isinstance(expected, list) else str(expected)
        text = f"output {slot} of {owner} is {extra.get('received_type')}, but this input takes {wanted}"
    elif kind == "invalid_input_type":
        wanted = expected if isinstance(expected, str) else "the expected type"
        text = f"{_short(value)} is not a valid {wanted} ({extra.get('exception_message', details)})"
    elif kind in ("value_smaller_than_min", "value_bigger_than_max"):
        low = kind == "value_smaller_than_min"
        opts = config[1] if isinstance(config, (list, tuple)) and len(config) > 1 else {}
        bound = opts.get("min" if low else "max") if isinstance(opts, Mapping) else None
        if bound is None:
            bound = str(err.get("message", "")).rsplit(" ", 1)[-1]
        text = f"{_short(value)} is {'below the minimum' if low else 'above the maximum'} {bound}"
    elif kind == "value_not_in_list":
        folder = model_folder(class_type, name, value)
        options = _choices(config)
        size = re.search(r"\(list of length (\d+)\)$", details)
        if folder is not None:
            where = f"the server's {folder} folder" if folder else "the server's model folders"
            text = f"model file {_short(value)} is not in {where}"
        elif options is not None:
            text = _one_of(options, value)
        elif size:
            text = f"{_short(value)} is not one of the {size.group(1)} choices the server offers"
        else:
            text = f"{_short(value)} is not one of the allowed values"
    elif kind == "custom_validation_failed":
        reason = details[len(name) + 3 :] if name and details.startswith(f"{name} - ") else ""
        file_missing = re.fullmatch(r"Invalid (image|latent|audio|video) file: (.*)", reason, re.S)
        if file_missing:
            kind_, name_ = file_missing.groups()
            text = f"{kind_} file {name_!r} is not on the server (upload it first)"
        else:
            text = (
                f"rejected by the node's own check: {reason}"
                if reason
                else "rejected by the node's own check"
            )
    elif kind in ("exception_during_validation", "exception_during_inner_validation"):
        # The server's input_name on inner errors names the downstream input: find the real culprit.
        name, text = _exception_text(prompt, node_id, class_type, err, defs)
    else:
        text = f"{err.get('message', kind)}: {details}" if details else str(err.get("message", kind))
    return _make_problem(node_id, class_type, kind, err, name, text)


def _make_problem(
    node_id: Any, class_type: Any, kind: str, err: Mapping[str, Any], name: str | None, text: str, **more: Any
) -> NodeProblem:
    where = "" if node_id is None else f"node {node_id}" + (f" ({class_type})" if class_type else "")
    if name:
        where += f" input {name!r}"
    return NodeProblem(
        node_id=node_id,
        class_type=class_type,
        type=kind,
        message=str(err.get("message", "")),
        details=str(err.get("details", "")),
        input_name=name,
        text=f"{where}: {text}" if where else text,
        **more,
    )


def _top_problems(error: Any, body: Mapping[str, Any], prompt: Any) -> list[NodeProblem]:
    """Problems for an answer whose node_errors say nothing (no_prompt, invalid_prompt, no outputs, crash)."""
    if not isinstance(error, Mapping):
        if "exception_type" in body:  # our 500 verdict: the real server would crash on this prompt
            return [_crash_problem(body, prompt)]
        text = str(error) if error else "the server rejected the workflow"
        return [_make_problem(None, None, "error", {"message": text}, None, text)]
    kind = str(error.get("type") or "error")
    message = str(error.get("message") or "")
    node = re.fullmatch(r"Node ID '#(.*)'", str(error.get("details") or ""), re.S)
    node_id = node.group(1) if node else None
    if kind == "no_prompt":
        return [
            _make_problem(
                None, None, kind, error, None, "the request has no 'prompt' (an API-format workflow)"
            )
        ]
    if kind == "invalid_prompt" and "missing the class_type" in message:
        hint = ""
        if _looks_like_ui(prompt):
            hint = " (a UI-format workflow? convert it first)"
        elif node_id == "prompt" and isinstance(_nodes(prompt).get("prompt"), Mapping):
            hint = ' (a {"prompt": ...} request body? pass the value of its "prompt" key)'
        return [_make_problem(node_id, None, kind, error, None, f"the node has no class_type{hint}")]
    if kind == "invalid_prompt":
        unknown = re.fullmatch(r"Cannot execute because node (.*) does not exist\.", message, re.S)
        class_type = unknown.group(1) if unknown else _class_of(prompt, node_id)
        text = f"node type {class_type!r} is not installed on the server (a custom node pack is missing?)"
        return [_make_problem(node_id, class_type, kind, error, None, text)]
    if kind == "prompt_no_outputs":
        text = (
            "nothing to run: the workflow has no output node (such as SaveImage or PreviewImage), "
            "or none of the partial_execution_targets is one"
        )
        return [_make_problem(None, None, kind, error, None, text)]
    if kind == "prompt_outputs_failed_validation":
        lines = [line for line in str(error.get("details") or "").split("\n") if line]
        if lines:
            return [_make_problem(None, None, kind, error, None, line) for line in lines]
        cycles = find_cycles(prompt)
        if cycles:
            return [_cycle_problem(prompt, cycle) for cycle in cycles]
        text = "no output passed validation and the server named no node (a dependency cycle between nodes?)"
        return [_make_problem(None, None, kind, error, None, text)]
    details = str(error.get("details") or "")
    return [_make_problem(node_id, None, kind, error, None, f"{message}: {details}" if details else message)]


def _looks_like_ui(prompt: Any) -> bool:
    return isinstance(prompt, Mapping) and "nodes" in prompt and "links" in prompt


def _crash_problem(body: Mapping[str, Any], prompt: Any) -> NodeProblem:
    err = {
        "message": "the server would fail with HTTP 500",
        "details": str(body.get("exception_message", "")),
    }
    if _looks_like_ui(prompt):
        return _make_problem(
            None, None, "malformed_prompt", err, None, "this is a UI-format workflow; convert it first"
        )
    if not isinstance(prompt, Mapping):
        text = f"the prompt must be an object of node id -> node, not {type(prompt).__name__}"
        return _make_problem(None, None, "malformed_prompt", err, None, text)
    for node_id, node in prompt.items():
        if not isinstance(node, Mapping):
            text = f"must be an object with class_type and inputs, not {_short(node, 40)}"
            return _make_problem(node_id, None, "malformed_prompt", err, None, text)
        class_type = node.get("class_type")
        if class_type is not None and not isinstance(class_type, str):
            return _make_problem(node_id, None, "malformed_prompt", err, None, "class_type must be a string")
    text = f"the server would fail on this prompt (HTTP 500): {body.get('exception_type')}: {err['details']}"
    return _make_problem(None, None, "malformed_prompt", err, None, text)


def find_cycles(prompt: Any) -> list[list[str]]:
    """Dependency cycles among the prompt's links, as node ids along each (the first repeated last)."""
    nodes = _nodes(prompt)
    edges: dict[Any, list[Any]] = {}
    for node_id, node in nodes.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        targets = []
        if isinstance(inputs, Mapping):
            for value in inputs.values():
                if (
                    isinstance(value, list)
                    and len(value) == 2
                    and isinstance(value[0], str)
                    and value[0] in nodes
                ):
                    targets.append(value[0])
        edges[node_id] = targets
    # Tarjan's strongly connected components, iterative (graphs can be deep).
    index: dict[Any, int] = {}
    low: dict[Any, int] = {}
    on_stack: set[Any] = set()
    stack: list[Any] = []
    cycles: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        cycles.append(_cycle_path(edges, set(component)))
    return cycles


def _cycle_path(edges: Mapping[Any, list[Any]], members: set[Any]) -> list[str]:
    """One closed walk through a strongly connected component, from its first node back to it."""
    start = next(n for n in edges if n in members)
    path, seen = [start], {start}
    while True:
        nexts = [t for t in edges[path[-1]] if t in members]
        back = [t for t in nexts if t == start]
        if back:
            return [*path, start]
        fresh = [t for t in nexts if t not in seen]
        if not fresh:  # every step inside an SCC leads back eventually; go to any member
            return [*path, nexts[0]]
        path.append(fresh[0])
        seen.add(fresh[0])


def _cycle_problem(prompt: Any, cycle: list[str]) -> NodeProblem:
    steps = " → ".join(f"{n} ({_class_of(prompt, n)})" for n in cycle)
    text = f"nodes depend on each other in a cycle, which ComfyUI cannot run: {steps}"
    err = {"message": "Dependency cycle", "details": " -> ".join(cycle)}
    return _make_problem(
        cycle[0], _class_of(prompt, cycle[0]), "dependency_cycle", err, None, text, cycle=cycle
    )


def describe_rejection(
    body: Mapping[str, Any], prompt: Mapping[str, Any] | None = None, *, defs: NodeDefs | None = None
) -> tuple[str, list[NodeProblem]]:
    """Turn a ``POST /prompt`` answer (real or from :func:`validate_prompt`) into one line plus problems.

    Args:
        body: the JSON answer: a 400 body, a 200 body carrying ``node_errors``, or the body of a
            500 :class:`PromptVerdict`. Anything else is described, never raised on.
        prompt: the prompt that was sent, when known: it names linked nodes' classes and finds the
            link at fault when the server only reports an exception.
        defs: the server's node definitions, when at hand: they tell which output index is out of range.

    Returns:
        ``(summary, problems)``: one problem per server error, each with a readable ``text`` such
        as ``node 7 (KSampler) input 'steps': 0 is below the minimum 1``.
    """
    if not isinstance(body, Mapping):
        text = f"the server rejected the workflow: {_short(body, 200)}"
        return text, [_make_problem(None, None, "error", {"message": text}, None, text)]
    problems: list[NodeProblem] = []
    node_errors = body.get("node_errors")
    if isinstance(node_errors, Mapping):
        for node_id, entry in node_errors.items():
            if not isinstance(entry, Mapping):
                continue
            class_type = entry.get("class_type") or _class_of(prompt, node_id)
            deps = entry.get("dependent_outputs")
            for err in entry.get("errors") or ():
                if isinstance(err, Mapping):
                    problem = _problem(node_id, class_type, err, prompt, defs)
                    if isinstance(deps, list):
                        problem["dependent_outputs"] = list(deps)
                    problems.append(problem)
    error = body.get("error")
    if not problems and (error is not None or "exception_type" in body):
        problems = _top_problems(error, body, prompt)
    problems.sort(key=_order_key(prompt))
    return _summary(body, problems), problems


def _order_key(prompt: Any) -> Callable[[NodeProblem], int]:
    """Problems in workflow order (the server's follow Python set order); workflow-wide ones last."""
    order = {node_id: i for i, node_id in enumerate(_nodes(prompt))}
    return lambda p: order.get(p.get("node_id"), len(order))


def _summary(body: Mapping[str, Any], problems: Sequence[NodeProblem]) -> str:
    accepted = "error" not in body and "exception_type" not in body
    if not problems:
        return "the workflow is valid" if accepted else "the server rejected the workflow"
    nodes = {p.get("node_id") for p in problems if p.get("node_id") is not None}
    first = problems[0]["text"]
    if accepted:
        skipped = sorted({o for p in problems for o in p.get("dependent_outputs", ())}, key=str)
        plural = "s" if len(skipped) != 1 else ""
        head = f"the server would accept it, but output{plural} {', '.join(map(str, skipped))} would not run"
    else:
        head = "the server would fail on this workflow" if "exception_type" in body else "workflow rejected"
    if len(problems) == 1:
        return f"{head}: {first}"
    where = f" on {len(nodes)} node{'s' if len(nodes) != 1 else ''}" if nodes else ""
    return f"{head}: {len(problems)} problems{where}; first: {first}"


# ---------------------------------------------------------------------------------------------
# Offline validation for users
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidationReport:
    """The offline verdict on a workflow: the server's own answer plus what only offline checks find.

    ``ok`` is True only when the server would accept the workflow and run every output (a 200
    that drops some outputs is not ok). ``problems`` are in workflow order.
    """

    ok: bool
    problems: tuple[NodeProblem, ...]
    outputs: tuple[str, ...]
    verdict: PromptVerdict
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for ``--json`` and agents."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "status": self.verdict.status,
            "outputs": list(self.outputs),
            "problems": [dict(p) for p in self.problems],
        }


def _with_models(defs: NodeDefs, models: Mapping[str, Sequence[str]], prompt: Mapping[Any, Any]) -> NodeDefs:
    """The definitions with loader combos listing ``models[folder]`` instead of the snapshot's files."""
    patched: dict[str, Any] = {}
    for node in prompt.values():
        class_type = node.get("class_type") if isinstance(node, Mapping) else None
        if not isinstance(class_type, str) or class_type in patched or class_type not in defs:
            continue
        raw = defs[class_type].raw
        declared = raw.get("input") or {}
        sections: dict[str, Any] = {}
        for section in ("required", "optional"):
            specs = dict(declared.get(section) or {})
            for name, spec in specs.items():
                folder = model_folder(class_type, name)
                options = _choices(spec)
                if not folder or folder not in models or options is None:
                    continue
                # keep non-file entries the server adds (VAELoader's "pixel_space", "taesd", ...)
                extras = [o for o in options if not str(o).lower().endswith(_MODEL_EXTENSIONS)]
                files = [*models[folder], *(o for o in extras if o not in models[folder])]
                opts = dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
                if spec[0] == "COMBO":
                    specs[name] = ["COMBO", {**opts, "options": files}]
                else:
                    specs[name] = [files, opts] if len(spec) > 1 else [files]
                sections[section] = specs
        if sections:
            patched[class_type] = {**raw, "input": {**declared, **sections}}
    if not patched:
        return defs
    return NodeDefs(ChainMap(patched, dict(defs.raw)))


def _file_validators(defs: NodeDefs, input_files: Sequence[str] | None) -> dict[str, Validator]:
    """Stand-ins for the file loaders' existence checks, against the input folder as ``defs`` lists it."""
    validators: dict[str, Validator] = {}
    for class_type, (name, kind) in FILE_LOADERS.items():
        if class_type not in defs:
            continue
        spec = defs[class_type].input(name)
        known = set(input_files) if input_files is not None else set(spec.choices or ()) if spec else set()

        def exists(value: str, known: set[str] = known) -> bool:
            # subfolders and [output]/[temp] annotations are not in the combo list: give them the benefit
            return value in known or "/" in value or "\\" in value or value.endswith("]")

        validators[class_type] = file_validator(kind, exists)
    return validators


def _reachable(prompt: Mapping[Any, Any], roots: Sequence[Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    todo = list(roots)
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in prompt:
            continue
        seen[node_id] = None
        node = prompt[node_id]
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if isinstance(inputs, Mapping):
            for value in inputs.values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    todo.append(value[0])
    return list(seen)


def validate(
    workflow: Mapping[str, Any],
    defs: NodeDefs,
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    input_files: Sequence[str] | None = None,
    partial_execution_targets: Sequence[str] | None = None,
) -> ValidationReport:
    """Validate an API-format workflow offline: the server's verdict, plus what it does not say.

    On top of :func:`validate_prompt`: every unknown node type (the server stops at the first),
    problems in nodes the server never reached because an earlier link failed, dependency cycles
    (``dependency_cycle``; the server answers them with an empty ``node_errors``), and missing
    model files called out as ``missing_model`` with the folder they belong in.

    Args:
        workflow: the API-format prompt.
        defs: the server's node definitions (fresh: combo lists of files are a snapshot).
        models: ``{folder: [files]}`` as ``/models/{folder}`` lists them; overrides the loaders'
            combo lists in ``defs``.
        input_files: names in the server's input folder (default: LoadImage's list in ``defs``).
        partial_execution_targets: validate only these outputs, as the server would.

    Returns:
        A :class:`ValidationReport`. Never raises for bad input.

    Example:
        >>> report = validate(api, defs, models={"checkpoints": client.models("checkpoints")})
        >>> for p in report.problems: print(p["text"])
    """
    prompt = workflow
    if models and isinstance(prompt, Mapping):
        defs = _with_models(defs, models, prompt)
    validators = _file_validators(defs, input_files)
    verdict = validate_prompt(
        prompt, defs, partial_execution_targets=partial_execution_targets, custom_validators=validators
    )
    if verdict.status == 200 and not verdict.body.get("node_errors"):
        return ValidationReport(True, (), verdict.outputs, verdict, "the workflow is valid")
    _, problems = describe_rejection(verdict.body, prompt, defs=defs)
    if isinstance(prompt, Mapping) and verdict.status != 500:
        problems = _offline_extras(prompt, defs, verdict, problems, validators, partial_execution_targets)
        problems.sort(key=_order_key(prompt))
    problems = [_as_missing_model(p, prompt, defs, models) for p in problems]
    summary = _summary(verdict.body, problems)
    return ValidationReport(False, tuple(problems), verdict.outputs, verdict, summary)


def _offline_extras(
    prompt: Mapping[Any, Any],
    defs: NodeDefs,
    verdict: PromptVerdict,
    problems: list[NodeProblem],
    validators: Mapping[str, Validator],
    targets: Sequence[str] | None,
) -> list[NodeProblem]:
    """Problems the server's answer leaves out: other unknown types, unreached nodes, cycles."""
    problems = list(problems)
    error = verdict.body.get("error") or {}
    if error.get("type") == "invalid_prompt":
        reported = {p.get("node_id") for p in problems}
        for node_id, node in prompt.items():
            class_type = node.get("class_type") if isinstance(node, Mapping) else None
            if node_id in reported or not isinstance(class_type, str) or class_type in defs:
                continue
            message = f"Cannot execute because node {class_type} does not exist."
            err = {"type": "invalid_prompt", "message": message, "details": f"Node ID '#{node_id}'"}
            problems += _top_problems(err, {}, prompt)
        return problems
    outputs = [
        node_id
        for node_id, node in prompt.items()
        if isinstance(node, Mapping)
        and node.get("class_type") in defs
        and defs[node["class_type"]].raw.get("output_node") is True
        and (targets is None or node_id in targets)
    ]
    reachable = _reachable(prompt, outputs)
    # Nodes the server never reached (behind a failed link) are checked on a fresh copy, so the
    # verdict's coerced prompt stays exactly what the server would have stored.
    run = _Run(_working_copy(prompt), defs, validators)
    seen = {(p.get("node_id"), p.get("type"), p.get("input_name")) for p in problems}
    for node_id in reachable:
        if any(p.get("node_id") == node_id for p in problems):
            continue
        try:
            ok, errors = run.node(node_id)
        except _NodeFailed as failed:
            ok, errors = (
                False,
                [
                    _node_error(
                        "exception_during_validation",
                        "Exception when validating node",
                        str(failed.exc),
                        exception_type=_type_name(failed.exc),
                        exception_message=str(failed.exc),
                    )
                ],
            )
        for err in errors if not ok else ():
            problem = _problem(node_id, prompt[node_id].get("class_type"), err, prompt, defs)
            key = (problem.get("node_id"), problem.get("type"), problem.get("input_name"))
            if key not in seen:
                seen.add(key)
                problems.append(problem)
    reach = set(reachable)
    # describe_rejection lists every cycle in the prompt; keep those the outputs depend on
    problems = [p for p in problems if "cycle" not in p or reach.intersection(p["cycle"])]
    known = [p.get("cycle") for p in problems]
    for cycle in find_cycles(prompt):
        if reach.intersection(cycle) and cycle not in known:
            problems.append(_cycle_problem(prompt, cycle))
    return problems


def _as_missing_model(
    problem: NodeProblem, prompt: Any, defs: NodeDefs, models: Mapping[str, Sequence[str]] | None
) -> NodeProblem:
    """A value_not_in_list on a model loader input becomes ``missing_model`` with its folder."""
    if problem.get("type") != "value_not_in_list":
        return problem
    node = _nodes(prompt).get(problem.get("node_id"))
    name = problem.get("input_name")
    value = (
        node.get("inputs", {}).get(name)
        if isinstance(node, Mapping) and isinstance(node.get("inputs"), Mapping)
        else None
    )
    folder = model_folder(problem.get("class_type"), name, value)
    if folder is None:
        return problem
    place = f"models/{folder}/" if folder else "the server's models folder"
    available = len(models[folder]) if models and folder in models else None
    if available is None and folder and problem.get("class_type") in defs and isinstance(name, str):
        spec = defs[problem["class_type"]].input(name)
        available = len(spec.choices) if spec and spec.choices is not None else None
    if available is None:
        count = ""
    elif available == 0:
        count = " (that folder is empty on the server)"
    else:
        count = f" (the server has {available} other file{'s' if available != 1 else ''} there)"
    text = f"model file {_short(value)} is not on the server: put it in {place}{count}"
    where = problem["text"].split(": ", 1)[0]
    return NodeProblem(
        {**problem, "type": "missing_model", "folder": folder or None, "text": f"{where}: {text}"}
    )


def check(
    workflow: Mapping[str, Any],
    defs: NodeDefs,
    *,
    models: Mapping[str, Sequence[str]] | None = None,
    input_files: Sequence[str] | None = None,
    partial_execution_targets: Sequence[str] | None = None,
) -> ValidationReport:
    """Like :func:`validate`, but raise :class:`ValidationError` (exit code 4) listing every problem.

    Raises:
        ValidationError: the workflow would be rejected or would not run every output.
    """
    report = validate(
        workflow,
        defs,
        models=models,
        input_files=input_files,
        partial_execution_targets=partial_execution_targets,
    )
    if not report.ok:
        raise ValidationError(
            report.summary,
            problems=list(report.problems),
            hint=hint_for(report.problems),
            details={"status": report.verdict.status, "outputs": list(report.outputs)},
        )
    return report


def hint_for(problems: Sequence[NodeProblem]) -> str | None:
    """What to do next, for the kind of problem that is most likely blocking (None: the default hint)."""
    kinds = {p.get("type") for p in problems}
    if kinds & {"prompt_no_outputs", "no_prompt", "malformed_prompt"} and len(kinds) == 1:
        if "prompt_no_outputs" in kinds:
            return "add an output node (SaveImage, PreviewImage, ...) that the rest of the graph feeds"
        return "pass an API-format workflow ({node id: {class_type, inputs}}) or a UI file saved by ComfyUI"
    if "invalid_prompt" in kinds and any("not installed" in p["text"] for p in problems):
        return "install the custom node packs that provide these node types, then restart ComfyUI"
    if "missing_model" in kinds:
        return (
            "put the model files in the folders named above, or pick installed ones: comfyctl models FOLDER"
        )
    if any("(upload it first)" in p["text"] for p in problems):
        return "upload the input files first ('comfyctl upload FILE'), then use the name the server returns"
    if "dependency_cycle" in kinds:
        return "break the cycle: a node cannot take its input from a node that depends on it"
    return None  # ValidationError's default hint
