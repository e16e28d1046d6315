"""The server's rules: ComfyUI 0.8.0's ``POST /prompt`` validation, step by step.

:func:`validate_prompt` answers exactly what the server answers (status, error types, messages,
details, ``extra_info``, ``dependent_outputs``) for a prompt and a set of node definitions. It follows
the server's ``execution.validate_prompt`` / ``validate_inputs`` and runs the same Python operations
on the same JSON values, so odd inputs (``[1, 0]`` links, ``"0"`` slots, ``int("wide")``) fail with
the very exception types and messages the server reports. Where the server's code raised is kept as
a :data:`Frame`; only the sandbox turns frames into ComfyUI's traceback lines.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ...nodedefs import NodeDefs
from .nodes import KNOWN_VALIDATORS, ValidatorSpec

__all__ = ["FormatFrame", "Frame", "PromptVerdict", "validate_prompt", "validate_request"]

#: Where the server's validation raised: a site name of its code ("prompt", "inner", "inputs",
#: "finalize", "contains", "value", "link_node", "link_slot", "min", "max", "input_data", "custom",
#: "map_empty", "map_each", "call", "v3_call", "exists", "endswith"), or a node's own place as
#: (file, line, function, source line, (failing expression, length of its "~" part) or None).
Frame: TypeAlias = str | tuple[str, int, str, str, tuple[str, int] | None]
#: Turns one :data:`Frame` into a ``traceback.format_tb`` entry.
FormatFrame: TypeAlias = Callable[[Frame], str]


def full_type_name(exc: BaseException) -> str:
    """``execution.full_type_name``: builtins by qualname, others module-qualified."""
    klass = type(exc)
    if klass.__module__ == "builtins":
        return klass.__qualname__
    return f"{klass.__module__}.{klass.__qualname__}"


class NodeFailed(Exception):
    """An exception escaping the server's ``validate_inputs`` for one node, with where it was raised."""

    def __init__(self, exc: BaseException, frames: list[Frame]):
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


def node_error(kind: str, message: str, details: str, **extra_info: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


_UPSTREAM_INVALID = object()


@dataclass
class _NodeContext:
    inputs: Any
    v3: bool
    fn_args: tuple[str, ...]
    has_kwargs: bool
    received_types: dict[str, Any]


def working_copy(prompt: Any) -> Any:
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


class ValidationRun:
    """One validation run: the server's ``validate_inputs`` recursion and its ``validated`` memo."""

    def __init__(
        self,
        prompt: Any,
        defs: NodeDefs,
        validators: Mapping[str, Any],
        format_frame: FormatFrame | None = None,
    ):
        self.prompt = prompt
        self.defs = defs
        self.validators = validators
        self.validated: dict[Any, tuple[bool, list[dict[str, Any]]]] = {}
        self.site = "inputs"  # where the server would be if a Python operation raised now
        self.active: set[Any] = set()  # nodes on the current recursion path
        self._layouts: dict[str, tuple[Mapping[str, Any], dict[str, tuple[str, Any]]]] = {}
        self._outputs: dict[Any, Any] = {}
        self._format_frame = format_frame

    def traceback(self, frames: list[Frame]) -> list[str]:
        """The ``traceback`` lines of an exception error: none unless a frame formatter was given."""
        return [self._format_frame(f) for f in frames] if self._format_frame else []

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
        """Validate one node; raise :class:`NodeFailed` where the server's ``validate_inputs`` raises.

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
        failure: NodeFailed | None = None
        while True:
            uid, steps = stack[-1]
            try:
                if failure is not None:
                    pending, failure = failure, None
                    child = steps.throw(pending)
                else:
                    child = steps.send(reply)
            except StopIteration as done:
                verdict: tuple[bool, list[dict[str, Any]]] = done.value
                self.active.discard(uid)
                self.validated[uid] = verdict
                stack.pop()
                if not stack:
                    return verdict
                reply = verdict
                continue
            except Exception as exc:
                self.active.discard(uid)
                stack.pop()
                # anything not already located failed at prompt[uid]["inputs"], as on the server
                failure = exc if isinstance(exc, NodeFailed) else NodeFailed(exc, ["inputs"])
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
        except NodeFailed:
            raise
        except Exception as exc:
            raise NodeFailed(exc, [self.site]) from exc

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
            return node_error("required_input_missing", "Required input is missing", details, input_name=x)
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
            return node_error(
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
            return node_error(
                "value_smaller_than_min", message, x, input_name=x, input_config=info, received_value=val
            )
        self.site = "max"
        if "max" in extra_info and val > extra_info["max"]:
            message = f"Value {val} bigger than max of {extra_info['max']}"
            return node_error(
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
                return node_error(
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
            return node_error(
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
            return node_error(
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
        except NodeFailed as failed:
            # Quirk: the upstream node gets the error, described by this (downstream) input.
            self.validated[o_id] = (
                False,
                [
                    node_error(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        str(failed.exc),
                        input_name=x,
                        input_config=info,
                        exception_message=str(failed.exc),
                        exception_type=full_type_name(failed.exc),
                        traceback=self.traceback(["inner", *failed.frames]),
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
                raise NodeFailed(exc, ["finalize"]) from exc
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
            frames: list[Frame] = ["custom", "map_each" if filtered else "map_empty", "call"]
            if spec.v3:
                frames.append("v3_call")
            if spec.source and isinstance(exc, AttributeError) and "endswith" in str(exc):
                path, line, source = spec.source
                anchor = (source[7:-1], 0)  # folder_paths.exists_annotated_filepath(...)
                frames += [
                    (path, line, spec.function_name, source, anchor),
                    "exists",
                    "endswith",
                ]
            raise NodeFailed(exc, frames) from exc
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
    format_frame: FormatFrame | None = None,
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
        format_frame: turns each place the server's code raised (a :data:`Frame`) into a
            ``traceback.format_tb`` line for ``extra_info["traceback"]``; without it that list is
            empty. The sandbox passes :func:`comfyctl.testing.tracebacks.format_frame`, which
            names ComfyUI 0.8.0's lines.

    Returns:
        A :class:`PromptVerdict`; never raises for any input.

    Example:
        >>> verdict = validate_prompt(api, defs)
        >>> verdict.status, verdict.body["node_errors"]
    """
    work = working_copy(prompt)
    run = ValidationRun(work, defs, custom_validators or {}, format_frame)
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
            500, {"exception_type": full_type_name(exc), "exception_message": str(exc)}, (), work
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
        except NodeFailed as exc:
            valid = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(exc.exc),
                    "extra_info": {
                        "exception_type": full_type_name(exc.exc),
                        "traceback": run.traceback(["prompt", *exc.frames]),
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
            500, {"exception_type": full_type_name(exc), "exception_message": str(exc)}, (), None
        )
    if not has_prompt:
        error = _error("no_prompt", "No prompt provided", "No prompt provided")
        return PromptVerdict(400, {"error": error, "node_errors": {}}, (), None)
    return validate_prompt(prompt, defs, partial_execution_targets=targets, **kwargs)
