"""The local file system, for the library and the offline store: atomic writes, the project lock,
downloads streamed to a temp file and renamed into place (:class:`Sink`), upload sources.

One module so the rules are written once: temp files honour the umask, a final name is never
clobbered unless asked (``os.link`` refuses to replace), a broken symlink counts as taken, and a
full disk is a :class:`~comfyctl.errors.LocalIOError`, not a crash. The lock is one function
(:func:`file_lock`) so a portable implementation can replace it in one place.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from comfyctl._safepath import free_name, safe_relpath
from comfyctl.errors import LocalIOError, UnsafePath, UsageError

__all__ = [
    "Sink",
    "atomic_write_bytes",
    "atomic_write_json",
    "create_temp",
    "file_lock",
    "fsync_dir",
    "io_errors",
    "readable",
    "upload_source",
    "view_target",
]


def fsync_dir(folder: Path) -> None:
    """Make a rename/link durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def create_temp(folder: str | Path, prefix: str, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp`` that honours the umask: mkstemp's 0600 made every download and saved
    workflow unreadable to anyone but its owner once renamed into place."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{uuid.uuid4().hex[:12]}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file, the whole new one, or nothing.

    Temp file in the same folder + fsync + ``os.replace`` (or ``os.link`` when ``overwrite`` is
    False, which raises ``FileExistsError`` instead of replacing).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:
                # No hard links here (some network/FAT file systems): callers hold the project
                # lock, so check-then-replace cannot race another comfyctl writer.
                if path.exists():
                    raise FileExistsError(str(path)) from None
                os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_json(path: Path, obj: Any, *, overwrite: bool = True) -> None:
    """:func:`atomic_write_bytes` of ``obj`` as indented UTF-8 JSON."""
    data = (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()
    atomic_write_bytes(path, data, overwrite=overwrite)


@contextlib.contextmanager
def io_errors(action: str) -> Iterator[None]:
    """Turn a file-system failure (permissions, full disk, read-only folder) into our error: a
    :class:`LocalIOError` (exit 10), like a download that could not be written."""
    try:
        yield
    except OSError as exc:
        raise LocalIOError(
            f"cannot {action}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else ""),
            hint="check the folder's permissions and free space",
            details={"path": str(exc.filename) if exc.filename else None, "errno": exc.errno},
        ) from exc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if missing), across processes, on POSIX and Windows."""
    from filelock import FileLock  # flock on POSIX, msvcrt.locking on Windows

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path):
        yield


def upload_source(file: str | Path | bytes | BinaryIO, filename: str | None) -> tuple[str, Any]:
    """Upload argument → (file name, content for httpx) without reading a path into memory."""
    if isinstance(file, (bytes, bytearray)):
        if not filename:
            raise UsageError("uploading bytes needs filename=")
        return filename, bytes(file)
    if isinstance(file, (str, Path)):
        path = Path(file)
        if not path.is_file():
            raise UsageError(f"no such file to upload: {path}")
        return filename or path.name, path
    name = filename or os.path.basename(str(getattr(file, "name", "") or ""))
    if not name:
        raise UsageError("uploading a file object without a name needs filename=")
    return name, file


class Sink:
    """Writes a download to a temp file beside its target and renames it into place when complete.

    A failed download leaves no file under the final name; existing files are kept unless
    ``overwrite`` (then the rename replaces them atomically), otherwise ``name (1).ext`` is used.
    As a context manager it commits on success (the path in ``path``) and aborts on an error.
    """

    path: Path

    def __init__(self, folder: Path, rel: PurePosixPath, overwrite: bool):
        self.target = folder.joinpath(*rel.parts)
        self.root = folder
        self.overwrite = overwrite
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            _check_inside(self.root, self.target.parent)
            fd, tmp = create_temp(self.target.parent, ".comfyctl-", ".part")
        except OSError as exc:
            raise LocalIOError(
                f"cannot write into {self.target.parent}: {exc.strerror or exc}",
                hint="choose another destination, or free space / fix permissions there",
                details={"path": str(self.target.parent), "errno": exc.errno},
            ) from exc
        self.tmp = Path(tmp)
        self.file: IO[bytes] = os.fdopen(fd, "wb")

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Commit a complete download (``path``); abort one that failed."""
        if exc_type is None:
            self.path = self.commit()
        else:
            self.abort()

    def write(self, chunk: bytes) -> None:
        try:
            self.file.write(chunk)
        except OSError as exc:  # disk full, quota, I/O error
            raise self._error(exc) from exc

    def commit(self) -> Path:
        """Move the complete file into place; the temp file is gone afterwards in every case."""
        try:
            self.file.close()  # flushes: a full disk may only show here
            return self._place()
        except OSError as exc:
            raise self._error(exc) from exc
        finally:
            self.abort()

    def _place(self) -> Path:
        if self.overwrite:
            os.replace(self.tmp, self.target)
            return self.target
        parent = self.target.parent
        tried: set[PurePosixPath] = set()

        def taken(name: PurePosixPath) -> bool:
            # lexists: a broken symlink with the name exists for os.link, not for exists()
            return name in tried or os.path.lexists(parent / str(name))

        while True:
            name = free_name(PurePosixPath(self.target.name), taken)
            tried.add(name)  # each name is tried once: a refusal never repeats the same attempt
            final = parent / str(name)
            try:
                os.link(self.tmp, final)  # fails if the name was taken meanwhile: never clobbers
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system
                if os.path.lexists(final):
                    continue
                os.rename(self.tmp, final)
                return final
            return final  # the temp name is removed by commit()

    def _error(self, exc: OSError) -> UsageError | LocalIOError:
        details = {"path": str(self.target), "errno": exc.errno}
        if isinstance(exc, IsADirectoryError):  # the destination asked for is a folder: usage
            return UsageError(
                f"cannot write {self.target}: a folder has that name",
                hint="choose another destination",
                details=details,
            )
        # a full disk, a quota, permissions: the same call works once the disk is fixed
        return LocalIOError(
            f"cannot write {self.target}: {exc.strerror or exc}",
            hint="free space or fix permissions there, or choose another destination",
            details=details,
        )

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        try:
            self.tmp.unlink()
        except OSError:
            pass


def _check_inside(root: Path, path: Path) -> None:
    real_root, real = root.resolve(), path.resolve()
    if real != real_root and real_root not in real.parents:
        raise UnsafePath(f"{path} resolves outside {root} (a symlink?)", details={"path": str(path)})


def view_target(dest: str | Path, filename: str) -> tuple[Path, PurePosixPath]:
    """``view_to`` destination: a folder (keep the server's safe name) or a file path."""
    as_dir = str(dest).endswith(("/", os.sep))  # "out/" names a folder even before it exists
    dest = Path(dest)
    if as_dir or dest.is_dir():
        return dest, safe_relpath(filename)
    return dest.parent, PurePosixPath(dest.name)


@contextlib.contextmanager
def readable(content: Any) -> Iterator[Any]:
    """An upload body: a path opened for the time of the request, anything else as it is."""
    if isinstance(content, Path):
        with content.open("rb") as fh:
            yield fh
    else:
        yield content
