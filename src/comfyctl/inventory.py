"""What a ComfyUI has installed: node classes, models, embeddings, extensions, hardware.

Two sources, one format (:class:`Inventory`):

* **online** (:func:`fetch`): ``/system_stats``, ``/object_info``, ``/models`` + ``/models/{folder}``,
  ``/embeddings``, ``/extensions`` of a running server;
* **offline** (:func:`scan`): a ComfyUI folder read from disk, no server needed: ``models/*`` plus
  the folders of ``extra_model_paths.yaml``, ``custom_nodes/*`` with the node classes each package
  registers (found by parsing its code with :mod:`ast`, never importing it), the ComfyUI version.

Cache: ``{state_dir}/inventory.json`` holds one entry per server, keyed by its URL with secrets
redacted (offline scans: the folder's ``file://`` URI), each with a timestamp and ``mode``
(``online``/``offline``). The raw ``/object_info`` of an online server is kept beside it in
``{state_dir}/object_info/{key hash}.json`` so node definitions are fetched once and reused
(:func:`load_node_defs`). ``state_dir`` is: the argument > ``$COMFYCTL_STATE_DIR`` > ``./state``.
Every write is atomic (temp file, fsync, rename) under a lock file, so concurrent commands for
different servers do not lose each other's entries.

:func:`get_inventory` serves a fresh cache (default: younger than an hour), refetches a stale one,
and falls back to a stale one (``inv.stale`` set, warning logged) when the server is unreachable.
:func:`check_workflow` compares a workflow with an inventory: missing node types (and the package
that likely provides them), missing model files (and their folder), low VRAM.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from comfyctl.diagnose import looks_like_model_file, model_folder, package_for
from comfyctl.errors import NotFound, TransportError, UsageError, WorkflowError
from comfyctl.nodedefs import NodeDefs
from comfyctl.offline import atomic_write_bytes, atomic_write_json, file_lock, io_errors

__all__ = [
    "DEFAULT_MAX_AGE",
    "CheckProblem",
    "CheckReport",
    "Inventory",
    "cached_inventories",
    "check_workflow",
    "fetch",
    "get_inventory",
    "known_packages",
    "load_cached",
    "load_node_defs",
    "package_of",
    "save",
    "scan",
    "scan_custom_node_package",
    "state_dir",
]

log = logging.getLogger("comfyctl.inventory")

#: Seconds a cached online inventory counts as fresh.
DEFAULT_MAX_AGE = 3600.0
_FORMAT = 1
#: Less free VRAM than this (bytes) on a GPU gets a warning from :func:`check_workflow`.
LOW_VRAM = 2 * 1024**3

# -- data --------------------------------------------------------------------------------------


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
            "format": _FORMAT,
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


# -- cache -------------------------------------------------------------------------------------


def state_dir(path: str | Path | None = None) -> Path:
    """The state folder: ``path`` > ``$COMFYCTL_STATE_DIR`` > ``./state`` (read when called)."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("COMFYCTL_STATE_DIR") or "state")


def _index_path(base: Path) -> Path:
    return base / "inventory.json"


def _raw_path(base: Path, key: str) -> Path:
    return base / "object_info" / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".json")


_warned: set[tuple[str, int, int]] = set()  # unreadable caches already reported (path, mtime, size)


def _read_index(base: Path) -> dict[str, Any]:
    path = _index_path(base)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # One command reads the index more than once (lookup, then the locked re-read of a save):
        # say it once per broken version of the file.
        try:
            st = path.stat()
            key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError:
            key = (str(path), 0, 0)
        if key not in _warned:
            _warned.add(key)
            log.warning("ignoring unreadable inventory cache %s: %s", path, exc)
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    return servers if isinstance(servers, dict) else {}


def save(
    inv: Inventory, *, state: str | Path | None = None, object_info: Mapping[str, Any] | None = None
) -> Path:
    """Store ``inv`` (and the raw ``/object_info`` it came from) in the cache. Returns the index path."""
    base = state_dir(state)
    with io_errors(f"write the inventory cache in {base}"):
        return _save(inv, base, object_info)


def _save(inv: Inventory, base: Path, object_info: Mapping[str, Any] | None) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    if object_info is not None:  # compact: thousands of custom nodes make this megabytes
        raw = json.dumps(object_info, separators=(",", ":"), ensure_ascii=False).encode()
        atomic_write_bytes(_raw_path(base, inv.server), raw)
    with file_lock(base / ".inventory.lock"):
        servers = _read_index(base)
        entry = inv.to_dict()
        entry.pop("stale", None)
        entry["object_info_file"] = (
            str(_raw_path(base, inv.server).relative_to(base)) if object_info is not None else None
        )
        servers[inv.server] = entry
        atomic_write_json(_index_path(base), {"format": _FORMAT, "servers": servers})
    return _index_path(base)


def load_cached(server: str, *, state: str | Path | None = None) -> Inventory | None:
    """The cached inventory of ``server`` (a redacted URL or a ``file://`` folder URI), or None."""
    entry = _read_index(state_dir(state)).get(server)
    return Inventory.from_dict(entry) if isinstance(entry, Mapping) else None


def cached_inventories(*, state: str | Path | None = None) -> list[Inventory]:
    """Every inventory in the cache (all servers and scanned folders)."""
    result = []
    for entry in _read_index(state_dir(state)).values():
        with contextlib.suppress(UsageError):
            result.append(Inventory.from_dict(entry))
    return result


def _load_raw(server: str, base: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_raw_path(base, server).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- online ------------------------------------------------------------------------------------


def fetch(client: Any) -> tuple[Inventory, dict[str, Any]]:
    """Take the inventory of a running server. Returns it and the raw ``/object_info``.

    ``/models`` lists ``custom_nodes`` as a folder (every file of every package): skipped, the
    node classes already say which packages are loaded. A folder that 404s is skipped.
    """
    stats = client.system_stats()
    raw = client.object_info()
    models: dict[str, tuple[str, ...]] = {}
    for folder in client.models():
        if folder == "custom_nodes":
            continue
        try:
            models[folder] = tuple(client.models(folder))
        except NotFound:
            continue
    devices = tuple(d.to_dict() for d in stats.devices)
    system = {
        "os": stats.os,
        "python_version": stats.python_version,
        "pytorch_version": stats.pytorch_version,
        "ram_total": stats.ram_total,
        "ram_free": stats.ram_free,
        "argv": list(stats.argv),
    }
    nodes = {
        str(cls): str(spec.get("python_module") or "") if isinstance(spec, Mapping) else ""
        for cls, spec in raw.items()
    }
    packages: dict[str, dict[str, Any]] = {}
    for cls, module in nodes.items():
        pkg = package_of(module)
        if pkg != "core":
            packages.setdefault(pkg, {"nodes": []})["nodes"].append(cls)
    inv = Inventory(
        mode="online",
        server=client.url,
        created=time.time(),
        comfyui_version=stats.comfyui_version,
        system=system,
        devices=devices,
        nodes=nodes,
        models=models,
        embeddings=tuple(client.embeddings()),
        extensions=tuple(client.extensions()),
        custom_nodes=packages,
    )
    return inv, raw


def get_inventory(
    client: Any,
    *,
    state: str | Path | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    refresh: bool = False,
) -> Inventory:
    """The server's inventory: the cache when younger than ``max_age`` seconds, else fetched.

    When the server cannot be reached, a cached inventory of any age is returned with ``stale``
    True (and a warning logged); with no cache the transport error is raised.

    Raises:
        ServerUnreachable / TransportError: unreachable and nothing cached.
        ComfyError: any other failure of the server.
    """
    cached = None if refresh else load_cached(client.url, state=state)
    if cached is not None and cached.age <= max_age:
        return cached
    try:
        inv, raw = fetch(client)
    except TransportError:
        old = load_cached(client.url, state=state) if refresh else cached
        if old is None:
            raise
        log.warning("%s is unreachable: using the inventory cached %.0f min ago", client.url, old.age / 60)
        return replace(old, stale=True)
    save(inv, state=state, object_info=raw)
    return inv


def load_node_defs(
    client: Any,
    *,
    state: str | Path | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    refresh: bool = False,
) -> NodeDefs:
    """Node definitions for ``client``'s server from the inventory cache, fetched when stale.

    For ``workflow convert/validate`` and the CLI: one ``/object_info`` per hour instead of one per
    command. Falls back to a stale copy (logged) when the server is unreachable.

    Raises:
        ServerUnreachable / TransportError: unreachable and nothing cached.
    """
    base = state_dir(state)
    if not refresh:
        cached = load_cached(client.url, state=base)
        if cached is not None and cached.mode == "online" and cached.age <= max_age:
            raw = _load_raw(client.url, base)
            if raw is not None:
                return NodeDefs(raw)
    try:
        inv, raw = fetch(client)
    except TransportError:
        raw_old = _load_raw(client.url, base)
        if raw_old is None:
            raise
        log.warning("%s is unreachable: using cached node definitions", client.url)
        return NodeDefs(raw_old)
    save(inv, state=base, object_info=raw)
    return NodeDefs(raw)


# -- offline scan ------------------------------------------------------------------------------

#: ComfyUI's default model folders (folder_paths.py): name → sub-paths of the base folder.
_DEFAULT_FOLDERS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("models/checkpoints", "output/checkpoints"),
    "configs": ("models/configs",),
    "loras": ("models/loras", "output/loras"),
    "vae": ("models/vae", "output/vae"),
    "text_encoders": ("models/text_encoders", "models/clip", "output/clip"),
    "diffusion_models": ("models/unet", "models/diffusion_models", "output/diffusion_models"),
    "clip_vision": ("models/clip_vision",),
    "style_models": ("models/style_models",),
    "embeddings": ("models/embeddings",),
    "diffusers": ("models/diffusers",),
    "vae_approx": ("models/vae_approx",),
    "controlnet": ("models/controlnet", "models/t2i_adapter"),
    "gligen": ("models/gligen",),
    "upscale_models": ("models/upscale_models",),
    "latent_upscale_models": ("models/latent_upscale_models",),
    "hypernetworks": ("models/hypernetworks",),
    "photomaker": ("models/photomaker",),
    "classifiers": ("models/classifiers",),
    "model_patches": ("models/model_patches",),
    "audio_encoders": ("models/audio_encoders",),
}
_PT = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})
#: Extensions listed per folder where ComfyUI differs from its model extensions (configs, classifiers).
_EXTENSIONS: dict[str, frozenset[str] | None] = {
    "configs": frozenset({".yaml"}),
    "classifiers": frozenset({""}),
}
_LEGACY = {"unet": "diffusion_models", "clip": "text_encoders"}
_SKIP_DIRS = {".git", "__pycache__", "node_modules", ".venv", "venv", "env", ".github", "tests", "test"}


def _load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise UsageError(
            f"reading {path.name} needs PyYAML",
            hint="install it: pip install 'comfyctl[yaml]'",
        ) from exc
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def extra_model_paths(path: str | Path) -> list[tuple[str, Path, bool]]:
    """``(folder, absolute path, is_default)`` from an ``extra_model_paths.yaml``.

    Same reading as ComfyUI's utils/extra_config.py: each top-level section has an optional
    ``base_path`` (``~`` and ``$VARS`` expanded; relative to the YAML file's folder) and
    ``is_default``; every other key is a folder name whose value holds one path per line
    (YAML ``|`` blocks), joined to ``base_path`` (or, without one, made absolute against the YAML
    folder). ``unet``/``clip`` are the legacy names of ``diffusion_models``/``text_encoders``.
    """
    path = Path(path)
    config = _load_yaml(path)
    if config is None:
        return []
    if not isinstance(config, Mapping):
        raise UsageError(f"{path}: expected sections of folder: path entries")
    here = path.resolve().parent
    result: list[tuple[str, Path, bool]] = []
    for section in config.values():
        if not isinstance(section, Mapping):
            continue  # an empty section (None) is skipped by ComfyUI too
        conf = dict(section)
        base = conf.pop("base_path", None)
        base_path: Path | None = None
        if base:
            base_path = Path(os.path.expandvars(os.path.expanduser(str(base))))
            if not base_path.is_absolute():
                base_path = here / base_path
        is_default = bool(conf.pop("is_default", False))
        for folder, value in conf.items():
            if value is None:
                continue
            lines = [str(v) for v in value] if isinstance(value, list) else str(value).split("\n")
            for line in lines:
                line = line.strip()
                if not line:
                    continue
                full = base_path / line if base_path else (Path(line) if os.path.isabs(line) else here / line)
                result.append(
                    (_LEGACY.get(str(folder), str(folder)), Path(os.path.normpath(full)), is_default)
                )
    return result


def _list_files(folder: Path, extensions: frozenset[str] | None) -> list[str]:
    """Like ComfyUI's recursive_search + filter_files_extensions (follows links, skips .git)."""
    if not folder.is_dir():
        return []
    found = []
    for dirpath, subdirs, filenames in os.walk(folder, followlinks=True):
        subdirs[:] = [d for d in subdirs if d != ".git"]
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), folder)
            if extensions is None or os.path.splitext(rel)[1].lower() in extensions:
                found.append(rel)
    return found


def _listdir(folder: Path) -> list[Path]:
    """Sorted entries, or none when the folder cannot be read (a scan reports what it can see)."""
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _comfyui_version(root: Path) -> str | None:
    try:
        tree = ast.parse((root / "comfyui_version.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                return str(node.value.value)
    except (OSError, SyntaxError, ValueError):
        pass
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    m = re.search(r'^version\s*=\s*["\']([^"\']+)["\']', project.group(1) if project else "", re.M)
    return m.group(1) if m else None


def scan(
    comfyui_dir: str | Path,
    *,
    extra_configs: Iterable[str | Path] = (),
) -> Inventory:
    """Inventory a ComfyUI folder without a server (``mode="offline"``).

    Models: ComfyUI's default folders (``models/*``, plus the ``output/*`` folders ComfyUI adds for
    saved checkpoints/LoRAs/VAEs), any other folder under ``models/`` (custom nodes register their
    own, e.g. ``ipadapter``), and the folders of ``{comfyui_dir}/extra_model_paths.yaml`` and of
    ``extra_configs``. Custom nodes: each package in ``custom_nodes/`` (and extra ``custom_nodes``
    paths) with the classes it registers, read with :func:`scan_custom_node_package`.

    Raises:
        UsageError: not a folder, or an unreadable ``extra_model_paths.yaml``.
    """
    root = Path(comfyui_dir).resolve()
    if not root.is_dir():
        raise UsageError(
            f"{comfyui_dir} is not a folder", hint="pass the folder that holds ComfyUI's main.py"
        )
    # A typo'd path must not yield a silently empty inventory that `check` then trusts.
    markers = ("main.py", "comfyui_version.py", "pyproject.toml", "models", "custom_nodes", "comfy")
    if not any((root / m).exists() for m in markers):
        raise UsageError(
            f"{comfyui_dir} does not look like a ComfyUI folder (no main.py, models/ or custom_nodes/)",
            hint="pass the folder that holds ComfyUI's main.py",
        )
    paths: dict[str, list[Path]] = {k: [root / p for p in v] for k, v in _DEFAULT_FOLDERS.items()}
    paths["custom_nodes"] = [root / "custom_nodes"]
    models_root = root / "models"
    if models_root.is_dir():
        for sub in _listdir(models_root):
            if sub.is_dir() and not sub.name.startswith("."):
                name = _LEGACY.get(sub.name, sub.name)
                if sub not in paths.setdefault(name, []):
                    paths[name].append(sub)
    configs = [root / "extra_model_paths.yaml", *map(Path, extra_configs)]
    for config in configs:
        if config == root / "extra_model_paths.yaml" and not config.is_file():
            continue
        for folder, full, is_default in extra_model_paths(config):
            lst = paths.setdefault(folder, [])
            if full in lst:
                lst.remove(full)
            lst.insert(0, full) if is_default else lst.append(full)
    models: dict[str, tuple[str, ...]] = {}
    for folder, dirs in paths.items():
        if folder == "custom_nodes":
            continue
        # A folder custom nodes register (ipadapter, sams, ...) lists model files, not placeholders.
        exts = _EXTENSIONS.get(folder, _PT if folder in _DEFAULT_FOLDERS else _PT | {".gguf", ".onnx"})
        models[folder] = tuple(sorted({f for d in dirs for f in _list_files(d, exts)}))
    nodes: dict[str, str] = {}
    packages: dict[str, dict[str, Any]] = {}
    for base in paths["custom_nodes"]:
        if not base.is_dir():
            continue
        for entry in _listdir(base):
            if entry.name == "__pycache__" or entry.name.startswith(".") or entry.name.endswith(".disabled"):
                continue
            if entry.is_file() and entry.suffix != ".py":
                continue
            name = entry.stem if entry.is_file() else entry.name
            classes = scan_custom_node_package(entry)
            packages[name] = {"path": str(entry), "nodes": classes}
            for cls in classes:
                nodes.setdefault(cls, f"custom_nodes.{name}")
    return Inventory(
        mode="offline",
        server=root.as_uri(),
        created=time.time(),
        comfyui_version=_comfyui_version(root),
        nodes=nodes,
        models=models,
        embeddings=tuple(os.path.splitext(f)[0] for f in models.get("embeddings", ())),
        custom_nodes=packages,
        system={"path": str(root)},
    )


def _py_files(entry: Path) -> Iterator[Path]:
    if entry.is_file():
        yield entry
        return
    count = 0
    for dirpath, subdirs, filenames in os.walk(entry):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                count += 1
                if count > 2000:  # a vendored library, not node code: enough
                    return
                yield Path(dirpath) / name


def _str_keys(node: ast.AST, names: Mapping[str, ast.AST], depth: int = 0) -> list[str]:
    """String keys of a dict expression: literals, ``**other`` spreads, ``dict(a=...)``, names."""
    if depth > 5:
        return []
    if isinstance(node, ast.Dict):
        keys: list[str] = []
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:  # {**other}
                keys += _str_keys(v, names, depth + 1)
            elif isinstance(k, ast.Constant) and isinstance(k.value, str):
                keys.append(k.value)
        return keys
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        keys = [kw.arg for kw in node.keywords if kw.arg]
        for kw in node.keywords:
            if kw.arg is None:
                keys += _str_keys(kw.value, names, depth + 1)
        for arg in node.args:
            keys += _str_keys(arg, names, depth + 1)
        return keys
    if isinstance(node, ast.Name) and node.id in names:
        return _str_keys(names[node.id], names, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # a | b
        return _str_keys(node.left, names, depth + 1) + _str_keys(node.right, names, depth + 1)
    return []


def _call_keys(node: ast.AST, names: Mapping[str, ast.AST]) -> list[str]:
    """``build_mappings(NODE_CONFIG)``: the keys of dict arguments (the config is keyed by class
    name in every pack seen doing this, e.g. KJNodes)."""
    if not isinstance(node, ast.Call):
        return []
    keys: list[str] = []
    for arg in [*node.args, *(kw.value for kw in node.keywords)]:
        keys += _str_keys(arg, names)
    return keys


def _is_mapping_target(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "NODE_CLASS_MAPPINGS"


def _classes_in(tree: ast.Module) -> list[str]:
    # Module-level dict literals by name, so NODE_CLASS_MAPPINGS = {**a, **b} can be resolved.
    names: dict[str, ast.AST] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                if isinstance(t, ast.Name) and t.id != "NODE_CLASS_MAPPINGS":
                    names[t.id] = stmt.value
        elif (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and stmt.value is not None
            and stmt.target.id != "NODE_CLASS_MAPPINGS"
        ):
            names[stmt.target.id] = stmt.value
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if _is_mapping_target(t):
                    found += _str_keys(node.value, names) or _call_keys(node.value, names)
                elif isinstance(t, ast.Tuple) and any(_is_mapping_target(e) for e in t.elts):
                    # NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {...}, {...} / = build(CONFIG)
                    i = next(i for i, e in enumerate(t.elts) if _is_mapping_target(e))
                    if isinstance(node.value, ast.Tuple) and len(node.value.elts) == len(t.elts):
                        found += _str_keys(node.value.elts[i], names)
                    else:
                        found += _call_keys(node.value, names)
                elif (  # NODE_CLASS_MAPPINGS["X"] = Cls
                    isinstance(t, ast.Subscript)
                    and _is_mapping_target(t.value)
                    and isinstance(t.slice, ast.Constant)
                    and isinstance(t.slice.value, str)
                ):
                    found.append(t.slice.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and _is_mapping_target(node.target):
            if node.value is not None:  # NODE_CLASS_MAPPINGS: dict = {...} / |= {...}
                found += _str_keys(node.value, names)
        elif (  # NODE_CLASS_MAPPINGS.update({...}) / .update(X=...) / .setdefault("X", ...)
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and _is_mapping_target(node.func.value)
        ):
            if node.func.attr == "update":
                for arg in node.args:
                    found += _str_keys(arg, names)
                found += [kw.arg for kw in node.keywords if kw.arg]
            elif (
                node.func.attr == "setdefault"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append(node.args[0].value)
        elif isinstance(node, ast.ClassDef) and any(
            (isinstance(b, ast.Name) and b.id == "ComfyNode")
            or (isinstance(b, ast.Attribute) and b.attr == "ComfyNode")
            for b in node.bases
        ):
            # V3 nodes (comfy_entrypoint): io.Schema(node_id="X", ...) inside define_schema.
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call):
                    for kw in sub.keywords:
                        if (
                            kw.arg == "node_id"
                            and isinstance(kw.value, ast.Constant)
                            and isinstance(kw.value.value, str)
                        ):
                            found.append(kw.value.value)
    return found


def scan_custom_node_package(entry: str | Path) -> list[str]:
    """Node class names a custom-node package (folder or single ``.py``) registers, by reading it.

    Finds ``NODE_CLASS_MAPPINGS`` dict literals (with ``**spreads`` of module-level dicts and
    ``dict(...)``), ``NODE_CLASS_MAPPINGS.update(...)``, ``NODE_CLASS_MAPPINGS["X"] = ...`` and V3
    ``io.ComfyNode`` subclasses with a literal ``node_id=``. Names built at run time (loops,
    f-strings) cannot be found without executing the code, which this never does.
    """
    found: dict[str, None] = {}
    for path in _py_files(Path(entry)):
        try:
            if path.stat().st_size > 5_000_000:
                continue
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        for name in _classes_in(tree):
            found.setdefault(name, None)
    return list(found)


# -- check -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckProblem:
    """One thing a workflow needs that the inventory lacks.

    ``kind``: ``missing_node`` (``package``/``repo`` say where it likely comes from),
    ``missing_model`` (``folder`` says where it belongs), ``low_vram``.
    """

    kind: Literal["missing_node", "missing_model", "low_vram"]
    message: str
    node_id: str | None = None
    class_type: str | None = None
    input_name: str | None = None
    value: Any = None
    folder: str | None = None
    package: str | None = None
    repo: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class CheckReport:
    """:func:`check_workflow`'s answer; ``ok`` when nothing is missing (warnings allowed)."""

    problems: tuple[CheckProblem, ...]
    server: str
    inventory_age: float
    stale: bool = False

    @property
    def ok(self) -> bool:
        return not any(p.kind != "low_vram" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "server": self.server,
            "inventory_age": round(self.inventory_age, 1),
            "stale": self.stale,
            "problems": [p.to_dict() for p in self.problems],
        }


def _ui_nodes(workflow: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Any], Mapping[str, Any]]]:
    """(id, type, widgets_values, properties) of UI-format nodes, subgraph definitions included."""
    graphs = [workflow, *((workflow.get("definitions") or {}).get("subgraphs") or [])]
    subgraph_ids = {g.get("id") for g in graphs[1:] if isinstance(g, Mapping)}
    for graph in graphs:
        if not isinstance(graph, Mapping):
            continue
        for node in graph.get("nodes") or []:
            if not isinstance(node, Mapping) or not isinstance(node.get("type"), str):
                continue
            if node["type"] in subgraph_ids:
                continue  # an instance of a subgraph: its inner nodes are listed in the definition
            if node.get("mode") in (2, 4):
                continue  # muted / bypassed: never sent to the server
            wv = node.get("widgets_values")
            values = (
                list(wv.values()) if isinstance(wv, Mapping) else list(wv) if isinstance(wv, list) else []
            )
            props = node.get("properties")
            yield str(node.get("id")), node["type"], values, props if isinstance(props, Mapping) else {}


_FILE_EXT = re.compile(r"\.[A-Za-z][A-Za-z0-9]{1,11}$")


# ComfyUI's tokenizer (comfy/sd1_clip.py): "embedding:NAME" at the start of the text or after a
# space/newline; "(embedding:NAME:1.2)" after weight parsing; NAME is one word, trailing commas
# dropped; the file is NAME or NAME + .safetensors/.pt/.bin in an embeddings folder.
_EMBEDDING = re.compile(r"(?:^|[\s(])embedding:(\S+)")


def _embedding_names(text: str) -> list[str]:
    if "embedding:" not in text:
        return []
    names = []
    for raw in _EMBEDDING.findall(text):
        name = re.sub(r"(:[0-9.]+)?\)*$", "", raw.rstrip(",")).rstrip(",")
        if name and name not in names:
            names.append(name)
    return names


def _has_embedding(inventory: Inventory, name: str) -> bool:
    name = name.replace("\\", "/")
    files = {f.replace("\\", "/") for f in inventory.models.get("embeddings", ())}
    candidates = {name, *(name + ext for ext in (".safetensors", ".pt", ".bin"))}
    if files & candidates:
        return True
    return name in inventory.embeddings or os.path.splitext(name)[0] in inventory.embeddings


def _virtual_types() -> frozenset[str]:
    """Frontend-only node types of a UI workflow (never in /object_info, even when installed)."""
    from comfyctl.workflow.convert import VIRTUAL_NODE_TYPES

    # KJNodes' Set/Get and group nodes are drawn by frontend extensions too.
    return VIRTUAL_NODE_TYPES | {"SetNode", "GetNode", "Comfy.GroupNode"}


def check_workflow(
    workflow: Mapping[str, Any],
    inventory: Inventory,
    *,
    known_packages: Mapping[str, str] | None = None,
    low_vram: int = LOW_VRAM,
) -> CheckReport:
    """Compare an API- or UI-format workflow with ``inventory``.

    Missing node types get the package that likely provides them (the UI file's own ``cnr_id`` /
    ``aux_id`` node properties, then ``known_packages``, then the built-in map of popular
    packages); missing model files get their folder (loader inputs, values that look like model
    files, ``embedding:NAME`` in prompt texts); a GPU with less than ``low_vram`` bytes free gives
    a ``low_vram`` warning. Muted, bypassed and frontend-only UI nodes are skipped.

    Raises:
        WorkflowError: ``workflow`` is neither format.
    """
    is_ui = isinstance(workflow.get("nodes"), list)
    entries: list[tuple[str, str, list[tuple[str | None, Any]], Mapping[str, Any]]] = []
    if is_ui:
        for node_id, cls, values, props in _ui_nodes(workflow):
            entries.append((node_id, cls, [(None, v) for v in values], props))
    else:
        for node_id, node in workflow.items():
            if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
                raise WorkflowError(
                    f"node {node_id!r} has no class_type: not an API-format workflow",
                    hint="pass an API-format or UI-format workflow JSON",
                )
            inputs = node.get("inputs")
            items = list(inputs.items()) if isinstance(inputs, Mapping) else []
            entries.append((str(node_id), node["class_type"], items, {}))
    problems: list[CheckProblem] = []
    virtual = _virtual_types() if is_ui else frozenset()
    all_files = {f.replace("\\", "/") for files in inventory.models.values() for f in files}
    seen_types: set[str] = set()
    for node_id, cls, values, props in entries:
        if cls not in inventory.nodes and cls not in virtual:
            if cls in seen_types:
                continue
            seen_types.add(cls)
            cnr, aux = props.get("cnr_id"), props.get("aux_id")
            hint = package_for(cls, known_packages)
            package = hint.name if hint else None
            repo = hint.repo if hint else None
            if isinstance(cnr, str) and cnr and cnr != "comfy-core":
                package, repo = cnr, aux if isinstance(aux, str) else repo
            where = (
                f": install {package}" + (f" (https://github.com/{repo})" if repo else "") if package else ""
            )
            if cnr == "comfy-core":  # the UI saved it as a core node: the server's ComfyUI is older
                package, repo = "comfy-core", None
                ver = props.get("ver")
                where = f": a core node of ComfyUI {ver or 'newer'}; update ComfyUI" + (
                    f" (the server runs {inventory.comfyui_version})" if inventory.comfyui_version else ""
                )
            problems.append(
                CheckProblem(
                    "missing_node",
                    f"node {node_id}: type {cls!r} is not installed{where or ' (package unknown)'}",
                    node_id,
                    cls,
                    package=package,
                    repo=repo,
                )
            )
            continue
        for input_name, value in values:
            if not isinstance(value, str) or isinstance(value, bool):
                continue
            for name in _embedding_names(value):
                if not _has_embedding(inventory, name):
                    problems.append(
                        CheckProblem(
                            "missing_model",
                            f"node {node_id} ({cls})"
                            + (f" input {input_name!r}" if input_name else "")
                            + f": embedding {name!r} is missing: put it in models/embeddings/",
                            node_id,
                            cls,
                            input_name,
                            name,
                            folder="embeddings",
                        )
                    )
            folder = model_folder(cls, input_name, value)
            if not (looks_like_model_file(value) or (folder is not None and _FILE_EXT.search(value))):
                continue  # not a file name (a loader's "pixel_space", a dtype or type combo)
            norm = value.replace("\\", "/")
            listed = inventory.models.get(folder) if folder else None
            present = (
                norm in {f.replace("\\", "/") for f in listed} if listed is not None else norm in all_files
            )
            if present:
                continue
            where = f"models/{folder}/" if folder else "a model folder"
            problems.append(
                CheckProblem(
                    "missing_model",
                    f"node {node_id} ({cls})"
                    + (f" input {input_name!r}" if input_name else "")
                    + f": model file {value!r} is missing: put it in {where}",
                    node_id,
                    cls,
                    input_name,
                    value,
                    folder=folder,
                )
            )
    for dev in inventory.devices:
        free = dev.get("vram_free")
        if str(dev.get("type")) != "cpu" and isinstance(free, int) and free < low_vram:
            problems.append(
                CheckProblem(
                    "low_vram",
                    f"{dev.get('name')}: only {free / 1024**3:.1f} GiB VRAM free; large models may run "
                    "out of memory (comfyctl free --unload-models)",
                )
            )
    return CheckReport(tuple(problems), inventory.server, inventory.age, inventory.stale)


def known_packages(inventories: Iterable[Inventory]) -> dict[str, str]:
    """Class type → custom-node package, merged from inventories (e.g. every cached one)."""
    result: dict[str, str] = {}
    for inv in inventories:
        for cls, module in inv.nodes.items():
            pkg = package_of(module)
            if pkg != "core":
                result.setdefault(cls, pkg)
    return result
