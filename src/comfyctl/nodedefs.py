"""Node definitions (``/object_info``) as a typed, read-only model.

One parse of the server's node catalogue serves the UI→API converter, offline validation, the
sandbox, ``comfyctl nodes`` and the inventory. Classes are parsed lazily: a server with thousands of
custom nodes answers with megabytes of JSON, and most commands touch a handful of classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

__all__ = ["WIDGET_TYPES", "InputSpec", "NodeDef", "NodeDefs", "node_detail", "node_summary"]

#: Input types the frontend draws as widgets (their values live in ``widgets_values``).
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})

#: Frontend rule: an INT with one of these names gets a control_after_generate widget even when
#: the definition does not ask for one (ComfyUI frontend 1.35, widgetInputs / useIntWidget).
SEED_NAMES = frozenset({"seed", "noise_seed"})


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object, else empty: a broken custom node's definition never crashes."""
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a node class.

    ``type`` is ``"COMBO"`` for both the legacy form (a list of choices) and the new
    ``["COMBO", {"options": [...]}]`` form; ``choices`` is None for remote combos, whose options
    the server computes at request time.
    """

    name: str
    type: str
    options: Mapping[str, Any]
    required: bool
    choices: tuple[Any, ...] | None = None
    raw: Any = field(default=None, compare=False, repr=False)

    @property
    def is_combo(self) -> bool:
        return self.type == "COMBO"

    @property
    def is_widget(self) -> bool:
        """True when the frontend shows a widget (a value in ``widgets_values``) for this input."""
        return self.type in WIDGET_TYPES and not self.options.get("forceInput", False)

    @property
    def is_link_only(self) -> bool:
        return not self.is_widget

    @property
    def has_control_after_generate(self) -> bool:
        """True when the frontend adds the hidden fixed/increment/decrement/randomize value after it."""
        if self.options.get("control_after_generate"):
            return True
        return self.type == "INT" and self.name in SEED_NAMES

    @property
    def default(self) -> Any:
        if "default" in self.options:
            return self.options["default"]
        if self.choices:
            return self.choices[0]
        return None

    @property
    def min(self) -> float | int | None:
        value = self.options.get("min")
        return value if isinstance(value, (int, float)) else None

    @property
    def max(self) -> float | int | None:
        value = self.options.get("max")
        return value if isinstance(value, (int, float)) else None

    @property
    def types(self) -> frozenset[str]:
        """The link types accepted: comma unions (``"IMAGE,MASK"``) split; ``"*"`` means any."""
        return frozenset(t.strip() for t in self.type.split(","))

    @classmethod
    def parse(cls, name: str, spec: Any, *, required: bool) -> InputSpec:
        """Build from an ``object_info`` spec: ``[type]``, ``[type, options]`` or ``[[choices], options]``."""
        if not isinstance(spec, (list, tuple)) or not spec:
            return cls(name, str(spec), {}, required, None, spec)
        head = spec[0]
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
        if isinstance(head, (list, tuple)):
            return cls(name, "COMBO", opts, required, tuple(head), spec)
        kind = str(head)
        if kind == "COMBO":
            raw_choices = opts.get("options")
            choices = tuple(raw_choices) if isinstance(raw_choices, (list, tuple)) else None
            return cls(name, "COMBO", opts, required, choices, spec)
        return cls(name, kind, opts, required, None, spec)


@dataclass(frozen=True)
class NodeDef:
    """One node class: inputs in the server's authoritative ``input_order``, outputs, flags."""

    class_type: str
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def _raw(self) -> Mapping[str, Any]:
        return _map(self.raw)

    @cached_property
    def inputs(self) -> tuple[InputSpec, ...]:
        """Required then optional inputs, each section in ``input_order`` when the server gives it."""
        declared = _map(self._raw.get("input"))
        order = _map(self._raw.get("input_order"))
        result: list[InputSpec] = []
        for section in ("required", "optional"):
            specs = _map(declared.get(section))
            names = [n for n in _seq(order.get(section)) if isinstance(n, str) and n in specs]
            names += [n for n in specs if n not in names]
            result += [InputSpec.parse(n, specs[n], required=section == "required") for n in names]
        return tuple(result)

    @cached_property
    def _by_name(self) -> dict[str, InputSpec]:
        return {spec.name: spec for spec in self.inputs}

    def input(self, name: str) -> InputSpec | None:
        """The declared input called ``name``, or None."""
        return self._by_name.get(name)

    @property
    def hidden(self) -> tuple[str, ...]:
        return tuple(_map(_map(self._raw.get("input")).get("hidden")))

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(str(t) if not isinstance(t, list) else "COMBO" for t in _seq(self._raw.get("output")))

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(str(n) for n in _seq(self._raw.get("output_name"))) or self.outputs

    @property
    def output_is_list(self) -> tuple[bool, ...]:
        return tuple(bool(b) for b in _seq(self._raw.get("output_is_list"))) or (False,) * len(self.outputs)

    @property
    def is_output_node(self) -> bool:
        return bool(self._raw.get("output_node"))

    @property
    def display_name(self) -> str:
        return str(self._raw.get("display_name") or self.class_type)

    @property
    def category(self) -> str:
        return str(self._raw.get("category") or "")

    @property
    def python_module(self) -> str:
        return str(self._raw.get("python_module") or "")

    @property
    def package(self) -> str:
        """The custom-node package that provides this class, or ``"core"``."""
        module = self.python_module
        if module.startswith("custom_nodes."):
            return module.split(".", 2)[1]
        return "core"

    @property
    def deprecated(self) -> bool:
        return bool(self._raw.get("deprecated"))


class NodeDefs(Mapping[str, NodeDef]):
    """Read-only mapping ``class_type -> NodeDef`` over a raw ``/object_info`` answer."""

    def __init__(self, object_info: Mapping[str, Any]):
        self._raw = object_info
        self._parsed: dict[str, NodeDef] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> NodeDefs:
        """Load a saved ``/object_info`` JSON file."""
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._raw

    def __getitem__(self, class_type: str) -> NodeDef:
        node = self._parsed.get(class_type)
        if node is None:
            node = NodeDef(class_type, self._raw[class_type])
            self._parsed[class_type] = node
        return node

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, class_type: object) -> bool:
        return class_type in self._raw


def node_summary(node: NodeDef) -> dict[str, Any]:
    """One line of a node listing (``comfyctl nodes``, MCP ``list_nodes``)."""
    return {
        "class_type": node.class_type,
        "display_name": node.display_name,
        "category": node.category,
        "package": node.package,
        "output_node": node.is_output_node,
    }


def node_detail(node: NodeDef) -> dict[str, Any]:
    """Inputs (type, default, range, choices) and outputs of one class (``nodes show``, ``node_info``)."""
    inputs = []
    for spec in node.inputs:
        item: dict[str, Any] = {
            "name": spec.name,
            "type": spec.type,
            "required": spec.required,
            "link": spec.is_link_only,
        }
        for key in ("default", "min", "max", "step", "tooltip"):
            if key in spec.options:
                item[key] = spec.options[key]
        if spec.is_combo:
            item["choices"] = list(spec.choices) if spec.choices is not None else None
        inputs.append(item)
    outputs = [
        {"name": n, "type": t, "is_list": lst}
        for n, t, lst in zip(node.output_names, node.outputs, node.output_is_list, strict=False)
    ]
    return {
        **node_summary(node),
        "description": str(node.raw.get("description") or ""),
        "inputs": inputs,
        "outputs": outputs,
    }
