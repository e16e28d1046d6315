"""The inventory cache: one entry per server under the state folder, fetched again when stale.

``{state_dir}/inventory.json`` holds one entry per server, keyed by its URL with secrets redacted
(offline scans: the folder's ``file://`` URI), each with a timestamp and ``mode``. The raw
``/object_info`` of an online server is kept beside it in ``{state_dir}/object_info/{key hash}.json``
so node definitions are fetched once and reused (:func:`load_node_defs`). Every write is atomic
(temp file, fsync, rename) under a lock file, so concurrent commands for different servers do not
lose each other's entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from comfyctl.errors import TransportError, UsageError
from comfyctl.nodedefs import NodeDefs
from comfyctl.offline import atomic_write_bytes, atomic_write_json, file_lock, io_errors

from .record import CACHE_FORMAT, Inventory
from .scan import fetch

__all__ = [
    "DEFAULT_MAX_AGE",
    "cached_inventories",
    "get_inventory",
    "load_cached",
    "load_node_defs",
    "save",
    "state_dir",
]

log = logging.getLogger("comfyctl.inventory")

#: Seconds a cached online inventory counts as fresh.
DEFAULT_MAX_AGE = 3600.0


def state_dir(path: str | Path | None = None) -> Path:
    """The state folder: ``path`` > ``$COMFYCTL_STATE_DIR`` > ``./state`` (read when called)."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("COMFYCTL_STATE_DIR") or "state")


def _index_path(base: Path) -> Path:
    return base / "inventory.json"


def _raw_path(base: Path, key: str) -> Path:
    return base / "object_info" / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".json")


_warned: set[tuple[str, int, int]] = set()  # unreadable caches already reported (path, mtime, size)


def _read_index(base: Path) -> dict[str, Any]:
    path = _index_path(base)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # One command reads the index more than once (lookup, then the locked re-read of a save):
        # say it once per broken version of the file.
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = (str(path), 0, 0)
        if key not in _warned:
            _warned.add(key)
            log.warning("ignoring unreadable inventory cache %s: %s", path, exc)
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    return servers if isinstance(servers, dict) else {}


def save(
    inv: Inventory, *, state: str | Path | None = None, object_info: Mapping[str, Any] | None = None
) -> Path:
    """Store ``inv`` (and the raw ``/object_info`` it came from) in the cache. Returns the index path."""
    base = state_dir(state)
    with io_errors(f"write the inventory cache in {base}"):
        return _save(inv, base, object_info)


def _save(inv: Inventory, base: Path, object_info: Mapping[str, Any] | None) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    if object_info is not None:  # compact: thousands of custom nodes make this megabytes
        raw = json.dumps(object_info, separators=(",", ":"), ensure_ascii=False).encode()
        atomic_write_bytes(_raw_path(base, inv.server), raw)
    with file_lock(base / ".inventory.lock"):
        servers = _read_index(base)
        entry = inv.to_dict()
        entry.pop("stale", None)
        entry["object_info_file"] = (
            str(_raw_path(base, inv.server).relative_to(base)) if object_info is not None else None
        )
        servers[inv.server] = entry
        atomic_write_json(_index_path(base), {"format": CACHE_FORMAT, "servers": servers})
    return _index_path(base)


def load_cached(server: str, *, state: str | Path | None = None) -> Inventory | None:
    """The cached inventory of ``server`` (a redacted URL or a ``file://`` folder URI), or None."""
    entry = _read_index(state_dir(state)).get(server)
    return Inventory.from_dict(entry) if isinstance(entry, Mapping) else None


def cached_inventories(*, state: str | Path | None = None) -> list[Inventory]:
    """Every inventory in the cache (all servers and scanned folders)."""
    result = []
    for entry in _read_index(state_dir(state)).values():
        with contextlib.suppress(UsageError):
            result.append(Inventory.from_dict(entry))
    return result


def _load_raw(server: str, base: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_raw_path(base, server).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def get_inventory(
    client: Any,
    *,
    state: str | Path | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    refresh: bool = False,
) -> Inventory:
    """The server's inventory: the cache when younger than ``max_age`` seconds, else fetched.

    When the server cannot be reached, a cached inventory of any age is returned with ``stale``
    True (and a warning logged); with no cache the transport error is raised.

    Raises:
        ServerUnreachable / TransportError: unreachable and nothing cached.
        ComfyError: any other failure of the server.
    """
    cached = None if refresh else load_cached(client.url, state=state)
    if cached is not None and cached.age <= max_age:
        return cached
    try:
        inv, raw = fetch(client)
    except TransportError:
        old = load_cached(client.url, state=state) if refresh else cached
        if old is None:
            raise
        log.warning("%s is unreachable: using the inventory cached %.0f min ago", client.url, old.age / 60)
        return replace(old, stale=True)
    save(inv, state=state, object_info=raw)
    return inv


def load_node_defs(
    client: Any,
    *,
    state: str | Path | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    refresh: bool = False,
) -> NodeDefs:
    """Node definitions for ``client``'s server from the inventory cache, fetched when stale.

    For ``workflow convert/validate`` and the CLI: one ``/object_info`` per hour instead of one per
    command. Falls back to a stale copy (logged) when the server is unreachable.

    Raises:
        ServerUnreachable / TransportError: unreachable and nothing cached.
    """
    base = state_dir(state)
    if not refresh:
        cached = load_cached(client.url, state=base)
        if cached is not None and cached.mode == "online" and cached.age <= max_age:
            raw = _load_raw(client.url, base)
            if raw is not None:
                return NodeDefs(raw)
    try:
        inv, raw = fetch(client)
    except TransportError:
        raw_old = _load_raw(client.url, base)
        if raw_old is None:
            raise
        log.warning("%s is unreachable: using cached node definitions", client.url)
        return NodeDefs(raw_old)
    save(inv, state=base, object_info=raw)
    return NodeDefs(raw)
