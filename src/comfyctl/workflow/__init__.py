"""Workflows: load both formats, convert UI→API, set parameters, apply seeds, validate offline.

Typical flow (what ``comfyctl run`` does)::

    from comfyctl.workflow import load, to_api, set_params, set_seeds

    wf = load("workflow.json")                         # JSON, PNG or WebP; API, UI or {"prompt": ...}
    api = wf.api if wf.api is not None else to_api(wf.ui, defs)
    api = set_params(api, ["KSampler.steps=30", "6.text=a cat"], defs)
    api = set_seeds(api, defs, "random")               # opt-in; resubmitting unchanged is allowed

Everything here is pure (no network); only :func:`load` reads files. Validation lives in
:mod:`comfyctl.workflow.validate` (``validate_prompt`` is re-exported here, loaded lazily).
"""

from __future__ import annotations

import importlib
from typing import Any

from comfyctl.workflow.convert import VIRTUAL_NODE_TYPES, process_dynamic_prompt, to_api
from comfyctl.workflow.load import LoadedWorkflow, detect_format, image_metadata, load
from comfyctl.workflow.params import (
    Param,
    coerce_value,
    find_node,
    get_param,
    list_params,
    set_param,
    set_params,
    set_ui_params,
)
from comfyctl.workflow.seeds import SeedChoice, apply_controls, next_value, seed_inputs, set_seeds

__all__ = [
    "VIRTUAL_NODE_TYPES",
    "LoadedWorkflow",
    "Param",
    "PromptVerdict",
    "SeedChoice",
    "ValidationReport",
    "apply_controls",
    "coerce_value",
    "detect_format",
    "find_node",
    "get_param",
    "image_metadata",
    "list_params",
    "load",
    "next_value",
    "process_dynamic_prompt",
    "seed_inputs",
    "set_param",
    "set_params",
    "set_seeds",
    "set_ui_params",
    "to_api",
    "validate_prompt",
]

# Not ``validate`` itself: that name is the submodule (``comfyctl.workflow.validate.validate``).
_FROM_VALIDATE = ("PromptVerdict", "ValidationReport", "validate_prompt")


def __getattr__(name: str) -> Any:
    # Validation is loaded on first use, so loading and converting never pay for it.
    if name in _FROM_VALIDATE:
        return getattr(importlib.import_module("comfyctl.workflow.validate"), name)
    raise AttributeError(f"module 'comfyctl.workflow' has no attribute {name!r}")
