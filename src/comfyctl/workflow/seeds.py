"""Seeds and ``control_after_generate``, applied at queue time like the web frontend.

In the editor an INT widget with ``control_after_generate`` (and any INT named ``seed`` or
``noise_seed``) carries a hidden mode: ``fixed``, ``increment``, ``decrement`` or ``randomize``
(combos also ``increment-wrap``). The frontend applies it around each queue. We never do so
implicitly: submitting the same workflow twice submits the same values, which is what makes
results reproducible and server-side caching work. The caller opts in:

* :func:`set_seeds` sets every seed-like input of an API prompt to N or to a random value (the
  CLI's ``--seed N|random``), within each input's ``min``/``max``;
* :func:`apply_controls` advances every controlled widget of a UI graph by its own mode, or sets
  seed-like ones from ``seed=``, updating ``widgets_values`` so a saved UI stays consistent with
  what was queued.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Mapping
from typing import Any, Literal

from comfyctl.errors import ParameterError, WorkflowError
from comfyctl.nodedefs import InputSpec, NodeDefs
from comfyctl.workflow.widgets import SEED_NAMES, Widget, widget_layout

__all__ = ["SeedChoice", "apply_controls", "next_value", "seed_inputs", "set_seeds"]

SeedChoice = int | Literal["random"]

_LIMIT = 2**50  # the frontend clamps numeric controls to ±2^50 (0x4000000000000)


def _is_seed_like(spec: InputSpec) -> bool:
    """An INT with a control widget (frontend rule) whose name says seed.

    The frontend adds the control to ``control_after_generate`` INTs and to any INT named seed or
    noise_seed; of those we treat only the ones named like a seed as seeds (a PrimitiveInt's
    ``value`` also has a control, but may well be a width).
    """
    if spec.type != "INT" or "seed" not in spec.name.lower():
        return False
    flag = spec.options.get("control_after_generate")
    return bool(flag) if flag is not None else spec.name in SEED_NAMES


def seed_inputs(api: Mapping[str, Any], defs: NodeDefs | None = None) -> list[tuple[str, str]]:
    """``(node_id, input)`` for every seed-like input holding a literal value.

    With definitions, "seed-like" is the frontend's rule (INT with ``control_after_generate``, or
    named seed/noise_seed); without, any integer input named ``seed`` or ``noise_seed``.
    """
    found: list[tuple[str, str]] = []
    for node_id, node in api.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("inputs"), Mapping):
            continue
        cls = node.get("class_type")
        for name, value in node["inputs"].items():
            if isinstance(value, bool) or not isinstance(value, int):
                continue
            spec = (
                defs[cls].input(name) if defs is not None and isinstance(cls, str) and cls in defs else None
            )
            if (spec is not None and _is_seed_like(spec)) or (spec is None and name in SEED_NAMES):
                found.append((str(node_id), str(name)))
    return found


def _bounds(options: Mapping[str, Any], default_max: float = 2048) -> tuple[float, float]:
    lo = options.get("min")
    hi = options.get("max")
    lo = lo if isinstance(lo, (int, float)) and not isinstance(lo, bool) else 0
    hi = hi if isinstance(hi, (int, float)) and not isinstance(hi, bool) else default_max
    return max(-_LIMIT, lo), min(_LIMIT, hi)


def _random_in(options: Mapping[str, Any], rng: random.Random, step_default: float = 1) -> int | float:
    lo, hi = _bounds(options)
    step = options.get("step") or step_default
    value = math.floor(rng.random() * ((hi - lo) / step)) * step + lo
    return int(value) if float(value).is_integer() and step_default == 1 else value


def set_seeds(
    api: Mapping[str, Any], defs: NodeDefs | None, seed: SeedChoice, *, rng: random.Random | None = None
) -> dict[str, Any]:
    """Return a copy of ``api`` with every seed-like input set to ``seed`` (an int) or random.

    ``"random"`` draws one value per input the way the frontend's ``randomize`` does (within
    ``min``/``max``, capped at 2^50). An explicit int outside an input's range is refused.

    Raises:
        ParameterError: ``seed`` is neither an int nor ``"random"``, or is out of an input's range.
    """
    if seed != "random" and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ParameterError(f"seed must be a whole number or 'random', not {seed!r}")
    rng = rng or random.Random()
    result = dict(api)
    for node_id, name in seed_inputs(api, defs):
        node = api[node_id]
        cls = node.get("class_type")
        spec = defs[cls].input(name) if defs is not None and isinstance(cls, str) and cls in defs else None
        options: Mapping[str, Any] = spec.options if spec is not None else {"min": 0, "max": 2**64 - 1}
        if seed == "random":
            value: Any = _random_in(options, rng)
        else:
            lo, hi = options.get("min"), options.get("max")
            if (isinstance(lo, (int, float)) and seed < lo) or (isinstance(hi, (int, float)) and seed > hi):
                raise ParameterError(
                    f"seed {seed} is outside the range of {node_id}.{name} ({cls}): {lo}..{hi}",
                    details={"node_id": node_id, "input_name": name, "min": lo, "max": hi},
                )
            value = seed
        new_node = dict(result[node_id])
        new_node["inputs"] = {**new_node["inputs"], name: value}
        result[node_id] = new_node
    return result


def next_value(
    value: Any,
    control: Any,
    *,
    kind: str = "INT",
    options: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
    filter_text: str = "",
) -> Any:
    """The value a widget takes after one queue under ``control`` (the frontend's applyWidgetControl).

    ``kind`` is ``INT``, ``FLOAT`` or ``COMBO``; ``options`` the input's spec options (``min``,
    ``max``, ``step``; for COMBO ``values``). Unknown modes and ``fixed`` leave the value alone.
    """
    options = options or {}
    rng = rng or random.Random()
    if control not in ("increment", "increment-wrap", "decrement", "randomize"):
        return value
    if kind == "COMBO":
        values = list(options.get("values") or [])
        if filter_text:
            needle = filter_text.lower()
            values = [v for v in values if needle in str(v).lower()]
        if not values:
            return value
        index = values.index(value) if value in values else -1
        if control == "increment":
            index += 1
        elif control == "increment-wrap":
            index = 0 if index + 1 >= len(values) else index + 1
        elif control == "decrement":
            index -= 1
        else:
            index = math.floor(rng.random() * len(values))
        return values[min(len(values) - 1, max(0, index))]
    if control == "increment-wrap":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    step_default = 1 if kind == "INT" else 0.5
    raw_step = options.get("step")
    step: float = raw_step if isinstance(raw_step, (int, float)) and raw_step else step_default
    lo, hi = _bounds(options)
    if control == "increment":
        value = value + step
    elif control == "decrement":
        value = value - step
    else:
        value = math.floor(rng.random() * ((hi - lo) / step)) * step + lo
        if kind == "INT":
            value = int(value)
    return min(hi, max(lo, value)) if kind != "INT" else int(min(hi, max(lo, value)))


def _controlled(widgets: list[Widget]) -> list[tuple[Widget, Widget, Widget | None]]:
    """(value widget, its control widget, its filter widget or None) triples, in order."""
    found = []
    for i, w in enumerate(widgets):
        if w.kind == "control" and i > 0:
            filt = widgets[i + 1] if i + 1 < len(widgets) and widgets[i + 1].kind == "filter" else None
            found.append((widgets[i - 1], w, filt))
    return found


def _new_value(
    w: Widget, control: Widget, filt: Widget | None, seed: SeedChoice | None, rng: random.Random
) -> Any:
    seed_like = w.kind == "INT" and _is_seed_like(
        InputSpec(w.name.rsplit(".", 1)[-1], "INT", w.options, True)
    )
    if seed_like and seed is not None:
        if seed == "random":
            return _random_in(w.options, rng)
        return seed
    if seed is not None:
        return w.value  # a seed override touches seeds only
    return next_value(
        w.value,
        control.value,
        kind=w.kind,
        options=w.options,
        rng=rng,
        filter_text=str(filt.value or "") if filt else "",
    )


def _apply_node(node: dict[str, Any], defs: NodeDefs, seed: SeedChoice | None, rng: random.Random) -> None:
    values = node.get("widgets_values")
    cls = node.get("type")
    if not isinstance(values, list) or not isinstance(cls, str) or cls not in defs:
        return
    layout = widget_layout(defs[cls], values)
    if layout is None:
        return
    for w, control, filt in _controlled(layout):
        if w.index is not None and w.index < len(values):
            values[w.index] = _new_value(w, control, filt, seed, rng)


def _apply_primitive(
    node: dict[str, Any],
    graph: Mapping[str, Any],
    defs: NodeDefs,
    seed: SeedChoice | None,
    rng: random.Random,
) -> None:
    """A PrimitiveNode saves ``[value, control, filter?]``; its spec is its target input's."""
    values = node.get("widgets_values")
    outputs = node.get("outputs") or []
    if not isinstance(values, list) or len(values) < 2 or not outputs or not isinstance(outputs[0], Mapping):
        return
    widget = outputs[0].get("widget")
    target_name = widget.get("name") if isinstance(widget, Mapping) else None
    spec = None
    for link_id in outputs[0].get("links") or []:
        for link in graph.get("links") or []:
            lid = link[0] if isinstance(link, list) else link.get("id") if isinstance(link, Mapping) else None
            if lid != link_id:
                continue
            target_id = link[3] if isinstance(link, list) else link.get("target_id")
            for other in graph.get("nodes") or []:
                if isinstance(other, Mapping) and other.get("id") == target_id and other.get("type") in defs:
                    spec = defs[other["type"]].input(str(target_name))
        if spec is not None:
            break
    if spec is None:
        return
    kind = "COMBO" if spec.is_combo else spec.type
    options = {**spec.options, "values": list(spec.choices or [])} if spec.is_combo else spec.options
    w = Widget(spec.name, values[0], kind=kind, options=options)
    control = Widget("control_after_generate", values[1], kind="control")
    filt = Widget("control_filter_list", values[2], kind="filter") if len(values) > 2 else None
    values[0] = _new_value(w, control, filt, seed, rng)


def apply_controls(
    ui: Mapping[str, Any],
    defs: NodeDefs,
    *,
    seed: SeedChoice | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Return a copy of a UI graph with each controlled widget advanced, as one queue would.

    Without ``seed``, every widget with a control value moves by its mode (``fixed`` stays).
    With ``seed`` (an int or ``"random"``), seed-like widgets get that value instead and nothing
    else changes. Nodes at the top level, inside subgraph definitions and PrimitiveNodes are covered;
    a subgraph instance's promoted widget values are updated when they feed a seed-like input.

    Convert the returned graph with :func:`comfyctl.workflow.convert.to_api` to queue the new
    values (the frontend's "before" mode), or save it after queueing the old ones ("after" mode).
    """
    if seed is not None and seed != "random" and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ParameterError(f"seed must be a whole number or 'random', not {seed!r}")
    if not isinstance(ui, Mapping):
        raise WorkflowError(f"a UI workflow must be a JSON object, not {type(ui).__name__}")
    try:
        return _apply_controls(ui, defs, seed, rng or random.Random())
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise WorkflowError(f"the workflow is malformed: {type(exc).__name__}: {exc}") from exc


def _apply_controls(
    ui: Mapping[str, Any], defs: NodeDefs, seed: SeedChoice | None, rng: random.Random
) -> dict[str, Any]:
    graph = copy.deepcopy(dict(ui))
    graphs: list[dict[str, Any]] = [graph]
    definitions = graph.get("definitions")
    if isinstance(definitions, Mapping):
        graphs += [sg for sg in definitions.get("subgraphs") or [] if isinstance(sg, dict)]
    subgraph_ids = {sg.get("id"): sg for sg in graphs[1:]}
    for g in graphs:
        for node in g.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            if node.get("type") == "PrimitiveNode":
                _apply_primitive(node, g, defs, seed, rng)
            elif node.get("type") in subgraph_ids:
                _apply_instance(node, subgraph_ids[node["type"]], defs, seed, rng)
            else:
                _apply_node(node, defs, seed, rng)
    return graph


def _apply_instance(
    node: dict[str, Any], sg: Mapping[str, Any], defs: NodeDefs, seed: SeedChoice | None, rng: random.Random
) -> None:
    """A subgraph instance's promoted widgets move by the mode of the inner widget they stand for
    (or take ``seed`` when that widget is seed-like); the instance values are what gets queued."""
    values = node.get("widgets_values")
    if not isinstance(values, list):
        return
    names: list[Any] = [
        s.get("name")
        for s in sg.get("inputs") or []
        if isinstance(s, Mapping) and _inner_target(sg, s.get("name"), defs)
    ]
    props = node.get("properties")
    proxies = props.get("proxyWidgets") if isinstance(props, Mapping) else None
    if isinstance(proxies, list):  # value i belongs to proxy entry i when it is ["-1", input name]
        names = [p[1] if isinstance(p, list) and len(p) == 2 and str(p[0]) == "-1" else None for p in proxies]
    for index, name in enumerate(names):
        target = _inner_target(sg, name, defs) if name is not None else None
        if target is None or index >= len(values):
            continue
        inner, widget_name, spec = target
        if seed is not None:
            if _is_seed_like(spec) and isinstance(values[index], int) and not isinstance(values[index], bool):
                values[index] = _random_in(spec.options, rng) if seed == "random" else seed
            continue
        layout = widget_layout(defs[inner["type"]], inner.get("widgets_values")) or []
        for w, control, filt in _controlled(layout):
            if w.name == widget_name:
                filter_text = str(filt.value or "") if filt else ""
                values[index] = next_value(
                    values[index],
                    control.value,
                    kind=w.kind,
                    options=w.options,
                    rng=rng,
                    filter_text=filter_text,
                )


def _inner_target(
    sg: Mapping[str, Any], input_name: Any, defs: NodeDefs
) -> tuple[Mapping[str, Any], str, InputSpec] | None:
    """The first inner (node, widget name, spec) a subgraph input feeds, when it feeds a widget."""
    for slot in sg.get("inputs") or []:
        if not isinstance(slot, Mapping) or slot.get("name") != input_name:
            continue
        for link in sg.get("links") or []:
            if not isinstance(link, Mapping) or link.get("id") not in (slot.get("linkIds") or []):
                continue
            for inner in sg.get("nodes") or []:
                if not isinstance(inner, Mapping) or inner.get("id") != link.get("target_id"):
                    continue
                for inp in inner.get("inputs") or []:
                    if isinstance(inp, Mapping) and inp.get("link") == link.get("id"):
                        widget = inp.get("widget")
                        cls = inner.get("type")
                        if isinstance(widget, Mapping) and isinstance(cls, str) and cls in defs:
                            spec = defs[cls].input(str(widget.get("name")))
                            if spec is not None:
                                return inner, str(widget.get("name")), spec
    return None
