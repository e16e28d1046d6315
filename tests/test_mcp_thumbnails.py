"""Thumbnails: any image mode becomes a JPEG within the budget and MAX_SIDE, or is left out."""

from __future__ import annotations

import base64
import io
import random
from pathlib import Path

import pytest
from PIL import Image

from comfyctl.mcp.thumbnails import MAX_SIDE, ThumbnailError, make_thumbnail


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "LA", "I;16"])
def test_every_mode_becomes_a_small_jpeg(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"x_{mode.replace(';', '')}.png"
    Image.new(mode, (1400, 700)).save(path)
    thumb = make_thumbnail(path, 256 * 1024)
    assert thumb is not None and thumb.mime == "image/jpeg"
    assert (thumb.width, thumb.height) == (MAX_SIDE, MAX_SIDE // 2)
    with Image.open(io.BytesIO(base64.b64decode(thumb.data))) as img:
        assert img.format == "JPEG" and img.size == (thumb.width, thumb.height)


def test_the_budget_steps_quality_and_size_down_or_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    Image.frombytes("RGB", (800, 800), random.randbytes(800 * 800 * 3)).save(path)
    roomy = make_thumbnail(path, 1 << 20)
    tight = make_thumbnail(path, 30_000)
    assert roomy is not None and tight is not None
    assert len(tight.data) <= 30_000 < len(roomy.data) and tight.width < roomy.width
    assert make_thumbnail(path, 500) is None


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"not a png")
    with pytest.raises(ThumbnailError):
        make_thumbnail(path, 1 << 20)
