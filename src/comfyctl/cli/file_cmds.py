"""``comfyctl upload / download / view``: move files to and from the server."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Literal

import click

from comfyctl.cli._common import command, emit, info, out_option, state
from comfyctl.errors import UsageError
from comfyctl.results import parse_ref

__all__ = ["download", "upload", "view"]

TYPES = click.Choice(["input", "temp", "output"])
_ANNOTATED = re.compile(r"^(?P<name>.*?)\s*\[(?P<type>input|output|temp)\]$")


@command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mask",
    "mask_for",
    metavar="ORIGINAL",
    help="Upload FILE's alpha as the mask of ORIGINAL (e.g. 'photo.png' or 'x.png [output]').",
)
@click.option("--subfolder", default="", help="Subfolder on the server.")
@click.option("--type", "type_", type=TYPES, default="input", show_default=True, help="Server folder.")
@click.option("--name", "filename", help="Name to store it under [default: FILE's name].")
@click.option("--overwrite", is_flag=True, help="Replace a different file with the same name.")
def upload(
    file: Path,
    mask_for: str | None,
    subfolder: str,
    type_: Literal["input", "temp", "output"],
    filename: str | None,
    overwrite: bool,
) -> None:
    """Upload an image; prints the name to use in a workflow (e.g. LoadImage's 'image').

    The server may rename it ('name (1).png') when a different file has the same name.

    Example: comfyctl upload photo.png --subfolder inputs
    """
    uploaded = state().client.upload(
        file,
        filename=filename,
        subfolder=subfolder,
        type=type_,
        overwrite=overwrite,
        mask_for=parse_ref(mask_for) if mask_for else None,
    )
    emit(uploaded.to_dict(), uploaded.ref)


@command("download")
@click.argument("prompt_id")
@out_option("Folder for the files.")
@click.option("--overwrite", is_flag=True, help="Replace files that already exist.")
def download(prompt_id: str, out: Path, overwrite: bool) -> None:
    """Download every output of a finished prompt into --out; prints the paths.

    Example: comfyctl download 3f2a… --out outputs
    """
    from comfyctl.results import Result

    st = state()
    st.stage = ("download", prompt_id)  # an error (a full disk...) names the prompt
    client = st.client
    entry = client.history_entry(prompt_id)
    if entry is None:
        raise UsageError(
            f"prompt {prompt_id} has no result yet (queued, running, or unknown)",
            hint=f"wait for it with 'comfyctl wait {prompt_id} --out {out}'",
        )
    result = Result.from_history(prompt_id, entry, client.url)
    files: list[dict[str, Any]] = []
    for output in result.outputs:
        record = output.to_dict()
        record["path"] = str(client.download(output, out, overwrite=overwrite))
        files.append(record)
    doc = {**result.to_dict(), "outputs": files, "saved": [f["path"] for f in files]}
    emit(doc, lambda: click.echo("\n".join(doc["saved"])) if files else info("no output files"))


@command("view")
@click.argument("filename")
@click.option("--subfolder", default="", help="Subfolder on the server.")
@click.option("--type", "type_", type=TYPES, default="output", show_default=True, help="Server folder.")
@click.option(
    "-o",
    "--output",
    "dest",
    type=click.Path(path_type=Path),
    help="Save to this file (or folder) [default: ./FILENAME].",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def view(filename: str, subfolder: str, type_: str, dest: Path | None, overwrite: bool) -> None:
    """Fetch one file from the server's output/input/temp folder and save it.

    'name.png [temp]' notation works too. Use '-o -' to write the bytes to stdout.

    Example: comfyctl view ComfyUI_00001_.png -o result.png
    """
    ref = parse_ref(filename) if _ANNOTATED.match(filename) else None
    if ref:
        filename, type_ = ref["filename"], ref["type"]
        subfolder = subfolder or ref["subfolder"]
    st = state()
    if dest is not None and str(dest) == "-" and st.json:
        raise UsageError(
            "'-o -' writes the file's bytes to stdout, where --json writes its one JSON document",
            hint="drop --json to pipe the bytes, or save to a file with -o FILE --json",
        )
    client = st.client
    if dest is not None and str(dest) == "-":
        data = client.view(filename, subfolder=subfolder, type=type_)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = dest if dest is not None else Path(Path(filename).name)
    if target.is_dir():
        target = target / Path(filename).name
    path = client.view_to(filename, target, subfolder=subfolder, type=type_, overwrite=overwrite)
    emit({"filename": filename, "subfolder": subfolder, "type": type_, "path": str(path)}, str(path))
