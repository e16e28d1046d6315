"""The frontend's widget model: which widgets a node has, in which order, and where each is saved.

A UI-format node keeps its widget values as a bare list (``widgets_values``) in the order the
frontend 1.35.9 creates widgets, with hidden entries (``control_after_generate``, upload buttons)
between them. Converting (:mod:`.convert`), setting parameters (:mod:`.params`) and applying seeds
(:mod:`.seeds`) all need that order, so it is rebuilt here once, from the node definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from comfyctl.nodedefs import NodeDef

__all__ = ["SEED_NAMES", "Widget", "build_widgets", "constructor_slots", "widget_layout"]

#: Integer inputs the frontend gives a ``control_after_generate`` widget without being told to.
SEED_NAMES = ("seed", "noise_seed")
_AUDIO_UI_NODES = frozenset({"LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus"})


@dataclass
class Widget:
    """One frontend widget: its value, whether it is saved and sent, and its input's options."""

    name: str
    value: Any
    to_api: bool = True  # False: options.serialize === false (control values, upload buttons)
    saved: bool = True  # False: widget.serialize === false (not in widgets_values)
    multiline: bool = False
    dynamic_prompts: bool = False
    dynamic_combo: Mapping[str, Any] | None = None  # option key -> {"required": {...}, ...}
    kind: str = ""  # INT, FLOAT, COMBO, ... for value widgets; "control" for control widgets
    options: Mapping[str, Any] = field(default_factory=dict)  # the input's spec options (min/max/step)
    index: int | None = None  # position in widgets_values, once assigned


def _spec_parts(spec: Any) -> tuple[Any, dict[str, Any]]:
    if not isinstance(spec, (list, tuple)) or not spec:
        return spec, {}
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], Mapping) else {}
    return spec[0], dict(opts)


def _combo_default(choices: Sequence[Any], opts: Mapping[str, Any]) -> Any:
    # getDefaultValue: a falsy default falls through to the first option.
    if opts.get("default"):
        return opts["default"]
    if choices:
        return choices[0]
    return "Loading..." if opts.get("remote") else None


def _widgets_for_spec(name: str, spec: Any) -> list[Widget] | None:
    """The widgets the frontend creates for one input spec, or None for a link-only socket."""
    kind, opts = _spec_parts(spec)
    if opts.get("forceInput"):
        return None
    if isinstance(opts.get("widgetType"), str):  # a declared widget overrides the socket type
        kind = opts["widgetType"]
    if isinstance(kind, (list, tuple)) or kind == "COMBO":
        choices = list(kind) if isinstance(kind, (list, tuple)) else list(opts.get("options") or [])
        combo_opts = {**opts, "values": choices}
        if opts.get("multi_select"):
            out = [Widget(name, [], kind="COMBO", options=combo_opts)]
            if opts.get("control_after_generate"):
                out += [Widget("control_after_generate", "fixed", to_api=False, kind="control")]
                out += [Widget("control_filter_list", "", to_api=False, kind="filter")]
            return out
        out = [Widget(name, _combo_default(choices, opts), kind="COMBO", options=combo_opts)]
        remote = opts.get("remote")
        if isinstance(remote, Mapping):
            # useRemoteWidget: an auto-refresh toggle (saved, not sent), then a refresh button (both).
            out.append(Widget("Auto-refresh after generation", False, to_api=False))
            if remote.get("refresh_button"):
                out.append(Widget("refresh", "refresh"))
        if opts.get("control_after_generate"):
            out += [Widget("control_after_generate", "randomize", to_api=False, kind="control")]
            out += [Widget("control_filter_list", "", to_api=False, kind="filter")]
        return out
    if kind == "INT":
        out = [
            Widget(
                name, opts.get("default") if opts.get("default") is not None else 0, kind="INT", options=opts
            )
        ]
        # useIntWidget: `control_after_generate ?? name in (seed, noise_seed)`
        control = opts["control_after_generate"] if opts.get("control_after_generate") is not None else None
        if control is None:
            control = name in SEED_NAMES
        if control:
            out.append(Widget("control_after_generate", "randomize", to_api=False, kind="control"))
        return out
    if kind == "FLOAT":
        out = [
            Widget(
                name,
                opts.get("default") if opts.get("default") is not None else 0,
                kind="FLOAT",
                options=opts,
            )
        ]
        if opts.get("control_after_generate"):
            out.append(Widget("control_after_generate", "fixed", to_api=False, kind="control"))
        return out
    if kind == "BOOLEAN":
        return [Widget(name, opts.get("default") if opts.get("default") is not None else False)]
    if kind == "STRING":
        default = opts.get("default") if opts.get("default") is not None else ""
        return [
            Widget(
                name,
                default,
                multiline=bool(opts.get("multiline")),
                dynamic_prompts=opts.get("dynamicPrompts") is True,
            )
        ]
    if kind in ("MARKDOWN", "TEXTAREA"):
        return [Widget(name, opts.get("default") or "")]
    if kind == "COLOR":
        return [Widget(name, opts.get("default") or "#000000")]
    if kind == "COMFY_DYNAMICCOMBO_V3":
        options = opts.get("options") or []
        table = {str(o.get("key")): o.get("inputs") or {} for o in options if isinstance(o, Mapping)}
        keys = list(table)
        # dynamicComboWidget builds a plain combo from the keys alone: the default is the first key.
        return [Widget(name, keys[0] if keys else None, dynamic_combo=table)]
    if kind in ("IMAGEUPLOAD", "AUDIOUPLOAD"):
        # The upload button: saved in widgets_values ("image"), never sent to the API.
        return [Widget(name, "image", to_api=False)]
    if kind in ("PREVIEW_MARKDOWN", "PREVIEW_TEXT"):
        return [Widget("preview", "", saved=False)]
    if kind == "AUDIO_UI":
        return [Widget(name, "", to_api=False, saved=False)]
    if kind in ("WEBCAM", "LOAD_3D", "LOAD_3D_ANIMATION", "PREVIEW_3D"):
        return [Widget(name, "")]
    return None


_SPEC_CACHE: dict[str, tuple[Any, list[tuple[str, Any]], list[dict[str, Any]]]] = {}


def _cached(node_def: NodeDef) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """Per-class ordered specs and constructor input slots (conversion touches each class often)."""
    hit = _SPEC_CACHE.get(node_def.class_type)
    if hit is None or hit[0] is not node_def.raw:
        if len(_SPEC_CACHE) > 4096:
            _SPEC_CACHE.clear()
        specs = _compute_ordered_specs(node_def)
        hit = (node_def.raw, specs, _constructor_slots(specs))
        _SPEC_CACHE[node_def.class_type] = hit
    return hit[1], hit[2]


def _ordered_specs(node_def: NodeDef) -> list[tuple[str, Any]]:
    """Input specs in the frontend's order, with the inputs its core extensions add."""
    return _cached(node_def)[0]


def _constructor_slots(specs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The input slots a new node gets: link sockets first, then one socket per widget input."""
    ctor: list[dict[str, Any]] = []
    widget_sockets: list[dict[str, Any]] = []
    for name, spec in specs:
        kind, _ = _spec_parts(spec)
        type_name = "COMBO" if isinstance(kind, (list, tuple)) else str(kind)
        if _widgets_for_spec(name, spec) is not None:
            widget_sockets.append({"name": name, "type": type_name, "link": None, "widget": {"name": name}})
        elif kind == "COMFY_MATCHTYPE_V3":
            ctor.append({"name": name, "type": "*", "link": None, "dynamic": True})
        elif kind != "COMFY_AUTOGROW_V3":  # autogrow sockets are the saved ones
            ctor.append({"name": name, "type": type_name, "link": None})
    return ctor + widget_sockets


def _compute_ordered_specs(node_def: NodeDef) -> list[tuple[str, Any]]:
    declared = node_def.raw.get("input") or {}
    required = dict(declared.get("required") or {})
    optional = dict(declared.get("optional") or {})
    # Comfy.UploadImage: the first image/video upload combo gets an "upload" button input.
    for spec in required.values():
        kind, opts = _spec_parts(spec)
        if (isinstance(kind, list) or kind == "COMBO") and (
            opts.get("image_upload") or opts.get("video_upload") or opts.get("animated_image_upload")
        ):
            required["upload"] = ["IMAGEUPLOAD", {}]
            break
    if node_def.class_type in _AUDIO_UI_NODES:
        required["audioUI"] = ["AUDIO_UI", {}]
    audio = required.get("audio")
    audio_opts = _spec_parts(audio)[1]
    if audio_opts.get("audio_upload") is True:
        required["upload"] = ["AUDIOUPLOAD", {}]
    if node_def.class_type in ("Preview3D", "SaveGLB"):
        required["image"] = ["PREVIEW_3D"]
    if node_def.class_type == "PreviewAny":
        # Comfy.PreviewAny adds two unsaved "preview" displays and a saved previewMode toggle.
        required["preview"] = ["PREVIEW_MARKDOWN"]
        required["preview "] = ["PREVIEW_TEXT"]
        required["previewMode"] = ["BOOLEAN", {"default": False}]
    records = [(n, s, False) for n, s in required.items()] + [(n, s, True) for n, s in optional.items()]
    order = node_def.raw.get("input_order")
    if not isinstance(order, Mapping):
        return [(n, s) for n, s, _ in records]
    by_name = {n: (n, s, opt) for n, s, opt in reversed(records)}
    result: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for section, want_optional in (("required", False), ("optional", True)):
        for name in order.get(section) or []:
            rec = by_name.get(name)
            if rec and rec[2] == want_optional and name not in seen:
                result.append((name, rec[1]))
                seen.add(name)
    result += [(n, s) for n, s, _ in records if n not in seen]
    return result


def _migrate_widget_values(
    specs: list[tuple[str, Any]], widget_names: set[str], values: list[Any]
) -> list[Any]:
    """migrateWidgetsValues: old saves kept a value for forceInput inputs; drop it when counts match."""
    relevant = []
    for name, spec in specs:
        _, opts = _spec_parts(spec)
        if name in widget_names or opts.get("forceInput"):
            relevant.append((name, opts))
    expected = sum(2 if (o.get("control_after_generate") or n in SEED_NAMES) else 1 for n, o in relevant)
    if expected != len(values):
        return values
    # lodash zip pads the shorter list, so values past the relevant inputs are kept.
    padded = relevant + [("", {})] * (len(values) - len(relevant))
    return [v for (_, o), v in zip(padded, values, strict=False) if not o.get("forceInput")]


def _assign_widget_values(widgets: list[Widget], values: Any) -> None:
    """LGraphNode.configure: saved values go to saved widgets in order; dynamic combos grow children."""
    if isinstance(values, Mapping):
        # Some custom nodes save a dict: map by name (the frontend leaves those to the pack's JS).
        for w in widgets:
            if w.name in values:
                w.value = values[w.name]
        return
    if not isinstance(values, list):
        return
    i = 0
    n = 0
    while i < len(widgets):
        w = widgets[i]
        if w.saved:
            if n >= len(values):
                break
            w.value = values[n]
            w.index = n
            n += 1
            if w.dynamic_combo is not None:
                _expand_dynamic_combo(widgets, i)
        i += 1


def _expand_dynamic_combo(widgets: list[Widget], index: int) -> None:
    """DynamicCombo: the selected option's inputs become widgets ``name.child`` right after it."""
    combo = widgets[index]
    prefix = combo.name + "."
    widgets[:] = [w for j, w in enumerate(widgets) if j <= index or not w.name.startswith(prefix)]
    table = combo.dynamic_combo or {}
    chosen = table.get(combo.value) if isinstance(combo.value, str) else None
    if not isinstance(chosen, Mapping):
        return
    children: list[Widget] = []
    for section in ("required", "optional"):
        for child, spec in (chosen.get(section) or {}).items():
            children += _widgets_for_spec(prefix + child, spec) or []
    widgets[index + 1 : index + 1] = children


def _initial_widgets(specs: list[tuple[str, Any]]) -> list[Widget]:
    """The widgets a new node has: dynamic combos already show their default option's children."""
    widgets: list[Widget] = []
    for name, spec in specs:
        widgets += _widgets_for_spec(name, spec) or []
    for i in range(len(widgets) - 1, -1, -1):
        if widgets[i].dynamic_combo is not None:
            _expand_dynamic_combo(widgets, i)
    return widgets


def widget_layout(node_def: NodeDef, values: Any) -> list[Widget] | None:
    """The widgets of a node with each one's position in ``widgets_values``.

    None when the saved list needed the legacy forceInput migration (positions are not reliable).
    """
    specs = _ordered_specs(node_def)
    widgets = _initial_widgets(specs)
    if (
        isinstance(values, list)
        and _migrate_widget_values(specs, {w.name for w in widgets}, values) != values
    ):
        return None
    _assign_widget_values(widgets, values)
    return widgets


def build_widgets(node_def: NodeDef, values: Any) -> list[Widget]:
    """The widgets of a node as ``LGraphNode.configure`` leaves them (legacy saves migrated first)."""
    specs = _ordered_specs(node_def)
    widgets = _initial_widgets(specs)
    if isinstance(values, list):
        values = _migrate_widget_values(specs, {w.name for w in widgets}, values)
    _assign_widget_values(widgets, values)
    return widgets


def constructor_slots(node_def: NodeDef) -> list[dict[str, Any]]:
    """The input slots a new node of this class gets (link sockets, then one per widget input)."""
    return _cached(node_def)[1]
