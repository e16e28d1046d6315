"""The one format of what a ComfyUI has installed (:class:`Inventory`), online or scanned from disk."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from comfyctl.errors import UsageError

#: Version of an inventory entry's layout (``format`` in the cache).
CACHE_FORMAT = 1

__all__ = ["CACHE_FORMAT", "Inventory", "package_of"]


@dataclass(frozen=True)
class Inventory:
    """One server's (or one ComfyUI folder's) installed things at ``created`` (epoch seconds).

    ``nodes`` maps class type → python module (``nodes``, ``comfy_extras.x``,
    ``custom_nodes.<package>``); ``models`` maps folder → relative file paths; ``devices`` are
    dicts with ``name``, ``type``, ``vram_total``, ``vram_free`` (bytes). ``stale`` is set when an
    old cache was served because the server could not be reached.
    """

    mode: Literal["online", "offline"]
    server: str
    created: float
    comfyui_version: str | None = None
    system: Mapping[str, Any] = field(default_factory=dict)
    devices: tuple[Mapping[str, Any], ...] = ()
    nodes: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    embeddings: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    custom_nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    stale: bool = False

    @property
    def age(self) -> float:
        """Seconds since the inventory was taken."""
        return max(0.0, time.time() - self.created)

    @property
    def packages(self) -> dict[str, list[str]]:
        """Package (``core`` or a custom-node folder) → its class types."""
        result: dict[str, list[str]] = {}
        for cls, module in self.nodes.items():
            result.setdefault(package_of(module), []).append(cls)
        return result

    @property
    def gpu(self) -> Mapping[str, Any] | None:
        """The first non-CPU device, or None."""
        return next((d for d in self.devices if str(d.get("type")) != "cpu"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "mode": self.mode,
            "server": self.server,
            "created": self.created,
            "comfyui_version": self.comfyui_version,
            "system": dict(self.system),
            "devices": [dict(d) for d in self.devices],
            "nodes": dict(self.nodes),
            "models": {k: list(v) for k, v in self.models.items()},
            "embeddings": list(self.embeddings),
            "extensions": list(self.extensions),
            "custom_nodes": {k: dict(v) for k, v in self.custom_nodes.items()},
            "stale": self.stale,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Inventory:
        """Inverse of :meth:`to_dict`. Raises UsageError on a malformed entry."""
        try:
            mode = data["mode"]
            if mode not in ("online", "offline"):
                raise ValueError(f"bad mode {mode!r}")
            return cls(
                mode=mode,
                server=str(data["server"]),
                created=float(data["created"]),
                comfyui_version=data.get("comfyui_version"),
                system=dict(data.get("system") or {}),
                devices=tuple(dict(d) for d in data.get("devices") or ()),
                nodes={str(k): str(v) for k, v in (data.get("nodes") or {}).items()},
                models={str(k): tuple(v) for k, v in (data.get("models") or {}).items()},
                embeddings=tuple(data.get("embeddings") or ()),
                extensions=tuple(data.get("extensions") or ()),
                custom_nodes={str(k): dict(v) for k, v in (data.get("custom_nodes") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(
                f"malformed inventory entry: {exc}", hint="refresh it: comfyctl inventory --refresh"
            ) from exc


def package_of(module: str) -> str:
    """``custom_nodes.<pkg>[.x]`` → ``<pkg>``; anything else → ``core``."""
    if module.startswith("custom_nodes."):
        return module.split(".", 2)[1]
    return "core"
