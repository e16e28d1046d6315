"""The batch grid, read back from the PNG: where the tiles land (found by their solid colours), that
labels and captions are drawn and say different things for different values, the contact sheet for
three inputs and more, placeholders, the size cap for 1,000 images, and hostile values."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from comfyctl.batch import grid
from comfyctl.batch.grid import GridCell, natural_key, plan_grid, render_grid, varying_dims
from comfyctl.errors import UsageError

Box = tuple[int, int, int, int]
COLOURS = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (128, 128, 0),
    (0, 0, 128),
    (170, 110, 40),
    (128, 0, 0),
    (0, 128, 128),
]


def solid(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> Path:
    Image.new("RGB", size, rgb).save(path)
    return path


def mask_of(img: Image.Image, rgb: tuple[int, int, int]) -> Image.Image:
    """255 where the pixel is exactly ``rgb``."""
    bands = [
        band.point(lambda v, want=want: 255 if v == want else 0)
        for band, want in zip(img.split(), rgb, strict=True)
    ]
    return ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])


def bbox_of(img: Image.Image, rgb: tuple[int, int, int]) -> Box:
    box = mask_of(img, rgb).getbbox()
    assert box is not None, f"{rgb} not drawn"
    return box


def count_of(img: Image.Image, rgb: tuple[int, int, int]) -> int:
    return mask_of(img, rgb).histogram()[255]


def ink(img: Image.Image, box: Box) -> int:
    """Pixels in ``box`` that are not the page background."""
    crop = img.crop(box).convert("RGB")
    return crop.size[0] * crop.size[1] - count_of(crop, grid.BACKGROUND)


def read(path: Path) -> Image.Image:
    with Image.open(path) as img:
        assert img.format == "PNG"
        rgb: Image.Image = img.convert("RGB")
        return rgb


def cells_for(
    tmp: Path, params: Iterable[Mapping[str, object]], size: tuple[int, int] = (64, 64)
) -> list[GridCell]:
    return [
        GridCell(p, solid(tmp / f"img{i}.png", COLOURS[i], size), caption="") for i, p in enumerate(params)
    ]


def xy_sweep(tmp: Path, colours: Sequence[str], radii: Sequence[int]) -> list[GridCell]:
    # submitted in a scrambled order: the grid orders by value, not by arrival
    params = [{"EmptyImage.color": c, "ImageBlur.blur_radius": r} for r in radii for c in colours]
    return cells_for(tmp, params[::-1])


def test_two_swept_inputs_make_an_xy_grid_in_natural_order(tmp_path: Path) -> None:
    cells = xy_sweep(tmp_path, ["red", "blue", "green"], [10, 2])
    out = render_grid(cells, tmp_path / "grid.png", thumb=64)
    img = read(out)
    boxes = {
        (c.params["EmptyImage.color"], c.params["ImageBlur.blur_radius"]): bbox_of(img, COLOURS[i])
        for i, c in enumerate(cells)
    }
    for box in boxes.values():
        assert (box[2] - box[0], box[3] - box[1]) == (64, 64)  # one whole tile each, never enlarged
    lefts = {c: boxes[(c, 2)][0] for c in ("blue", "green", "red")}
    assert lefts["blue"] < lefts["green"] < lefts["red"]  # x: the first swept input, sorted
    for colour in lefts:
        assert boxes[(colour, 2)][0] == boxes[(colour, 10)][0]  # a column shares its left edge
        assert boxes[(colour, 2)][1] < boxes[(colour, 10)][1]  # y: numerically, 2 above 10
    assert len({box[1] for box in boxes.values()}) == 2
    # the canvas is the grid plus its label bands, not a page of white
    right, bottom = max(b[2] for b in boxes.values()), max(b[3] for b in boxes.values())
    assert right < img.size[0] <= right + 2 * grid.PAD and bottom < img.size[1] <= bottom + 2 * grid.PAD


def label_bands(img: Image.Image, cells: Sequence[GridCell]) -> tuple[Box, Box]:
    """(the band above the tiles, the band left of them)."""
    boxes = [bbox_of(img, COLOURS[i]) for i in range(len(cells))]
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return (left, 0, right, top - 1), (0, top, left - 1, bottom)


def test_axis_labels_and_titles_are_drawn_and_say_the_values(tmp_path: Path) -> None:
    base = xy_sweep(tmp_path, ["red", "blue"], [2, 8])
    img = read(render_grid(base, tmp_path / "a.png", thumb=64))
    above, beside = label_bands(img, base)
    assert ink(img, above) > 100 and ink(img, beside) > 100

    again = read(render_grid(base, tmp_path / "again.png", thumb=64))
    assert ImageChops.difference(img, again).getbbox() is None  # deterministic

    def renamed(cells: list[GridCell], old: object, new: object, key: str) -> list[GridCell]:
        return [
            GridCell({**c.params, key: new if c.params[key] == old else c.params[key]}, c.image)
            for c in cells
        ]

    other_x = read(render_grid(renamed(base, "red", "tan", "EmptyImage.color"), tmp_path / "b.png", thumb=64))
    other_y = read(render_grid(renamed(base, 8, 9, "ImageBlur.blur_radius"), tmp_path / "c.png", thumb=64))
    other_title = [
        GridCell({"Solid.colour": c.params["EmptyImage.color"], **c.params}, c.image) for c in base
    ]
    other_title = [
        GridCell({k: v for k, v in c.params.items() if k != "EmptyImage.color"}, c.image) for c in other_title
    ]
    titled = read(render_grid(other_title, tmp_path / "d.png", thumb=64))
    for changed, band in ((other_x, above), (other_y, beside), (titled, above)):
        assert changed.size == img.size
        assert ImageChops.difference(img.crop(band), changed.crop(band)).getbbox() is not None
    # a change of x values leaves the y band alone, and the other way round
    assert ImageChops.difference(img.crop(beside), other_x.crop(beside)).getbbox() is None
    assert ImageChops.difference(img.crop(above), other_y.crop(above)).getbbox() is None


def test_one_swept_input_is_one_row_in_natural_order(tmp_path: Path) -> None:
    values = ["img10", "img2", "img1", "img33"]
    cells = cells_for(tmp_path, [{"LoadImage.image": v} for v in values])
    img = read(render_grid(cells, tmp_path / "row.png", thumb=64))
    boxes = {v: bbox_of(img, COLOURS[i]) for i, v in enumerate(values)}
    assert len({b[1] for b in boxes.values()}) == 1
    assert [v for v, _ in sorted(boxes.items(), key=lambda kv: kv[1][0])] == [
        "img1",
        "img2",
        "img10",
        "img33",
    ]
    above, beside = label_bands(img, cells)
    assert ink(img, above) > 100 and ink(img, beside) == 0  # values on x, no y axis


def test_a_long_single_sweep_wraps_into_a_captioned_sheet(tmp_path: Path) -> None:
    n = grid.MAX_ROW
    cells = cells_for(tmp_path, [{"KSampler.seed": s} for s in range(n)])
    cells.append(GridCell({"KSampler.seed": n}, solid(tmp_path / "last.png", (1, 2, 3))))
    assert plan_grid(cells).mode == "sheet" and plan_grid(cells[:n]).mode == "xy"
    img = read(render_grid(cells, tmp_path / "sheet.png", thumb=64))
    boxes = [bbox_of(img, COLOURS[i]) for i in range(n)] + [bbox_of(img, (1, 2, 3))]
    assert len({b[1] for b in boxes}) > 1  # wrapped onto several rows
    for box in boxes:  # a caption under every image
        assert ink(img, (box[0], box[3] + 1, box[2], box[3] + 18)) > 20


def test_three_inputs_make_a_contact_sheet_with_a_caption_per_image(tmp_path: Path) -> None:
    params = [
        {"KSampler.cfg": cfg, "KSampler.steps": steps, "KSampler.sampler_name": name}
        for cfg in (4, 7)
        for steps in (10, 20)
        for name in ("euler", "dpmpp_2m")
    ]
    cells = cells_for(tmp_path, params)
    plan = plan_grid(cells)
    assert plan.mode == "sheet"
    assert plan.captions == ("KSampler.cfg", "KSampler.steps", "KSampler.sampler_name")
    img = read(render_grid(cells, tmp_path / "sheet.png", thumb=64))
    boxes = [bbox_of(img, COLOURS[i]) for i in range(len(cells))]
    assert len(set(boxes)) == len(cells)  # every image once, none hidden
    bands = [(b[0], b[3] + 1, b[2], b[3] + 3 * 20) for b in boxes]
    for band in bands:
        assert ink(img, band) > 50
    # cells 0 and 1 differ only in the sampler: their captions differ
    first, second = (img.crop(bands[i]) for i in (0, 1))
    assert ImageChops.difference(first, second).getbbox() is not None


def test_explicit_axes_fold_the_other_inputs_into_the_rows(tmp_path: Path) -> None:
    params = [{"A.a": a, "B.b": b, "C.c": c} for a in (1, 2) for b in ("x", "y") for c in (5, 6)]
    cells = cells_for(tmp_path, params)
    plan = plan_grid(cells, x="B.b", y="A.a")
    assert plan.mode == "xy" and plan.x == "B.b" and plan.y == ("A.a", "C.c")
    assert plan.columns == ("x", "y") and plan.rows == ((1, 5), (1, 6), (2, 5), (2, 6))
    assert plan_grid(cells, x="C.c").y == ("A.a", "B.b")
    assert plan_grid(cells, y="C.c").x == "A.a"
    img = read(render_grid(cells, tmp_path / "xy.png", x="B.b", y="A.a", thumb=64))
    boxes = {tuple(c.params.values()): bbox_of(img, COLOURS[i]) for i, c in enumerate(cells)}
    assert len({b[0] for b in boxes.values()}) == 2 and len({b[1] for b in boxes.values()}) == 4
    assert boxes[(1, "x", 5)][1] < boxes[(1, "x", 6)][1] < boxes[(2, "x", 5)][1]


def test_a_bad_axis_says_what_the_parameters_are(tmp_path: Path) -> None:
    cells = cells_for(tmp_path, [{"A.a": 1}, {"A.a": 2}])
    with pytest.raises(ValueError, match=r"'Nope\.x'.*A\.a"):
        render_grid(cells, tmp_path / "g.png", x="Nope.x")
    with pytest.raises(ValueError, match="both axes"):
        plan_grid(cells, x="A.a", y="A.a")
    with pytest.raises(ValueError, match="no cells"):
        render_grid([], tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def test_cells_that_would_share_a_tile_make_a_sheet(tmp_path: Path) -> None:
    cells = cells_for(tmp_path, [{"A.a": 1, "B.b": 1}, {"A.a": 1, "B.b": 1}, {"A.a": 2, "B.b": 1}])
    assert varying_dims(cells) == ("A.a",)  # one row by the rules, but two cells share A=1
    assert plan_grid(cells).mode == "sheet"
    assert plan_grid(cells[1:]).mode == "xy"
    img = read(render_grid(cells, tmp_path / "g.png", thumb=64))
    assert len({bbox_of(img, COLOURS[i]) for i in range(3)}) == 3


def test_placeholders_for_failed_missing_unreadable_and_media(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    cells = [
        GridCell({"n": 1}, solid(tmp_path / "ok.png", COLOURS[0])),
        GridCell({"n": 2}, tmp_path / "gone.png"),
        GridCell({"n": 3}, None),
        GridCell({"n": 4}, None, caption="KSampler #3: out of memory", status="failed"),
        GridCell({"n": 5}, tmp_path / "clip.mp4"),
        GridCell({"n": 6}, garbage),
    ]
    img = read(render_grid(cells, tmp_path / "g.png", thumb=64))
    ok = bbox_of(img, COLOURS[0])
    area = (ok[2] - ok[0]) * (ok[3] - ok[1])
    failed_bg, failed_ink = grid.PLACEHOLDER["failed"]
    missing_bg, _ = grid.PLACEHOLDER["missing"]
    media_bg, _ = grid.PLACEHOLDER["media"]
    assert 0.5 * area < count_of(img, failed_bg) < area
    assert 2.5 * area < count_of(img, missing_bg) < 3 * area  # gone, None, unreadable
    assert 0.5 * area < count_of(img, media_bg) < area
    box = bbox_of(img, failed_bg)
    assert (box[2] - box[0], box[3] - box[1]) == (ok[2] - ok[0], ok[3] - ok[1])  # a whole tile
    assert box[1] == ok[1]
    assert count_of(img.crop(box), failed_ink) > 10  # its label is written on it


def test_a_thousand_images_stay_a_viewable_file(tmp_path: Path) -> None:
    files = [solid(tmp_path / f"c{i}.png", COLOURS[i], (300, 200)) for i in range(4)]
    cells = [GridCell({"3.seed": s}, files[s % 4]) for s in range(1000)]
    out = render_grid(cells, tmp_path / "big.png")
    img = read(out)
    assert max(img.size) <= 8192 and img.size[0] * img.size[1] <= 24_000_000
    assert out.stat().st_size < 30_000_000
    per_tile = [count_of(img, COLOURS[i]) / 250 for i in range(4)]
    assert max(per_tile) == min(per_tile)  # every image drawn, all at one size
    assert 16 * 16 < per_tile[0] < 256 * 171  # shrunk below thumb to fit, still visible
    small = read(render_grid(cells, tmp_path / "small.png", max_side=2000))
    assert max(small.size) <= 2000


@pytest.mark.parametrize(
    "value",
    [
        "x" * 10_000,
        "日本語のプロンプト ✨ émoji 🎨",
        "line one\nline two\ttab\x00nul\x1b[31m",
        {"nested": [1, 2, {"deep": None}]},
        [1.5, "two"],
        None,
        float("nan"),
        True,
        "",
    ],
)
def test_hostile_values_do_not_crash(tmp_path: Path, value: object) -> None:
    odd = tmp_path / "ünïcødé 名前.png"
    cells = [
        GridCell({"CLIPTextEncode.text" + "_long" * 50: value, "k": 1}, solid(odd, COLOURS[0])),
        GridCell(
            {"CLIPTextEncode.text" + "_long" * 50: "plain", "k": 2}, solid(tmp_path / "b.png", COLOURS[1])
        ),
        GridCell({"k": 3, "other": value}, solid(tmp_path / "c.png", COLOURS[2]), caption=str(value) * 3),
    ]
    for x in (None, "k"):
        img = read(render_grid(cells, tmp_path / "g.png", x=x, thumb=96, title=str(value)))
        assert max(img.size) < 4000  # long text is cut, never widens the page
        for i in range(3):
            bbox_of(img, COLOURS[i])


def test_written_atomically(tmp_path: Path) -> None:
    cells = cells_for(tmp_path, [{"a": 1}, {"a": 2}])
    out = tmp_path / "runs" / "r1" / "grid.png"
    render_grid(cells, out, thumb=64)
    first = out.read_bytes()
    render_grid(cells[:1], out, thumb=64)  # replaced, not appended to
    assert out.read_bytes() != first and read(out).size[0] < read_bytes_size(first)[0]
    assert sorted(p.name for p in out.parent.iterdir()) == ["grid.png"]  # no temp file left
    blocked = tmp_path / "blocked.png"
    blocked.mkdir()
    (blocked / "keep").write_text("")
    with pytest.raises(OSError):
        render_grid(cells, blocked, thumb=64)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".blocked")) == []


def read_bytes_size(data: bytes) -> tuple[int, int]:
    import io

    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        return int(width), int(height)


def test_transparent_pixels_show_the_page(tmp_path: Path) -> None:
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(clear)
    cells = [GridCell({"a": 1}, clear), GridCell({"a": 2}, solid(tmp_path / "b.png", COLOURS[1]))]
    img = read(render_grid(cells, tmp_path / "g.png", thumb=64))
    box = bbox_of(img, COLOURS[1])
    left_tile = img.crop((grid.PAD, box[1], box[0] - grid.GAP, box[3]))
    assert count_of(left_tile, (0, 0, 0)) == 0 and count_of(left_tile, (255, 0, 0)) == 0


def test_large_images_become_thumbnails_keeping_their_shape(tmp_path: Path) -> None:
    cells = cells_for(tmp_path, [{"a": 1}, {"a": 2}], size=(1024, 512))
    img = read(render_grid(cells, tmp_path / "g.png", thumb=128))
    box = bbox_of(img, COLOURS[0])
    assert (box[2] - box[0], box[3] - box[1]) == (128, 64)


def test_natural_order_and_varying_dimensions() -> None:
    assert sorted([10, 2, "9.5", 1.5, "img10", "img2", "Img1", True], key=natural_key) == [
        1.5,
        2,
        "9.5",
        10,
        True,
        "Img1",
        "img2",
        "img10",
    ]
    assert sorted([float("nan"), 3, 1], key=natural_key)[:2] == [1, 3]
    cells = [
        GridCell({"b": 1, "a": 1, "same": "s"}, None),
        GridCell({"b": 2, "a": 1, "same": "s", "late": 0}, None),
        GridCell({"b": 2, "a": 3, "same": "s"}, None),
    ]
    assert varying_dims(cells) == ("b", "a", "late")  # first-appearance order; a missing key varies
    assert varying_dims([GridCell({"v": 1}, None), GridCell({"v": 1.0}, None)]) == ("v",)


def test_without_pillow_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(UsageError, match="Pillow") as missing:
        render_grid([GridCell({}, None)], tmp_path / "g.png")
    assert "comfyctl[batch]" in missing.value.hint


def test_empty_positions_in_an_incomplete_grid_stay_blank(tmp_path: Path) -> None:
    # a 2 x 2 sweep with one job not (yet) there: three tiles and one empty slot
    cells = cells_for(tmp_path, [{"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 2}])
    img = read(render_grid(cells, tmp_path / "g.png", thumb=64))
    assert math.isclose(count_of(img, grid.EMPTY_TILE), 64 * 64, rel_tol=0.05)


def test_importing_the_grid_and_progress_modules_loads_neither_pillow_nor_rich() -> None:
    import subprocess

    code = (
        "import sys\n"
        "import comfyctl.batch.grid, comfyctl.batch.progress\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'rich'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
