"""The sandbox: a protocol-faithful ComfyUI 0.8.0 double for tests (aiohttp + Pillow).

``from comfyctl.testing import Sandbox``. The heavy parts (aiohttp, Pillow) load only when a sandbox is
used, so the pytest plugin registered by this package costs nothing in test runs that don't need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Faults", "Sandbox"]

if TYPE_CHECKING:
    from comfyctl.testing.faults import Faults
    from comfyctl.testing.sandbox import Sandbox


def __getattr__(name: str) -> Any:
    if name == "Sandbox":
        from comfyctl.testing.sandbox import Sandbox

        return Sandbox
    if name == "Faults":
        from comfyctl.testing.faults import Faults

        return Faults
    raise AttributeError(name)
