"""The batch grid drawn from a real ComfyUI's outputs (opt-in: ``COMFYUI_URL=... pytest -m live``).

A 2 × 2 sweep of EmptyImage.color × ImageBlur.blur_radius (random colours: nothing hits the cache
of a shared server), downloaded and drawn; each tile shows its job's colour where the grid says.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from comfyctl.batch.grid import GAP, PAD, GridCell, render_grid
from comfyctl.client import Client

pytestmark = pytest.mark.live


def workflow(color: int, radius: int, prefix: str) -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 96, "height": 64, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": radius, "sigma": 1.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def test_live_grid_of_a_real_sweep(live_url: str, tmp_path: Path) -> None:
    rng = random.Random(time.time_ns())
    colors = [rng.randrange(0x202020, 0xE0E0E0) for _ in range(2)]
    radii = [1, 4]
    cells = []
    with Client(live_url) as client:
        for color in colors:
            for radius in radii:
                result = client.run(
                    workflow(color, radius, f"comfyctl_live/grid_{time.time_ns()}"), timeout=120
                )
                [path] = client.download_all(result, tmp_path / "outputs")
                cells.append(GridCell({"EmptyImage.color": color, "ImageBlur.blur_radius": radius}, path))
    out = render_grid(cells, tmp_path / "grid.png", thumb=96)
    with Image.open(out) as img:
        page = img.convert("RGB")
    sorted_colors = sorted(colors)
    # the grid is 2 x 2 tiles of 96 x 64 after the label bands: sample each tile's centre
    width, height = page.size
    for cell in cells:
        col = sorted_colors.index(cell.params["EmptyImage.color"])
        row = radii.index(cell.params["ImageBlur.blur_radius"])
        # tiles are the right-most, bottom-most 2 x 2 block: count back from the page's far corner
        cx = width - PAD - (1 - col) * (96 + GAP) - 48
        cy = height - PAD - (1 - row) * (64 + GAP) - 32
        want = cell.params["EmptyImage.color"]
        rgb = ((want >> 16) & 255, (want >> 8) & 255, want & 255)
        got = page.getpixel((cx, cy))
        assert isinstance(got, tuple)
        assert all(abs(a - b) <= 2 for a, b in zip(got, rgb, strict=True)), (cell.params, got, rgb)
