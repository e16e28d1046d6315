"""``--set NODE.INPUT=VALUE`` and ``--seed random|N`` applied to an API workflow, as ``comfyctl run`` does.

One function for every front-end (the CLI's ``run``, the MCP server's ``run_workflow``), so an
override means the same thing everywhere. Pure: warnings are returned, not printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from comfyctl.errors import ParameterError
from comfyctl.nodedefs import NodeDefs

__all__ = ["NO_SEED_WARNING", "apply_overrides"]

NO_SEED_WARNING = "warning: --seed changed nothing: this workflow has no seed input"


def apply_overrides(
    api: dict[str, Any], sets: Sequence[str], seed: str | int | None, defs: NodeDefs | None
) -> tuple[dict[str, Any], list[str]]:
    """Apply the overrides (in order), then the seed (``"random"`` or a whole number).

    Returns the new workflow and the warnings (a seed on a workflow without seed inputs: the
    user expects new results and would get cached ones).

    Raises:
        ParameterError: unknown or ambiguous node/input, or a value of the wrong type.
    """
    from comfyctl.workflow.params import set_params
    from comfyctl.workflow.seeds import seed_inputs, set_seeds

    warnings: list[str] = []
    api = set_params(api, list(sets), defs)
    if seed is not None:
        if not seed_inputs(api, defs):
            warnings.append(NO_SEED_WARNING)
        choice: Any = seed
        if isinstance(seed, str) and seed != "random":
            try:
                choice = int(seed)
            except ValueError:
                raise ParameterError(f"seed must be a whole number or 'random', not {seed!r}") from None
        api = set_seeds(api, defs, choice)
    return api, warnings
