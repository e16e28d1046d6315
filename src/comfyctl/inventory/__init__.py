"""What a ComfyUI has installed: node classes, models, embeddings, extensions, hardware.

Two sources, one format (:class:`Inventory`):

* **online** (:func:`fetch`): ``/system_stats``, ``/object_info``, ``/models`` + ``/models/{folder}``,
  ``/embeddings``, ``/extensions`` of a running server;
* **offline** (:func:`scan`): a ComfyUI folder read from disk, no server needed: ``models/*`` plus
  the folders of ``extra_model_paths.yaml``, ``custom_nodes/*`` with the node classes each package
  registers (found by parsing its code with :mod:`ast`, never importing it), the ComfyUI version.

Cache: ``{state_dir}/inventory.json`` holds one entry per server, keyed by its URL with secrets
redacted (offline scans: the folder's ``file://`` URI), each with a timestamp and ``mode``
(``online``/``offline``). The raw ``/object_info`` of an online server is kept beside it in
``{state_dir}/object_info/{key hash}.json`` so node definitions are fetched once and reused
(:func:`load_node_defs`). ``state_dir`` is: the argument > ``$COMFYCTL_STATE_DIR`` > ``./state``.
Every write is atomic (temp file, fsync, rename) under a lock file, so concurrent commands for
different servers do not lose each other's entries.

:func:`get_inventory` serves a fresh cache (default: younger than an hour), refetches a stale one,
and falls back to a stale one (``inv.stale`` set, warning logged) when the server is unreachable.
:func:`check_workflow` compares a workflow with an inventory: missing node types (and the package
that likely provides them), missing model files (and their folder), low VRAM.

Modules: :mod:`.record` (the format), :mod:`.scan` (taking one, online or offline), :mod:`.cache`
(storing and serving them), :mod:`.check` (a workflow against one).
"""

from __future__ import annotations

from .cache import (
    DEFAULT_MAX_AGE,
    cached_inventories,
    get_inventory,
    load_cached,
    load_node_defs,
    save,
    state_dir,
)
from .check import LOW_VRAM, CheckProblem, CheckReport, check_workflow, known_packages
from .record import Inventory, package_of
from .scan import extra_model_paths, fetch, scan, scan_custom_node_package

__all__ = [
    "DEFAULT_MAX_AGE",
    "LOW_VRAM",
    "CheckProblem",
    "CheckReport",
    "Inventory",
    "cached_inventories",
    "check_workflow",
    "extra_model_paths",
    "fetch",
    "get_inventory",
    "known_packages",
    "load_cached",
    "load_node_defs",
    "package_of",
    "save",
    "scan",
    "scan_custom_node_package",
    "state_dir",
]
