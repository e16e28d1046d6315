"""``comfyctl status / free / nodes / models``: what the server is and what it has."""

from __future__ import annotations

import fnmatch

import click

from comfyctl.cli._common import ComfyGroup, command, emit, info, state
from comfyctl.errors import NotFound, UsageError
from comfyctl.nodedefs import NodeDefs, node_detail, node_summary

__all__ = ["free", "models", "nodes", "status"]


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f} GiB"


@command("status")
def status() -> None:
    """Is the server up? ComfyUI version, OS, Python/PyTorch, devices with VRAM, RAM, queue counts.

    Exit 3 when nothing answers at the URL. Example: comfyctl status --json
    """
    st = state()
    st.retries = 0  # a probe: say "unreachable" now instead of after the retry backoff
    client = st.client
    stats = client.system_stats()
    queue = client.queue()
    doc = {
        "reachable": True,
        "url": client.url,
        "comfyui_version": stats.comfyui_version,
        "python_version": stats.python_version,
        "pytorch_version": stats.pytorch_version,
        "os": stats.os,
        "ram": {"total": stats.ram_total, "free": stats.ram_free},
        "devices": [d.to_dict() for d in stats.devices],
        "queue": {"running": len(queue.running), "pending": len(queue.pending)},
    }

    def human() -> None:
        python = (stats.python_version or "?").split()[0]
        rows = [
            ("server", f"{client.url} (up)"),
            ("ComfyUI", stats.comfyui_version or "?"),
            ("system", f"{stats.os or '?'} · Python {python} · PyTorch {stats.pytorch_version or '?'}"),
            ("RAM", f"{_gib(stats.ram_free)} free of {_gib(stats.ram_total)}"),
        ]
        rows += [
            (
                f"device {d.index if d.index is not None else i}",
                f"{d.name} ({d.type}) · VRAM {_gib(d.vram_free)} free of {_gib(d.vram_total)}",
            )
            for i, d in enumerate(stats.devices)
        ]
        rows.append(("queue", f"{len(queue.running)} running, {len(queue.pending)} pending"))
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            click.echo(f"{key:<{width}}  {value}")

    emit(doc, human)


@command("free")
@click.option("--unload-models", is_flag=True, help="Unload models from (V)RAM.")
@click.option("--free-memory", is_flag=True, help="Free cached memory (also drops the execution cache).")
def free(unload_models: bool, free_memory: bool) -> None:
    """Ask the server to unload models and/or free memory (applied after the running prompt).

    With neither flag, both are requested. Example: comfyctl free --unload-models
    """
    if not unload_models and not free_memory:
        unload_models = free_memory = True
    state().client.free(unload_models=unload_models, free_memory=free_memory)
    what = " and ".join(w for w, on in (("unload models", unload_models), ("free memory", free_memory)) if on)
    emit(
        {"unload_models": unload_models, "free_memory": free_memory},
        f"asked the server to {what} (applied after the running prompt)",
    )


class DefaultGroup(ComfyGroup):
    """A group whose first argument may be a plain argument of its ``ls`` subcommand.

    ``comfyctl nodes Sampler`` == ``comfyctl nodes ls Sampler``; ``comfyctl queue`` == ``queue ls``.
    """

    default_command = "ls"
    _VALUE_OPTIONS = frozenset({"--url", "--token", "--timeout"})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(a in ("-h", "--help") for a in args):
            skip = False
            first = None
            for arg in args:
                if skip:
                    skip = False
                elif arg in self._VALUE_OPTIONS:
                    skip = True
                elif not arg.startswith("-") or arg == "--":
                    first = arg
                    break
            if first is None or first not in self.commands:
                args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group("nodes", cls=DefaultGroup)
def nodes() -> None:
    """List node classes (PATTERN: substring or glob); 'nodes show CLASS' for inputs and outputs."""


@nodes.command("ls", hidden=True)
@click.argument("pattern", required=False)
def nodes_ls(pattern: str | None) -> None:
    """List node classes whose name, display name or category matches PATTERN.

    Example: comfyctl nodes 'Image*'   or   comfyctl nodes sampler --json
    """
    defs = state().client.node_defs()
    found = []
    for name in sorted(defs, key=str.lower):
        node = defs[name]
        if pattern is None or _matches(pattern, (name, node.display_name, node.category)):
            found.append(node_summary(node))

    def human() -> None:
        for item in found:
            click.echo(f"{item['class_type']:<40} {item['category']}")
        if not found:
            info(f"no node class matches {pattern!r}")

    emit({"nodes": found, "count": len(found)}, human)


def _matches(pattern: str, fields: tuple[str, ...]) -> bool:
    pat = pattern.lower()
    if any(c in pat for c in "*?["):
        return any(fnmatch.fnmatchcase(f.lower(), pat) for f in fields)
    return any(pat in f.lower() for f in fields)


@nodes.command("show")
@click.argument("class_type")
def nodes_show(class_type: str) -> None:
    """Inputs (type, default, range, choices) and outputs of one node class.

    Example: comfyctl nodes show KSampler
    """
    client = state().client
    # one class, not the whole catalogue (megabytes on servers with many custom nodes)
    defs = NodeDefs(client.object_info(class_type))
    if class_type not in defs:
        import difflib

        close = difflib.get_close_matches(class_type, list(client.node_defs()), n=3)
        raise UsageError(
            f"no node class {class_type!r} on the server",
            hint=f"did you mean {', '.join(close)}?" if close else "list them with 'comfyctl nodes PATTERN'",
        )
    node = defs[class_type]
    doc = node_detail(node)
    inputs, outputs = doc["inputs"], doc["outputs"]

    def human() -> None:
        click.echo(
            f"{node.class_type} ({node.display_name}) · {node.category} · {node.package}"
            + (" · output node" if node.is_output_node else "")
        )
        click.echo("inputs:")
        for item in inputs:
            extra = []
            if "default" in item:
                extra.append(f"default {item['default']!r}")
            if "min" in item or "max" in item:
                extra.append(f"range {item.get('min', '')}..{item.get('max', '')}")
            if item.get("choices") is not None:
                choices = item["choices"]
                shown = ", ".join(map(str, choices[:8])) + (
                    f", … ({len(choices)})" if len(choices) > 8 else ""
                )
                extra.append(f"one of {shown}")
            opt = "" if item["required"] else " (optional)"
            click.echo(f"  {item['name']}: {item['type']}{opt}" + (f"  {'; '.join(extra)}" if extra else ""))
        click.echo("outputs:")
        for i, out in enumerate(outputs):
            click.echo(f"  {i}: {out['name']} ({out['type']})" + (" list" if out["is_list"] else ""))

    emit(doc, human)


@command("models")
@click.argument("folder", required=False)
def models(folder: str | None) -> None:
    """List model folders, or the files in FOLDER (checkpoints, loras, vae, ...).

    Example: comfyctl models checkpoints
    """
    client = state().client
    if folder is None:
        folders = client.models()
        emit({"folders": folders}, lambda: click.echo("\n".join(folders)))
        return
    try:
        files = client.models(folder)
    except NotFound as exc:  # ComfyUI answers a bare 404 for a folder it does not have
        raise UsageError(
            f"the server has no model folder {folder!r}",
            hint="folders: " + ", ".join(client.models()),
        ) from exc
    emit(
        {"folder": folder, "files": files},
        lambda: click.echo("\n".join(files)) if files else info(f"no files in {folder}"),
    )
