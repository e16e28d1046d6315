"""ComfyUI's own prompt validation, reproduced offline, plus the checks only an offline tool can make.

One module per concept:

* :mod:`.rules`: the server's rules. :func:`validate_prompt` answers exactly what ComfyUI 0.8.0's
  ``POST /prompt`` answers; :func:`validate_request` covers the whole request body. The sandbox
  serves these answers.
* :mod:`.rejection`: describing a rejection. :func:`describe_rejection` explains a 400 (real or
  reproduced) as readable problems.
* :mod:`.offline`: offline extras. :func:`validate` / :func:`check` add what the server only finds
  at run time or never says plainly (every unknown type, unreached nodes, cycles, missing models).
* :mod:`.nodes`: node validators. What core nodes check themselves (:data:`KNOWN_VALIDATORS`) and
  which of their inputs name files (:data:`MODEL_INPUTS`, :data:`FILE_LOADERS`).

ComfyUI 0.8.0's traceback lines (the file/line table), which only the sandbox needs, live in
:mod:`comfyctl.testing.tracebacks`.
"""

from __future__ import annotations

from .nodes import (
    FILE_LOADERS,
    KNOWN_VALIDATORS,
    MODEL_INPUTS,
    Validator,
    ValidatorSpec,
    file_validator,
    model_folder,
)
from .offline import ValidationReport, check, hint_for, validate
from .rejection import describe_rejection, find_cycles
from .rules import FormatFrame, Frame, PromptVerdict, validate_prompt, validate_request

__all__ = [
    "FILE_LOADERS",
    "KNOWN_VALIDATORS",
    "MODEL_INPUTS",
    "FormatFrame",
    "Frame",
    "PromptVerdict",
    "ValidationReport",
    "Validator",
    "ValidatorSpec",
    "check",
    "describe_rejection",
    "file_validator",
    "find_cycles",
    "hint_for",
    "model_folder",
    "validate",
    "validate_prompt",
    "validate_request",
]
