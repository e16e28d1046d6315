"""Get, set and list the inputs of an API-format prompt by node id, title or class.

A reference is ``NODE.INPUT``: ``"6.text"`` (node id), ``"Positive Prompt.text"`` (``_meta.title``)
or ``"KSampler.seed"`` (``class_type``). Titles may contain dots and dynamic inputs do too
(``"BatchImagesNode.images.image0"``), so the reference is split at the first dot whose left side
names a node. Values from the command line are strings and are coerced with the node definition
(an INT input gets an int, a COMBO one of its choices); without definitions the current value's
type is the guide.

These functions work on API-format prompts. A UI-format graph is converted first
(:func:`comfyctl.workflow.convert.to_api`); the resulting ids (``"8:2"`` inside subgraphs) are the
ones to use. :func:`set_ui_params` applies the same assignments to a UI graph's top-level widgets,
so a saved UI can stay consistent with what was sent.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from comfyctl.errors import ParameterError
from comfyctl.nodedefs import InputSpec, NodeDefs

__all__ = [
    "Param",
    "coerce_value",
    "find_node",
    "get_param",
    "list_params",
    "set_param",
    "set_params",
    "set_ui_params",
]

_TRUE = frozenset({"true", "1", "yes", "on", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "n"})


@dataclass(frozen=True)
class Param:
    """One input of one node, as listed by :func:`list_params`."""

    node_id: str
    class_type: str
    title: str | None
    input: str
    value: Any
    type: str | None = None
    choices: tuple[Any, ...] | None = None
    min: float | int | None = None
    max: float | int | None = None
    linked: bool = False

    @property
    def ref(self) -> str:
        """The reference that :func:`set_param` accepts (``"3.seed"``)."""
        return f"{self.node_id}.{self.input}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "node_id": self.node_id,
            "class_type": self.class_type,
            "title": self.title,
            "input": self.input,
            "value": self.value,
            "type": self.type,
            "choices": list(self.choices) if self.choices is not None else None,
            "min": self.min,
            "max": self.max,
            "linked": self.linked,
        }


def _natural(node_id: str) -> list[Any]:
    return [int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", node_id)]


def _nodes(api: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    if not isinstance(api, Mapping):
        raise ParameterError(
            f"parameters apply to an API-format prompt (a JSON object), not {type(api).__name__}"
        )
    return {str(k): v for k, v in api.items() if isinstance(v, Mapping)}


def _inputs(node: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = node.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def _title(node: Mapping[str, Any]) -> str | None:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, Mapping) else None
    return title if isinstance(title, str) else None


def _describe(node_id: str, node: Mapping[str, Any]) -> str:
    title = _title(node)
    cls = node.get("class_type")
    return f"{node_id} ({cls}{', ' + repr(title) if title and title != cls else ''})"


def find_node(api: Mapping[str, Any], name: str) -> str:
    """The id of the node named ``name``: an id, else a unique title, else a unique class_type.

    Raises:
        ParameterError: no such node (listing the nodes), or several match (listing them).
    """
    nodes = _nodes(api)
    if name in nodes:
        return name
    for exact in (True, False):
        for getter in (_title, lambda n: n.get("class_type")):
            found = [
                nid
                for nid, node in nodes.items()
                if isinstance(getter(node), str)
                and (getter(node) == name if exact else str(getter(node)).casefold() == name.casefold())
            ]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                listed = ", ".join(_describe(n, nodes[n]) for n in sorted(found, key=_natural))
                raise ParameterError(
                    f"{name!r} matches {len(found)} nodes: {listed}",
                    hint="use the node id instead, e.g. '" + sorted(found, key=_natural)[0] + ".INPUT'",
                    details={"candidates": sorted(found, key=_natural)},
                )
    listed = ", ".join(_describe(n, nodes[n]) for n in sorted(nodes, key=_natural)[:40])
    raise ParameterError(
        f"no node is called {name!r}; the nodes are: {listed}",
        details={"nodes": sorted(nodes, key=_natural)},
    )


def _split(api: Mapping[str, Any], ref: str) -> tuple[str, str]:
    """Split ``NODE.INPUT`` at the first dot whose left side names a node."""
    if not isinstance(ref, str) or "." not in ref:
        raise ParameterError(f"{ref!r} is not NODE.INPUT (e.g. 'KSampler.seed', '6.text')")
    first_error: ParameterError | None = None
    for match in re.finditer(r"\.", ref):
        node_part, input_part = ref[: match.start()], ref[match.end() :]
        if not node_part or not input_part:
            continue
        try:
            return find_node(api, node_part), input_part
        except ParameterError as exc:
            if "matches" in exc.message:  # ambiguous beats "not found" further right
                raise
            first_error = first_error or exc
    raise first_error or ParameterError(f"{ref!r} is not NODE.INPUT (e.g. 'KSampler.seed', '6.text')")


def _known_inputs(node: Mapping[str, Any], defs: NodeDefs | None) -> list[str]:
    names = [str(k) for k in _inputs(node)]
    cls = node.get("class_type")
    if defs is not None and isinstance(cls, str) and cls in defs:
        names += [s.name for s in defs[cls].inputs if s.name not in names]
    return names


def _spec(node: Mapping[str, Any], input_name: str, defs: NodeDefs | None) -> InputSpec | None:
    cls = node.get("class_type")
    if defs is None or not isinstance(cls, str) or cls not in defs:
        return None
    return defs[cls].input(input_name)


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )


def get_param(api: Mapping[str, Any], ref: str) -> Any:
    """The current value of ``NODE.INPUT`` (a link is ``[node_id, slot]``).

    Raises:
        ParameterError: unknown or ambiguous node, or an input the node does not have.

    Example:
        >>> get_param(api, "KSampler.seed")          # doctest: +SKIP
        156680208700286
    """
    node_id, input_name = _split(api, ref)
    inputs = _inputs(_nodes(api)[node_id])
    if input_name not in inputs:
        raise ParameterError(
            f"node {_describe(node_id, _nodes(api)[node_id])} has no input {input_name!r}; "
            f"it has: {', '.join(map(str, inputs)) or 'none'}",
            details={"node_id": node_id, "inputs": list(map(str, inputs))},
        )
    return inputs[input_name]


def set_param(
    api: Mapping[str, Any],
    ref: str,
    value: Any,
    defs: NodeDefs | None = None,
    *,
    from_string: bool = False,
    unlink: bool = False,
) -> dict[str, Any]:
    """Return a copy of ``api`` with ``NODE.INPUT`` set to ``value`` (the input is not modified).

    Args:
        api: an API-format prompt.
        ref: ``"KSampler.seed"``, ``"6.text"``, ``"Positive Prompt.text"``.
        value: the new value; with ``from_string=True`` a command-line string to coerce.
        defs: node definitions, to check and coerce the value against the input's declaration.
        from_string: parse ``value`` as the CLI does (``"20"`` → 20 for an INT input).
        unlink: allow replacing a link with a literal (otherwise that is an error).

    Raises:
        ParameterError: unknown/ambiguous node, unknown input, a value of the wrong type or out of
            range, a COMBO value that is not a choice, or a linked input without ``unlink``.
    """
    node_id, input_name = _split(api, ref)
    node = _nodes(api)[node_id]
    inputs = _inputs(node)
    known = _known_inputs(node, defs)
    if input_name not in known:
        raise ParameterError(
            f"node {_describe(node_id, node)} has no input {input_name!r}; "
            f"it has: {', '.join(known) or 'none'}",
            details={"node_id": node_id, "inputs": known},
        )
    spec = _spec(node, input_name, defs)
    current = inputs.get(input_name)
    new = coerce_value(
        spec,
        value,
        current=current,
        from_string=from_string,
        where=f"{node_id}.{input_name}",
        self_validated=_validates_itself(node.get("class_type"), input_name),
    )
    if isinstance(current, list) and _is_link(current) and not _is_link(new) and not unlink:
        raise ParameterError(
            f"input {input_name!r} of node {_describe(node_id, node)} is linked to node {current[0]}; "
            "setting a value would cut that link",
            hint="pass unlink=True (CLI: --unlink) to replace the link with a value",
            details={"node_id": node_id, "input_name": input_name, "link": current},
        )
    result = dict(api)
    new_node = dict(node)
    new_node["inputs"] = {**inputs, input_name: new}
    result[node_id] = new_node
    return result


def set_params(
    api: Mapping[str, Any], assignments: Iterable[str], defs: NodeDefs | None = None, *, unlink: bool = False
) -> dict[str, Any]:
    """Apply ``"NODE.INPUT=VALUE"`` strings (the CLI's ``--set``) in order; returns a new prompt.

    Raises:
        ParameterError: an assignment without ``=``, or any error of :func:`set_param`.
    """
    _nodes(api)  # refuses anything that is not a JSON object
    result = dict(api)
    for item in assignments:
        if not isinstance(item, str) or "=" not in item:
            raise ParameterError(f"{item!r} is not NODE.INPUT=VALUE (e.g. 'KSampler.steps=30')")
        ref, _, raw = item.partition("=")
        result = set_param(result, ref.strip(), raw, defs, from_string=True, unlink=unlink)
    return result


def list_params(
    api: Mapping[str, Any], defs: NodeDefs | None = None, *, include_linked: bool = False
) -> list[Param]:
    """Every literal input of every node (links too with ``include_linked``), in node-id order."""
    params: list[Param] = []
    nodes = _nodes(api)
    for node_id in sorted(nodes, key=_natural):
        node = nodes[node_id]
        cls = str(node.get("class_type"))
        inputs = _inputs(node)
        for name, value in inputs.items():
            linked = _is_link(value)
            if linked and not include_linked:
                continue
            spec = _spec(node, str(name), defs)
            params.append(
                Param(
                    node_id,
                    cls,
                    _title(node),
                    str(name),
                    value,
                    spec.type if spec else None,
                    spec.choices if spec else None,
                    spec.min if spec else None,
                    spec.max if spec else None,
                    linked,
                )
            )
    return params


def set_ui_params(
    ui: Mapping[str, Any], assignments: Iterable[str], defs: NodeDefs, *, unlink: bool = False
) -> dict[str, Any]:
    """Apply ``"NODE.INPUT=VALUE"`` to the widgets of a UI graph's top-level nodes; returns a copy.

    Keeps a saved UI consistent with the API prompt sent (``set_params`` on the converted prompt
    gives the same values). NODE is a node id, title (or display name) or type, as for
    :func:`set_params`; INPUT a widget of that node. Nodes inside subgraphs are not reachable here:
    set those on the converted prompt (ids like ``"8:2"``).

    Raises:
        ParameterError: unknown/ambiguous node or widget, a bad value, or a widget whose input is
            linked (the link would win over the value).
    """
    if not isinstance(ui, Mapping) or not isinstance(ui.get("nodes"), list):
        raise ParameterError("set_ui_params needs a UI-format graph (with 'nodes')")
    try:
        return _set_ui_params(ui, assignments, defs, unlink)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ParameterError(f"the workflow is malformed: {type(exc).__name__}: {exc}") from exc


def _set_ui_params(
    ui: Mapping[str, Any], assignments: Iterable[str], defs: NodeDefs, unlink: bool
) -> dict[str, Any]:
    from comfyctl.workflow.widgets import widget_layout

    graph = copy.deepcopy(dict(ui))
    nodes = {
        str(n.get("id")): n for n in graph["nodes"] if isinstance(n, dict) and isinstance(n.get("type"), str)
    }
    layouts: dict[str, list[Any]] = {}
    view: dict[str, Any] = {}
    for node_id, raw in nodes.items():
        cls = raw["type"]
        if cls not in defs:
            continue
        layout = widget_layout(defs[cls], raw.get("widgets_values"))
        if layout is None:
            continue
        layouts[node_id] = layout
        title = (
            raw.get("title")
            if isinstance(raw.get("title"), str) and raw.get("title")
            else defs[cls].display_name
        )
        widgets = {w.name: w.value for w in layout if w.to_api}
        view[node_id] = {"class_type": cls, "_meta": {"title": title}, "inputs": widgets}
    for item in assignments:
        if not isinstance(item, str) or "=" not in item:
            raise ParameterError(f"{item!r} is not NODE.INPUT=VALUE (e.g. 'KSampler.steps=30')")
        ref, _, text = item.partition("=")
        node_id, input_name = _split(view, ref.strip())
        raw = nodes[node_id]
        widget = next((w for w in layouts[node_id] if w.name == input_name and w.to_api), None)
        if widget is None:
            raise ParameterError(
                f"node {_describe(node_id, view[node_id])} has no widget {input_name!r}; "
                f"it has: {', '.join(view[node_id]['inputs']) or 'none'}",
                details={"node_id": node_id, "inputs": list(view[node_id]["inputs"])},
            )
        linked = any(
            isinstance(i, Mapping) and i.get("name") == input_name and i.get("link") is not None
            for i in raw.get("inputs") or []
        )
        if linked and not unlink:
            raise ParameterError(
                f"input {input_name!r} of node {_describe(node_id, view[node_id])} is linked in the graph; "
                "its widget value would be ignored",
                hint="disconnect it in the editor, or set it on the converted API prompt",
                details={"node_id": node_id, "input_name": input_name},
            )
        spec = defs[raw["type"]].input(input_name)
        value = coerce_value(
            spec,
            text,
            current=widget.value,
            from_string=True,
            where=f"{node_id}.{input_name}",
            self_validated=_validates_itself(raw["type"], input_name),
        )
        if isinstance(value, Mapping) and set(value) == {"__value__"}:
            value = value["__value__"]  # the UI stores list values bare
        values = raw.get("widgets_values")
        if not isinstance(values, list):
            values = raw["widgets_values"] = [w.value for w in layouts[node_id] if w.saved]
        index = widget.index
        if index is None:  # a widget past the saved values: store the defaults up to it
            saved = [w for w in layouts[node_id] if w.saved]
            values.extend(w.value for w in saved[len(values) :])
            index = saved.index(widget)
        values[index] = value
        widget.value = value
        view[node_id]["inputs"][input_name] = value
    return graph


# ---------------------------------------------------------------------------------------------


def _validates_itself(class_type: Any, input_name: str) -> bool:
    """True when the server leaves this input's range/choice checks to the node's own validator."""
    from comfyctl.workflow.validate import KNOWN_VALIDATORS

    spec = KNOWN_VALIDATORS.get(class_type) if isinstance(class_type, str) else None
    return spec is not None and (spec.kwargs or input_name in spec.args)


def _bad(where: str, message: str, **details: Any) -> ParameterError:
    return ParameterError(f"{where}: {message}", details={"param": where, **details})


def coerce_value(
    spec: InputSpec | None,
    value: Any,
    *,
    current: Any = None,
    from_string: bool = False,
    where: str = "value",
    self_validated: bool = False,
) -> Any:
    """Check (and with ``from_string`` parse) a value for an input declared by ``spec``.

    ``self_validated`` marks an input the node checks itself (its VALIDATE_INPUTS takes it): the
    server then skips min/max/choices (``sub/x.png`` and ``x.png [output]`` are fine for
    LoadImage), so only the type is checked here.

    Without a spec, a string is parsed to match the type of ``current`` (int, float, bool) or as
    JSON for lists and objects, and is kept as a string otherwise.

    Raises:
        ParameterError: wrong type, out of ``min``/``max``, or not one of a COMBO's choices.
    """
    kind = spec.type if spec is not None else None
    if kind is None:
        if not from_string or not isinstance(value, str):
            return _wrap_list(value)
        kind = _kind_of(current)
        if kind is None:
            return _parse_json_value(value, where) if value.strip()[:1] in ("[", "{") else value
    if kind == "NUMBER":
        text = str(value).strip()
        result: Any = int(text) if re.fullmatch(r"[+-]?\d+", text) else _to_float(value, where, from_string)
    elif kind == "INT":
        result = _to_int(value, where, from_string)
    elif kind == "FLOAT":
        result = _to_float(value, where, from_string)
    elif kind == "BOOLEAN":
        result = _to_bool(value, where, from_string)
    elif kind == "STRING":
        if not isinstance(value, str):
            raise _bad(where, f"expected text, got {value!r}")
        result = value
    elif kind == "COMBO":
        if self_validated:
            return value
        return _to_choice(spec, value, where)
    else:
        if from_string and isinstance(value, str):
            value = _parse_json_value(value, where)
        return _wrap_list(value)
    if spec is not None and kind in ("INT", "FLOAT") and not self_validated:
        if spec.min is not None and result < spec.min:
            raise _bad(where, f"{result} is below the minimum {spec.min}", min=spec.min, max=spec.max)
        if spec.max is not None and result > spec.max:
            raise _bad(where, f"{result} is above the maximum {spec.max}", min=spec.min, max=spec.max)
    return result


def _kind_of(current: Any) -> str | None:
    if isinstance(current, bool):
        return "BOOLEAN"
    if isinstance(current, (int, float)):
        return "NUMBER"  # JSON does not tell 1 from 1.0: accept either
    if isinstance(current, str):
        return "STRING"
    return None


def _wrap_list(value: Any) -> Any:
    """A JSON list is always read as a link by the server; literal lists travel as ``__value__``."""
    if isinstance(value, list) and not _is_link(value):
        return {"__value__": value}
    return value


def _parse_json_value(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        if text.strip()[:1] in ("[", "{"):
            raise _bad(where, f"{text[:60]!r} is not valid JSON") from None
        return text


def _to_int(value: Any, where: str, from_string: bool) -> int:
    if from_string and isinstance(value, str):
        text = value.strip().replace("_", "")
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        raise _bad(where, f"expected a whole number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(where, f"expected a whole number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise _bad(where, f"expected a whole number, got {value!r}")
    return int(value)


def _to_float(value: Any, where: str, from_string: bool) -> float | int:
    if from_string and isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _bad(where, f"expected a number, got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(where, f"expected a number, got {value!r}")
    else:
        number = value
    if isinstance(number, float) and not math.isfinite(number):
        raise _bad(where, f"expected a finite number, got {value!r}")
    return number


def _to_bool(value: Any, where: str, from_string: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_string and isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _bad(where, f"expected true or false, got {value!r}")


def _to_choice(spec: InputSpec | None, value: Any, where: str) -> Any:
    choices = spec.choices if spec is not None else None
    if not choices:  # remote combos: the server computes the options
        return value
    if value in choices:
        return value
    if isinstance(value, str):
        for choice in choices:
            if str(choice) == value:
                return choice
    shown = ", ".join(map(repr, choices[:20])) + (
        f", ... ({len(choices)} in all)" if len(choices) > 20 else ""
    )
    raise _bad(where, f"{value!r} is not one of the choices: {shown}", choices=list(choices[:200]))
