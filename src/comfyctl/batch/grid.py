"""The picture of a batch: an XY grid of thumbnails for one or two swept inputs, a captioned contact
sheet for more, so a run is looked at as one image rather than a folder of files.

Two halves. :func:`plan_grid` is pure: which swept input goes on which axis, the order of the values
(natural: numbers numerically, ``img2`` before ``img10``) and where each cell lands. :func:`render_grid`
draws that plan with Pillow, imported only there (the ``[batch]`` extra; ``import comfyctl`` never
loads it). The rules:

- **Dimensions** are the ``params`` keys whose values differ across cells, in the order they first
  appear (the order of the sweep). A key some cells lack counts as varying (its value shows as
  ``(unset)``).
- **Automatic layout** (no ``x``/``y``): one varying input → one row with the values on the x axis
  (more than :data:`MAX_ROW` values wrap into a captioned sheet instead, so a 1,000-seed sweep is not a
  single line of specks); two → an XY grid, the first on x, the second on y; none or three and more →
  a contact sheet, one caption line ``input = value`` per varying input under every image, sorted by
  those values.
- **Explicit axes** (``x`` and/or ``y``): those inputs on those axes; every other varying input is
  folded into the rows (each row is one combination of ``y`` and the rest, labelled ``name = value``
  per input), so every image still has a tile of its own. An axis that is not varying is allowed
  (one column or one row).
- **Collisions**: when two cells would share a tile (identical parameters, e.g. repeats that differ by
  nothing swept), the grid becomes a contact sheet: no image is ever hidden behind another.
- **Size**: every image is fitted into one tile box (longest side ≤ ``thumb``); when the canvas would
  exceed ``max_side`` px on a side or ``max_pixels`` in all, the thumbnails shrink until it fits, so a
  1,000-image run stays a file a viewer opens.
- **Placeholders**: a cell whose status is not ``done``, whose image is None, missing or unreadable,
  or whose output is a video or audio file gets a labelled tile (status or kind, file name, caption).
- **Text** uses Pillow's built-in font (no font files): it covers ASCII, so other characters show as
  boxes; a label too long for its tile ends in ``…`` (``NODE.INPUT = value`` drops ``NODE.`` first,
  then the input's name in a narrow tile: the value is what tells tiles apart).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

__all__ = ["MAX_ROW", "GridCell", "GridPlan", "plan_grid", "render_grid"]

#: one varying input with more values than this becomes a wrapped, captioned sheet, not one long row
MAX_ROW = 12
#: the drawn value of a key a cell does not have (ASCII: Pillow's default font has little else)
ABSENT = "(unset)"

VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"})
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"})


@dataclass(frozen=True)
class GridCell:
    """One job's tile: its swept parameters (``NODE.INPUT`` → value), its image, a caption, its status."""

    params: Mapping[str, Any]
    image: Path | None
    caption: str = ""
    status: str = "done"


class _Absent:
    """The value of a key a cell lacks: sorts after every real value."""

    def __repr__(self) -> str:
        return ABSENT


_ABSENT = _Absent()


@dataclass(frozen=True)
class GridPlan:
    """Where every cell goes, decided before anything is drawn.

    ``mode`` ``"xy"``: ``columns`` are the x values, ``rows`` the tuples of ``y`` values, and
    ``placements`` maps cell index → (column, row). ``mode`` ``"sheet"``: ``order`` is the cell
    indices in drawing order and ``captions`` the varying inputs written under each image.
    """

    mode: Literal["xy", "sheet"]
    varying: tuple[str, ...]
    x: str | None = None
    y: tuple[str, ...] = ()
    columns: tuple[Any, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    placements: Mapping[int, tuple[int, int]] | None = None
    order: tuple[int, ...] = ()
    captions: tuple[str, ...] = ()


def _identity(value: Any) -> str:
    """A hashable stand-in for any parameter value (lists and dicts included; 1 and 1.0 differ)."""
    if value is _ABSENT:
        return "\x00absent"
    try:
        return type(value).__name__ + ":" + json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return type(value).__name__ + ":" + repr(value)


_DIGITS = re.compile(r"([0-9]+)")


def natural_key(value: Any) -> tuple[Any, ...]:
    """Sort key: numbers (and numeric strings) numerically first, then text with digit runs compared
    as numbers (``img2`` < ``img10``), then anything else; a missing value last."""
    if value is _ABSENT:
        return (3,)
    if isinstance(value, bool):
        return (1, int(value))
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is not None:
        nan = math.isnan(number)
        return (0, nan, 0.0 if nan else number, str(value))
    text = value if isinstance(value, str) else format_value(value)
    pieces = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.casefold()) for p in _DIGITS.split(text))
    return (2, pieces, text)


def format_value(value: Any) -> str:
    """How a value is written on an axis or in a caption (one line, no control characters)."""
    if value is _ABSENT:
        return ABSENT
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)) or value is None:
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return " ".join(text[:400].split())


def _value(cell: GridCell, key: str) -> Any:
    return cell.params.get(key, _ABSENT)


def varying_dims(cells: Sequence[GridCell]) -> tuple[str, ...]:
    """The ``params`` keys whose values differ across cells, in order of first appearance."""
    keys: dict[str, None] = {}
    for cell in cells:
        keys.update(dict.fromkeys(cell.params))
    return tuple(key for key in keys if len({_identity(_value(cell, key)) for cell in cells}) > 1)


def plan_grid(cells: Sequence[GridCell], *, x: str | None = None, y: str | None = None) -> GridPlan:
    """Decide the layout (the rules are in the module docstring).

    Raises:
        ValueError: no cells, an axis that no cell has, or the same input on both axes.
    """
    if not cells:
        raise ValueError("no cells to draw")
    varying = varying_dims(cells)
    known = {key for cell in cells for key in cell.params}
    for axis, name in (("x", x), ("y", y)):
        if name is not None and name not in known:
            choices = ", ".join(sorted(known)) or "none"
            raise ValueError(f"--{axis} {name!r} is not a parameter of this run (its parameters: {choices})")
    if x is not None and x == y:
        raise ValueError(f"{x!r} cannot be on both axes")

    if x is None and y is None:
        if len(varying) == 1:
            distinct = {_identity(_value(cell, varying[0])) for cell in cells}
            if len(distinct) <= MAX_ROW:
                return _plan_xy(cells, varying, varying[0], ()) or _plan_sheet(cells, varying)
        elif len(varying) == 2:
            return _plan_xy(cells, varying, varying[0], (varying[1],)) or _plan_sheet(cells, varying)
        return _plan_sheet(cells, varying)

    if x is None:  # only y given: x is the first other varying input, if any
        x = next((d for d in varying if d != y), None)
    rest = tuple(d for d in varying if d not in (x, y))
    y_dims = ((y,) if y is not None else ()) + rest
    return _plan_xy(cells, varying, x, y_dims) or _plan_sheet(cells, varying)


def _sorted_distinct(values: Sequence[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(_identity(value), value)
    return sorted(seen.values(), key=natural_key)


def _plan_xy(
    cells: Sequence[GridCell], varying: tuple[str, ...], x: str | None, y: tuple[str, ...]
) -> GridPlan | None:
    """The XY plan, or None when two cells would share a tile."""
    columns = _sorted_distinct([_value(c, x) for c in cells]) if x is not None else [_ABSENT]
    row_values = [tuple(_value(c, d) for d in y) for c in cells]
    rows_by_id: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for row in row_values:
        rows_by_id.setdefault(tuple(_identity(v) for v in row), row)
    rows = sorted(rows_by_id.values(), key=lambda row: tuple(natural_key(v) for v in row))
    col_index = {_identity(v): i for i, v in enumerate(columns)}
    row_index = {tuple(_identity(v) for v in row): i for i, row in enumerate(rows)}
    placements: dict[int, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    for i, cell in enumerate(cells):
        col = col_index[_identity(_value(cell, x))] if x is not None else 0
        spot = (col, row_index[tuple(_identity(v) for v in row_values[i])])
        if spot in taken:
            return None
        taken.add(spot)
        placements[i] = spot
    return GridPlan(
        mode="xy",
        varying=varying,
        x=x,
        y=y,
        columns=tuple(columns),
        rows=tuple(rows),
        placements=placements,
    )


def _plan_sheet(cells: Sequence[GridCell], varying: tuple[str, ...]) -> GridPlan:
    order = sorted(range(len(cells)), key=lambda i: tuple(natural_key(_value(cells[i], d)) for d in varying))
    return GridPlan(mode="sheet", varying=varying, order=tuple(order), captions=varying)


# -- drawing ---------------------------------------------------------------------------------------

BACKGROUND = (255, 255, 255)
TEXT = (40, 40, 40)
TITLE = (0, 0, 0)
EMPTY_TILE = (246, 246, 246)
#: placeholder tiles: (background, text) per kind
PLACEHOLDER = {
    "failed": ((250, 226, 226), (150, 30, 30)),
    "missing": ((232, 232, 232), (80, 80, 80)),
    "media": ((224, 233, 247), (35, 60, 115)),
}
PAD = 12
GAP = 6
MIN_THUMB = 24
LABEL_SIZE = 13
TITLE_SIZE = 16
CAPTION_LINES = 5


@dataclass
class _Tile:
    """What goes in one cell's tile: an image file to thumbnail, or a placeholder's words."""

    image: Path | None = None
    size: tuple[int, int] | None = None
    kind: str = ""  # placeholder kind: failed / missing / media
    words: tuple[str, ...] = ()


def _inspect(cell: GridCell) -> _Tile:
    """Classify a cell without decoding its pixels (only the image header is read)."""
    from PIL import Image

    extra = (cell.caption,) if cell.caption else ()
    if cell.status != "done":
        name = (cell.image.name,) if cell.image is not None else ()
        return _Tile(kind="failed", words=(cell.status or "failed", *extra, *name))
    if cell.image is None:
        return _Tile(kind="missing", words=("no output", *extra))
    suffix = cell.image.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix in AUDIO_SUFFIXES:
        kind = "video" if suffix in VIDEO_SUFFIXES else "audio"
        return _Tile(kind="media", words=(kind, cell.image.name, *extra))
    if not cell.image.is_file():
        return _Tile(kind="missing", words=("missing", cell.image.name, *extra))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(cell.image) as img:
                size = img.size
    except Exception:  # any file Pillow cannot read is a labelled tile, not a crash
        return _Tile(kind="missing", words=("unreadable", cell.image.name, *extra))
    return _Tile(image=cell.image, size=size)


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / size[0], box[1] / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _tile_box(tiles: Sequence[_Tile], thumb: int) -> tuple[int, int]:
    """One box for every tile: the largest of the images fitted to ``thumb`` (placeholders only:
    a square); never smaller than ``min(thumb, 64)`` so labels have room."""
    sizes = [t.size for t in tiles if t.size and t.size[0] and t.size[1]]
    # fitted to thumb, never enlarged: a run of 64 px images gets 64 px tiles
    fitted = [_fit(size, (thumb, thumb)) if max(size) > thumb else size for size in sizes]
    if not fitted:
        return thumb, thumb
    floor = min(thumb, 64)
    return max(floor, max(w for w, _ in fitted)), max(floor, max(h for _, h in fitted))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap font, one size
        return ImageFont.load_default()


def _width(font: Any, text: str) -> int:
    return math.ceil(float(font.getlength(text)))


def _truncate(text: str, font: Any, width: int) -> str:
    """``text`` cut to ``width`` px with ``…``. A ``NODE.INPUT = value`` line drops ``NODE.`` first,
    then, when the input's name would take half the width, the name: the value is what tells tiles
    apart."""
    if _width(font, text) <= width:
        return str(text)
    if isinstance(text, _NameValue):
        shorter = text.shorter()
        if _width(font, shorter) <= width:
            return shorter
        text = text.value if _width(font, text.name.rsplit(".", 1)[-1] + " = ") > width / 2 else shorter
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with an ellipsis
        mid = (lo + hi + 1) // 2
        if _width(font, text[:mid] + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…" if lo else ""


def _wrap(text: str, font: Any, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap (long words broken anywhere); the last line ends in ``…`` if text is left."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines:
        if len(lines) == max_lines - 1 or _width(font, rest) <= width:
            lines.append(_truncate(rest, font, width))
            break
        cut = len(rest)
        while cut > 1 and _width(font, rest[:cut]) > width:
            cut = max(1, cut * 3 // 4) if cut > 40 else cut - 1
        space = rest.rfind(" ", 0, cut + 1)
        if space > 0:
            cut = space
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return lines


def _line_height(font: Any) -> int:
    ascent, descent = font.getmetrics()
    return int(ascent + descent + 2)


@dataclass
class _Layout:
    box: tuple[int, int]
    size: tuple[int, int]
    origin: tuple[int, int]
    columns: int
    rows: int
    cell_h: int  # tile plus its caption band (sheet)
    x_title_h: int = 0
    x_label_h: int = 0
    y_title_w: int = 0
    y_label_w: int = 0
    title_h: int = 0


def _layout(
    plan: GridPlan,
    tiles: Sequence[_Tile],
    thumb: int,
    fonts: tuple[Any, Any],
    captions: Mapping[int, list[str]],
    title: str | None,
) -> _Layout:
    label, heading = fonts
    box = _tile_box(tiles, thumb)
    lh, th = _line_height(label), _line_height(heading)
    title_h = th + GAP if title else 0
    if plan.mode == "sheet":
        lines = max((len(v) for v in captions.values()), default=0)
        cell_h = box[1] + (GAP // 2 + lines * lh if lines else 0)
        n = len(tiles)
        columns = max(1, min(n, math.ceil(math.sqrt(1.6 * n * cell_h / box[0]))))
        rows = math.ceil(n / columns)
        width = 2 * PAD + columns * box[0] + (columns - 1) * GAP
        height = 2 * PAD + title_h + rows * cell_h + (rows - 1) * GAP
        return _Layout(box, (width, height), (PAD, PAD + title_h), columns, rows, cell_h, title_h=title_h)
    columns, rows = len(plan.columns), len(plan.rows)
    x_title_h = th + GAP // 2 if plan.x is not None else 0
    x_lines = max((len(_wrap(format_value(v), label, box[0], 2)) for v in plan.columns), default=1)
    x_label_h = x_lines * lh + GAP if plan.x is not None else 0
    y_title_w = th + GAP if plan.y else 0
    y_label_w = 0
    if plan.y:
        widest = max(_width(label, line) for row in plan.rows for line in _row_lines(plan, row))
        y_label_w = min(widest, max(160, box[0])) + GAP
    ox = PAD + y_title_w + y_label_w
    oy = PAD + title_h + x_title_h + x_label_h
    width = ox + columns * box[0] + (columns - 1) * GAP + PAD
    height = oy + rows * box[1] + (rows - 1) * GAP + PAD
    return _Layout(
        box,
        (width, height),
        (ox, oy),
        columns,
        rows,
        box[1],
        x_title_h,
        x_label_h,
        y_title_w,
        y_label_w,
        title_h,
    )


def _row_lines(plan: GridPlan, row: tuple[Any, ...]) -> list[str]:
    if len(plan.y) == 1:
        return [format_value(row[0])]
    return [_name_value(name, value) for name, value in zip(plan.y, row, strict=True)]


class _NameValue(str):
    """``NODE.INPUT = value``, remembering the parts so a narrow tile can drop the node first."""

    name: str
    value: str

    def shorter(self) -> str:
        return f"{self.name.rsplit('.', 1)[-1]} = {self.value}"


def _name_value(name: str, value: Any) -> _NameValue:
    text = format_value(value)
    line = _NameValue(f"{name} = {text}")
    line.name, line.value = name, text
    return line


def _caption_lines(plan: GridPlan, cell: GridCell, index: int) -> list[str]:
    lines: list[str] = [_name_value(name, _value(cell, name)) for name in plan.captions]
    if cell.caption and cell.status == "done":  # a placeholder already shows its caption inside
        lines.append(format_value(cell.caption))
    return (lines or [f"#{index + 1}"])[:CAPTION_LINES]


def render_grid(
    cells: Sequence[GridCell],
    out: Path,
    *,
    x: str | None = None,
    y: str | None = None,
    thumb: int = 256,
    title: str | None = None,
    max_side: int = 8192,
    max_pixels: int = 24_000_000,
) -> Path:
    """Draw the cells as an XY grid or a contact sheet (see the module docstring) into a PNG.

    Args:
        cells: one per job; ``params`` holds its swept inputs.
        out: the PNG to write; written atomically (a temp file beside it, then renamed), folders made.
        x, y: the inputs for the axes (default: chosen from what varies).
        thumb: the longest side of a thumbnail, before shrinking to fit ``max_side``/``max_pixels``.
        title: a heading line (e.g. the run's name).

    Returns:
        ``out``.

    Raises:
        ValueError: no cells, or an axis that is not a parameter (message names the parameters).
        UsageError: Pillow is not installed (``pip install 'comfyctl[batch]'``).

    Example:
        >>> cells = [GridCell({"KSampler.cfg": c}, Path(f"cfg{c}.png")) for c in (4, 7)]
        >>> render_grid(cells, Path("runs/demo/grid.png"))  # doctest: +SKIP
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError as exc:
        from comfyctl.errors import UsageError

        raise UsageError(
            "drawing the grid needs Pillow", hint="install it: pip install 'comfyctl[batch]'"
        ) from exc

    plan = plan_grid(cells, x=x, y=y)
    tiles = [_inspect(cell) for cell in cells]
    fonts = (_font(LABEL_SIZE), _font(TITLE_SIZE))
    captions = {i: _caption_lines(plan, c, i) for i, c in enumerate(cells)} if plan.mode == "sheet" else {}
    thumb = max(MIN_THUMB, int(thumb))
    while True:
        layout = _layout(plan, tiles, thumb, fonts, captions, title)
        width, height = layout.size
        if (width <= max_side and height <= max_side and width * height <= max_pixels) or thumb <= MIN_THUMB:
            break
        shrink = min(max_side / width, max_side / height, math.sqrt(max_pixels / (width * height)))
        thumb = max(MIN_THUMB, min(thumb - 4, int(thumb * shrink)))

    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    label, heading = fonts
    if title:
        draw.text(
            (PAD, PAD), _truncate(format_value(title), heading, width - 2 * PAD), font=heading, fill=TITLE
        )
    if plan.mode == "xy":
        _draw_axes(canvas, draw, plan, layout, fonts)
        assert plan.placements is not None
        spots = {i: plan.placements[i] for i in range(len(cells))}
        for col in range(layout.columns):
            for row in range(layout.rows):
                if (col, row) not in set(spots.values()):
                    draw.rectangle(_box_at(layout, col, row), fill=EMPTY_TILE)
    else:
        spots = {i: (n % layout.columns, n // layout.columns) for n, i in enumerate(plan.order)}
    for i, (col, row) in spots.items():
        left, top, _, _ = _box_at(layout, col, row)
        _draw_tile(canvas, draw, tiles[i], (left, top), layout.box, label)
        if plan.mode == "sheet":
            line_y = top + layout.box[1] + GAP // 2
            for line in captions[i]:
                draw.text((left, line_y), _truncate(line, label, layout.box[0]), font=label, fill=TEXT)
                line_y += _line_height(label)
    return _save_atomically(canvas, Path(out))


def _box_at(layout: _Layout, col: int, row: int) -> tuple[int, int, int, int]:
    left = layout.origin[0] + col * (layout.box[0] + GAP)
    top = layout.origin[1] + row * (layout.cell_h + GAP)
    return left, top, left + layout.box[0] - 1, top + layout.box[1] - 1


def _draw_axes(
    canvas: Image.Image, draw: ImageDraw.ImageDraw, plan: GridPlan, layout: _Layout, fonts: tuple[Any, Any]
) -> None:
    from PIL import Image, ImageDraw

    label, heading = fonts
    lh = _line_height(label)
    ox, oy = layout.origin
    grid_w = layout.columns * layout.box[0] + (layout.columns - 1) * GAP
    grid_h = layout.rows * layout.box[1] + (layout.rows - 1) * GAP
    if plan.x is not None:
        top = PAD + layout.title_h
        name = _truncate(plan.x, heading, grid_w)
        draw.text((ox + (grid_w - _width(heading, name)) // 2, top), name, font=heading, fill=TITLE)
        label_top = top + layout.x_title_h
        for col, value in enumerate(plan.columns):
            left = ox + col * (layout.box[0] + GAP)
            lines = _wrap(format_value(value), label, layout.box[0], 2)
            # bottom-aligned on the tiles, centred on the column
            line_y = label_top + (layout.x_label_h - GAP) - len(lines) * lh
            for line in lines:
                draw.text(
                    (left + (layout.box[0] - _width(label, line)) // 2, line_y), line, font=label, fill=TEXT
                )
                line_y += lh
    if plan.y:
        name = _truncate(", ".join(plan.y), heading, grid_h)
        text_w, text_h = _width(heading, name), _line_height(heading)
        band = Image.new("RGB", (max(1, text_w), text_h), BACKGROUND)
        ImageDraw.Draw(band).text((0, 0), name, font=heading, fill=TITLE)
        band = band.rotate(90, expand=True)
        canvas.paste(band, (PAD, oy + max(0, (grid_h - text_w) // 2)))
        right = ox - GAP
        max_lines = max(1, layout.box[1] // lh)
        for row, values in enumerate(plan.rows):
            lines = _row_lines(plan, values)
            if len(lines) == 1:
                lines = _wrap(lines[0], label, layout.y_label_w - GAP, min(3, max_lines))
            lines = [_truncate(line, label, layout.y_label_w - GAP) for line in lines[:max_lines]]
            top = oy + row * (layout.box[1] + GAP) + (layout.box[1] - len(lines) * lh) // 2
            for n, line in enumerate(lines):
                draw.text((right - _width(label, line), top + n * lh), line, font=label, fill=TEXT)


def _draw_tile(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    tile: _Tile,
    at: tuple[int, int],
    box: tuple[int, int],
    font: Any,
) -> None:
    from PIL import Image

    if tile.image is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(tile.image) as opened:
                    opened.draft("RGB", box)  # JPEG: decode at a reduced scale, much faster
                    alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
                    img = opened.convert("RGBA" if alpha else "RGB")
            size = _fit(img.size, box)
            # reducing_gap: a cheap integer reduction first, then bicubic: fast and sharp enough
            img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
        except Exception:  # a file that broke after the header: a labelled tile
            tile = _Tile(kind="missing", words=("unreadable", tile.image.name))
        else:
            spot = (at[0] + (box[0] - size[0]) // 2, at[1] + (box[1] - size[1]) // 2)
            if alpha:  # transparent parts show the page, not black
                canvas.paste(img, spot, img)
            else:
                canvas.paste(img, spot)
            return
    fill, ink = PLACEHOLDER.get(tile.kind, PLACEHOLDER["missing"])
    draw.rectangle((at[0], at[1], at[0] + box[0] - 1, at[1] + box[1] - 1), fill=fill)
    lh = _line_height(font)
    width = box[0] - 2 * GAP
    max_lines = max(1, (box[1] - 2 * GAP) // lh)
    lines: list[str] = []
    for word in tile.words:
        lines += _wrap(format_value(word), font, width, max(1, max_lines - len(lines)))
        if len(lines) >= max_lines:
            break
    top = at[1] + (box[1] - len(lines) * lh) // 2
    for n, line in enumerate(lines[:max_lines]):
        draw.text((at[0] + (box[0] - _width(font, line)) // 2, top + n * lh), line, font=font, fill=ink)


def _save_atomically(canvas: Image.Image, out: Path) -> Path:
    """A reader never sees half a PNG: write beside ``out``, then rename over it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            canvas.save(handle, format="PNG")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
