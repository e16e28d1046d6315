"""Server-supplied file names → a safe relative path inside the caller's folder (pure).

A server (or a custom node, or something pretending to be ComfyUI) chooses output ``filename`` and
``subfolder``. They are neutralised, not trusted: directory parts of the *filename* are dropped
(ComfyUI's own ``/view`` keeps only the basename too), ``.``/``..``/empty parts of the *subfolder*
are dropped, drive letters and leading slashes are removed, Windows-reserved names get a ``_``
prefix. What cannot be made safe (NUL or other control characters, nothing left of the name) is
refused with :class:`~comfyctl.errors.UnsafePath`.

Existing files are never overwritten unless asked: :func:`free_name` picks ``name (1).ext``,
``name (2).ext``, ... (the same scheme ComfyUI uses for uploads).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath

from comfyctl.errors import UnsafePath

__all__ = ["free_name", "safe_relpath"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}
_MAX_PART = 255


def _parts(text: str) -> list[str]:
    text = _DRIVE.sub("", text.replace("\\", "/"))
    return [p for p in text.split("/") if p not in ("", ".", "..")]


def _clean_part(part: str, original: str) -> str:
    part = part.strip().rstrip(".")
    if not part:
        raise UnsafePath(f"server file name {original!r} has no usable name", details={"name": original})
    if part.split(".")[0].lower() in _RESERVED:
        part = "_" + part
    if len(part.encode("utf-8")) > _MAX_PART:
        raise UnsafePath(f"server file name {original!r} is too long", details={"name": original[:300]})
    return part


def safe_relpath(filename: str, subfolder: str = "", *, keep_subfolder: bool = True) -> PurePosixPath:
    """A relative path that stays inside any folder it is joined to.

    Raises:
        UnsafePath: NUL/control characters, or nothing usable left of the file name.
    """
    for text in (filename, subfolder):
        if not isinstance(text, str) or _CONTROL.search(text):
            raise UnsafePath(
                f"server file name {text!r} contains control characters", details={"name": repr(text)[:300]}
            )
    name_parts = _parts(filename)
    if not name_parts:
        raise UnsafePath(f"server file name {filename!r} has no usable name", details={"name": filename})
    # Only the last part names the file: "../../x.png" and "/etc/passwd" become "x.png", "passwd".
    name = _clean_part(name_parts[-1], filename)
    subs = [_clean_part(p, subfolder) for p in _parts(subfolder)] if keep_subfolder else []
    return PurePosixPath(*subs, name)


def _candidates(name: str) -> Iterator[str]:
    yield name
    path = PurePosixPath(name)
    stem, suffix = path.stem, path.suffix
    for i in range(1, 100_000):
        yield str(path.with_name(f"{stem} ({i}){suffix}"))


def free_name(rel: PurePosixPath, exists: Callable[[PurePosixPath], bool]) -> PurePosixPath:
    """``rel`` if ``exists(rel)`` is false, else the first free ``stem (n).ext`` beside it."""
    for candidate in _candidates(str(rel)):
        path = PurePosixPath(candidate)
        if not exists(path):
            return path
    raise UnsafePath(f"no free file name for {rel}")  # pragma: no cover - 100k collisions
