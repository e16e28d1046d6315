"""What the sandbox's nodes do: real Pillow work for core image nodes, typed placeholders for the rest.

Images travel as :class:`Batch` (a list of RGB ``PIL.Image``), masks as a list of ``L`` images, latents as
a dict. Any class in the node catalogue runs: unknown ones return placeholder values of their declared
output types, and known output nodes write a file and return a UI dict shaped like ComfyUI 0.8.0's
(comfyui-api.md §9), so clients meet every output kind without a GPU.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageFilter, ImageOps
from PIL.PngImagePlugin import PngInfo

from comfyctl.nodedefs import NodeDef

__all__ = ["Batch", "NodeContext", "Placeholder", "run_node"]


class Batch(list[Any]):
    """An IMAGE value: a batch of same-size RGB images."""

    def __str__(self) -> str:
        # ComfyUI shows str(tensor) in execution_error.current_inputs; we show the shape.
        first = self[0] if self else None
        w, h = first.size if first is not None else (0, 0)
        return f"tensor(shape=[{len(self)}, {h}, {w}, 3])"


@dataclass(frozen=True)
class Placeholder:
    """A value of a type the sandbox cannot compute (MODEL, CONDITIONING, …)."""

    type: str

    def __str__(self) -> str:
        return f"<{self.type} placeholder>"


@dataclass
class NodeContext:
    """What a node implementation may touch: folders, its own id, the prompt, the message hooks."""

    node_id: str
    class_type: str
    node_def: NodeDef | None
    dirs: Mapping[str, str]
    prompt: Mapping[str, Any]
    extra_pnginfo: Mapping[str, Any] | None
    send_text: Callable[[str, str], None]
    progress: Callable[[int, int, tuple[str, Image.Image] | None], None]
    hostile_name: Callable[[], Any]
    state: dict[str, Any] = field(default_factory=dict)
    latent_previews: bool = False


NodeResult = tuple[tuple[Any, ...], dict[str, Any] | None]

_RESAMPLE = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "bislerp": Image.Resampling.BICUBIC,
}


def save_path(prefix: str, output_dir: str, width: int = 0, height: int = 0) -> tuple[str, str, int, str]:
    """ComfyUI's ``get_save_image_path``: (folder, base name, next counter, subfolder).

    Raises the very ``Exception`` text ComfyUI raises when the prefix escapes the output folder, at
    run time (validation lets such a prefix through).
    """
    if "%" in prefix:
        now = time.localtime()
        for token, value in (("%width%", width), ("%height%", height), ("%year%", now.tm_year)):
            prefix = prefix.replace(token, str(value))
        for token, value in (
            ("%month%", now.tm_mon),
            ("%day%", now.tm_mday),
            ("%hour%", now.tm_hour),
            ("%minute%", now.tm_min),
            ("%second%", now.tm_sec),
        ):
            prefix = prefix.replace(token, str(value).zfill(2))
    subfolder = os.path.dirname(os.path.normpath(prefix))
    filename = os.path.basename(os.path.normpath(prefix))
    full = os.path.join(output_dir, subfolder)
    common = os.path.commonpath((output_dir, os.path.abspath(full)))
    if common != output_dir:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {os.path.abspath(full)}\n         output_dir: {output_dir}"
            f"\n         commonpath: {common}"
        )
    counter = 1
    try:
        names = os.listdir(full)
    except FileNotFoundError:
        os.makedirs(full, exist_ok=True)
        names = []
    # Counters are per prefix and ignore the extension (anim_00001_.png then anim_00002_.webp).
    n = len(filename)
    for name in names:
        head = name[: n + 1]
        if os.path.normcase(head[:-1]) != os.path.normcase(filename) or head[-1:] != "_":
            continue
        try:
            digits = int(name[n + 1 :].split("_")[0])
        except ValueError:
            digits = 0
        counter = max(counter, digits + 1)
    return full, filename, counter, subfolder


def _item(ctx: NodeContext, filename: str, subfolder: str, type_: str) -> dict[str, Any]:
    """An output record; the hostile-names fault swaps in a dangerous name here."""
    hostile = ctx.hostile_name()
    if hostile is None:
        return {"filename": filename, "subfolder": subfolder, "type": type_}
    if isinstance(hostile, Mapping):
        return {"filename": filename, "subfolder": subfolder, "type": type_, **hostile}
    return {"filename": str(hostile), "subfolder": subfolder, "type": type_}


def _size_of(value: Any) -> tuple[int, int]:
    if isinstance(value, list) and value and isinstance(value[0], Image.Image):
        size: tuple[int, int] = value[0].size
        return size
    return (64, 64)


def _save_images(ctx: NodeContext, images: Batch, prefix: str, type_: str, compress: int) -> dict[str, Any]:
    w, h = _size_of(images)
    folder, base, counter, sub = save_path(prefix, ctx.dirs[type_], w, h)
    results = []
    for number, img in enumerate(images):
        meta = PngInfo()
        meta.add_text("prompt", json.dumps(ctx.prompt))
        for key, value in (ctx.extra_pnginfo or {}).items():
            meta.add_text(key, json.dumps(value))
        name = f"{base.replace('%batch_num%', str(number))}_{counter:05}_.png"
        img.save(os.path.join(folder, name), pnginfo=meta, compress_level=compress)
        results.append(_item(ctx, name, sub, type_))
        counter += 1
    return {"images": results}


def _temp_prefix(ctx: NodeContext) -> str:
    # PreviewImage picks 5 random letters once per node object (kept per node id, like ComfyUI's cache).
    suffix = ctx.state.setdefault(
        "temp_suffix", "".join(random.choice("abcdefghijklmnopqrstupvxyz") for _ in range(5))
    )
    return f"ComfyUI_temp_{suffix}"


def _save_blob(ctx: NodeContext, prefix: str, ext: str, data: bytes, type_: str = "output") -> dict[str, Any]:
    folder, base, counter, sub = save_path(prefix, ctx.dirs[type_])
    name = f"{base}_{counter:05}_.{ext}"
    with open(os.path.join(folder, name), "wb") as fh:
        fh.write(data)
    return _item(ctx, name, sub, type_)


def _save_animated(
    ctx: NodeContext, images: Batch, prefix: str, fmt: str, ext: str, fps: float
) -> dict[str, Any]:
    w, h = _size_of(images)
    folder, base, counter, sub = save_path(prefix, ctx.dirs["output"], w, h)
    name = f"{base}_{counter:05}_.{ext}"
    frames = list(images) or [Image.new("RGB", (w, h))]
    duration = int(1000 / fps) if fps else 100
    frames[0].save(
        os.path.join(folder, name),
        format=fmt,
        save_all=True,
        append_images=frames[1:],
        duration=duration,
        loop=0,
    )
    ui: dict[str, Any] = {"images": [_item(ctx, name, sub, "output")]}
    if len(frames) != 1:  # one frame: ComfyUI sends no "animated" key at all
        ui["animated"] = [True]
    return ui


def _color_image(w: int, h: int, color: int) -> Image.Image:
    return Image.new("RGB", (max(1, w), max(1, h)), ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF))


def _load_image(ctx: NodeContext, name: str) -> tuple[Batch, list[Image.Image]]:
    for tag, key in (("[output]", "output"), ("[input]", "input"), ("[temp]", "temp")):
        if name.endswith(tag):
            path = os.path.join(ctx.dirs[key], name[: -len(tag) - 1])
            break
    else:
        path = os.path.join(ctx.dirs["input"], name)
    images, masks = Batch(), []
    with Image.open(path) as img:
        for index in range(getattr(img, "n_frames", 1)):
            img.seek(index)
            frame = ImageOps.exif_transpose(img) or img
            rgb = frame.convert("RGB")
            if images and rgb.size != images[0].size:
                continue
            images.append(rgb)
            if "A" in frame.getbands() or (frame.mode == "P" and "transparency" in frame.info):
                masks.append(ImageOps.invert(frame.convert("RGBA").getchannel("A")))
            else:
                masks.append(Image.new("L", (64, 64), 0))
            if img.format == "MPO":
                break
    return images, masks


def _scale(images: Batch, method: str, width: int, height: int, crop: str) -> Batch:
    if width == 0 and height == 0:
        return images
    out = Batch()
    for img in images:
        w, h = img.size
        tw = width or max(1, round(w * height / h))
        th = height or max(1, round(h * width / w))
        if crop == "center":
            src_ratio, dst_ratio = w / h, tw / th
            if src_ratio > dst_ratio:
                cw = round(h * dst_ratio)
                img = img.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
            elif src_ratio < dst_ratio:
                ch = round(w / dst_ratio)
                img = img.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))
        out.append(img.resize((tw, th), _RESAMPLE.get(method, Image.Resampling.BILINEAR)))
    return out


def _preview_text(source: Any) -> str:
    # PreviewAny: strings as is, numbers str()-ed, other objects JSON-dumped (indent 4), else str().
    if isinstance(source, str):
        return source
    if isinstance(source, (int, float, bool)):
        return str(source)
    if source is None:
        return "None"
    try:
        return json.dumps(source, indent=4)
    except (TypeError, ValueError):
        return str(source)


def _images_in(inputs: Mapping[str, Any]) -> Batch | None:
    for value in inputs.values():
        if isinstance(value, Batch):
            return value
    return None


def _real(ctx: NodeContext, i: dict[str, Any]) -> NodeResult | None:
    """The nodes the sandbox really computes; None means "not one of them"."""
    ct = ctx.class_type
    if ct == "EmptyImage":
        img = _color_image(int(i["width"]), int(i["height"]), int(i.get("color", 0)))
        return (Batch(img.copy() for _ in range(int(i.get("batch_size", 1)))),), None
    if ct == "LoadImage":
        images, masks = _load_image(ctx, str(i["image"]))
        return (images, masks), None
    if ct == "ImageInvert":
        return (Batch(ImageOps.invert(img) for img in i["image"]),), None
    if ct == "ImageScale":
        return (
            _scale(
                i["image"], i["upscale_method"], int(i["width"]), int(i["height"]), i.get("crop", "disabled")
            ),
        ), None
    if ct == "ImageScaleBy":
        scaled = Batch(
            img.resize(
                (
                    max(1, round(img.width * float(i["scale_by"]))),
                    max(1, round(img.height * float(i["scale_by"]))),
                ),
                _RESAMPLE.get(i["upscale_method"], Image.Resampling.BILINEAR),
            )
            for img in i["image"]
        )
        return (scaled,), None
    if ct == "ImageBlur":
        radius = int(i.get("blur_radius", 1))
        if radius == 0:
            return (i["image"],), None
        blur = ImageFilter.GaussianBlur(float(i.get("sigma", 1.0)))
        return (Batch(img.filter(blur) for img in i["image"]),), None
    if ct == "RepeatImageBatch":
        return (Batch(img.copy() for _ in range(int(i["amount"])) for img in i["image"]),), None
    if ct == "GetImageSize":
        images = i["image"]
        w, h = _size_of(images)
        # Core GetImageSize passes no sid, so the type-3 text frame is broadcast to every socket.
        ctx.send_text(ctx.node_id, f"width: {w}, height: {h}\n batch size: {len(images)}")
        return (w, h, len(images)), None
    if ct == "SaveImage":
        return (), _save_images(ctx, i["images"], str(i.get("filename_prefix", "ComfyUI")), "output", 4)
    if ct == "PreviewImage":
        return (), _save_images(ctx, i["images"], _temp_prefix(ctx), "temp", 1)
    if ct == "SaveImageWebsocket":
        images = i["images"]
        for step, img in enumerate(images):  # one progress + one PNG preview per image, values 0..N-1
            ctx.progress(step, len(images), ("PNG", img))
        return (), None
    if ct == "PreviewAny":
        return (), {"text": [_preview_text(i.get("source"))]}
    return None


def _placeholder_ui(ctx: NodeContext, i: dict[str, Any]) -> dict[str, Any] | None:
    """UI dicts of known output nodes the sandbox does not really compute (comfyui-api.md §9)."""
    ct = ctx.class_type
    prefix = str(i.get("filename_prefix", "ComfyUI"))
    images = _images_in(i) or Batch([Image.new("RGB", (64, 64))])
    if ct == "SaveAnimatedWEBP":
        return _save_animated(ctx, images, prefix, "WEBP", "webp", float(i.get("fps", 6.0)))
    if ct == "SaveAnimatedPNG":
        return _save_animated(ctx, images, prefix, "PNG", "png", float(i.get("fps", 6.0)))
    if ct in ("SaveVideo", "SaveWEBM"):
        ext = "webm" if ct == "SaveWEBM" else ("webm" if i.get("format") == "webm" else "mp4")
        return {"images": [_save_blob(ctx, prefix, ext, b"\x00\x00\x00\x18ftypsandbox")], "animated": [True]}
    if ct == "SaveLatent":
        return {"latents": [_save_blob(ctx, prefix, "latent", b"sandbox latent")]}
    if ct in ("SaveAudio", "SaveAudioMP3", "SaveAudioOpus", "PreviewAudio"):
        ext = {"SaveAudioMP3": "mp3", "SaveAudioOpus": "opus"}.get(ct, "flac")
        kind = "temp" if ct == "PreviewAudio" else "output"
        return {
            "audio": [_save_blob(ctx, prefix if kind == "output" else _temp_prefix(ctx), ext, b"fLaC", kind)]
        }
    if ct == "SaveGLB":
        return {"3d": [_save_blob(ctx, prefix, "glb", b"glTF")]}
    if ct == "SaveSVGNode":
        return {"images": [_save_blob(ctx, prefix, "svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")]}
    if ct == "MaskPreview":
        ui = _save_images(ctx, images, _temp_prefix(ctx), "temp", 1)
        return {**ui, "animated": [False]}
    return None


def _placeholder_value(type_: str, inputs: Mapping[str, Any]) -> Any:
    images = _images_in(inputs)
    w = inputs.get("width")
    h = inputs.get("height")
    size = (
        (int(w), int(h))
        if isinstance(w, int) and isinstance(h, int) and 0 < w <= 4096 and 0 < h <= 4096
        else _size_of(images)
    )
    if type_ == "IMAGE":
        return images if images is not None else Batch([Image.new("RGB", size)])
    if type_ == "MASK":
        return [Image.new("L", size)]
    if type_ == "LATENT":
        return {"samples": Placeholder(f"LATENT {size[0] // 8}x{size[1] // 8}")}
    simple = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}
    if type_ in simple:
        return simple[type_]
    return Placeholder(type_)


def run_node(ctx: NodeContext, inputs: dict[str, Any]) -> NodeResult:
    """Run one node: (output values by slot, UI dict or None)."""
    done = _real(ctx, inputs)
    if done is not None:
        return done
    outputs = ctx.node_def.outputs if ctx.node_def is not None else ()
    steps = inputs.get("steps")
    if "latent_image" in inputs and isinstance(steps, int) and steps > 0:
        # Samplers report one progress update per step (values 1..steps), with a JPEG latent preview
        # per step only when a preview method is on (extra_data.preview_method; off by default).
        for step in range(1, min(steps, 1000) + 1):
            shade = int(255 * step / steps)
            preview = (
                ("JPEG", Image.new("RGB", (64, 64), (shade, shade, shade))) if ctx.latent_previews else None
            )
            ctx.progress(step, steps, preview)
    values = tuple(_placeholder_value(t, inputs) for t in outputs)
    ui = _placeholder_ui(ctx, inputs) if ctx.node_def is not None and ctx.node_def.is_output_node else None
    return values, ui
