"""Small JPEG previews of output images, within a byte budget per tool call.

An agent needs to *see* a result, not to receive it: a 267 MB PNG inlined into a tool result breaks
the host. Every image is scaled so its longest side is at most ``MAX_SIDE`` and re-encoded as JPEG,
stepping the quality (then the size) down until it fits what is left of the call's budget; an image
that cannot fit is left out and the result says so. Needs Pillow (in the ``[mcp]`` extra): decoding
PNG/WebP and resizing are not in the standard library, and ComfyUI's ``/view`` cannot resize.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_BUDGET", "MAX_SIDE", "MAX_SOURCE_BYTES", "Thumbnail", "make_thumbnail"]

#: Bytes of base64 image data per tool call, all thumbnails together.
DEFAULT_BUDGET = 256 * 1024
#: Longest side of a thumbnail, in pixels.
MAX_SIDE = 512
#: Source files above this are not decoded for a thumbnail (reference and resource link only).
MAX_SOURCE_BYTES = 256 << 20
_STEPS = ((MAX_SIDE, 85), (MAX_SIDE, 60), (MAX_SIDE, 40), (256, 60), (256, 40), (128, 50))


@dataclass(frozen=True)
class Thumbnail:
    """A base64 JPEG preview and its size in pixels."""

    data: str
    mime: str
    width: int
    height: int


class ThumbnailError(Exception):
    """The file is not an image Pillow can read (or Pillow is missing); the message says why."""


def make_thumbnail(path: Path, budget: int) -> Thumbnail | None:
    """A preview of the image at ``path`` whose base64 size is at most ``budget``, or None if none fits.

    Raises:
        ThumbnailError: Pillow is not installed, or the file is not a readable image.
    """
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - the [mcp] extra installs it
        raise ThumbnailError("thumbnails need Pillow: pip install 'comfyctl[mcp]'") from exc
    try:
        with Image.open(path) as img:
            img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            base = img.convert("RGBA") if img.mode in ("P", "LA", "PA") else img
            if base.mode == "RGBA":  # JPEG has no alpha: flatten on white, like a viewer shows it
                flat = Image.new("RGB", base.size, (255, 255, 255))
                flat.paste(base, mask=base.getchannel("A"))
                base = flat
            rgb = base.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ThumbnailError(f"not a readable image: {exc}") from exc
    for side, quality in _STEPS:
        shot = rgb
        if max(rgb.size) > side:
            shot = rgb.copy()
            shot.thumbnail((side, side))
        buf = io.BytesIO()
        shot.save(buf, "JPEG", quality=quality, optimize=True)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        if len(data) <= budget:
            return Thumbnail(data, "image/jpeg", shot.width, shot.height)
    return None
