"""Taking an inventory: of a running server (:func:`fetch`) or of a ComfyUI folder on disk (:func:`scan`).

Offline, ``models/*`` and the folders of ``extra_model_paths.yaml`` are listed, and each package in
``custom_nodes/*`` is parsed with :mod:`ast` (never imported) for the node classes it registers.
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from comfyctl.errors import NotFound, UsageError

from .record import Inventory, package_of

__all__ = ["extra_model_paths", "fetch", "scan", "scan_custom_node_package"]


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
